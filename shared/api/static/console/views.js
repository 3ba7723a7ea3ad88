// The console's sections. Each `render` reads what it shows from the API and returns the
// nodes to draw; actions call the API and then redraw. What a role may not do is explained,
// not hidden behind an error.

import * as api from "./api.js";
import { ago, count, csv, download, figures, h, seconds, table, when } from "./dom.js";

const OBJECT_TYPES = ["companies", "contacts"];
const CSV_PAGE = 200;
const CSV_MAX_ROWS = 50000;

function needs(role, what) {
  return h("p", { class: "needs" }, `${what} needs the ${role} role.`);
}

/** A button that disables itself while `action` runs, then reports and redraws. */
function action(label, ctx, run, attributes) {
  const button = h("button", Object.assign({ type: "button" }, attributes || {}), label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const message = await run();
      if (message) ctx.notify(message);
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// --- Health ------------------------------------------------------------------------------

async function health(ctx) {
  const status = await api.get("/v1/sync/status");
  const installations = api.can("admin")
    ? (await api.get("/v1/hubspot/installations")).items
    : null;
  const outbox = status.outbox;
  const run = status.last_reconciliation;
  const nodes = [
    h("h1", {}, "Health"),
    h("p", { class: "lead" }, "Where the sync stands now; refreshed every few seconds."),
    figures("Outbound queue", [
      ["Pending", count(outbox.pending)],
      ["In flight", count(outbox.in_flight)],
      ["Failed", count(outbox.failed), outbox.failed > 0 ? "bad" : null],
      ["Oldest waiting", seconds(status.oldest_pending_age_seconds)],
      ["Dead-letter queue", status.dlq_depth === null ? "not read" : count(status.dlq_depth),
        status.dlq_depth > 0 ? "bad" : null],
      ["HubSpot 429s (last hour)", count(status.rate_limited_last_hour),
        status.rate_limited_last_hour > 0 ? "warn" : null],
      ["Last webhook", ago(status.last_webhook_received_at)],
      ["Last reconciliation", run ? `${run.status}, ${ago(run.finished_at || run.started_at)}` : "none yet"],
      ["Drift (last run)", run ? `${count(run.drift_found)} found, ${count(run.drift_fixed)} fixed` : "–"],
    ]),
    h("h2", {}, "By object type"),
    table("Outbound records by object type and state",
      [["Object type", (r) => r[0]], ["Pending", (r) => count(r[1].pending)],
        ["In flight", (r) => count(r[1].in_flight)], ["Failed", (r) => count(r[1].failed)],
        ["Done", (r) => count(r[1].done)]],
      Object.entries(status.outbox_by_object_type), "Nothing has been queued yet."),
  ];
  const unrouted = Object.entries(status.unrouted_webhook_events);
  if (unrouted.length) {
    nodes.push(h("h2", {}, "Events from portals not installed"),
      table("Webhook events kept for portals that are not installed",
        [["Portal", (r) => r[0]], ["Events", (r) => count(r[1])]], unrouted, ""));
  }
  nodes.push(h("h2", {}, "HubSpot installations"));
  if (installations === null) {
    nodes.push(needs("admin", "The list of installations"));
  } else {
    const waiting = installations.filter((i) => i.reconnect_needed);
    nodes.push(h("p", { class: waiting.length ? "bad-text" : "" },
      waiting.length
        ? `${waiting.length} of ${installations.length} need reconnecting: nothing reaches them until someone connects them again.`
        : `${installations.length} connected, none needs reconnecting.`));
  }
  return nodes;
}

// --- Failures ----------------------------------------------------------------------------

const failureFilter = { object_type: "", reason: "", since: "" };
const SINCE = [["", "any time"], ["1", "the last hour"], ["24", "the last day"], ["168", "the last week"]];

function sinceParam() {
  if (!failureFilter.since) return "";
  return new Date(Date.now() - Number(failureFilter.since) * 3600 * 1000).toISOString();
}

function failureQuery(extra) {
  return api.query(Object.assign({
    object_type: failureFilter.object_type,
    reason: failureFilter.reason,
    since: sinceParam(),
  }, extra || {}));
}

function failureFilters(ctx) {
  const objectType = h("select", { id: "failure-object-type", name: "object_type" },
    h("option", { value: "" }, "every object type"),
    OBJECT_TYPES.map((t) => h("option", { value: t, selected: failureFilter.object_type === t }, t)));
  const reason = h("input", { id: "failure-reason", name: "reason", value: failureFilter.reason,
    autocomplete: "off", maxlength: 200 });
  const since = h("select", { id: "failure-since", name: "since" },
    SINCE.map(([value, label]) => h("option", { value, selected: failureFilter.since === value }, label)));
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter failures" },
    h("div", {}, h("label", { for: "failure-object-type" }, "Object type"), objectType),
    h("div", {}, h("label", { for: "failure-reason" }, "Reason contains"), reason),
    h("div", {}, h("label", { for: "failure-since" }, "Failed in"), since),
    h("button", { type: "submit", class: "secondary" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    failureFilter.object_type = objectType.value;
    failureFilter.reason = reason.value.trim();
    failureFilter.since = since.value;
    document.activeElement.blur();
    ctx.refresh();
  });
  return form;
}

async function exportFailures(ctx) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api.get(`/v1/sync/failed${failureQuery({ limit: CSV_PAGE, cursor })}`);
    for (const r of page.items) {
      rows.push([r.id, r.portal_id, r.object_type, r.local_id, r.operation, r.attempts,
        r.reason, r.failed_at, r.next_attempt_at]);
    }
    cursor = page.next_cursor;
  } while (cursor && rows.length < CSV_MAX_ROWS);
  download(`warp-sync-failures-${new Date().toISOString().slice(0, 19)}.csv`, "text/csv",
    csv(["outbox_id", "portal_id", "object_type", "local_id", "operation", "attempts", "reason",
      "failed_at", "next_attempt_at"], rows));
  ctx.notify(`Exported ${rows.length} failed records.`);
}

