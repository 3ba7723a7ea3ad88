#!/usr/bin/env bash
# The console's OpenID Connect sign-in (authorization code with PKCE, as with Cognito's hosted
# UI) in headless Chromium: a test identity provider (tests/browser/oidc_provider.py) on a free
# loopback port, and `warp dev` trusting its JWKS, with the console's OIDC settings pointing at
# it (so no dev sign-in), driven by tests/browser/console_sign_in.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

server="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
# shellcheck source=lib/warp-dev.sh
source infra/scripts/lib/warp-dev.sh
require_browser
out="$root/target/console"
mkdir -p "$out"

cargo build --quiet -p warp-cli --bin warp
warp="$root/target/debug/warp"

database="warp_console_oidc_$(date +%s)_$$"
provider_pid=""
stop_all() {
  if [ -n "$provider_pid" ]; then kill "$provider_pid" 2>/dev/null || true; fi
  stop_warp_dev_and_drop_database
}
trap stop_all EXIT

# The console's own address is the callback: known before the server starts.
api_port="$(free_port)"
provider_port="$(free_port)"
provider="http://127.0.0.1:$provider_port"
client_id="warp-console-test"
console_url="http://127.0.0.1:$api_port/console"
"$python" tests/browser/oidc_provider.py "$provider_port" "$client_id" "$console_url" \
  >"$out/oidc-provider.log" 2>&1 &
provider_pid=$!
for _ in $(seq 1 50); do
  if curl -fsS "$provider/jwks.json" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

export JWT_JWKS_URL="$provider/jwks.json"
export JWT_ISSUER="$provider"
export JWT_AUDIENCE="warp-api,$client_id"
export JWT_ROLES_CLAIM="cognito:groups"
export CONSOLE_OIDC_AUTHORIZE_URL="$provider/oauth2/authorize"
export CONSOLE_OIDC_TOKEN_URL="$provider/oauth2/token"
export CONSOLE_OIDC_CLIENT_ID="$client_id"
export CONSOLE_OIDC_REDIRECT_URI="$console_url"
export CONSOLE_OIDC_PROVIDER="the test provider"
API_PORT="$api_port" start_warp_dev "$out/warp-oidc.log"

echo "console sign-in: $base with the identity provider on $provider"
WARP_BASE="$base" CHROMIUM="$chromium" SCREENSHOT_DIR="$out" OIDC_TOKEN_URL="$provider/oauth2/token" \
  AXE_JS="$root/tests/browser/vendor/axe-core-4.14.1/axe.min.js" \
  "$python" tests/browser/console_sign_in.py
