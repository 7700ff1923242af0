#!/usr/bin/env bash
# Hybrid load run: `portico serve` and a `portico-gateway --control-plane` node
# (release builds) with wrk driving traffic through the node while a config change
# (a new route) is committed every 100 ms. Prints requests/s, non-2xx and socket
# errors (the target is zero failed requests), and the node's final version.
#
# Usage: bench/hybrid-load.sh      (DURATION=20 CONNS=50 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
CONNS=${CONNS:-50}
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need curl curl
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"
cargo build --release --locked -p gateway-node --bin portico-gateway -p platform --bin portico >/dev/null
BIN="$CARGO_TARGET_DIR/release"

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(port); CL=$(port); PX=$(port); ST=$(port); UP=$(port)
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

TOKEN=bench-token
PORTICO_ADMIN_TOKEN=$TOKEN "$BIN/portico" serve --listen 127.0.0.1:$API --cluster-listen 127.0.0.1:$CL \
  --data-dir "$tmp/data" >"$tmp/platform.out" 2>"$tmp/platform.log" & pids+=($!)
"$BIN/portico-gateway" echo --listen 127.0.0.1:$UP >/dev/null 2>&1 & pids+=($!)
wait_port $API; wait_port $UP
gql() { curl -sf -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  --data "$1" "http://127.0.0.1:$API/graphql"; }
CP=$(gql '{"query":"mutation { createControlPlane(input: {name: \"load\"}) { id } }"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createControlPlane"]["id"])')
gql "{\"query\":\"mutation(\$i: ApplyConfigInput!) { applyConfig(input: \$i) { configVersion } }\",\"variables\":{\"i\":{\"controlPlane\":\"$CP\",\"document\":{\"_format_version\":\"3.0\",\"services\":[{\"name\":\"up\",\"url\":\"http://127.0.0.1:$UP\",\"routes\":[{\"name\":\"hot\",\"paths\":[\"/hot\"]}]}]}}}}" >/dev/null
gql "{\"query\":\"mutation(\$i: CreateDataPlaneCertificateInput!) { createDataPlaneCertificate(input: \$i) { certificate privateKey clusterCaCertificate } }\",\"variables\":{\"i\":{\"controlPlaneId\":\"$CP\",\"name\":\"load\"}}}" \
  | python3 -c "
import json,sys
c=json.load(sys.stdin)['data']['createDataPlaneCertificate']
open('$tmp/n.crt','w').write(c['certificate']); open('$tmp/n.key','w').write(c['privateKey']); open('$tmp/ca.crt','w').write(c['clusterCaCertificate'])"
"$BIN/portico-gateway" --control-plane https://127.0.0.1:$CL --cluster-cert "$tmp/n.crt" --cluster-key "$tmp/n.key" \
  --cluster-ca "$tmp/ca.crt" --cluster-cache-dir "$tmp/cache" --proxy-listen 127.0.0.1:$PX --status-listen 127.0.0.1:$ST \
  --worker-threads 1 >/dev/null 2>"$tmp/node.log" & pids+=($!)
wait_port $PX
for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PX/hot)" = 200 ] && break; sleep 0.1; done

# a change every 100 ms while wrk runs
(
  i=0
  end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    gql "{\"query\":\"mutation(\$i: CreateEntityInput!) { createEntity(input: \$i) { id } }\",\"variables\":{\"i\":{\"controlPlaneId\":\"$CP\",\"kind\":\"ROUTE\",\"data\":{\"name\":\"r$i\",\"paths\":[\"/r$i\"],\"service\":{\"name\":\"up\"}}}}}" >/dev/null || echo "mutation $i failed" >&2
    sleep 0.1
  done
  echo "$i" > "$tmp/changes"
) &
changer=$!
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PX/hot" > "$tmp/wrk.txt"
wait $changer
changes=$(cat "$tmp/changes")
sleep 1
status=$(curl -s http://127.0.0.1:$ST/status)
node_version=$(echo "$status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sync"]["config_version"])')
plane_version=$(gql "{\"query\":\"{ controlPlane(id: \\\"$CP\\\") { configVersion } }\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["controlPlane"]["configVersion"])')
rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
total=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$tmp/wrk.txt"); non2xx=${non2xx:-0}
sockerr=$(awk '/Socket errors/ {print}' "$tmp/wrk.txt"); sockerr=${sockerr:-none}
p99=$(awk '/ 99%/ {print $2}' "$tmp/wrk.txt")
echo "== hybrid load: wrk -t1 -c$CONNS -d${DURATION}s through a node, a config change every 100 ms =="
echo "requests: $total ($rps req/s, p99 $p99); non-2xx: $non2xx; socket errors: $sockerr"
echo "config changes committed: $changes; plane version $plane_version, node version $node_version"
