"""The console's OpenID Connect sign-in (authorization code with PKCE, as with Cognito's hosted
UI) in headless Chromium, against `warp dev` configured with a JWKS and the console's OIDC
settings, and the test identity provider (tests/browser/oidc_provider.py), as
infra/scripts/console-sign-in-check.sh starts them.

A person signs in as an editor through the provider's page and comes back signed in (role from
the `cognito:groups` claim, the code gone from the address, nothing left in storage); the API
takes the ID token; a reload signs out; an answer whose state this tab did not ask for, and a
code used twice, are refused with a clear message. No console errors but the refusals the
steps cause, no CSP violation, no serious axe-core violation.

Environment: WARP_BASE, CHROMIUM, SCREENSHOT_DIR, AXE_JS, OIDC_TOKEN_URL.
"""

import os
import sys

from playwright.sync_api import expect, sync_playwright

from console_kit import ARGS, WAIT_MS, Watch, audit

BASE = os.environ["WARP_BASE"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN_URL = os.environ["OIDC_TOKEN_URL"]


def sign_in_through_the_provider(page, group):
    page.goto(f"{BASE}/console")
    expect(page.locator("#oidc-sign-in")).to_be_visible()
    expect(page.locator("#dev-sign-in")).to_be_hidden()
    page.click("#oidc-sign-in button[type=submit]")
    page.wait_for_selector("#approve")
    page.select_option("#group", group)
    page.click("#approve")
    expect(page.locator("#who-text")).to_contain_text(f"ops@warp.example ({group})", timeout=WAIT_MS)


def main():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        watch = Watch(page)

        page.goto(f"{BASE}/console")
        expect(page.locator("#oidc-provider")).to_have_text("the test provider")
        audit(page, "sign-in-oidc")

        sign_in_through_the_provider(page, "editor")
        expect(page.locator("#content h1")).to_have_text("Health")
        # The API took the provider's token: the figures are drawn.
        expect(page.locator("dl[aria-label='Outbound queue']")).to_contain_text("Pending")
        assert "code=" not in page.url and "state=" not in page.url, page.url
        assert page.evaluate("sessionStorage.length + localStorage.length") == 0
        page.click("#nav a[href='#/conflicts']")
        expect(page.locator(".needs")).to_have_text("Reading and resolving conflicts needs the admin role.")
        audit(page, "health-oidc")

        page.reload()
        expect(page.locator("#sign-in-title")).to_be_visible()

        # An answer this tab did not ask for is refused before any token is asked for.
        page.goto(f"{BASE}/console?code=forged&state=forged")
        expect(page.locator("#alert")).to_have_text(
            "Sign-in failed: the answer does not match this tab's request. Sign in again.")
        expect(page.locator("#nav")).to_be_hidden()

        # A code the provider already exchanged is refused by it: the person is told.
        seen = []
        page.on("request", lambda r: seen.append(r.url) if r.url.startswith(f"{BASE}/console?code=") else None)
        sign_in_through_the_provider(page, "admin")
        replay = seen[-1]
        state = replay.split("state=")[1].split("&")[0]
        watch.refusals_expected.append(TOKEN_URL)
        # This tab's pending sign-in, as if it had asked: only the provider can now refuse.
        page.evaluate(
            "([state]) => sessionStorage.setItem('warp.console.sign-in', "
            "JSON.stringify({verifier: 'not-the-verifier', state, view: ''}))",
            [state],
        )
        page.goto(replay)
        expect(page.locator("#alert")).to_have_text(
            "Sign-in failed: the identity provider answered 400.", timeout=WAIT_MS)
        assert page.evaluate("sessionStorage.length + localStorage.length") == 0
        watch.check("OIDC sign-in")
        browser.close()
    print("console sign-in: every step passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:
        print(f"console sign-in check failed: {error}", file=sys.stderr)
        raise
