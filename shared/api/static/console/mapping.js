// The field mapping per object type: each field's HubSpot property, direction, conflict rule
// and "never overwrite with empty". A change is checked by the API first (a dry run: nothing
// stored) and shown, before and after, with what saving it will queue; then saved.

import * as api from "./api.js";
import { h, table, when } from "./dom.js";
import { needs } from "./widgets.js";

const DIRECTIONS = [["WARP_TO_HUBSPOT", "WARP → HubSpot"], ["HUBSPOT_TO_WARP", "HubSpot → WARP"], ["BOTH", "both ways"]];
const RULES = [["WARP_WINS", "WARP wins"], ["HUBSPOT_WINS", "HubSpot wins"], ["LATEST_WINS", "latest change wins"]];
const MEMBERS = ["hubspot_property", "direction", "conflict_rule", "enabled", "never_overwrite_with_empty"];
const state = { objectType: "companies", editing: null, proposal: null, checked: null };

export function forget() {
  Object.assign(state, { objectType: "companies", editing: null, proposal: null, checked: null });
}

const label = (pairs, value) => (pairs.find(([v]) => v === value) || [value, value])[1];
const yes = (flag) => (flag ? "yes" : "no");

function describe(member, value) {
  if (member === "direction") return label(DIRECTIONS, value);
  if (member === "conflict_rule") return label(RULES, value);
  if (typeof value === "boolean") return yes(value);
  return value;
}

function consequences(checked) {
  if (!checked.changed) return "This is the mapping already in force: nothing would change.";
  const effects = [];
  if (checked.resync_queued > 0) effects.push(`push ${checked.resync_queued} linked record${checked.resync_queued === 1 ? "" : "s"} to HubSpot again`);
  if (checked.reconciliation_needed) effects.push("queue a reconciliation to compare HubSpot's values under the new rule");
  return effects.length ? `Saving will ${effects.join(" and ")}.` : "Saving queues nothing.";
}

function editor(ctx, field) {
  const p = state.proposal;
  const id = (name) => `edit-${name}`;
  const select = (name, pairs) => h("select", { id: id(name) },
    pairs.map(([value, text]) => h("option", { value, selected: p[name] === value }, text)));
  const check = (name, text) => h("div", { class: "check" },
    h("input", { type: "checkbox", id: id(name), checked: p[name] }), h("label", { for: id(name) }, text));
  const form = h("form", { id: "mapping-editor", "aria-labelledby": "mapping-editor-title" },
    h("h2", { id: "mapping-editor-title" }, `Change ${field.warp_field}`),
    h("label", { for: id("hubspot_property") }, "HubSpot property (internal name)"),
    h("input", { id: id("hubspot_property"), value: p.hubspot_property, autocomplete: "off", spellcheck: "false" }),
    h("label", { for: id("direction") }, "Direction"), select("direction", DIRECTIONS),
    h("label", { for: id("conflict_rule") }, "When both sides change"), select("conflict_rule", RULES),
    check("enabled", "Synced"),
    check("never_overwrite_with_empty", "Never overwrite a value with an empty one"),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Check the change"),
      h("button", { type: "button", class: "secondary", onclick: () => { state.editing = null; state.checked = null; ctx.refresh(); } }, "Cancel")));
  const read = () => ({
    hubspot_property: form.querySelector(`#${id("hubspot_property")}`).value.trim(),
    direction: form.querySelector(`#${id("direction")}`).value,
    conflict_rule: form.querySelector(`#${id("conflict_rule")}`).value,
    enabled: form.querySelector(`#${id("enabled")}`).checked,
    never_overwrite_with_empty: form.querySelector(`#${id("never_overwrite_with_empty")}`).checked,
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.proposal = read();
    try {
      state.checked = await api.request("PUT",
        `/v1/sync/mappings/${state.objectType}/fields/${field.warp_field}?dry_run=true`, state.proposal);
      ctx.notify("The API accepts this change: review it below, then save it.");
      await ctx.refresh();
    } catch (error) {
      state.checked = null;
      ctx.fail(error);
    }
  });
  return form;
}

function review(ctx, field) {
  const checked = state.checked;
  const changed = MEMBERS.filter((m) => field[m] !== state.proposal[m]);
  const save = h("button", { type: "button", id: "save-mapping" }, "Save the change");
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      const saved = await api.request("PUT", `/v1/sync/mappings/${state.objectType}/fields/${field.warp_field}`, state.proposal);
      state.editing = null;
      state.checked = null;
      ctx.notify(`Saved. ${saved.resync_queued} record${saved.resync_queued === 1 ? "" : "s"} queued for a full push${saved.reconciliation_id ? "; a reconciliation is queued" : ""}.`);
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
      save.disabled = false;
    }
  });
  return h("section", { id: "mapping-review", "aria-labelledby": "mapping-review-title" },
    h("h2", { id: "mapping-review-title" }, "The API accepts this change"),
    table(`${field.warp_field}: before and after`, [
      ["Setting", (m) => m.replace(/_/g, " ")],
      ["Now", (m) => describe(m, field[m])],
      ["After", (m) => describe(m, state.proposal[m])],
    ], changed, "Nothing differs from the mapping in force."),
    h("p", { id: "mapping-consequences" }, consequences(checked)),
    checked.changed ? h("div", { class: "actions" }, save) : null);
}

export async function mapping(ctx) {
  const mapping = await api.get(`/v1/sync/mappings/${state.objectType}`);
  const admin = api.can("admin");
  const chooser = h("select", { id: "mapping-object-type" },
    ["companies", "contacts"].map((t) => h("option", { value: t, selected: t === state.objectType }, t)));
  chooser.addEventListener("change", () => {
    state.objectType = chooser.value;
    state.editing = null;
    state.checked = null;
    ctx.refresh();
  });
  const nodes = [h("h1", {}, "Mapping"),
    h("p", { class: "lead" }, `Which WARP field goes to which HubSpot property of portal ${mapping.portal_id}, which way, and who wins.`),
    h("label", { for: "mapping-object-type" }, "Object type"), chooser,
    admin ? null : needs("admin", "Changing the mapping"),
    table(`The ${state.objectType} mapping in force`, [
      ["WARP field", (f) => h("code", {}, f.warp_field)],
      ["HubSpot property", (f) => h("code", {}, f.hubspot_property)],
      ["Direction", (f) => label(DIRECTIONS, f.direction)],
      ["When both change", (f) => label(RULES, f.conflict_rule)],
      ["Synced", (f) => yes(f.enabled)],
      ["Never overwrite with empty", (f) => yes(f.never_overwrite_with_empty)],
      ["Set", (f) => (f.source === "portal" ? `for this portal, ${when(f.updated_at)}${f.updated_by ? ` by ${f.updated_by}` : ""}` : "default")],
      ["", (f) => admin ? h("button", {
        type: "button", class: "secondary", "aria-label": `Change ${f.warp_field}`,
        onclick: () => {
          state.editing = f.warp_field;
          state.checked = null;
          state.proposal = Object.fromEntries(MEMBERS.map((m) => [m, f[m]]));
          ctx.refresh();
        },
      }, "Change") : ""],
    ], mapping.fields, "No field is mapped.")];
  const field = mapping.fields.find((f) => f.warp_field === state.editing);
  if (admin && field) {
    nodes.push(editor(ctx, field));
    if (state.checked) nodes.push(review(ctx, field));
  }
  return nodes;
}
