// Runs: reconciliations and imports started (dry run by default), watched, and their reports.

import * as api from "./api.js";
import { count, figures, h, seconds, table, when } from "./dom.js";
import { needs } from "./widgets.js";

let shownRun = null;
// What the start forms hold between the live redraws (a choice is not lost every 5 s).
const choices = { "start-reconciliation": { dryRun: true }, "start-import": { dryRun: true, objectType: "companies" } };

export function forget() {
  shownRun = null;
  choices["start-reconciliation"].dryRun = true;
  Object.assign(choices["start-import"], { dryRun: true, objectType: "companies" });
}

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
  const dry = h("input", { type: "checkbox", id: `${id}-dry-run`, checked: choices[id].dryRun });
  dry.addEventListener("change", () => { choices[id].dryRun = dry.checked; });
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

export async function runs(ctx) {
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
    ["companies", "contacts", "deals"].map((t) =>
      h("option", { value: t, selected: t === choices["start-import"].objectType }, t)));
  objectType.addEventListener("change", () => { choices["start-import"].objectType = objectType.value; });
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
