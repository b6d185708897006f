#!/usr/bin/env bash
# CI: GraphiQL renders in a real headless Chromium with no internet (its assets come from the package).
#   Installs Debian's chromium with apt-get when missing; serves a fresh SQLite demo database on loopback
#   with GATEWAY_GRAPHIQL=1; checks the rendered DOM has GraphiQL's editor and no "Loading"; saves a
#   screenshot to ${CI_ARTIFACTS:-.ci/artifacts}/graphiql.png. Bounded in time; non-zero on failure.
#   GRAPHIQL_CHECK_PORT (default 18310) picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${GRAPHIQL_CHECK_PORT:-18310}"
ARTIFACTS="${CI_ARTIFACTS:-.ci/artifacts}"
mkdir -p "$ARTIFACTS"
ARTIFACTS="$(cd "$ARTIFACTS" && pwd)"
SCREENSHOT="$ARTIFACTS/graphiql.png"

find_chromium() { command -v chromium || command -v chromium-browser || true; }
CHROMIUM="$(find_chromium)"
if [ -z "$CHROMIUM" ]; then
  echo "browser_graphiql: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
  timeout 600 $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq chromium >/dev/null
  CHROMIUM="$(find_chromium)"
fi
[ -n "$CHROMIUM" ] || { echo "browser_graphiql: chromium is not installed" >&2; exit 1; }

make install >/dev/null
source .ci/lib/demo_gateway.sh
seed_demo_database
export GATEWAY_GRAPHIQL=1
GATEWAY_DEMO_TOKEN_PREFILL="$(.venv/bin/gateway demo token partner_admin)"
export GATEWAY_DEMO_TOKEN_PREFILL
start_demo_gateway browser_graphiql "$PORT"
URL="$GATEWAY_URL/graphql"

# The page must not ask the network for anything but this gateway.
PAGE="$(curl -fsS --max-time 10 -H 'Accept: text/html' "$URL")"
if grep -Eo '<(script|link)[^>]+(src|href)="[^"]*"' <<<"$PAGE" | grep -Eq '"(https?:)?//'; then
  echo "browser_graphiql: the GraphiQL page loads something from outside:" >&2
  grep -Eo '<(script|link)[^>]+(src|href)="[^"]*"' <<<"$PAGE" >&2
  exit 1
fi

# --proxy-server to a closed port: any request to the internet fails, as it would offline.
CHROME_FLAGS=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
              --user-data-dir="$WORK/profile" --proxy-server="http://127.0.0.1:9" --proxy-bypass-list="127.0.0.1"
              --window-size=1280,800 --virtual-time-budget=8000)
timeout 90 "$CHROMIUM" "${CHROME_FLAGS[@]}" --dump-dom "$URL" >"$WORK/dom.html" 2>"$WORK/chromium.log" || true
timeout 90 "$CHROMIUM" "${CHROME_FLAGS[@]}" --screenshot="$SCREENSHOT" "$URL" >/dev/null 2>>"$WORK/chromium.log" || true

failed=0
if ! grep -q 'graphiql-container' "$WORK/dom.html"; then
  echo "browser_graphiql: the rendered page has no GraphiQL editor (graphiql-container)" >&2; failed=1
fi
if grep -q 'CodeMirror' "$WORK/dom.html"; then :; else
  echo "browser_graphiql: the rendered page has no query editor (CodeMirror)" >&2; failed=1
fi
if grep -q 'Loading GraphiQL' "$WORK/dom.html"; then
  echo "browser_graphiql: the page still says 'Loading GraphiQL'" >&2; failed=1
fi
if [ ! -s "$SCREENSHOT" ]; then
  echo "browser_graphiql: no screenshot was written" >&2; failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "--- DOM (first 40 lines)" >&2; head -40 "$WORK/dom.html" >&2
  echo "--- chromium (last 20 lines)" >&2; tail -20 "$WORK/chromium.log" >&2
  echo "--- gateway (last 20 lines)" >&2; tail -20 "$WORK/server.log" >&2
  exit 1
fi
echo "browser_graphiql: GraphiQL rendered offline in $("$CHROMIUM" --version 2>/dev/null | head -1); screenshot $SCREENSHOT"
