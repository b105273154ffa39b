#!/usr/bin/env bash
# The TCP benchmark (bash bench/run.sh --tcp): bulk throughput on loopback of (1) a direct connection to an iperf3
# server, (2) a Mesh sidecar pair (client sidecar --tcp-upstream -> mutual TLS 1.3, ALPN mesh-tcp/5201 -> server
# sidecar --app-tcp-port) and (3) an HAProxy pair in TCP mode with mutual TLS between the two, in interleaved
# rounds, reporting each round and the medians with ratios to direct and to HAProxy measured in the same run.
#
#   bash bench/tcp.sh [--rounds N] [--duration SECONDS] [--streams N]
#
# Installs iperf3, haproxy and python3 with apt-get when missing. See docs/performance.md, "TCP".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rounds=3 duration=5 streams=4
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    *) echo "bench/tcp.sh: unknown flag $1 (use --rounds, --duration, --streams)" >&2; exit 2 ;;
  esac
done

missing=()
for tool in iperf3 haproxy python3 openssl curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for project in src/Mesh.ControlPlane src/Mesh.Sidecar bench/Mesh.Bench.Upstream; do
  dotnet build -c Release -v q -nologo "$project" | grep -E "error|warn" || true
done

work=$(mktemp -d /tmp/mesh-bench-tcp-XXXXXX)
. bench/common.sh

# --- the TCP app (iperf3's server) and an HTTP app for the server sidecar's health check ---------------
iperf_port=$(free_port)
iperf3 --server --bind 127.0.0.1 --port "$iperf_port" >/dev/null 2>&1 & started $!
upstream_port=$(free_port)
dotnet "$(bin bench/Mesh.Bench.Upstream)" "$upstream_port" & started $!
wait_http "http://127.0.0.1:$upstream_port/"
wait_tcp "$iperf_port"

# --- HAProxy pair in TCP mode, mutual TLS between the two (certificates made for this run only) -------
make_certs
haproxy_front=$(free_port); haproxy_back=$(free_port)
cat > "$work/haproxy-b.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend inbound
  bind 127.0.0.1:$haproxy_back ssl crt $certs/server.pem ca-file $certs/ca.crt verify required ssl-min-ver TLSv1.3
  default_backend app
backend app
  server app 127.0.0.1:$iperf_port
CFG
cat > "$work/haproxy-a.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend outbound
  bind 127.0.0.1:$haproxy_front
  default_backend peer
backend peer
  server peer 127.0.0.1:$haproxy_back ssl crt $certs/client.pem ca-file $certs/ca.crt verify required sni str(upstream) ssl-min-ver TLSv1.3
CFG
haproxy -f "$work/haproxy-b.cfg" -db >/dev/null 2>&1 & started $!; haproxy_pids="$!"
haproxy -f "$work/haproxy-a.cfg" -db >/dev/null 2>&1 & started $!; haproxy_pids="$haproxy_pids $!"
wait_tcp "$haproxy_front"

# --- Mesh pair: control plane, the server sidecar serving the app's TCP port, the client sidecar's upstream listener
config="$work/config"; mkdir -p "$config"
cat > "$config/bench.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: upstream
spec:
  hosts:
  - upstream
  tcp:
  - match:
    - port: 5201
    route:
    - destination:
        host: upstream
        port:
          number: 5201
YAML
dir="$work/mesh"; mkdir -p "$dir"
cp_port=$(free_port); cp_admin=$(free_port)
dotnet "$(bin src/Mesh.ControlPlane)" --config-dir "$config" --data-dir "$dir/cp" --port "$cp_port" --admin-port "$cp_admin" --listen 127.0.0.1 --dns-port 0 \
  >"$dir/cp.log" 2>&1 & started $!
wait_http "http://127.0.0.1:$cp_admin/ready"
curl -fsS -H "Authorization: Bearer $(cat "$dir/cp/admin-token")" -H 'Content-Type: application/json' \
  -d '{"description":"bench"}' "http://127.0.0.1:$cp_admin/v1/join-tokens" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' > "$dir/join-token"
mesh_front=$(free_port) mesh_pids=""
for service in upstream client; do
  out=$(free_port); in=$(free_port); admin=$(free_port)
  extra=(--app-tcp-port "5201=$iperf_port")
  [ "$service" = client ] && extra=(--tcp-upstream "upstream:5201=$mesh_front")
  dotnet "$(bin src/Mesh.Sidecar)" --service "$service" --instance-id "$service-tcp" --app-port "$upstream_port" "${extra[@]}" \
    --control-plane "https://127.0.0.1:$cp_port" --data-dir "$dir/$service" --outbound-port "$out" --inbound-port "$in" \
    --admin-port "$admin" --inbound-listen 127.0.0.1 --trace-sampling 0.01 --consul-port 0 --eureka-port 0 --join-token-file "$dir/join-token" \
    >"$dir/$service.log" 2>&1 & started $!
  mesh_pids="$mesh_pids $!"
  wait_http "http://127.0.0.1:$admin/ready"
done
# Routable once the client's snapshot holds the server's instance: iperf3 connects and answers.
for _ in $(seq 1 100); do
  if iperf3 --client 127.0.0.1 --port "$mesh_front" --time 1 >/dev/null 2>&1; then break; fi
  sleep 0.3
done

cpu_seconds() { # pids -> user+system CPU seconds so far
  local total=0 pid
  for pid in "$@"; do
    total=$(python3 -c "import os; f=open('/proc/$pid/stat').read().rsplit(')',1)[1].split(); print($total + (int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))")
  done
  echo "$total"
}

results="$work/results.tsv"
for round in $(seq 1 "$rounds"); do
  for target in direct mesh haproxy; do
    case "$target" in
      direct) port=$iperf_port pids="" ;;
      mesh) port=$mesh_front pids=$mesh_pids ;;
      haproxy) port=$haproxy_front pids=$haproxy_pids ;;
    esac
    # shellcheck disable=SC2086
    before=$(cpu_seconds $pids)
    json=$(iperf3 --client 127.0.0.1 --port "$port" --time "$duration" --parallel "$streams" --json)
    # shellcheck disable=SC2086
    after=$(cpu_seconds $pids)
    gbps=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
    printf '%s\t%s\t%s\t%s\n' "$round" "$target" "$gbps" "$(python3 -c "print($after - $before)")" >> "$results"
    printf 'round %s %-8s %6.2f Gbit/s\n' "$round" "$target" "$gbps" >&2
  done
done

python3 - "$results" "$rounds" "$duration" "$streams" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
rounds, duration, streams = sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for r, target, gbps, cpu in rows:
    by.setdefault(target, []).append((float(gbps), float(cpu)))
med = {t: statistics.median(g for g, _ in v) for t, v in by.items()}
print(f"TCP throughput, iperf3 {streams} streams x {duration} s, {rounds} interleaved rounds (median, range)\n")
print("| path | Gbit/s | range | vs direct | vs HAProxy | proxy CPU s per GB |")
print("|---|---|---|---|---|---|")
for t in ["direct", "mesh", "haproxy"]:
    gs = [g for g, _ in by[t]]
    cpu = "-" if t == "direct" else f"{statistics.median(c / (g * float(duration) / 8) for g, c in by[t]):.2f}"
    print(f"| {t} | {med[t]:.2f} | {min(gs):.2f}-{max(gs):.2f} | {med[t] / med['direct']:.2f}x | {med[t] / med['haproxy']:.2f}x | {cpu} |")
PY
