#!/usr/bin/env bash
# CI: no breaking change of the GraphQL schema without a recorded deprecation (schema/DEPRECATIONS.md).
#   `gateway schema check --since REF` judges every committed version of schema/schema.graphql from REF to
#   HEAD (first parent), pair by pair, then the code against the file: a field removed together with a
#   regenerated SDL file (which tests/test_sdl.py accepts) is still caught. REF is the commit that added
#   schema/DEPRECATIONS.md: the history before the policy is not judged. Without git history (no
#   repository, a shallow clone, the changelog not committed yet) it says so and checks the code against
#   the file only. Needs nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

changelog=schema/DEPRECATIONS.md
gateway=.venv/bin/gateway
[ -x "$gateway" ] || make install >/dev/null

since=""
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo ".ci/schema_check.sh: no git repository: checking the code against schema/schema.graphql only" >&2
elif [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  echo ".ci/schema_check.sh: a shallow clone (history cut): checking the code against schema/schema.graphql only;" \
       "fetch the whole history (git fetch --unshallow) to check it" >&2
else
  since="$(git log --diff-filter=A --format=%H -- "$changelog" | tail -n 1)"
  if [ -z "$since" ]; then
    echo ".ci/schema_check.sh: $changelog is not committed yet: checking the code against schema/schema.graphql only" >&2
  fi
fi

if [ -n "$since" ]; then
  timeout 300 "$gateway" schema check --since "$since"
else
  timeout 300 "$gateway" schema check
fi
