// The console's shell: sign-in, the section navigation (`#/health`, ...), notices, and the
// live refresh of the section shown.

import * as api from "./api.js";
import { replace } from "./dom.js";
import { VIEWS } from "./views.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
let refreshTimer = null;
let rendering = null;

export function notify(text) {
  $("alert").hidden = true;
  $("notice").textContent = text;
  $("notice").hidden = false;
}

export function fail(error) {
  $("notice").hidden = true;
  $("alert").textContent = error instanceof Error ? error.message : String(error);
  $("alert").hidden = false;
}

function clearNotices() {
  $("notice").hidden = true;
  $("alert").hidden = true;
}

function currentView() {
  const name = window.location.hash.replace(/^#\/?/, "").split("?")[0];
  return VIEWS[name] ? name : "health";
}

/** Draws the section in the address; `quiet` keeps focus and notices (a live refresh). */
async function show(quiet) {
  clearTimeout(refreshTimer);
  if (!api.signedIn()) return;
  const name = currentView();
  const view = VIEWS[name];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const content = $("content");
  if (!quiet) clearNotices();
  // A form being typed in is never redrawn under the person's hands.
  const busy = quiet && content.contains(document.activeElement) &&
    /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if (!busy) {
    const ticket = {};
    rendering = ticket;
    try {
      const nodes = await view.render({ notify, fail, refresh: () => show(true) });
      if (rendering !== ticket) return;
      replace(content, nodes);
      document.title = `${view.title} - WARP sync console`;
      if (!quiet) {
        const heading = content.querySelector("h1");
        if (heading) { heading.tabIndex = -1; heading.focus(); }
      }
    } catch (error) {
      if (error.status === 401) { signOut("Your token has expired or was refused: sign in again."); return; }
      fail(error);
    }
  }
  if (view.live) refreshTimer = setTimeout(() => show(true), REFRESH_MS);
}

function signedInAs() {
  const claims = api.claims();
  const roles = (claims.roles || []).join(", ") || "no role";
  const scope = claims.customer_id ? ` for customer ${claims.customer_id}` : "";
  return `${claims.sub || "signed in"} (${roles}${scope})`;
}

function enter(token) {
  api.signIn(token);
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-text").textContent = signedInAs();
  if (!window.location.hash) window.location.hash = "#/health";
  show(false);
}

function signOut(reason) {
  clearTimeout(refreshTimer);
  api.signOut();
  replace($("content"));
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  if (reason) fail(reason); else clearNotices();
  $("sign-in-title").focus();
}

async function start() {
  $("sign-in-title").tabIndex = -1;
  $("sign-out").addEventListener("click", () => signOut());
  $("token-sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (token) enter(token);
  });
  $("dev-sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const minted = await api.post("/console/dev-sign-in", {
        role: $("dev-role").value,
        customer_id: $("dev-customer").value.trim() || null,
      });
      enter(minted.access_token);
    } catch (error) {
      fail(error);
    }
  });
  window.addEventListener("hashchange", () => show(false));
  $("sign-in").hidden = false;
  try {
    const config = await api.get("/console/config.json");
    $("dev-sign-in").hidden = !config.dev_sign_in;
  } catch (error) {
    fail(error);
  }
}

start();
