#!/usr/bin/env bash
# Installs Debian's chromium (the browser the connect-page test drives through Playwright's
# executable_path; Playwright's own browser download is not reachable here) once.
set -euo pipefail
browser="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "chromium is missing at $browser and there is no apt-get to install it: install Debian's chromium package, or set CHROMIUM" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing Debian's chromium (once)…"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$browser" ] || { echo "chromium did not install at $browser" >&2; exit 1; }
