#!/usr/bin/env bash
# CI: every plugin's part of the schema as an Apollo Federation 2 subgraph (`gateway schema export --plugin NAME
# --federation`, the core's too), composed by Apollo's own composition (@apollo/composition's composeServices,
# satisfiability included). Fails on a composition error, or when the supergraph's API schema differs from the
# committed schema/schema.graphql (the differing lines are printed).
#   Needs node >= 18 and npm. Installs the pinned npm packages into .ci/node_modules/.federation (gitignored):
#   a folder of its own, since an `npm install --no-save` into .ci (graphql_http_audit.sh) removes what it did
#   not install itself, and npm leaves dot-folders of node_modules alone.
set -euo pipefail
cd "$(dirname "$0")/.."

APOLLO_COMPOSITION_VERSION=2.14.4
GRAPHQL_JS_VERSION=16.15.0  # @apollo/composition's peer dependency
MODULES=.ci/node_modules/.federation

command -v node >/dev/null && command -v npm >/dev/null || { echo "federation_compose: node and npm are needed" >&2; exit 1; }
installed="$(node -p "require('./$MODULES/node_modules/@apollo/composition/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$APOLLO_COMPOSITION_VERSION" ]; then
  mkdir -p "$MODULES"
  timeout 300 npm install --prefix "$MODULES" --no-save --no-package-lock --no-audit --no-fund --silent \
    "@apollo/composition@$APOLLO_COMPOSITION_VERSION" "graphql@$GRAPHQL_JS_VERSION"
fi

make install >/dev/null
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
subgraphs=()
for name in $(timeout 60 .venv/bin/python -c 'from gateway.federation import installed_plugins; print(*installed_plugins())'); do
  timeout 120 .venv/bin/gateway schema export --plugin "$name" --federation --output "$WORK/$name.graphql" >/dev/null
  subgraphs+=("$name=$WORK/$name.graphql")
done
timeout 300 node .ci/federation_compose.mjs "$MODULES" schema/schema.graphql "${subgraphs[@]}"
