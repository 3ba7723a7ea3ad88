// The API as the console calls it: the signed-in token lives in this module's memory only
// (never in storage, never in the address), and every error reads as the problem document's
// words, with the field at fault.

let token = null;
let rolesClaim = "roles";

/** The claim the API reads roles from, as `/console/config.json` says. */
export function useRolesClaim(name) { rolesClaim = name || "roles"; }
/** The token's roles. */
export function roles() {
  const value = claims()[rolesClaim];
  return Array.isArray(value) ? value.filter((role) => typeof role === "string") : [];
}

export class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem && problem.errors) || [];
    const detail = (problem && (problem.detail || problem.title)) || `The API answered ${status}`;
    const named = fields.map((e) => `${e.field} ${e.message}`).join("; ");
    super(named ? `${detail}: ${named}` : detail);
    this.status = status;
    this.fields = fields;
  }
}

export function signIn(newToken) { token = newToken; }
export function signOut() { token = null; }
export function signedIn() { return token !== null; }

/** The token's claims, read only to choose what to show: the API checks the token itself. */
export function claims() {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch (e) {
    return {};
  }
}

const RANK = { viewer: 1, editor: 2, admin: 3 };

/** Whether the token's best role reaches `needed` (a customer-scoped token reaches none). */
export function can(needed) {
  const c = claims();
  if (c.customer_id) return false;
  const best = Math.max(0, ...roles().map((r) => RANK[r] || 0));
  return best >= RANK[needed];
}

export async function request(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  let parsed = null;
  const text = await answer.text();
  if (text) {
    try { parsed = JSON.parse(text); } catch (e) { parsed = null; }
  }
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  return parsed;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body === undefined ? {} : body);
export const del = (path) => request("DELETE", path);

/** A query string of the non-empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
