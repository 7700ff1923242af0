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

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# the integration tests run the real binary: build it first
cargo build --workspace --bins --locked
cargo test --workspace --locked
