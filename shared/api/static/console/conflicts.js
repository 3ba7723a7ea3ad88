// Conflicts: each open one side by side; keep a side or type the value both take.

import * as api from "./api.js";
import { h, when } from "./dom.js";
import { action, needs } from "./widgets.js";


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

export async function conflicts(ctx) {
  const nodes = [h("h1", {}, "Conflicts"),
    h("p", { class: "lead" }, "Fields both sides changed at the same moment: pick the value that stands.")];
  if (!api.can("admin")) return nodes.concat(needs("admin", "Reading and resolving conflicts"));
  const open = await api.get("/v1/sync/conflicts?status=OPEN&limit=50");
  if (!open.items.length) return nodes.concat(h("p", { class: "empty" }, "No open conflict."));
  return nodes.concat(open.items.map((c) => conflictCard(c, ctx)));
}
