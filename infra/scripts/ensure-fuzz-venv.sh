#!/usr/bin/env bash
# The API fuzzing venv (.venv-fuzz): schemathesis, pinned, apart from moto's venv so neither
# pins the other's dependencies. usage: ensure-fuzz-venv.sh [DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/ensure-venv.sh" "${1:-$here/../../.venv-fuzz}" 'schemathesis==4.32.5'
