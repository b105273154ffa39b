# Shared by bench/run.sh and bench/tcp.sh (sourced, after they set $root and $work): process bookkeeping and
# clean-up, free ports, waiting for listeners, the Release build's dll paths, and the run's throwaway certificates.
# Every process started is listed in a file: some are started inside $(...) subshells, whose
# variables do not come back.
started() { echo "$1" >> "$work/pids"; }
cleanup() {
  if [ -f "$work/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$work/pids"
  fi
  wait 2>/dev/null || true
  # Processes started inside $(...) are not this shell's children, so wait does not cover them: retry once.
  rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url [host]
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null ${2:+-H "Host: $2"} "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "bench: $1 did not answer" >&2; exit 1
}
bin() { echo "$root/$1/bin/Release/net10.0/$(basename "$1").dll"; }
wait_tcp() { # port
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1).close()" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "bench: 127.0.0.1:$1 did not accept" >&2; exit 1
}

# A root and a server and client certificate signed by it, for the HAProxy pairs' mutual TLS (this run only).
make_certs() {
  certs="$work/certs"; mkdir -p "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=bench-root" \
    -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
  for name in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
      -keyout "$certs/$name.key" -out "$certs/$name.csr" 2>/dev/null
    openssl x509 -req -in "$certs/$name.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial -days 1 \
      -extfile <(printf "subjectAltName=DNS:upstream,DNS:localhost\n") -out "$certs/$name.crt" 2>/dev/null
    cat "$certs/$name.crt" "$certs/$name.key" > "$certs/$name.pem"
  done
}
