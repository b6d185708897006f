#!/usr/bin/env bash
# CI: mypy --strict and ruff over the code (configuration in pyproject.toml: [tool.mypy], [tool.ruff]).
#   mypy checks gateway/, schema/ and plugins/ (plugin tests included, typed more loosely: see the
#   tests.* / plugins.*.tests.* override); ruff checks the same folders and tests/.
#   Needs nothing running; bounded in time; non-zero on the first finding.
set -euo pipefail
cd "$(dirname "$0")/.."

make install >/dev/null
timeout 600 .venv/bin/mypy
timeout 300 .venv/bin/ruff check gateway schema plugins tests