async function failures(ctx) {
  const outbound = await api.get(`/v1/sync/failed${failureQuery({ limit: 50 })}`);
  const events = await api.get("/v1/sync/webhook-events?status=FAILED&limit=50");
  const admin = api.can("admin");
  const editor = api.can("editor");
  const retryRecords = (body) => async () => {
    const answer = await api.post("/v1/sync/failed/retry", body);
    return `${answer.requeued} failed record${answer.requeued === 1 ? "" : "s"} queued again.`;
  };
  const retryEvents = (body) => async () => {
    const answer = await api.post("/v1/sync/webhook-events/retry", body);
    return `${answer.retried} webhook event${answer.retried === 1 ? "" : "s"} due again.`;
  };
  const filter = {
    all: true,
    object_type: failureFilter.object_type || null,
    reason: failureFilter.reason || null,
    since: sinceParam() || null,
  };
  return [
    h("h1", {}, "Failures"),
    h("p", { class: "lead" }, "Records HubSpot did not take, and webhook events WARP could not apply, with the reason in words."),
    failureFilters(ctx),
    h("h2", { id: "outbound-failures" }, `Outbound records (${count(outbound.total)})`),
    h("div", { class: "actions" },
      admin && outbound.total > 0
        ? action(`Retry all ${count(outbound.total)} matching`, ctx, retryRecords(filter), { id: "retry-all-records" })
        : null,
      outbound.total > 0
        ? action("Export CSV", ctx, () => exportFailures(ctx), { class: "secondary", id: "export-csv" })
        : null),
    admin ? null : needs("admin", "Retrying records"),
    table("Failed outbound records, newest first", [
      ["Failed", (r) => h("time", { datetime: r.failed_at }, when(r.failed_at))],
      ["Object", (r) => r.object_type],
      ["Record", (r) => h("code", {}, r.local_id)],
      ["Operation", (r) => r.operation],
      ["Attempts", (r) => count(r.attempts)],
      ["Reason", (r) => h("span", { class: "reason" }, r.reason || "–")],
      ["", (r) => admin ? action("Retry", ctx, retryRecords({ ids: [r.id] }), { "aria-label": `Retry record ${r.local_id}` }) : ""],
    ], outbound.items, "No failed records match."),
    h("h2", { id: "inbound-failures" }, "Inbound webhook events"),
    h("div", { class: "actions" },
      editor && events.items.length
        ? action("Retry every failed event", ctx, retryEvents({ all: true }), { id: "retry-all-events" })
        : null),
    editor ? null : needs("editor", "Retrying events"),
    table("Webhook events that failed, newest first", [
      ["Received", (e) => h("time", { datetime: e.received_at }, when(e.received_at))],
      ["Event", (e) => e.subscription_type],
      ["HubSpot record", (e) => String(e.object_id)],
      ["Property", (e) => e.property_name || "–"],
      ["Attempts", (e) => count(e.attempts)],
      ["Reason", (e) => h("span", { class: "reason" }, e.error || "–")],
      ["", (e) => editor ? h("span", { class: "row-actions" },
        action("Retry", ctx, retryEvents({ ids: [e.id] }), { "aria-label": `Retry event ${e.id}` }),
        action("Dismiss", ctx, async () => {
          await api.post("/v1/sync/webhook-events/dismiss", { ids: [e.id] });
          return "Event dismissed.";
        }, { class: "secondary", "aria-label": `Dismiss event ${e.id}` })) : ""],
    ], events.items, "No webhook event has failed."),
  ];
}

