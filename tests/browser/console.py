"""The sync console (/console) in a real headless Chromium (Debian's), driven by Playwright,
against the whole local system (`warp dev`: API, webhooks, worker and reconciler loops, and the
HubSpot sandbox), as infra/scripts/console-check.sh starts it.

What a person does and sees, step by step: dev sign-in; a failure injected through the sandbox
(a portal validation rule) appears with HubSpot's reason, is exported as CSV, retried and
clears; a conflict made by editing the same field in WARP and in HubSpot at once is resolved;
a customer is linked to a company found by the autocomplete, unlinked (the page asks first) and
linked again; a user is unlinked from its contact and linked to another found by the contact
search;
a dry-run reconciliation is started and its report read; installations listed; a viewer sees
but cannot operate. Every view: no console errors, no CSP violations, no serious axe-core
violation, a screenshot under SCREENSHOT_DIR, and at phone width no sideways scrolling.

Environment: WARP_BASE (the API), SANDBOX_BASE (the sandbox), CHROMIUM, SCREENSHOT_DIR, AXE_JS.
Any failure exits non-zero with the reason.
"""

import os
import re
import sys

from playwright.sync_api import expect, sync_playwright

from console_kit import ARGS, WAIT_MS, Watch, audit, must, until

BASE = os.environ["WARP_BASE"]
SANDBOX = os.environ["SANDBOX_BASE"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ["SCREENSHOT_DIR"]
# The sandbox's person-in-the-UI token: its edits are announced by webhook like a person's.
UI_TOKEN = "sandbox-user-token"
ADMIN = None  # the API token the script itself uses, minted by the dev sign-in


def go(page, section):
    page.click(f"#nav a[href='#/{section}']")
    expect(page.locator("#content h1")).to_have_text(section.capitalize(), timeout=WAIT_MS)


def sign_in(page, role):
    page.goto(f"{BASE}/console")
    expect(page.locator("#dev-sign-in")).to_be_visible()
    page.select_option("#dev-role", role)
    page.click("#dev-sign-in button[type=submit]")
    expect(page.locator("#who-text")).to_contain_text(f"({role})")


def set_required(properties):
    must("PUT", f"{SANDBOX}/_sandbox/validation-rules/companies", {"required": properties})


def failures(page, admin):
    """A record HubSpot refuses appears with HubSpot's reason; exported; retried; cleared."""
    set_required(["industry"])
    customer = must("POST", f"{BASE}/v1/customers",
                    {"company_name": "Rules Ltd", "customer_type": "PREPAID"}, admin)
    until("the refused push", lambda: must(
        "GET", f"{BASE}/v1/sync/failed?reason=industry", token=admin)["total"] == 1)

    go(page, "failures")
    row = page.locator("table tr", has_text=customer["id"])
    expect(row).to_contain_text("industry", timeout=WAIT_MS)
    expect(row).to_contain_text("VALIDATION_ERROR")
    expect(row).to_contain_text("industry (REQUIRED_FIELD)")
    page.fill("#failure-reason", "industry")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#outbound-failures")).to_have_text("Outbound records (1)", timeout=WAIT_MS)
    audit(page, "failures")

    with page.expect_download() as downloaded:
        page.click("#export-csv")
    exported = open(downloaded.value.path(), encoding="utf-8").read()
    lines = exported.strip().splitlines()
    assert lines[0].startswith("outbox_id,portal_id,object_type,local_id"), lines[0]
    assert len(lines) == 2 and customer["id"] in lines[1] and "industry" in lines[1], exported

    # The rule is lifted; the person retries the row and sees it clear.
    set_required([])
    row.get_by_role("button", name=f"Retry record {customer['id']}").click()
    expect(page.locator("#notice")).to_have_text("1 failed record queued again.", timeout=WAIT_MS)
    expect(page.locator("text=No failed records match.")).to_be_visible(timeout=WAIT_MS)
    synced = until("the retried push", lambda: (lambda c: c if c["sync"]["state"] == "synced" else None)(
        must("GET", f"{BASE}/v1/customers/{customer['id']}", token=admin)))
    return synced


def conflict(page, admin, customer):
    """WARP and HubSpot rename the same company at once; the person keeps HubSpot's name."""
    company = customer["external_ids"]["hubspot_company_id"]
    must("PATCH", f"{BASE}/v1/customers/{customer['id']}", {"company_name": "Rules Renamed"},
         admin, headers={"If-Match": "*"})
    must("PATCH", f"{SANDBOX}/crm/v3/objects/companies/{company}",
         {"properties": {"name": "Rules From HubSpot"}}, UI_TOKEN)
    until("the conflict", lambda: must(
        "GET", f"{BASE}/v1/sync/conflicts?status=OPEN", token=admin)["items"])

    go(page, "conflicts")
    card = page.locator("article.conflict", has_text=customer["id"])
    expect(card).to_contain_text("company_name")
    expect(card).to_contain_text("Rules Renamed")
    expect(card).to_contain_text("Rules From HubSpot")
    audit(page, "conflicts")
    card.get_by_role("button", name="Keep HubSpot's value").click()
    expect(page.locator("#notice")).to_have_text("Conflict resolved: HubSpot's value taken.",
                                                 timeout=WAIT_MS)
    expect(page.locator("text=No open conflict.")).to_be_visible(timeout=WAIT_MS)
    name = must("GET", f"{BASE}/v1/customers/{customer['id']}", token=admin)["company_name"]
    assert name == "Rules From HubSpot", name
    # WARP's push of the rename may have reached HubSpot after the person's edit: the
    # resolution puts HubSpot's value back there too.
    until("HubSpot holding the resolution", lambda: must(
        "GET", f"{SANDBOX}/crm/v3/objects/companies/{company}?properties=name",
        token=UI_TOKEN)["properties"]["name"] == "Rules From HubSpot")


def linking(page, admin):
    """A customer whose company HubSpot refused to create is linked, from the page, to the
    company a salesperson made in HubSpot, found by the autocomplete."""
    set_required(["industry"])
    customer = must("POST", f"{BASE}/v1/customers",
                    {"company_name": "Autocomplete Corp", "customer_type": "POSTPAID"}, admin)
    until("the refused push", lambda: must(
        "GET", f"{BASE}/v1/sync/failed?reason=industry", token=admin)["total"] == 1)
    set_required([])
    company = must("POST", f"{SANDBOX}/crm/v3/objects/companies",
                   {"properties": {"name": "Autocomplete Corp", "domain": "autocomplete.example"}},
                   UI_TOKEN)["id"]

    go(page, "linking")
    page.fill("#customer-search", "Autocompl")
    page.get_by_role("button", name=f"Autocomplete Corp ({customer['ban']})").click()
    expect(page.locator("#linked-customer")).to_have_text("not linked", timeout=WAIT_MS)
    page.type("#customer-link-search", "Autocomplet", delay=40)
    link = page.get_by_role("button", name="Link to Autocomplete Corp (autocomplete.example)")
    expect(link).to_be_visible(timeout=WAIT_MS)
    audit(page, "linking")
    # Still typing when the result is chosen: the search the last key started is still
    # waiting (350 ms) when the link is made and the card redrawn.
    page.evaluate("""() => {
        const box = document.getElementById("customer-link-search");
        box.value += "e";
        box.dispatchEvent(new Event("input", { bubbles: true }));
        [...document.querySelectorAll("#customer-link-results button")]
            .find((b) => b.textContent === "Link to Autocomplete Corp (autocomplete.example)").click();
    }""")
    expect(page.locator("#notice")).to_have_text(
        f"Linked to HubSpot company {company}; a full push is queued.", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # the waiting search's time has come and gone
    expect(page.locator("#linked-customer")).to_have_text(company)
    linked = must("GET", f"{BASE}/v1/customers/{customer['id']}", token=admin)
    assert linked["external_ids"]["hubspot_company_id"] == company, linked
    assert company_ban(company) == customer["ban"]
    # The full push the link queued is done before the unlink (else it would wait for the
    # next link): whether it ran first is then not a matter of timing.
    until("the full push after the link", lambda: must(
        "GET", f"{BASE}/v1/customers/{customer['id']}", token=admin)["sync"]["state"] == "synced")

    # Unlinked from the page (it asks first): the company loses the BAN, the customer waits.
    page.get_by_role("button", name=f"Unlink from HubSpot company {company}").click()
    expect(page.locator(".confirm [role=alert]")).to_contain_text("Unlink?")
    page.get_by_role("button", name=f"Yes, unlink from HubSpot company {company}").click()
    expect(page.locator("#notice")).to_have_text(
        f"Unlinked from HubSpot company {company}; changes wait until it is linked again.",
        timeout=WAIT_MS)
    expect(page.locator("#linked-customer")).to_contain_text(f"not linked: unlinked from {company}")
    assert not company_ban(company), "the BAN left the company"
    # And linked again, the company found by its name once more; the box starts empty (a
    # search still pending when the first link was chosen does not put its query back).
    expect(page.locator("#customer-link-search")).to_have_value("")
    page.type("#customer-link-search", "Autocomplete", delay=40)
    # The push made the company WARP's: its domain is WARP's too (none, unless the mapping
    # keeps HubSpot's value from being emptied).
    page.get_by_role("button", name=re.compile(r"^Link to Autocomplete Corp( \(autocomplete\.example\))?$")).click()
    expect(page.locator("#linked-customer")).to_have_text(company, timeout=WAIT_MS)
    assert company_ban(company) == customer["ban"]
    user_linking(page, admin, customer)
    return customer


def company_ban(company):
    return must("GET", f"{SANDBOX}/crm/v3/objects/companies/{company}?properties=warp_ban",
                token=UI_TOKEN)["properties"].get("warp_ban")


def contact(contact_id, properties="email,warp_user_id"):
    return must("GET", f"{SANDBOX}/crm/v3/objects/contacts/{contact_id}?properties={properties}",
                token=UI_TOKEN)["properties"]


def user_linking(page, admin, customer):
    """A user whose push made a contact is unlinked from it and linked, from the page, to the
    contact sales keep for the person, found by the contact search."""
    user = must("POST", f"{BASE}/v1/customers/{customer['id']}/users",
                {"email": "ada@autocomplete.example", "first_name": "Ada", "last_name": "Lovelace",
                 "role": "admin"}, admin)
    link_path = f"{BASE}/v1/users/{user['id']}/hubspot-link"
    first = until("the user's contact", lambda: must("GET", link_path, token=admin)["hubspot_id"])
    chosen = must("POST", f"{SANDBOX}/crm/v3/objects/contacts",
                  {"properties": {"email": "ada.lovelace@personal.example", "lastname": "Lovelace"}},
                  UI_TOKEN)["id"]

    page.fill("#user-search", "ada@autocomplete.example")
    page.get_by_role("button", name="ada@autocomplete.example, invited").click()
    expect(page.locator("#chosen-user")).to_have_text("Ada Lovelace <ada@autocomplete.example>")
    expect(page.locator("#linked-user")).to_have_text(first, timeout=WAIT_MS)
    page.get_by_role("button", name=f"Unlink from HubSpot contact {first}").click()
    page.get_by_role("button", name=f"Yes, unlink from HubSpot contact {first}").click()
    expect(page.locator("#linked-user")).to_contain_text(f"not linked: unlinked from {first}",
                                                         timeout=WAIT_MS)
    assert not contact(first).get("warp_user_id"), "the user id left the old contact"
    # The old contact gives the address up, as a person would in HubSpot, so the chosen one
    # can take it with the full push.
    must("PATCH", f"{SANDBOX}/crm/v3/objects/contacts/{first}",
         {"properties": {"email": "ada.old@autocomplete.example"}}, UI_TOKEN)
    page.type("#user-link-search", "ada.lovelace@personal.example", delay=20)
    link = page.get_by_role("button", name="Link to Lovelace <ada.lovelace@personal.example>")
    expect(link).to_be_visible(timeout=WAIT_MS)
    audit(page, "linking-user")
    # By keyboard, as someone tabbing through the results would.
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_have_text(
        f"Linked to HubSpot contact {chosen}; a full push is queued.", timeout=WAIT_MS)
    expect(page.locator("#linked-user")).to_have_text(chosen)
    until("the full push reaching the chosen contact",
          lambda: contact(chosen).get("email") == "ada@autocomplete.example")
    assert contact(chosen)["warp_user_id"] == user["id"]


def mapping(page, watch, admin, customers):
    """A mapping change is refused with the member named, then checked, shown and saved; the
    resync it queues reaches HubSpot."""
    go(page, "mapping")
    page.get_by_role("button", name="Change company_name").click()
    watch.refusals_expected.append("/v1/sync/mappings/companies/fields/company_name?dry_run=true")
    page.fill("#edit-hubspot_property", "no_such_property")
    page.click("#mapping-editor button[type=submit]")
    expect(page.locator("#alert")).to_contain_text("hubspot_property", timeout=WAIT_MS)
    page.fill("#edit-hubspot_property", "name")
    page.check("#edit-never_overwrite_with_empty")
    page.click("#mapping-editor button[type=submit]")
    review = page.locator("#mapping-review")
    expect(review).to_contain_text("never overwrite with empty", timeout=WAIT_MS)
    expect(page.locator("#alert")).to_be_hidden()
    expect(page.locator("#mapping-consequences")).to_have_text(
        f"Saving will push {len(customers)} linked records to HubSpot again and queue a "
        "reconciliation to compare HubSpot's values under the new rule.")
    audit(page, "mapping")
    before = {c["id"]: resyncs(admin, c["id"]) for c in customers}
    page.click("#save-mapping")
    expect(page.locator("#notice")).to_have_text(
        f"Saved. {len(customers)} records queued for a full push; a reconciliation is queued.",
        timeout=WAIT_MS)
    # The review's before-and-after table goes with the redraw that follows the notice.
    expect(page.get_by_role("table", name="company_name: before and after")).to_have_count(0)
    expect(page.get_by_role("table", name="The companies mapping in force").locator(
        "tr", has_text="company_name")).to_contain_text("for this portal")
    for c in customers:
        until(f"the resync of {c['company_name']}", lambda c=c: resyncs(admin, c["id"]) > before[c["id"]])
    # The reconciliation the change queued repairs drift: let it end before the next step
    # makes some on purpose.
    until("the mapping's reconciliation", lambda: all(
        not run["queued"] and run["status"] != "running"
        for run in must("GET", f"{BASE}/v1/sync/reconciliations?limit=5", token=admin)["items"]), 60)


def resyncs(admin, customer_id):
    """Successful full pushes of a customer in the sync log."""
    log = must("GET", f"{BASE}/v1/sync/logs?customer_id={customer_id}&status=SUCCESS&limit=200", token=admin)
    return sum(1 for row in log["items"] if row["operation"] == "RESYNC")


def runs(page, customer):
    """A change whose webhook HubSpot never delivered is found by a dry-run reconciliation
    started from the page, and its report is read there."""
    company = customer["external_ids"]["hubspot_company_id"]
    must("POST", f"{SANDBOX}/_sandbox/faults", {"drop_webhooks": 1.0})
    dropped = must("GET", f"{SANDBOX}/_sandbox/stats")["webhook_events_dropped"]
    must("PATCH", f"{SANDBOX}/crm/v3/objects/companies/{company}",
         {"properties": {"domain": "lost-webhook.example"}}, UI_TOKEN)
    until("the webhook dropped", lambda: must(
        "GET", f"{SANDBOX}/_sandbox/stats")["webhook_events_dropped"] > dropped)
    must("POST", f"{SANDBOX}/_sandbox/faults", {})

    go(page, "runs")
    expect(page.locator("#start-reconciliation-dry-run")).to_be_checked()
    page.click("#start-reconciliation button[type=submit]")
    expect(page.locator("#notice")).to_have_text("Reconciliation dry run queued.", timeout=WAIT_MS)
    report = page.locator("h2#report")
    expect(report).to_contain_text("Report of the dry run", timeout=60_000)
    figures = page.locator("dl[aria-label=\"The run's figures\"]")
    expect(figures).to_contain_text("succeeded")
    expect(figures.locator(".figure", has_text="Drift found")).to_contain_text("1")
    expect(figures.locator(".figure", has_text="Drift fixed")).to_contain_text("0")
    by_field = page.get_by_role("table", name="Drift of companies by field")
    expect(by_field).to_contain_text("domain")
    audit(page, "runs")
    # A choice made in a start form survives the live redraws (every 5 s) until it is used.
    page.select_option("#import-object-type", "deals")
    page.locator("#start-import-dry-run").uncheck()
    page.focus("#nav a[href='#/runs']")
    page.wait_for_timeout(6_000)
    expect(page.locator("#import-object-type")).to_have_value("deals")
    expect(page.locator("#start-import-dry-run")).not_to_be_checked()
    # A dry run changes nothing.
    warp = must("GET", f"{BASE}/v1/customers/{customer['id']}", token=ADMIN)
    assert warp.get("domain") != "lost-webhook.example", warp


def main():
    admin = ADMIN
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        watch = Watch(page)

        page.goto(f"{BASE}/console")
        expect(page.locator("#sign-in-title")).to_have_text("Sign in")
        audit(page, "sign-in")
        sign_in(page, "admin")
        expect(page.locator("#content h1")).to_have_text("Health")
        expect(page.locator("dl[aria-label='Outbound queue']")).to_contain_text("Pending")
        audit(page, "health")

        try:
            customer = failures(page, admin)
            conflict(page, admin, customer)
            linked = linking(page, admin)
            mapping(page, watch, admin, [customer, linked])
            runs(page, customer)
        except Exception:
            # What the page showed when a step failed, for the one reading the log.
            page.screenshot(path=os.path.join(SCREENSHOTS, "failed-step.png"), full_page=True)
            print(f"the page's errors so far: {watch.errors}", file=sys.stderr)
            for part in ["#notice", "#alert", "#content"]:
                shown = page.locator(part)
                if shown.count() and shown.is_visible():
                    print(f"{part} showed:\n{shown.inner_text()[:4000]}", file=sys.stderr)
            raise
        go(page, "connect")
        expect(page.locator("table")).to_contain_text("WARP (home)")
        audit(page, "connect")
        go(page, "health")
        watch.check("as admin")

        # Signing out forgets what the sections remembered: the next person starts afresh.
        go(page, "failures")
        page.fill("#failure-reason", "industry")
        page.click("form.filters button[type=submit]")
        expect(page.locator("#outbound-failures")).to_have_text("Outbound records (0)", timeout=WAIT_MS)
        page.click("#sign-out")
        expect(page.locator("#sign-in-title")).to_be_visible()
        expect(page.locator("#content")).to_be_empty()
        page.select_option("#dev-role", "viewer")
        page.click("#dev-sign-in button[type=submit]")
        expect(page.locator("#who-text")).to_contain_text("(viewer)")
        expect(page.locator("#failure-reason")).to_have_value("", timeout=WAIT_MS)

        # A token lives in the page's memory only: a reload asks to sign in again.
        page.reload()
        expect(page.locator("#sign-in-title")).to_be_visible()
        assert page.evaluate("sessionStorage.length + localStorage.length") == 0

        # A viewer sees the sync, with the last hours drawn, but is told what needs another role.
        sign_in(page, "viewer")
        expect(page.locator("figure.chart")).to_have_count(3)
        drawn = page.locator("figure.chart svg").first.get_attribute("aria-label")
        assert "pushed: 0 in all" not in drawn and "pushed:" in drawn, drawn
        expect(page.get_by_role("region", name="Per portal and object type: waiting now, done in the last hour and day")).to_contain_text("companies")
        go(page, "failures")
        expect(page.locator(".needs").first).to_contain_text("needs the admin role")
        go(page, "conflicts")
        expect(page.locator(".needs")).to_have_text("Reading and resolving conflicts needs the admin role.")
        watch.check("as viewer")

        # A phone's width: everything fits without sideways scrolling.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        small = phone.new_page()
        small_watch = Watch(small)
        sign_in(small, "admin")
        for section in ["health", "failures", "runs"]:
            go(small, section)
            overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{section} scrolls sideways by {overflow}px at phone width"
            audit(small, f"phone-{section}")
        small_watch.check("at phone width")
        browser.close()
    print("console: every step passed; screenshots in", SCREENSHOTS)


if __name__ == "__main__":
    ADMIN = must("POST", f"{BASE}/console/dev-sign-in", {"role": "admin"})["access_token"]
    try:
        main()
    except Exception as error:  # the reason, for the caller's log
        print(f"console check failed: {error}", file=sys.stderr)
        raise
