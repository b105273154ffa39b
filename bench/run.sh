#!/usr/bin/env bash
# The sidecar benchmark: direct calls vs an HAProxy sidecar pair vs Mesh sidecar pairs (JIT and native), on loopback,
# in interleaved rounds, reporting medians and ratios to HAProxy measured in the same run.
#
#   bash bench/run.sh [--rounds N] [--duration SECONDS] [--connections N] [--no-native] [--no-paced] [--price-list] [--pin] [--gateway] [--variant 'NAME:VAR=VALUE ...']...
#
# --gateway adds a pair whose client side is the ingress gateway (mesh-sidecar --gateway) with the same
# rules bound to its Gateway: the cost of a gateway hop as a ratio to a sidecar hop in the same rounds.
#
# --variant adds a Mesh pair (JIT) whose sidecars run with those environment variables, measured in the
# same interleaved rounds as the default one (e.g. --variant 'nospin:DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0'):
# how to judge a runtime knob on a shared machine. MESH_BENCH_SIDECAR=/path/Mesh.Sidecar.dll in a variant runs that
# build instead (e.g. main's, to measure a change against it in the same run; a path not ending in .dll is run as a
# native sidecar binary). MESH_BENCH_CONFIG=NAME in a variant gives its pair another config (see configs below).
# --no-native skips publishing and measuring the AOT sidecar; --no-paced skips the paced runs. --pin puts the load
# generators, the upstream app and the control planes on CPU 0 and every proxy on CPU 1 (taskset), so the scheduler
# cannot place them differently from one run to the next; the proxies then have one core between them.
#
# --price-list adds one variant per feature, each with that one feature off (MESH_BENCH_OFF, read by the
# sidecar at start-up, or a config without it), and prints each feature's cost: the paired difference from
# the full Mesh pair in the same round, median and range over the rounds.
#
# Installs haproxy, wrk and python3 with apt-get when missing, builds Release, and writes the table to
# bench/results/latest.md (and stdout). See docs/performance.md.
#
#   bash bench/run.sh --tcp [--rounds N] [--duration SECONDS] [--streams N]
#
# --tcp measures opaque TCP instead (bench/tcp.sh): throughput of direct, a Mesh sidecar pair and an HAProxy
# pair in TCP mode, both with mutual TLS between the two proxies.
set -euo pipefail
if [ "${1:-}" = --tcp ]; then shift; exec bash "$(dirname "$0")/tcp.sh" "$@"; fi
cd "$(dirname "$0")/.."
root=$(pwd)

rounds=3 duration=10 connections=32 native=yes paced_runs=yes price_list=no pin=no gateway=no
variants=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --no-native) native=no; shift ;;
    --no-paced) paced_runs=no; shift ;;
    --price-list) price_list=yes; shift ;;
    --pin) pin=yes; shift ;;
    --gateway) gateway=yes; shift ;;
    --variant)
      [[ "$2" =~ ^[a-z0-9-]+:[A-Za-z_][A-Za-z0-9_]*= ]] || { echo "bench/run.sh: --variant wants NAME:VAR=VALUE ..., got '$2'" >&2; exit 2; }
      variants+=("$2"); shift 2 ;;
    *) echo "bench/run.sh: unknown flag $1 (use --rounds, --duration, --connections, --no-native, --no-paced, --price-list, --pin, --gateway, --variant)" >&2; exit 2 ;;
  esac
done

# The price list: each feature off on its own. Config-borne features are priced with a config without them
# (or, for authorization, which the benchmark's config does not use, with one that adds a policy).
if [ "$price_list" = yes ]; then
  variants+=(
    "no-vs:MESH_BENCH_CONFIG=no-vs"
    "no-outlier:MESH_BENCH_CONFIG=no-outlier"
    "with-authz:MESH_BENCH_CONFIG=with-authz"
    "off-resilience:MESH_BENCH_OFF=resilience"
    "off-locality:MESH_BENCH_OFF=locality"
    "off-spiffe:MESH_BENCH_OFF=spiffe"
    "off-metrics:MESH_BENCH_OFF=metrics"
    "off-tracing:MESH_BENCH_OFF=tracing"
    "off-telemetry:MESH_BENCH_OFF=telemetry"
    "off-inbound:MESH_BENCH_OFF=inbound"
  )
fi

