#!/usr/bin/env bash
# Instructions per request, counted by callgrind (they do not swing with the
# machine's load as wall-clock figures do). Each proxy runs under
# `valgrind --tool=callgrind` twice, serving N1 and then N2 requests over one
# keep-alive connection (curl); per request = (I(N2) - I(N1)) / (N2 - N1), so
# start-up and config loading cancel out.
#
# Proxies: portico (no plugins), portico+analytics (the same with native
# analytics on: every request a record folded into cells), portico+plugins (key-auth + rate-limiting,
# second and hour limits, local), portico+portal (portal-auth with a plan of the
# same limits, local), and nginx (one worker, master_process off) as the peer.
#
# Usage: bench/instructions.sh            (N1=200 N2=1200 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-200}
N2=${N2:-1200}

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need valgrind valgrind
need curl curl
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
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# the upstream: nginx answering a fixed body
UP=$(port)
mkdir -p "$tmp/up"
cat > "$tmp/up/nginx.conf" <<CONF
worker_processes 1; daemon off; error_log $tmp/up/error.log; pid $tmp/up/nginx.pid;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:$UP; location / { return 200 'ok'; } } }
CONF
$NGINX -p "$tmp/up" -c "$tmp/up/nginx.conf" & pids+=($!)
wait_port "$UP"

API_ID=6f0e5b0e-3c8e-4a36-9a57-0a0c8f3d1a01
cat > "$tmp/plain.yaml" <<CONF
_format_version: "3.0"
services:
- {name: bench, url: "http://127.0.0.1:$UP", routes: [{name: bench, paths: [/]}]}
CONF
cat > "$tmp/plugins.yaml" <<CONF
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
- {username: bench, keyauth_credentials: [{key: bench-key}]}
CONF
cat > "$tmp/portal.yaml" <<CONF
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
- {application: bench-app, key: bench-key}
CONF

# instructions for n requests through the proxy started by "$@" on port $P
count() {
  local n=$1 p=$2 out=$3; shift 3
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$out.log" 2>&1 &
  local vp=$!
  wait_port "$p"
  # one connection, n requests (curl reuses it for every URL of the glob)
  curl -s -o /dev/null -H 'apikey: bench-key' "http://127.0.0.1:$p/[1-$n]"
  kill -TERM "$vp" 2>/dev/null || true
  wait "$vp" 2>/dev/null || true
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

# per_request NAME GEN ARG: GEN ARG PORT prints the proxy's command line
per_request() {
  local name=$1 gen=$2 arg=$3 p a b
  p=$(port); a=$(count "$N1" "$p" "$tmp/$name.1" $($gen "$arg" "$p"))
  p=$(port); b=$(count "$N2" "$p" "$tmp/$name.2" $($gen "$arg" "$p"))
  echo $(( (b - a) / (N2 - N1) ))
}

gw() { echo "$GW --config $tmp/$1.yaml --proxy-listen 127.0.0.1:$2 --status-listen 127.0.0.1:$(port) --worker-threads 1"; }
# the same plain proxy with analytics on (batches to a file every 10 s)
gw_analytics() { echo "$(gw plain "$2") --analytics-file $tmp/analytics-$2.jsonl"; }
ngx() {
  local p=$2 d="$tmp/ngx-$2"
  mkdir -p "$d"
  cat > "$d/nginx.conf" <<CONF
worker_processes 1; master_process off; daemon off; error_log $d/error.log; pid $d/nginx.pid;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 100000;
  upstream up { server 127.0.0.1:$UP; keepalive 16; }
  server { listen 127.0.0.1:$p;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Real-IP \$remote_addr; } } }
CONF
  echo "$NGINX -p $d -c $d/nginx.conf"
}

declare -A R
R[portico]=$(per_request portico gw plain)
R[portico+plugins]=$(per_request plugins gw plugins)
R[portico+portal]=$(per_request portal gw portal)
R[portico+analytics]=$(per_request analytics gw_analytics -)
R[nginx]=$(per_request nginx ngx -)

echo "== instructions per request (callgrind, N2=$N2 minus N1=$N1 requests over one connection) =="
for k in portico portico+analytics portico+plugins portico+portal nginx; do printf '%-16s %10d\n' "$k" "${R[$k]}"; done
printf 'portico+portal / portico+plugins: %.2fx\n' "$(echo "${R[portico+portal]} / ${R[portico+plugins]}" | bc -l)"
printf 'portico+analytics / portico: %.3fx\n' "$(echo "${R[portico+analytics]} / ${R[portico]}" | bc -l)"
printf 'portico / nginx: %.2fx\n' "$(echo "${R[portico]} / ${R[nginx]}" | bc -l)"
