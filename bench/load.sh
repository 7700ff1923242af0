#!/usr/bin/env bash
# Load run: portico-gateway and nginx side by side, in one run, on this machine.
# One worker each (portico --worker-threads 1, nginx worker_processes 1), the same
# upstream (an nginx returning a fixed 2-byte body), the same client (wrk), the
# same duration and connection count. Prints requests/s, p50/p99 latency, the
# ratio, and portico's idle and loaded RSS. Two more portico instances carry
# plugins: key-auth + rate-limiting (portico+plugins), and a Dev Portal
# application's key checked by portal-auth with its plan's limits
# (portico+portal); their ratio is the portal's cost against Kong's way.
#
# CPU placement: the proxy under test gets its own core (PROXY_CPU, default 1);
# wrk and the upstream share the other (LOAD_CPU, default 0). Without pinning the
# four busy processes share two cores however the scheduler likes and the figures
# swing by +-15% between rounds.
#
# Usage: bench/load.sh            (DURATION=10 CONNS=50 ROUNDS=2 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-2}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
pin() { local cpu=$1; shift; if [ "$(nproc)" -gt 1 ]; then taskset -c "$cpu" "$@"; else "$@"; fi; }
# for background processes: exec, so that $! is the process itself
pin_exec() { local cpu=$1; shift; if [ "$(nproc)" -gt 1 ]; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi; }

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need bc bc
[ -x /usr/sbin/nginx ] || need nginx nginx-light
NGINX=/usr/sbin/nginx

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"
cargo build --release -p gateway-node --bin portico-gateway >/dev/null 2>&1 || cargo build --release -p gateway-node --bin portico-gateway
GW="$CARGO_TARGET_DIR/release/portico-gateway"

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port); NGX=$(port); PGW=$(port); PST=$(port); PGW2=$(port); PST2=$(port); PGW3=$(port); PST3=$(port); PGW4=$(port); PST4=$(port)

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# the upstream
mkdir -p "$tmp/up" "$tmp/ngx"
cat > "$tmp/up/nginx.conf" <<CONF
worker_processes 1; daemon off; error_log $tmp/up/error.log; pid $tmp/up/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:$UP; location / { return 200 'ok'; } } }
CONF
(pin_exec "$LOAD_CPU" $NGINX -p "$tmp/up" -c "$tmp/up/nginx.conf") & pids+=($!)

# the peer: nginx as a reverse proxy, with the forwarding headers Kong/Portico set
cat > "$tmp/ngx/nginx.conf" <<CONF
worker_processes 1; daemon off; error_log $tmp/ngx/error.log; pid $tmp/ngx/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  upstream up { server 127.0.0.1:$UP; keepalive 256; }
  server { listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Forwarded-Port \$server_port;
      proxy_set_header X-Real-IP \$remote_addr;
    } } }
