# shellcheck shell=bash
# Starting the whole local system (`warp dev`: API, webhooks, loops, HubSpot sandbox) for a
# script's run: on free loopback ports, over its own database. Sourced by the scripts that drive
# it (schemathesis, the console check, chaos); they set `warp` (the binary), `server` (the
# PostgreSQL server URL) and `database` first, and any other settings as environment variables.

# require_browser: sets python (Playwright's venv) and chromium, or exits saying how to get them.
require_browser() {
  python="${WARP_BROWSER_PYTHON:-$root/.venv/bin/python}"
  chromium="${CHROMIUM:-/usr/bin/chromium}"
  for needed in "$python" "$chromium"; do
    if [ ! -x "$needed" ]; then
      echo "$needed is missing: \`make venv chromium\` installs Playwright and Debian's chromium" >&2
      exit 1
    fi
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_warp_dev LOG [TRIES]: starts `$warp dev` logging to LOG and returns once /health
# answers (TRIES × 0.2 s at most, default 150); sets dev_pid, api_port, sandbox_port, base and
# sandbox_base. API_PORT chooses the API's port (when it must be known before the start).
# Exits with the log's tail when the server dies first.
start_warp_dev() {
  local log="$1" tries="${2:-150}"
  api_port="${API_PORT:-$(free_port)}"
  sandbox_port="$(free_port)"
  export DATABASE_URL="$server/$database"
  export HTTP_ADDR="127.0.0.1:$api_port"
  export HUBSPOT_SANDBOX_ADDR="127.0.0.1:$sandbox_port"
  export LOG_FORMAT=json
  "$warp" dev >"$log" 2>&1 &
  dev_pid=$!
  base="http://127.0.0.1:$api_port"
  sandbox_base="http://127.0.0.1:$sandbox_port"
  for _ in $(seq 1 "$tries"); do
    if curl -fsS "$base/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      echo "warp dev exited; its log:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  curl -fsS "$base/health" >/dev/null
}

# Stops the server started above and drops its database (for an EXIT trap).
stop_warp_dev_and_drop_database() {
  if [ -n "${dev_pid:-}" ] && kill -0 "$dev_pid" 2>/dev/null; then
    kill "$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
  fi
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
}