// --- Conflicts ---------------------------------------------------------------------------

function conflictCard(conflict, ctx) {
  const resolve = (body, said) => async () => {
    await api.post(`/v1/sync/conflicts/${conflict.id}/resolve`, body);
    return said;
  };
  const valueId = `value-${conflict.id}`;
  const typed = h("input", { id: valueId, name: "value", autocomplete: "off" });
  const form = h("form", { class: "inline" },
    h("label", { for: valueId }, "Or both take this value"), typed,
    h("button", { type: "submit", class: "secondary" }, "Use this value"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await resolve({ value: typed.value }, "Conflict resolved with the value typed.")();
      ctx.notify("Conflict resolved with the value typed.");
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
    }
  });
  const side = (name, value, changed) => h("div", { class: "side" },
    h("h3", {}, name),
    h("p", { class: "value" }, value === null ? "(empty)" : value),
    h("p", { class: "muted" }, `changed ${when(changed)}`));
  return h("article", { class: "conflict", "aria-label": `Conflict on ${conflict.field}` },
    h("h2", {}, `${conflict.field} of ${conflict.object_type === "companies" ? "customer" : "user"} `,
      h("code", {}, conflict.local_id)),
    h("div", { class: "sides" },
      side("WARP", conflict.warp_value, conflict.warp_changed_at),
      side("HubSpot", conflict.hubspot_value, conflict.hubspot_changed_at)),
    h("div", { class: "actions" },
      action("Keep WARP's value", ctx, resolve({ winner: "warp" }, "Conflict resolved: WARP's value stands.")),
      action("Keep HubSpot's value", ctx, resolve({ winner: "hubspot" }, "Conflict resolved: HubSpot's value taken."))),
    form);
}

async function conflicts(ctx) {
  const nodes = [h("h1", {}, "Conflicts"),
    h("p", { class: "lead" }, "Fields both sides changed at the same moment: pick the value that stands.")];
  if (!api.can("admin")) return nodes.concat(needs("admin", "Reading and resolving conflicts"));
  const open = await api.get("/v1/sync/conflicts?status=OPEN&limit=50");
  if (!open.items.length) return nodes.concat(h("p", { class: "empty" }, "No open conflict."));
  return nodes.concat(open.items.map((c) => conflictCard(c, ctx)));
}

// --- Runs --------------------------------------------------------------------------------

let shownRun = null;

function tallies(caption, object) {
  return table(caption, [["", (r) => r[0]], ["Found", (r) => count(r[1].found)], ["Fixed", (r) => count(r[1].fixed)]],
    Object.entries(object || {}), "None.");
}

function report(run) {
  const details = run.details || {};
  const nodes = [h("h2", { id: "report" }, `Report of the ${run.dry_run ? "dry run" : "run"} requested ${when(run.requested_at)}`),
    figures("The run's figures", [
      ["Status", run.status],
      ["Customers checked", count(run.customers_checked)],
      ["Companies checked", count(run.companies_checked)],
      ["Drift found", count(run.drift_found), run.drift_found > 0 ? "warn" : null],
      ["Drift fixed", count(run.drift_fixed)],
      ["Errors", count(run.errors), run.errors > 0 ? "bad" : null],
      ["Took", run.duration_ms === null ? "–" : seconds(run.duration_ms / 1000)],
    ])];
  for (const [objectType, tally] of Object.entries(details.by_object_type || {})) {
    nodes.push(h("h3", {}, objectType),
      tallies(`Drift of ${objectType} by kind`, tally.by_kind),
      tallies(`Drift of ${objectType} by field`, tally.by_field));
  }
  if ((details.error_reasons || []).length) {
    nodes.push(h("h3", {}, "Errors"), h("ul", {}, details.error_reasons.map((e) => h("li", {}, e))));
  }
  return nodes;
}

function startForm(ctx, id, legend, fields, start) {
  const dry = h("input", { type: "checkbox", id: `${id}-dry-run`, checked: true });
  const form = h("form", { class: "start", id },
    h("fieldset", {}, h("legend", {}, legend), fields,
      h("div", { class: "check" }, dry, h("label", { for: `${id}-dry-run` }, "Dry run: only report, change nothing")),
      h("button", { type: "submit" }, "Start")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      ctx.notify(await start(dry.checked));
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
    }
  });
  return form;
}

