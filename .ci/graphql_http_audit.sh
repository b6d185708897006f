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
source .ci/lib/demo_gateway.sh
unset GATEWAY_GRAPHIQL GATEWAY_BATCHING || true
seed_demo_database
TOKEN="$(.venv/bin/gateway demo token platform_analyst)"
start_demo_gateway graphql_http_audit "$PORT"

status=0
GRAPHQL_AUDIT_URL="$GATEWAY_URL/graphql" GRAPHQL_AUDIT_TOKEN="$TOKEN" \
  timeout 120 node .ci/graphql_http_audit.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "graphql_http_audit: failed (exit $status); gateway log tail:" >&2
  tail -20 "$WORK/server.log" >&2
fi
exit "$status"
