// Connect: the HubSpot installations and the page that connects one.

import * as api from "./api.js";
import { h, table, when } from "./dom.js";
import { needs } from "./widgets.js";


export async function connect() {
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
