// Linking: find a customer, see its HubSpot company, link it to another found as you type
// (debounced, within HubSpot's search budget), push it again; find a user by email and push
// its contact again.

import * as api from "./api.js";
import { h, when } from "./dom.js";
import { action, needs } from "./widgets.js";

const DEBOUNCE_MS = 350;
const state = { customerQuery: "", customerId: null, companyQuery: "", email: "" };

export function forget() {
  Object.assign(state, { customerQuery: "", customerId: null, companyQuery: "", email: "" });
}

/** An input that calls `search(text)` once typing pauses; stale answers are dropped. */
function searchBox(id, label, value, minimum, search, results) {
  const input = h("input", { id, type: "search", value, autocomplete: "off", "aria-describedby": `${id}-hint` });
  let timer = null;
  let ticket = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    timer = setTimeout(async () => {
      const mine = ++ticket;
      if (text.length < minimum) { results.replaceChildren(); return; }
      results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
      try {
        const nodes = await search(text);
        if (mine === ticket) results.replaceChildren(...nodes);
      } catch (error) {
        if (mine === ticket) results.replaceChildren(h("p", { class: "bad-text" }, error.message));
      }
    }, DEBOUNCE_MS);
  });
  return [h("label", { for: id }, label), input,
    h("p", { class: "muted hint", id: `${id}-hint` }, `At least ${minimum} characters; results appear as you type.`)];
}

async function customerCard(ctx, id) {
  const customer = await api.get(`/v1/customers/${id}`);
  const linked = customer.external_ids && customer.external_ids.hubspot_company_id;
  const sync = customer.sync || {};
  const nodes = [h("h2", { id: "chosen-customer" }, customer.company_name),
    h("dl", { class: "facts" },
      h("dt", {}, "BAN"), h("dd", {}, customer.ban),
      h("dt", {}, "HubSpot company"), h("dd", { id: "linked-company" }, linked || "not linked"),
      h("dt", {}, "Sync"), h("dd", {}, `${sync.state || "–"}${sync.last_synced_at ? `, last ${when(sync.last_synced_at)}` : ""}`),
      sync.last_error ? [h("dt", {}, "Last error"), h("dd", { class: "reason" }, sync.last_error)] : null)];
  if (!api.can("admin")) return nodes.concat(needs("admin", "Linking and pushing again"));
  nodes.push(h("div", { class: "actions" },
    action("Push it to HubSpot again", ctx, async () => {
      await api.post(`/v1/sync/customers/${id}/resync`);
      return "A full push of the customer is queued.";
    }, { class: "secondary", id: "resync-customer" })));
  if (linked) return nodes;
  const results = h("div", { id: "company-results", "aria-live": "polite" });
  nodes.push(h("h3", {}, "Link to a HubSpot company"),
    ...searchBox("company-search", "HubSpot company (name, domain or BAN)", state.companyQuery, 2, async (text) => {
      state.companyQuery = text;
      const found = await api.get(`/v1/sync/hubspot/companies/search${api.query({ q: text, limit: 8 })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, "No HubSpot company matches.")];
      return [h("ul", { class: "choices", "aria-label": "HubSpot companies found" }, found.items.map((company) => {
        const label = `${company.name || "(no name)"}${company.domain ? ` (${company.domain})` : ""}`;
        const taken = company.linked_customer_id && company.linked_customer_id !== id;
        return h("li", {}, taken
          ? h("span", { class: "muted" }, `${label}: linked to another customer`)
          : action(`Link to ${label}`, ctx, async () => {
            await api.post(`/v1/customers/${id}/hubspot-link`, { hubspot_company_id: company.id });
            state.companyQuery = "";
            return `Linked to HubSpot company ${company.id}; a full push is queued.`;
          }, { class: "secondary" }));
      }))];
    }, results), results);
  return nodes;
}

export async function linking(ctx) {
  const nodes = [h("h1", {}, "Linking"),
    h("p", { class: "lead" }, "Which HubSpot record each WARP record is, and putting it right.")];
  const customerResults = h("div", { id: "customer-results", "aria-live": "polite" });
  const pick = (customer) => h("li", {}, h("button", {
    type: "button", class: "secondary",
    onclick: () => { state.customerId = customer.id; state.companyQuery = ""; ctx.refresh(); },
  }, `${customer.company_name} (${customer.ban})`));
  nodes.push(h("h2", {}, "Customers"),
    ...searchBox("customer-search", "Find a customer (name, BAN or domain)", state.customerQuery, 2, async (text) => {
      state.customerQuery = text;
      const found = await api.get(`/v1/customers${api.query({ q: text, limit: 10 })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, "No customer matches.")];
      return [h("ul", { class: "choices", "aria-label": "Customers found" }, found.items.map(pick))];
    }, customerResults), customerResults);
  if (state.customerId) nodes.push(...await customerCard(ctx, state.customerId));

  const userResults = h("div", { id: "user-results", "aria-live": "polite" });
  nodes.push(h("h2", {}, "Users"),
    ...searchBox("user-search", "Find a user by email", state.email, 3, async (text) => {
      state.email = text;
      if (!text.includes("@")) return [h("p", { class: "muted" }, "Type the whole email address.")];
      const found = await api.get(`/v1/users${api.query({ email: text })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, "No user has this email.")];
      return [h("ul", { class: "choices", "aria-label": "Users found" }, found.items.map((user) => h("li", {},
        `${[user.first_name, user.last_name].filter(Boolean).join(" ") || user.email} <${user.email}>, ${user.status} `,
        api.can("admin") ? action("Push again", ctx, async () => {
          await api.post(`/v1/sync/users/${user.id}/resync`);
          return "A full push of the user's contact is queued.";
        }, { class: "secondary", "aria-label": `Push ${user.email} again` }) : null)))];
    }, userResults), userResults);
  return nodes;
}