CONF
(pin_exec "$PROXY_CPU" $NGINX -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf") & pids+=($!)

# portico
cat > "$tmp/kong.yaml" <<CONF
_format_version: "3.0"
services:
- name: bench
  url: http://127.0.0.1:$UP
  routes:
  - name: bench
    paths: [/]
CONF
(pin_exec "$PROXY_CPU" "$GW" --config "$tmp/kong.yaml" --proxy-listen 127.0.0.1:$PGW --status-listen 127.0.0.1:$PST --worker-threads 1 2>"$tmp/gw.log") & gw_pid=$!; pids+=($gw_pid)
# portico with key-auth + rate-limiting (local) on the route: the plugin cost
cat > "$tmp/kong-plugins.yaml" <<CONF
_format_version: "3.0"
services:
- name: bench
  url: http://127.0.0.1:$UP
  routes:
  - name: bench
    paths: [/]
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {second: 1000000000, hour: 1000000000000, policy: local, limit_by: consumer}
consumers:
- username: bench
  keyauth_credentials:
  - key: bench-key
CONF
(pin_exec "$PROXY_CPU" "$GW" --config "$tmp/kong-plugins.yaml" --proxy-listen 127.0.0.1:$PGW2 --status-listen 127.0.0.1:$PST2 --worker-threads 1 2>"$tmp/gw2.log") & pids+=($!)
# portico with portal-auth and a plan (the same second and hour limits):
# a Dev Portal application's key, the same work as key-auth + rate-limiting
API_ID=6f0e5b0e-3c8e-4a36-9a57-0a0c8f3d1a01
cat > "$tmp/kong-portal.yaml" <<CONF
_format_version: "3.0"
services:
- name: bench
  url: http://127.0.0.1:$UP
  routes:
  - name: bench
    paths: [/]
    plugins:
    - name: portal-auth
      config: {api_id: $API_ID, policy: local}
applications:
- name: bench-app
  developer_id: 0d7f6a52-6d8c-4a0e-8d0e-3f1c9b3e2a10
  portal_id: 1a2b3c4d-5e6f-4a0b-8c0d-1e2f3a4b5c6d
  registrations:
  - api_id: $API_ID
    plan: {second: 1000000000, hour: 1000000000000}
application_credentials:
- application: bench-app
  key: bench-key
CONF
(pin_exec "$PROXY_CPU" "$GW" --config "$tmp/kong-portal.yaml" --proxy-listen 127.0.0.1:$PGW3 --status-listen 127.0.0.1:$PST3 --worker-threads 1 2>"$tmp/gw3.log") & pids+=($!)
# the plain proxy again with native analytics on (batches to a file, 10 s)
(pin_exec "$PROXY_CPU" "$GW" --config "$tmp/kong.yaml" --proxy-listen 127.0.0.1:$PGW4 --status-listen 127.0.0.1:$PST4 --worker-threads 1 --analytics-file "$tmp/analytics.jsonl" 2>"$tmp/gw4.log") & pids+=($!)
wait_port $UP; wait_port $NGX; wait_port $PGW; wait_port $PGW2; wait_port $PGW3; wait_port $PGW4
sleep 0.5
rss() { awk '/VmRSS/ {print int($2/1024) " MB"}' /proc/$1/status; }
IDLE_RSS=$(rss $gw_pid)

# wrk -> "rps p50_ms p99_ms"
run() {
  local url=$1 out
  shift
  out=$(pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url")
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 }
    /^ +50%/ { p50=ms($2) }
    /^ +99%/ { p99=ms($2) }
    /Non-2xx|Socket errors/ { err=err $0 " " }
    END { printf "%s %.3f %.3f %s\n", rps, p50, p99, (err=="" ? "-" : "ERR:" err) }'
}

# warm up both
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PGW/" >/dev/null
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NGX/" >/dev/null
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -H "apikey: bench-key" "http://127.0.0.1:$PGW2/" >/dev/null
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -H "apikey: bench-key" "http://127.0.0.1:$PGW3/" >/dev/null
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PGW4/" >/dev/null

declare -A sum_rps sum50 sum99
NAMES="portico portico+analytics portico+plugins portico+portal nginx"
for name in $NAMES; do sum_rps[$name]=0; sum50[$name]=0; sum99[$name]=0; done
for r in $(seq 1 "$ROUNDS"); do
  for name in $NAMES; do
    case $name in
      portico) read -r rps p50 p99 err < <(run "http://127.0.0.1:$PGW/") ;;
      portico+plugins) read -r rps p50 p99 err < <(run "http://127.0.0.1:$PGW2/" -H "apikey: bench-key") ;;
      portico+portal) read -r rps p50 p99 err < <(run "http://127.0.0.1:$PGW3/" -H "apikey: bench-key") ;;
      portico+analytics) read -r rps p50 p99 err < <(run "http://127.0.0.1:$PGW4/") ;;
      nginx) read -r rps p50 p99 err < <(run "http://127.0.0.1:$NGX/") ;;
    esac
    printf 'round %d %-16s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  %s\n' "$r" "$name" "$rps" "$p50" "$p99" "$err"
    sum_rps[$name]=$(echo "${sum_rps[$name]} + $rps" | bc -l)
    sum50[$name]=$(echo "${sum50[$name]} + $p50" | bc -l)
    sum99[$name]=$(echo "${sum99[$name]} + $p99" | bc -l)
  done
done
LOAD_RSS=$(rss $gw_pid)

echo
echo "== $(nproc) cores, wrk -t1 -c$CONNS -d${DURATION}s x $ROUNDS rounds, one worker per proxy on cpu $PROXY_CPU, wrk + upstream on cpu $LOAD_CPU =="
printf '%-16s %12s %10s %10s\n' proxy 'req/s' 'p50 ms' 'p99 ms'
for name in $NAMES; do
  printf '%-16s %12.0f %10.3f %10.3f\n' "$name" "$(echo "${sum_rps[$name]}/$ROUNDS" | bc -l)" "$(echo "${sum50[$name]}/$ROUNDS" | bc -l)" "$(echo "${sum99[$name]}/$ROUNDS" | bc -l)"
done
printf 'throughput ratio portico/nginx: %.2fx\n' "$(echo "${sum_rps[portico]} / ${sum_rps[nginx]}" | bc -l)"
printf 'throughput ratio portico+plugins (key-auth, rate-limiting local)/portico: %.2fx\n' "$(echo "${sum_rps[portico+plugins]} / ${sum_rps[portico]}" | bc -l)"
printf 'throughput ratio portico+portal (portal-auth + plan)/portico+plugins (key-auth + rate-limiting): %.2fx\n' "$(echo "${sum_rps[portico+portal]} / ${sum_rps[portico+plugins]}" | bc -l)"
printf 'throughput ratio portico+analytics/portico: %.3fx\n' "$(echo "${sum_rps[portico+analytics]} / ${sum_rps[portico]}" | bc -l)"
printf 'p99 ratio portico/nginx: %.2fx\n' "$(echo "${sum99[portico]} / ${sum99[nginx]}" | bc -l)"
echo "portico RSS: idle $IDLE_RSS, after load $LOAD_RSS"