missing=()
for tool in haproxy wrk python3 openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# The native sidecar links with clang (or gcc when that is what the machine has).
command -v clang >/dev/null || command -v gcc >/dev/null || missing+=(clang)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Where processes run: with --pin, load and bookkeeping on CPU 0, proxies on CPU 1; otherwise wherever the scheduler puts them.
load=() proxy=()
if [ "$pin" = yes ]; then
  [ "$(nproc)" -ge 2 ] || { echo "bench/run.sh: --pin needs 2 CPUs" >&2; exit 2; }
  load=(taskset -c 0) proxy=(taskset -c 1)
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for project in src/Mesh.ControlPlane src/Mesh.Sidecar bench/Mesh.Bench.Upstream bench/Mesh.Bench.Paced bench/Mesh.Bench.BareYarp; do
  dotnet build -c Release -v q -nologo "$project" | grep -E "error|warn" || true
done

work=$(mktemp -d /tmp/mesh-bench-XXXXXX)
. bench/common.sh

# --- the upstream app ------------------------------------------------------------------------------
upstream_port=$(free_port)
${load[@]+"${load[@]}"} dotnet "$(bin bench/Mesh.Bench.Upstream)" "$upstream_port" & started $!
wait_http "http://127.0.0.1:$upstream_port/"

# --- HAProxy pair, mutual TLS between the two (certificates made for this run only) -----------------
make_certs
haproxy_pair() { # name tls(yes/no) -> starts both, prints the client-side port
  local name=$1 tls=$2 front back
  front=$(free_port); back=$(free_port)
  local server_tls="" client_tls=""
  if [ "$tls" = yes ]; then
    server_tls="ssl crt $certs/server.pem ca-file $certs/ca.crt verify required alpn http/1.1"
    client_tls="ssl crt $certs/client.pem ca-file $certs/ca.crt verify required sni str(upstream) alpn http/1.1"
  fi
  cat > "$work/$name-b.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend inbound
  bind 127.0.0.1:$back $server_tls
  default_backend app
backend app
  server app 127.0.0.1:$upstream_port
EOF
  cat > "$work/$name-a.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend outbound
  bind 127.0.0.1:$front
  default_backend peer
backend peer
  server peer 127.0.0.1:$back $client_tls
EOF
  ${proxy[@]+"${proxy[@]}"} haproxy -f "$work/$name-b.cfg" -db >/dev/null 2>&1 & started $!; echo $! > "$work/$name-b.pid"
  ${proxy[@]+"${proxy[@]}"} haproxy -f "$work/$name-a.cfg" -db >/dev/null 2>&1 & started $!; echo $! > "$work/$name-a.pid"
  echo "$front"
}
haproxy_mtls_port=$(haproxy_pair haproxy-mtls yes)
haproxy_plain_port=$(haproxy_pair haproxy-plain no)
wait_http "http://127.0.0.1:$haproxy_mtls_port/"
wait_http "http://127.0.0.1:$haproxy_plain_port/"

# --- Mesh pair: control plane, a client-side and a server-side sidecar, with the features a user turns on
config="$work/config"; mkdir -p "$config"
cat > "$config/bench.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: upstream
spec:
  hosts:
  - upstream
  http:
  - match:
    - headers:
        x-canary:
          exact: "true"
    route:
    - destination:
        host: upstream
        subset: v2
  - match:
    - uri:
        prefix: /admin
    directResponse:
      status: 403
  - match:
    - uri:
        regex: /api/v[0-9]+/.*
    route:
    - destination:
        host: upstream
  - route:
    - destination:
        host: upstream
    retries:
      attempts: 2
      retryOn: connect-failure,gateway-error
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: upstream
spec:
  host: upstream
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
  subsets:
  - name: v2
    labels:
      version: v2
EOF
# The price list's configs, each the one above less (or plus) one feature; a variant picks one with MESH_BENCH_CONFIG.
configs="$work/configs"
python3 - "$config/bench.yaml" "$configs" <<'EOF'
import os, sys
source, out = sys.argv[1], sys.argv[2]
vs, dr = open(source).read().split("\n---\n")
authz = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: upstream
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/client"]
    to:
    - operation:
        methods: ["GET", "POST"]
        paths: ["/*"]
