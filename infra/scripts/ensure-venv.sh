#!/usr/bin/env bash
# Creates a Python venv with the named packages once; re-runs only when the package list changes.
# usage: ensure-venv.sh DIR PACKAGE...
set -euo pipefail
dir="$1"; shift
stamp="$dir/.installed"
want="$*"
if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
python3 -m venv "$dir"
"$dir/bin/pip" install -q --disable-pip-version-check "$@"
echo "$want" > "$stamp"
