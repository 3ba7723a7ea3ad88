"""What the console's browser checks share: HTTP calls to the API and the sandbox, waiting,
Chromium's flags for this closed machine, and the per-view checks (console errors, CSP
violations, axe-core, screenshots)."""

import json
import os
import time
import urllib.error
import urllib.request

SCREENSHOTS = os.environ["SCREENSHOT_DIR"]
AXE_JS = os.environ["AXE_JS"]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000


def http(method, url, body=None, token=None, headers=None):
    """One JSON request; answers (status, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, (json.loads(text) if text else None)


def must(method, url, body=None, token=None, headers=None, expected=(200, 201, 202, 204)):
    status, answer = http(method, url, body, token, headers)
    if status not in expected:
        raise AssertionError(f"{method} {url} answered {status}: {answer}")
    return answer


def until(what, check, seconds=30):
    """Polls `check` until it answers something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


class Watch:
    """Console errors, uncaught exceptions and CSP violations of one page."""

    def __init__(self, page):
        self.errors = []
        # Requests a step makes to be refused (Chromium logs every 4xx as an error).
        self.refusals_expected = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self.console)
        # Runs before the page's own scripts, outside its CSP (Playwright injects it).
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )

    def console(self, message):
        if message.type == "error":
            where = (message.location or {}).get("url", "")
            if message.text.startswith("Failed to load resource") and any(
                    expected in where for expected in self.refusals_expected):
                return
            self.errors.append(f"console: {message.text} ({where})")

    def check(self, where):
        if self.errors:
            raise AssertionError(f"{where}: {self.errors}")


def audit(page, name):
    """axe-core over the view: no serious or critical violation. Then a screenshot."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        with open(AXE_JS, encoding="utf-8") as source:
            page.evaluate(source.read())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    if violations:
        raise AssertionError(f"{name}: accessibility violations: {violations}")
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