async function runs(ctx) {
  const nodes = [h("h1", {}, "Runs"),
    h("p", { class: "lead" }, "Reconciliations compare every record with HubSpot and repair drift; imports bring HubSpot's records in.")];
  const admin = api.can("admin");
  if (admin) {
    nodes.push(startForm(ctx, "start-reconciliation", "Reconciliation", [], async (dryRun) => {
      const run = await api.post("/v1/sync/reconciliations", { dry_run: dryRun });
      shownRun = run.id;
      return `Reconciliation ${dryRun ? "dry run " : ""}queued.`;
    }));
    const list = await api.get("/v1/sync/reconciliations?limit=10");
    nodes.push(h("h2", {}, "Reconciliations"), table("The latest reconciliations", [
      ["Requested", (r) => when(r.requested_at)],
      ["Kind", (r) => (r.dry_run ? "dry run" : "repair")],
      ["Status", (r) => (r.queued ? "queued" : r.status)],
      ["Drift found", (r) => count(r.drift_found)],
      ["Fixed", (r) => count(r.drift_fixed)],
      ["Errors", (r) => count(r.errors)],
      ["", (r) => h("button", { type: "button", class: "secondary", "aria-label": `Read the report of the run requested ${when(r.requested_at)}`,
        onclick: () => { shownRun = r.id; ctx.refresh(); } }, "Report")],
    ], list.items, "No reconciliation yet."));
    const shown = list.items.find((r) => r.id === shownRun);
    if (shown && (shown.queued || shown.status === "running")) {
      nodes.push(h("p", { class: "muted", id: "report" }, "The run is under way; its report appears when it ends."));
    } else if (shown) {
      nodes.push(...report(shown));
    }
  } else {
    nodes.push(needs("admin", "Starting and reading reconciliations"));
  }
  const objectType = h("select", { id: "import-object-type" },
    ["companies", "contacts", "deals"].map((t) => h("option", { value: t }, t)));
  if (admin) {
    nodes.push(startForm(ctx, "start-import", "Import from HubSpot",
      [h("label", { for: "import-object-type" }, "Object type"), objectType],
      async (dryRun) => {
        await api.post("/v1/sync/imports", { object_type: objectType.value, dry_run: dryRun });
        return `Import of ${objectType.value} ${dryRun ? "(dry run) " : ""}queued.`;
      }));
  }
  const imports = await api.get("/v1/sync/imports?limit=10");
  nodes.push(h("h2", {}, "Imports"), table("The latest imports", [
    ["Requested", (i) => when(i.requested_at)],
    ["Object type", (i) => i.object_type + (i.dry_run ? " (dry run)" : "")],
    ["Status", (i) => i.status],
    ["Progress", (i) => i.total_estimate
      ? h("progress", { max: i.total_estimate, value: Math.min(i.read, i.total_estimate), "aria-label": `${i.read} of ${i.total_estimate} read` })
      : `${count(i.read)} read`],
    ["Matched", (i) => count(i.matched)],
    ["Linked", (i) => count(i.linked)],
    ["Left for a person", (i) => count(i.ambiguous + i.failed)],
  ], imports.items, "No import yet."));
  return nodes;
}

// --- Connect -----------------------------------------------------------------------------

async function connect() {
  const nodes = [h("h1", {}, "Connect"),
    h("p", { class: "lead" }, "The HubSpot accounts WARP reaches, and the page that connects one.")];
  const own = api.claims().customer_id;
  if (!api.can("admin") && !own) return nodes.concat(needs("admin", "The list of installations"));
  const list = await api.get("/v1/hubspot/installations");
  nodes.push(table("HubSpot installations", [
    ["Portal", (i) => String(i.portal_id)],
    ["For", (i) => (i.role === "home" ? "WARP (home)" : h("code", {}, i.customer_id))],
    ["Status", (i) => h("span", { class: i.reconnect_needed ? "bad-text" : "" }, i.status.replace("_", " "))],
    ["Connected", (i) => `${when(i.connected_at)}${i.connected_by ? ` by ${i.connected_by}` : ""}`],
    ["Last error", (i) => i.last_error || "–"],
  ], list.items, "No HubSpot account is connected yet."),
  h("p", {}, h("a", { href: "/connect", target: "_blank", rel: "noopener", id: "open-connect" },
    "Open the connect page"), " (in a new tab: sign in there with the same token)."));
  return nodes;
}

export const VIEWS = {
  health: { title: "Health", render: health, live: true },
  failures: { title: "Failures", render: failures, live: true },
  conflicts: { title: "Conflicts", render: conflicts, live: false },
  runs: { title: "Runs", render: runs, live: true },
  connect: { title: "Connect", render: connect, live: false },
};
