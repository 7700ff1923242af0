#!/usr/bin/env bash
# Refreshes platform/assets/graphiql from the npm registry (run by hand when
# upgrading GraphiQL; the build itself never fetches anything).
set -euo pipefail
cd "$(dirname "$0")/.."
out=platform/assets/graphiql
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 >/dev/null)
for f in "$tmp"/*.tgz; do d="${f%.tgz}"; mkdir -p "$d"; tar xzf "$f" -C "$d"; done
for f in "$tmp"/graphiql-*/package/graphiql.min.js "$tmp"/graphiql-*/package/graphiql.min.css \
         "$tmp"/react-1*/package/umd/react.production.min.js \
         "$tmp"/react-dom-*/package/umd/react-dom.production.min.js; do
  gzip -9 -n -c "$f" > "$out/$(basename "$f").gz"
done
echo "updated $out"
