#!/usr/bin/env bash
# CI: graphql-http's GraphQL-over-HTTP audit against a gateway on loopback; fails unless every MUST
# and every SHOULD passes. Installs the pinned npm packages into .ci/node_modules (gitignored).
#   Needs node >= 18 and npm. GRAPHQL_AUDIT_PORT (default 18320) picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHQL_HTTP_VERSION=1.23.1
GRAPHQL_JS_VERSION=16.15.0  # graphql-http's peer dependency
PORT="${GRAPHQL_AUDIT_PORT:-18320}"

command -v node >/dev/null && command -v npm >/dev/null || { echo "graphql_http_audit: node and npm are needed" >&2; exit 1; }
installed="$(node -p "require('./.ci/node_modules/graphql-http/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$GRAPHQL_HTTP_VERSION" ]; then
  timeout 300 npm install --prefix .ci --no-save --no-package-lock --no-audit --no-fund --silent \
    "graphql-http@$GRAPHQL_HTTP_VERSION" "graphql@$GRAPHQL_JS_VERSION"
fi

make install >/dev/null
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export GATEWAY_DATABASE_URL="sqlite+aiosqlite:///$WORK/audit.db"
export GATEWAY_ENV=development
unset GATEWAY_GRAPHIQL GATEWAY_BATCHING || true
timeout 120 .venv/bin/gateway demo seed >/dev/null
TOKEN="$(.venv/bin/gateway demo token platform_analyst)"
.venv/bin/gateway serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "graphql_http_audit: the gateway did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done

status=0
GRAPHQL_AUDIT_URL="http://127.0.0.1:$PORT/graphql" GRAPHQL_AUDIT_TOKEN="$TOKEN" \
  timeout 120 node .ci/graphql_http_audit.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "graphql_http_audit: failed (exit $status); gateway log tail:" >&2
  tail -20 "$WORK/server.log" >&2
fi
exit "$status"
