#!/usr/bin/env bash
# Bootstrap sizes of the arm64 Lambda builds, when `make build` has produced them.
set -euo pipefail
dir=target/lambda
[ -d "$dir" ] || exit 0
python3 - "$dir" "$1/sizes.json" <<'PY'
import json, pathlib, sys
sizes = {f"{p.parent.name}_bootstrap_bytes": p.stat().st_size for p in pathlib.Path(sys.argv[1]).glob("*/bootstrap")}
pathlib.Path(sys.argv[2]).write_text(json.dumps(sizes) + "\n")
PY
