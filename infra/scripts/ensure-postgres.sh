#!/usr/bin/env bash
# Makes sure the PostgreSQL that DATABASE_URL names answers. For a local server it starts a
# stopped cluster (or installs PostgreSQL when absent and we are root); for a remote one it only
# checks and says what to do. Idempotent.
set -euo pipefail
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/warp}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=5432

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }
ready && exit 0

case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "PostgreSQL at $host:$port does not answer; start it or fix DATABASE_URL." >&2; exit 1 ;;
esac

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL is not installed; installing it from Debian's packages..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed. Install it (apt-get install postgresql) or set DATABASE_URL." >&2
    exit 1
  fi
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
conf="/etc/postgresql/$version/main"
# Trust auth on loopback for the postgres user, as the project's machines are set up.
if [ -f "$conf/pg_hba.conf" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf/pg_hba.conf" 2>/dev/null || true
fi
echo "Starting PostgreSQL $version..." >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start
for _ in $(seq 1 50); do ready && exit 0; sleep 0.2; done
echo "PostgreSQL did not come up on $host:$port. Try: pg_ctlcluster --skip-systemctl-redirect $version main start" >&2
exit 1