"""
outlier = "  trafficPolicy:\n    outlierDetection:\n      consecutive5xxErrors: 5\n      interval: 10s\n      baseEjectionTime: 30s\n"
assert outlier in dr, "bench.yaml's DestinationRule changed: update the no-outlier config"
# The gateway's config: the same rules, bound to the Gateway 'edge' (whose one server takes every host).
gateway = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
assert "metadata:\n  name: upstream\nspec:\n" in vs, "bench.yaml's VirtualService changed: update the gateway config"
at_gateway = vs.replace("metadata:\n  name: upstream\nspec:\n", "metadata:\n  name: edge-upstream\nspec:\n  gateways: [edge]\n")
for name, docs in {"no-vs": [dr], "no-outlier": [vs, dr.replace(outlier, "")], "with-authz": [vs, dr, authz], "gateway": [vs, dr, gateway, at_gateway]}.items():
    os.makedirs(f"{out}/{name}")
    open(f"{out}/{name}/bench.yaml", "w").write("\n---\n".join(d.rstrip("\n") for d in docs) + "\n")
EOF
# Mesh pairs, each with its own control plane: the sidecar as built (JIT), published native (AOT) and any --variant.
mesh_pair() { # name config-dir sidecar-command... -> prints the client sidecar's outbound port; pids in $work/<name>-{client,server}.pid
  local name=$1 pair_config=$2; shift 2
  local dir="$work/$name" cp_port cp_admin; mkdir -p "$dir"
  cp_port=$(free_port); cp_admin=$(free_port)
  ${load[@]+"${load[@]}"} dotnet "$(bin src/Mesh.ControlPlane)" --config-dir "$pair_config" --data-dir "$dir/cp" --port "$cp_port" --admin-port "$cp_admin" --listen 127.0.0.1 --dns-port 0 \
    >"$dir/cp.log" 2>&1 & started $!
  wait_http "http://127.0.0.1:$cp_admin/ready" >&2
  # Sidecars join with a token made through the admin API (which takes the admin token from the data dir).
  curl -fsS -H "Authorization: Bearer $(cat "$dir/cp/admin-token")" -H 'Content-Type: application/json' \
    -d '{"description":"bench"}' "http://127.0.0.1:$cp_admin/v1/join-tokens" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' > "$dir/join-token"
  local role service out in admin client_admin="" client_out=""
  for role in server client; do
    service=$([ "$role" = server ] && echo upstream || echo client)
    out=$(free_port); in=$(free_port); admin=$(free_port)
    if [ "$role" = client ] && [ "$name" = mesh-gateway ]; then
      # The ingress gateway in the client's place: the load enters on its Gateway port, not a sidecar's outbound port.
      local entry; entry=$(free_port)
      ${proxy[@]+"${proxy[@]}"} "$@" --gateway edge --instance-id "edge-$name" --control-plane "https://127.0.0.1:$cp_port" --data-dir "$dir/edge" \
        --outbound-port "$out" --inbound-port "$in" --admin-port "$admin" --inbound-listen 127.0.0.1 --gateway-listen 127.0.0.1 --gateway-port "80=$entry" \
        --trace-sampling 0.01 --consul-port 0 --eureka-port 0 --join-token-file "$dir/join-token" >"$dir/edge.log" 2>&1 & started $!
      out=$entry
    else
      ${proxy[@]+"${proxy[@]}"} "$@" --service "$service" --instance-id "$service-$name" --app-port "$upstream_port" --label "version=v1" \
        --control-plane "https://127.0.0.1:$cp_port" --data-dir "$dir/$service" --outbound-port "$out" --inbound-port "$in" \
        --admin-port "$admin" --inbound-listen 127.0.0.1 --trace-sampling 0.01 --consul-port 0 --eureka-port 0 --join-token-file "$dir/join-token" >"$dir/$service.log" 2>&1 & started $!
    fi
    echo $! > "$work/$name-$role.pid"
    wait_http "http://127.0.0.1:$admin/ready" >&2
    client_out=$out
  done
  wait_http "http://127.0.0.1:$client_out/" upstream >&2
  echo "$client_out"
}
# Every measured configuration: "name port pid..." (direct has no proxy pids).
targets=()
targets+=("direct $upstream_port")
targets+=("haproxy-mtls $haproxy_mtls_port $(cat "$work/haproxy-mtls-a.pid") $(cat "$work/haproxy-mtls-b.pid")")
targets+=("haproxy-plain $haproxy_plain_port $(cat "$work/haproxy-plain-a.pid") $(cat "$work/haproxy-plain-b.pid")")

# A bare YARP pair (Kestrel + YARP's forwarder, TLS 1.3 + HTTP/2 between, nothing else): the floor of the
# framework path the Mesh sidecar is built on, so the table separates what the features cost.
bare_server=$(free_port); bare_port=$(free_port)
${proxy[@]+"${proxy[@]}"} dotnet "$(bin bench/Mesh.Bench.BareYarp)" server "$bare_server" "$upstream_port" & started $!; echo $! > "$work/bare-server.pid"
${proxy[@]+"${proxy[@]}"} dotnet "$(bin bench/Mesh.Bench.BareYarp)" client "$bare_port" "$bare_server" & started $!; echo $! > "$work/bare-client.pid"
wait_http "http://127.0.0.1:$bare_port/"
targets+=("bare-yarp $bare_port $(cat "$work/bare-client.pid") $(cat "$work/bare-server.pid")")

add_mesh() { # name config-dir sidecar-command...
  local port; port=$(mesh_pair "$@")
  targets+=("$1 $port $(cat "$work/$1-client.pid") $(cat "$work/$1-server.pid")")
}
add_mesh mesh "$config" dotnet "$(bin src/Mesh.Sidecar)"
# --gateway: the same pair with an ingress gateway in the client sidecar's place (the cost of a gateway hop).
[ "$gateway" = yes ] && add_mesh mesh-gateway "$configs/gateway" dotnet "$(bin src/Mesh.Sidecar)"
if [ "$native" = yes ]; then
  echo "bench: publishing the native sidecar" >&2
  dotnet publish src/Mesh.Sidecar -c Release -r linux-x64 -v q -nologo -o "$work/native" | grep -E "error|warn" || true
  add_mesh mesh-native "$config" "$work/native/Mesh.Sidecar"
fi
for variant in ${variants[@]+"${variants[@]}"}; do
  sidecar_dll=$(bin src/Mesh.Sidecar) variant_config=$config
  for word in ${variant#*:}; do
    [[ "$word" == MESH_BENCH_SIDECAR=* ]] && sidecar_dll=${word#*=}
    if [[ "$word" == MESH_BENCH_CONFIG=* ]]; then
      variant_config="$configs/${word#*=}"
      [ -d "$variant_config" ] || { echo "bench/run.sh: no config '${word#*=}' (have: $(ls "$configs" | paste -sd' '))" >&2; exit 2; }
    fi
  done
  # A .dll runs on the JIT; anything else is taken for a native sidecar binary (e.g. one published from a branch).
  launcher=(dotnet "$sidecar_dll"); [[ "$sidecar_dll" == *.dll ]] || launcher=("$sidecar_dll")
  # shellcheck disable=SC2086 # the variables are separate words on purpose
  add_mesh "mesh-${variant%%:*}" "$variant_config" env ${variant#*:} "${launcher[@]}"
done

# --- load --------------------------------------------------------------------------------------------
results="$work/results.tsv"
: > "$results"
cpu_ticks() { local total=0; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
measure() { # config port pid...
  local config=$1 port=$2; shift 2
  local before after out
  before=$(cpu_ticks "$@")
  out=$(${load[@]+"${load[@]}"} wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Host: upstream" "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$@")
  local rss=0
  for pid in "$@"; do local r; r=$(rss_kb "$pid"); [ "$r" -gt "$rss" ] && rss=$r; done
  printf '%s\t%s\t%s\t%s\n' "$config" "$((after - before))" "$rss" "$(echo "$out" | tr '\n' '|')" >> "$results"
}

echo "bench: warming up (JIT, connection pools)" >&2
for target in "${targets[@]}"; do
  read -r _ port _ <<<"$target"
  ${load[@]+"${load[@]}"} wrk -t2 -c"$connections" -d3s -H "Host: upstream" "http://127.0.0.1:$port/" >/dev/null
done
# Each round starts one target further along, so no configuration always runs first (or last) in a round:
# on this shared machine throughput drifts within a round, and a fixed order turns the drift into a bias.
# With --price-list, every variant without a feature is measured right after a run of the full pair
# ("mesh" again, recorded as the variant's partner): its cost is that pair's difference, a minute apart at most.
mesh_target=""
for target in "${targets[@]}"; do [ "${target%% *}" = mesh ] && mesh_target=$target; done
for round in $(seq 1 "$rounds"); do
  echo "bench: round $round of $rounds" >&2
  count=${#targets[@]}
  for i in $(seq 0 $((count - 1))); do
    target=${targets[$(( (i + round - 1) % count ))]}
    name=${target%% *}
    if [ "$price_list" = yes ] && [[ "$name" == mesh-* && "$name" != mesh-native ]]; then
      # shellcheck disable=SC2086 # name, port and pids as separate words
      measure "partner:$name" ${mesh_target#* }
    fi
    # shellcheck disable=SC2086 # name, port and pids as separate words
    measure $target
  done
done

# Paced runs at ~10% of the HAProxy mTLS pair's capacity: latency from each request's scheduled time.
paced="$work/paced.tsv"
: > "$paced"
pace=$(python3 - "$results" <<'EOF'
import re, statistics, sys
rps = [float(re.search(r"Requests/sec:\s+([\d.]+)", l.split("\t")[3].replace("|", "\n")).group(1)) for l in open(sys.argv[1]) if l.startswith("haproxy-mtls\t")]
print(int(statistics.median(rps) * 0.1))
EOF
)
[ "$paced_runs" = yes ] || rounds_paced=0
for round in $(seq 1 "${rounds_paced:-$rounds}"); do
  echo "bench: paced round $round of $rounds at $pace req/s" >&2
  for target in "${targets[@]}"; do
    read -r config port pids <<<"$target"
    # shellcheck disable=SC2086 # pids as separate words
    before=$(cpu_ticks $pids)
    out=$(${load[@]+"${load[@]}"} dotnet "$(bin bench/Mesh.Bench.Paced)" "http://127.0.0.1:$port/" upstream "$pace" "$duration")
    # shellcheck disable=SC2086
    printf '%s\t%s ticks=%s\n' "$config" "$out" "$(( $(cpu_ticks $pids) - before ))" >> "$paced"
  done
done

mkdir -p bench/results
python3 - "$results" "$(getconf CLK_TCK)" "$rounds" "$duration" "$connections" "$paced" "$pace" "$(for t in "${targets[@]}"; do echo "${t%% *}"; done | paste -sd,)" > bench/results/latest.md <<'EOF'
import re, statistics, sys
path, hz, rounds, duration, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
configs = sys.argv[8].split(",")
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
def spread(values, digits=0):
    # A median with the range it came from: a conclusion has to survive the range, not just the median.
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"
rows = {}
partners = {}
for line in open(path):
    config, ticks, rss, out = line.rstrip("\n").split("\t")
    out = out.replace("|", "\n")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)) + int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    pct = {p: ms(re.search(rf"\s{p}%\s+(\S+)", out).group(1)) for p in ("50", "90", "99")}
    cpu_us = int(ticks) / hz * 1e6 / total if total else 0
    row = dict(rps=rps, p50=pct["50"], p90=pct["90"], p99=pct["99"], cpu=cpu_us, rss=int(rss) / 1024, errors=errors)
    if config.startswith("partner:"):
        partners.setdefault(config[len("partner:"):], []).append(row)
    else:
        rows.setdefault(config, []).append(row)
med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in rows.items()}
ref = med["haproxy-mtls"]
print(f"Closed loop, wrk -t2 -c{conns}, {duration} s per run, {rounds} interleaved rounds: medians [min–max]. CPU and RSS are of the two proxies together / the larger one.\n")
print("| config | req/s | p50 ms | p99 ms | proxy CPU µs/req | RSS MB (max proxy) | errors | req/s vs HAProxy mTLS | CPU vs HAProxy mTLS | req/s vs bare YARP | CPU vs bare YARP |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
bare = med.get("bare-yarp")
for config in configs:
    m, rs = med[config], rows[config]
    direct = config == "direct"
    cpu_ratio = f"{m['cpu'] / ref['cpu']:.2f}×" if not direct else "-"
    vs_bare = (f"{m['rps'] / bare['rps']:.2f}×", f"{m['cpu'] / bare['cpu']:.2f}×" if not direct else "-") if bare else ("-", "-")
    print(f"| {config} | {spread([r['rps'] for r in rs])} | {m['p50']:.2f} | {spread([r['p99'] for r in rs], 2)} | {spread([r['cpu'] for r in rs]) if not direct else '-'} | {m['rss']:.0f} | {m['errors']:.0f} | {m['rps'] / ref['rps']:.2f}× | {cpu_ratio} | {vs_bare[0]} | {vs_bare[1]} |")

# --gateway: the gateway pair (gateway + server sidecar) against the Mesh pair (client + server sidecar),
# round by round: what a gateway hop costs next to a sidecar hop.
if "mesh-gateway" in rows:
    g, p = rows["mesh-gateway"], rows["mesh"]
    rps_ratio = [a["rps"] / b["rps"] for a, b in zip(g, p)]
    cpu_ratio = [a["cpu"] / b["cpu"] for a, b in zip(g, p)]
    p99_diff = [a["p99"] - b["p99"] for a, b in zip(g, p)]
    print(f"\nA gateway hop against a sidecar hop (the gateway in the client sidecar's place, same rules, same server sidecar), per round: req/s {spread(rps_ratio, 2)}×, proxy CPU per request {spread(cpu_ratio, 2)}×, p99 {spread(p99_diff, 2)} ms.")

# The price list: each variant against the full Mesh pair measured just before it (its partner run), as
# the feature's cost: what the full pair spends more than the pair without it.
variants = [c for c in configs if c in partners]
if variants:
    print(f"\nWhat each feature costs: the full Mesh pair, measured just before, minus the pair with that feature off (for with-authz: the pair with it on minus the full pair); median [min–max] of the {rounds} paired differences. Positive = the feature costs that much.\n")
    print("| variant | req/s | CPU µs/req | full pair beside it, CPU µs/req | cost, CPU µs/req | cost, req/s | cost, % of throughput |")
    print("|---|---|---|---|---|---|---|")
    for config in variants:
        vs, base = rows[config], partners[config]
        sign = -1 if config == "mesh-with-authz" else 1
        cpu = [sign * (b["cpu"] - v["cpu"]) for b, v in zip(base, vs)]
        rps = [sign * (v["rps"] - b["rps"]) for b, v in zip(base, vs)]
        pct = [sign * (v["rps"] - b["rps"]) / (b["rps"] if sign > 0 else v["rps"]) * 100 for b, v in zip(base, vs)]
        print(f"| {config[5:]} | {spread([v['rps'] for v in vs])} | {spread([v['cpu'] for v in vs])} | {spread([b['cpu'] for b in base])} | {spread(cpu)} | {spread(rps)} | {spread(pct, 1)} |")

paced_rows = {}
for line in open(sys.argv[6]):
    config, out = line.rstrip("\n").split("\t")
    fields = dict(kv.split("=") for kv in out.split())
    paced_rows.setdefault(config, []).append({k: float(v) for k, v in fields.items()})
if paced_rows:
    # CPU at a fixed rate: the proxies' time over the whole paced run (its warm-up second included) per request sent.
    for rs in paced_rows.values():
        for r in rs:
            r["cpu"] = r["ticks"] / hz * 1e6 / (r["sent"] + float(sys.argv[7]))
    pm = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in paced_rows.items()}
    print(f"\nPaced at {sys.argv[7]} req/s (~10% of the HAProxy mTLS pair's capacity), latency from each request's scheduled time: medians [min–max] of {rounds} runs.\n")
    print("| config | p50 ms | p99 ms | max ms | errors | p99 minus HAProxy mTLS p99 | p99 minus bare YARP p99 | proxy CPU µs/req | CPU vs HAProxy mTLS | CPU vs bare YARP |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        m, rs = pm[config], paced_rows[config]
        direct = config == "direct"
        cpu, cpu_ratio = (spread([r["cpu"] for r in rs]), f"{m['cpu'] / pm['haproxy-mtls']['cpu']:.2f}×") if not direct else ("-", "-")
        bare_p99 = f"{m['p99'] - pm['bare-yarp']['p99']:+.2f}" if "bare-yarp" in pm else "-"
        bare_cpu = f"{m['cpu'] / pm['bare-yarp']['cpu']:.2f}×" if "bare-yarp" in pm and not direct else "-"
        print(f"| {config} | {m['p50']:.2f} | {spread([r['p99'] for r in rs], 2)} | {m['max']:.2f} | {m['errors']:.0f} | {m['p99'] - pm['haproxy-mtls']['p99']:+.2f} | {bare_p99} | {cpu} | {cpu_ratio} | {bare_cpu} |")
EOF
cat bench/results/latest.md
