# Sourced by the .ci scripts that need a running gateway: a fresh SQLite demo database in a
# temporary folder, `gateway serve` on a loopback port, stopped and removed on exit.
#   start_demo_gateway NAME PORT   (NAME prefixes messages; extra GATEWAY_* settings: export them before)
# Sets WORK (the temporary folder), SERVER_PID and GATEWAY_URL (http://127.0.0.1:PORT).

WORK="$(mktemp -d)"
SERVER_PID=""
stop_demo_gateway() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap stop_demo_gateway EXIT

seed_demo_database() {
  export GATEWAY_DATABASE_URL="sqlite+aiosqlite:///$WORK/demo.db"
  export GATEWAY_ENV=development
  timeout 120 .venv/bin/gateway demo seed >/dev/null
}

start_demo_gateway() {
  local name="$1" port="$2"
  .venv/bin/gateway serve --host 127.0.0.1 --port "$port" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  GATEWAY_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 60); do
    if curl -fsS --max-time 2 -o /dev/null "$GATEWAY_URL/health" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name: the gateway did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "$name: no /health after 30 s" >&2
  exit 1
}
