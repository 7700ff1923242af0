#!/usr/bin/env bash
# The one command: builds `portico` and runs `portico up` — the platform on
# embedded SQLite (./portico-data), a gateway node embedded in the same process and
# connected through the real cluster protocol, a demo upstream and a demo control
# plane. GraphiQL on http://localhost:8080/graphql, proxy on :8000 / :8443.
# Usage: ./scripts/up.sh [extra `portico up` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p platform --bin portico
exec "${CARGO_TARGET_DIR:-target}/debug/portico" up "$@"
