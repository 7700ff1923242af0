#!/usr/bin/env bash
# Starts a working gateway on examples/kong.yaml with a demo upstream:
#   proxy http://localhost:8000, https://localhost:8443, status http://127.0.0.1:8100/status
# Usage: ./scripts/up.sh [path/to/kong.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-examples/kong.yaml}"
cargo build -p gateway-node --bin portico-gateway
bin="${CARGO_TARGET_DIR:-target}/debug/portico-gateway"
"$bin" echo --listen 127.0.0.1:9000 --name demo-upstream &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
cat <<MSG

  Portico gateway on $config
    proxy   http://localhost:8000   https://localhost:8443 (self-signed)
    status  http://127.0.0.1:8100/status
  Try:
    curl -i http://localhost:8000/echo/hello
    curl -i -H 'Host: api.example.com' http://localhost:8000/anything
    curl -ik https://localhost:8443/users/42
    curl -i -H 'apikey: demo-key' http://localhost:8000/private
  Edit $config and save: the gateway reloads it (or send SIGHUP).

MSG
"$bin" --config "$config" --proxy-listen 0.0.0.0:8000 --proxy-listen-tls 0.0.0.0:8443
