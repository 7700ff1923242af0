#!/usr/bin/env bash
# Starts Portico on one machine, no manual steps:
#   - the platform (`portico serve`) on http://localhost:8080, embedded SQLite in
#     ./portico-data, GraphiQL at /graphql; examples/kong.yaml is applied to the
#     control plane "default";
#   - a demo upstream and the gateway on the same file:
#     proxy http://localhost:8000, https://localhost:8443, status http://127.0.0.1:8100/status
# Usage: ./scripts/up.sh [path/to/kong.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-examples/kong.yaml}"
cargo build --locked -p gateway-node --bin portico-gateway -p platform --bin portico
dir="${CARGO_TARGET_DIR:-target}/debug"
data="${PORTICO_DATA_DIR:-portico-data}"
mkdir -p "$data"
# a token known to this machine: created on the first start, reused after
if [ ! -s "$data/admin-token" ]; then
  (umask 077; echo "portico_$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')" > "$data/admin-token")
fi
token="$(cat "$data/admin-token")"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
PORTICO_ADMIN_TOKEN="$token" "$dir/portico" serve --listen 0.0.0.0:8080 --data-dir "$data" &
pids+=($!)
"$dir/portico-gateway" echo --listen 127.0.0.1:9000 --name demo-upstream &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
  sleep 0.1
done
PORTICO_TOKEN="$token" "$dir/portico" apply -f "$config" --control-plane default || true
cat <<MSG

  Portico platform  http://localhost:8080/graphql (GraphiQL; header
                    {"Authorization": "Bearer $token"})
  Portico gateway on $config
    proxy   http://localhost:8000   https://localhost:8443 (self-signed)
    status  http://127.0.0.1:8100/status
  Try:
    curl -i http://localhost:8000/echo/hello
    curl -i -H 'apikey: demo-key' http://localhost:8000/private
    PORTICO_TOKEN=$token $dir/portico dump --control-plane default
  Edit $config and save: the gateway reloads it (or send SIGHUP).

MSG
"$dir/portico-gateway" --config "$config" --proxy-listen 0.0.0.0:8000 --proxy-listen-tls 0.0.0.0:8443
