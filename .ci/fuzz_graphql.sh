#!/usr/bin/env bash
# Bounded schemathesis run against /graphql as every demo role (the ASGI app in-process, a fresh
# SQLite demo database in a temporary folder): exits non-zero on any server error.
#   FUZZ_EXAMPLES (default 4) examples per operation, mode and role; FUZZ_TIME_BUDGET (default 170) seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if ! "$PYTHON" -c "import schemathesis" 2>/dev/null; then
  echo ".ci/fuzz_graphql.sh: schemathesis is not installed (pip install -e '.[test]')" >&2
  exit 1
fi
export FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-4}"
export FUZZ_TIME_BUDGET="${FUZZ_TIME_BUDGET:-170}"
# the hard bound: the budget stops starting new operations; this stops anything stuck
exec timeout --kill-after=10 "$((${FUZZ_TIME_BUDGET%.*} + 120))" "$PYTHON" .ci/fuzz_graphql.py "$@"
