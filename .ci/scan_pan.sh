#!/usr/bin/env bash
# CI (issue 11, item 2): no card number or CVV at rest.
#   1. a fresh SQLite database, migrated and loaded with every plugin's demo data, scanned with
#      `gateway db scan-pan` (exit 1 and a masked report on any hit);
#   2. when GATEWAY_TEST_POSTGRES_URL is set (.ci/run sets it), the PostgreSQL database the suite
#      ran on, scanned the same way (run this after the suite, before the database is dropped).
# The suite itself scans its test databases at the end of the session (the test kit, schema/pytest_plugin.py).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/gateway ] || make install >/dev/null

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
unset GATEWAY_ENV  # the demo data is refused in production mode; this is a development database

export GATEWAY_DATABASE_URL="sqlite+aiosqlite:///${workdir}/demo.db"
echo ".ci/scan_pan.sh: seeding a fresh SQLite demo database"
timeout 300 .venv/bin/gateway db upgrade
timeout 300 .venv/bin/gateway demo seed >/dev/null
timeout 300 .venv/bin/gateway db scan-pan

if [ -n "${GATEWAY_TEST_POSTGRES_URL:-}" ]; then
  echo ".ci/scan_pan.sh: scanning the PostgreSQL test database"
  timeout 300 .venv/bin/gateway db scan-pan --database-url "$GATEWAY_TEST_POSTGRES_URL"
fi
echo ".ci/scan_pan.sh: no card data at rest"
