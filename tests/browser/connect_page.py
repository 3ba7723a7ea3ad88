"""The HubSpot connect page in a real headless Chromium (Debian's), driven by Playwright.

Run by tests/tests/connect_page.rs, which starts the API and the HubSpot sandbox on loopback
ports and passes them here: WARP_BASE (the API), WARP_TOKEN (a customer-scoped JWT),
CONNECT_PORTAL (the HubSpot account to pick on the consent page) and CHROMIUM (the browser).
Every step asserts what a person would see; any failure exits non-zero with the reason.
"""

import os
import sys

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["WARP_BASE"]
TOKEN = os.environ["WARP_TOKEN"]
PORTAL = os.environ["CONNECT_PORTAL"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")
# Chromium's own background connections are refused on this machine's closed network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"connect-{name}.png"))


def consent(page, decision):
    """Clicks Connect, answers HubSpot's consent page in the popup, waits for it to close."""
    with page.expect_popup() as opened:
        page.click("#connect")
    popup = opened.value
    popup.wait_for_selector("#approve")
    expect(popup.locator("h1")).to_contain_text("Connect the app")
    if decision == "approve":
        popup.fill("#portal_id", PORTAL)
    # The callback page hands the outcome to this page and closes itself, possibly before a
    # wait started after the click would listen: listen first.
    with popup.expect_event("close", timeout=15_000):
        popup.click("#approve" if decision == "approve" else "#deny")


def main():
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(f"{BASE}/connect#token={TOKEN}")
        expect(page.locator("#status")).to_have_text("Not connected")
        expect(page.locator("#connect")).to_be_visible()
        expect(page.locator("#disconnect")).to_be_hidden()
        # The token left the address bar once read.
        assert "token=" not in page.url, page.url

        consent(page, "approve")
        expect(page.locator("#banner-success")).to_have_text("HubSpot connected successfully!")
        expect(page.locator("#status")).to_have_text("Connected \u2713")
        expect(page.locator("#indicator")).to_have_class("indicator connected")
        expect(page.locator("#portal")).to_contain_text(PORTAL)
        expect(page.locator("#connect")).to_be_hidden()
        shot(page, "connected")

        page.click("#disconnect")
        expect(page.locator("#banner-success")).to_have_text("HubSpot disconnected successfully!")
        expect(page.locator("#status")).to_have_text("Not connected")
        expect(page.locator("#disconnect")).to_be_hidden()
        expect(page.locator("#details")).to_be_hidden()

        consent(page, "deny")
        expect(page.locator("#banner-error")).to_contain_text("declined")
        expect(page.locator("#banner-success")).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Not connected")
        expect(page.locator("#details")).to_be_hidden()
        shot(page, "declined")

        # A reload keeps the tab's token and shows the same state.
        page.reload()
        expect(page.locator("#status")).to_have_text("Not connected")
        browser.close()
    if errors:
        print("page errors:", errors, file=sys.stderr)
        return 1
    print("connect page: connect, disconnect and decline all seen in Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())
