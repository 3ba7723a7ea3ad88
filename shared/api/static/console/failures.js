// Failures: outbound records HubSpot did not take and webhook events WARP could not apply,
// with the reason in words; filter, retry one or all matching, export CSV.

import * as api from "./api.js";
import { count, csv, download, h, table, when } from "./dom.js";
import { action, needs } from "./widgets.js";

const CSV_PAGE = 200;
const CSV_MAX_ROWS = 50000;


const failureFilter = { object_type: "", reason: "", since: "" };

export function forget() {
  Object.assign(failureFilter, { object_type: "", reason: "", since: "" });
}
const SINCE = [["", "any time"], ["1", "the last hour"], ["24", "the last day"], ["168", "the last week"]];

function sinceParam() {
  if (!failureFilter.since) return "";
  return new Date(Date.now() - Number(failureFilter.since) * 3600 * 1000).toISOString();
}

/** The list's query; `since` fixed by the caller so that every page sees one window. */
function failureQuery(since, extra) {
  return api.query(Object.assign({
    object_type: failureFilter.object_type,
    reason: failureFilter.reason,
    since,
  }, extra || {}));
}

function failureFilters(ctx) {
  const objectType = h("select", { id: "failure-object-type", name: "object_type" },
    h("option", { value: "" }, "every object type"),
    ["companies", "contacts"].map((t) => h("option", { value: t, selected: failureFilter.object_type === t }, t)));
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

async function exportFailures(ctx, since) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api.get(`/v1/sync/failed${failureQuery(since, { limit: CSV_PAGE, cursor })}`);
    for (const r of page.items) {
      rows.push([r.id, r.portal_id, r.object_type, r.local_id, r.operation, r.attempts,
        r.reason, r.failed_at, r.next_attempt_at]);
    }
    cursor = page.next_cursor;
  } while (cursor && rows.length < CSV_MAX_ROWS);
  download(`warp-sync-failures-${new Date().toISOString().slice(0, 19)}.csv`, "text/csv",
    csv(["outbox_id", "portal_id", "object_type", "local_id", "operation", "attempts", "reason",
      "failed_at", "next_attempt_at"], rows));
  ctx.notify(cursor
    ? `Exported the newest ${rows.length} failed records; narrow the filter for the rest.`
    : `Exported ${rows.length} failed records.`);
}

export async function failures(ctx) {
  const since = sinceParam();
  const outbound = await api.get(`/v1/sync/failed${failureQuery(since, { limit: 50 })}`);
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
    since: since || null,
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
        ? action("Export CSV", ctx, () => exportFailures(ctx, since), { class: "secondary", id: "export-csv" })
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
