// Health: the queue, the dead-letter queue, 429s, webhooks, the last reconciliation, the same
// per portal and object type, and charts of the last 24 hours.

import * as api from "./api.js";
import { hourlyBars } from "./charts.js";
import { ago, count, figures, h, seconds, table } from "./dom.js";
import { needs } from "./widgets.js";

const ACTIVITY_MAX_AGE_MS = 60000;
let activity = null;
let activityReadAt = 0;

export function forget() {
  activity = null;
  activityReadAt = 0;
}

/** The hourly figures change slowly: read at most once a minute. */
async function recentActivity() {
  if (!activity || Date.now() - activityReadAt > ACTIVITY_MAX_AGE_MS) {
    activity = await api.get("/v1/sync/activity?hours=24");
    activityReadAt = Date.now();
  }
  return activity;
}

function charts(hours) {
  return h("div", { class: "charts" },
    hourlyBars("Records per hour", hours, [
      { name: "pushed", tone: "push", value: (b) => b.pushed },
      { name: "applied", tone: "apply", value: (b) => b.applied },
    ], ""),
    hourlyBars("Failures and HubSpot 429s per hour", hours, [
      { name: "failed", tone: "fail", value: (b) => b.failed },
      { name: "429s", tone: "limit", value: (b) => b.rate_limited },
    ], ""),
    hourlyBars("Webhook apply lag per hour (95th percentile)", hours, [
      { name: "seconds", tone: "lag", value: (b) => b.apply_lag_p95_seconds },
    ], " s"));
}

function byPortal(rows) {
  return table("Per portal and object type: waiting now, done in the last hour and day", [
    ["Portal", (r) => String(r.portal_id)],
    ["Object type", (r) => r.object_type || "–"],
    ["Pending", (r) => count(r.pending)],
    ["In flight", (r) => count(r.in_flight)],
    ["Failed", (r) => h("span", { class: r.failed ? "bad-text" : "" }, count(r.failed))],
    ["Pushed (hour / day)", (r) => `${count(r.pushed_last_hour)} / ${count(r.pushed_last_day)}`],
    ["Applied (hour / day)", (r) => `${count(r.applied_last_hour)} / ${count(r.applied_last_day)}`],
    ["Failed (day)", (r) => count(r.failed_last_day)],
    ["429s (hour)", (r) => count(r.rate_limited_last_hour)],
  ], rows, "No activity in the last day.");
}

export async function health() {
  const [status, recent] = await Promise.all([api.get("/v1/sync/status"), recentActivity()]);
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
    h("h2", {}, "The last 24 hours"),
    charts(recent.hours),
    h("h2", {}, "By portal and object type"),
    byPortal(recent.by_portal),
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
