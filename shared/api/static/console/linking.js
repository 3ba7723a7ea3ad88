// Linking: find a customer or a user, see which HubSpot company or contact it is, unlink it,
// link it to another found as you type (debounced, within HubSpot's search budget), push it
// again. Customers and users share one card; only what they are called and where they live
// differs.

import * as api from "./api.js";
import { h, when } from "./dom.js";
import { action, confirmed, needs } from "./widgets.js";

const DEBOUNCE_MS = 350;
const state = {};

export function forget() {
  Object.assign(state, { customerQuery: "", customerId: null, email: "", userId: null, linkQuery: "" });
}
forget();

/** An input that calls `search(text)` once typing pauses; stale answers are dropped. What is
 *  typed is kept in `state[remembered]` as it is typed, so a redraw starts from it and an
 *  action that clears it is not undone by a search still waiting to run. */
function searchBox(id, label, remembered, minimum, search, results) {
  const input = h("input", { id, type: "search", value: state[remembered], autocomplete: "off", "aria-describedby": `${id}-hint` });
  let timer = null;
  let ticket = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    state[remembered] = input.value;
    const text = input.value.trim();
    timer = setTimeout(async () => {
      // A box redrawn away meanwhile (a result was chosen before typing paused) searches no more.
      if (!input.isConnected) return;
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

const KINDS = {
  customer: {
    base: (id) => `/v1/customers/${id}`,
    resync: (id) => `/v1/sync/customers/${id}/resync`,
    record: "HubSpot company",
    key: "BAN",
    searchPath: "/v1/sync/hubspot/companies/search",
    searchLabel: "HubSpot company (name, domain or BAN)",
    body: (found) => ({ hubspot_company_id: found.id }),
    label: (found) => `${found.name || "(no name)"}${found.domain ? ` (${found.domain})` : ""}`,
    taken: (found, id) => (found.linked_customer_id && found.linked_customer_id !== id ? "linked to another customer" : null),
  },
  user: {
    base: (id) => `/v1/users/${id}`,
    resync: (id) => `/v1/sync/users/${id}/resync`,
    record: "HubSpot contact",
    key: "user id",
    searchPath: "/v1/sync/hubspot/contacts/search",
    searchLabel: "HubSpot contact (email or name)",
    body: (found) => ({ hubspot_contact_id: found.id }),
    label: (found) => `${[found.first_name, found.last_name].filter(Boolean).join(" ") || "(no name)"}${found.email ? ` <${found.email}>` : ""}`,
    taken: (found, id) => {
      if (found.linked_user_id && found.linked_user_id !== id) return "linked to another user";
      if (found.warp_user_id && found.warp_user_id !== id) return "carries another user's id";
      return null;
    },
  },
};

/** The HubSpot link of a customer or user: what it is, and (for admins) push again, unlink,
 *  or find and link another. `facts` are the record's own lines before the link. */
async function linkCard(ctx, kind, id, title, facts) {
  const k = KINDS[kind];
  const link = await api.get(`${k.base(id)}/hubspot-link`);
  const linked = link.hubspot_id;
  const status = linked
    ? linked
    : link.hold
      ? `not linked: unlinked from ${link.hold.unlinked_from} ${when(link.hold.unlinked_at)}; its changes wait until it is linked again`
      : "not linked";
  const nodes = [h("h2", { id: `chosen-${kind}` }, title),
    h("dl", { class: "facts" }, ...facts, h("dt", {}, k.record), h("dd", { id: `linked-${kind}` }, status))];
  if (!api.can("admin")) return nodes.concat(needs("admin", "Linking, unlinking and pushing again"));
  const actions = h("div", { class: "actions" },
    action("Push it to HubSpot again", ctx, async () => {
      await api.post(k.resync(id));
      return linked || !link.hold ? "A full push is queued." : "Queued, but it waits until it is linked again.";
    }, { class: "secondary", id: `resync-${kind}` }));
  nodes.push(actions);
  if (linked) {
    actions.append(confirmed(`Unlink from ${k.record} ${linked}`,
      `${k.record} ${linked} loses its ${k.key}, and changes here wait until this is linked again. Unlink?`,
      ctx, async () => {
        const answer = await api.del(`${k.base(id)}/hubspot-link`);
        return answer.unlinked_now
          ? `Unlinked from ${k.record} ${linked}; changes wait until it is linked again.`
          : "It was no longer linked: nothing changed.";
      }, { id: `unlink-${kind}` }));
    return nodes;
  }
  const results = h("div", { id: `${kind}-link-results`, "aria-live": "polite" });
  nodes.push(h("h3", {}, `Link to a ${k.record}`),
    ...searchBox(`${kind}-link-search`, k.searchLabel, "linkQuery", 2, async (text) => {
      const found = await api.get(`${k.searchPath}${api.query({ q: text, limit: 8 })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, `No ${k.record} matches.`)];
      return [h("ul", { class: "choices", "aria-label": `${k.record}s found` }, found.items.map((record) => {
        const label = k.label(record);
        const taken = k.taken(record, id);
        return h("li", {}, taken
          ? h("span", { class: "muted" }, `${label}: ${taken}`)
          : action(`Link to ${label}`, ctx, async () => {
            await api.post(`${k.base(id)}/hubspot-link`, k.body(record));
            state.linkQuery = "";
            return `Linked to ${k.record} ${record.id}; a full push is queued.`;
          }, { class: "secondary" }));
      }))];
    }, results), results);
  return nodes;
}

async function customerCard(ctx, id) {
  const customer = await api.get(`/v1/customers/${id}`);
  const sync = customer.sync || {};
  return linkCard(ctx, "customer", id, customer.company_name, [
    h("dt", {}, "BAN"), h("dd", {}, customer.ban),
    h("dt", {}, "Sync"), h("dd", {}, `${sync.state || "–"}${sync.last_synced_at ? `, last ${when(sync.last_synced_at)}` : ""}`),
    sync.last_error ? [h("dt", {}, "Last error"), h("dd", { class: "reason" }, sync.last_error)] : null]);
}

async function userCard(ctx, id) {
  const user = await api.get(`/v1/users/${id}`);
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
  return linkCard(ctx, "user", id, name ? `${name} <${user.email}>` : user.email, [
    h("dt", {}, "Email"), h("dd", {}, user.email),
    h("dt", {}, "Status"), h("dd", {}, user.status)]);
}

/** A list of records found, each a button that chooses it. */
function choices(label, items, text, choose) {
  return [h("ul", { class: "choices", "aria-label": label }, items.map((item) => h("li", {}, h("button", {
    type: "button", class: "secondary", onclick: () => { choose(item); },
  }, text(item)))))];
}

export async function linking(ctx) {
  const nodes = [h("h1", {}, "Linking"),
    h("p", { class: "lead" }, "Which HubSpot record each WARP record is, and putting it right.")];
  const customerResults = h("div", { id: "customer-results", "aria-live": "polite" });
  nodes.push(h("h2", {}, "Customers"),
    ...searchBox("customer-search", "Find a customer (name, BAN or domain)", "customerQuery", 2, async (text) => {
      const found = await api.get(`/v1/customers${api.query({ q: text, limit: 10 })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, "No customer matches.")];
      return choices("Customers found", found.items, (c) => `${c.company_name} (${c.ban})`, (c) => {
        Object.assign(state, { customerId: c.id, userId: null, linkQuery: "" });
        ctx.refresh();
      });
    }, customerResults), customerResults);
  if (state.customerId) nodes.push(...await customerCard(ctx, state.customerId));

  const userResults = h("div", { id: "user-results", "aria-live": "polite" });
  nodes.push(h("h2", {}, "Users"),
    ...searchBox("user-search", "Find a user by email", "email", 3, async (text) => {
      if (!text.includes("@")) return [h("p", { class: "muted" }, "Type the whole email address.")];
      const found = await api.get(`/v1/users${api.query({ email: text })}`);
      if (!found.items.length) return [h("p", { class: "empty" }, "No user has this email.")];
      return choices("Users found", found.items, (u) => `${u.email}, ${u.status}`, (u) => {
        Object.assign(state, { userId: u.id, customerId: null, linkQuery: "" });
        ctx.refresh();
      });
    }, userResults), userResults);
  if (state.userId) nodes.push(...await userCard(ctx, state.userId));
  return nodes;
}
