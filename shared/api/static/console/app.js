// The console's shell: sign-in, the section navigation (`#/health`, ...), notices, and the
// live refresh of the section shown.

import * as api from "./api.js";
import { replace } from "./dom.js";
import { VIEWS, forgetAll } from "./views.js";

const $ = (id) => document.getElementById(id);
// The PKCE verifier and state of a sign-in under way: kept for the round trip through the
// identity provider only (this tab's session storage), removed as soon as the answer is read.
const PENDING_SIGN_IN = "warp.console.sign-in";
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
  if (Object.hasOwn(VIEWS, name)) return name;
  // A customer's own token reads its HubSpot connection, not the whole sync's health.
  return api.claims().customer_id ? "connect" : "health";
}

/**
 * Draws the section in the address. `quiet` (the live refresh) keeps focus and notices and
 * leaves a form being typed in alone; `forced` (after an action) redraws regardless.
 */
async function show(quiet, forced) {
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
  const typing = quiet && !forced && content.contains(document.activeElement) &&
    /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  const ticket = {};
  if (!typing) {
    rendering = ticket;
    try {
      const nodes = await view.render({ notify, fail, refresh: () => show(true, true) });
      // Signed out, or another section asked for, meanwhile: this drawing is stale.
      if (rendering !== ticket || !api.signedIn()) return;
      replace(content, nodes);
      document.title = `${view.title} - WARP sync console`;
      if (!quiet) {
        const heading = content.querySelector("h1");
        if (heading) { heading.tabIndex = -1; heading.focus(); }
      }
    } catch (error) {
      if (rendering !== ticket || !api.signedIn()) return;
      if (error.status === 401) { signOut("Your token has expired or was refused: sign in again."); return; }
      fail(error);
    }
  }
  if (view.live) refreshTimer = setTimeout(() => show(true, false), REFRESH_MS);
}

function signedInAs() {
  const claims = api.claims();
  const roles = api.roles().join(", ") || "no role";
  const scope = claims.customer_id ? ` for customer ${claims.customer_id}` : "";
  return `${claims.sub || "signed in"} (${roles}${scope})`;
}

function enter(token) {
  api.signIn(token);
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-text").textContent = signedInAs();
  if (!window.location.hash) window.location.hash = `#/${currentView()}`;
  show(false, true);
}

function signOut(reason) {
  clearTimeout(refreshTimer);
  rendering = null;
  api.signOut();
  // Nothing the last person saw or chose stays for the next one.
  forgetAll();
  replace($("content"));
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  if (reason) fail(reason); else clearNotices();
  $("sign-in-title").focus();
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** Authorization code with PKCE (S256): off to the identity provider's sign-in page. */
async function startOidc(oidc) {
  const verifier = random(32);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING_SIGN_IN, JSON.stringify({ verifier, state, view: window.location.hash }));
  const params = new URLSearchParams({
    response_type: "code", client_id: oidc.client_id, redirect_uri: oidc.redirect_uri,
    scope: oidc.scopes, state, code_challenge: challenge, code_challenge_method: "S256",
  });
  window.location.assign(`${oidc.authorize_url}?${params}`);
}

/** Back from the identity provider: trade the code for tokens; false when this is no return. */
async function finishOidc(oidc) {
  const answer = new URLSearchParams(window.location.search);
  if (!answer.has("code") && !answer.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_SIGN_IN) || "null");
  sessionStorage.removeItem(PENDING_SIGN_IN);
  history.replaceState(null, "", window.location.pathname + ((pending && pending.view) || ""));
  if (answer.has("error")) {
    throw new Error(`Sign-in refused: ${answer.get("error_description") || answer.get("error")}`);
  }
  if (!pending || pending.state !== answer.get("state")) {
    throw new Error("Sign-in failed: the answer does not match this tab's request. Sign in again.");
  }
  const exchanged = await fetch(oidc.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: oidc.client_id, code: answer.get("code"),
      redirect_uri: oidc.redirect_uri, code_verifier: pending.verifier,
    }),
  });
  if (!exchanged.ok) throw new Error(`Sign-in failed: the identity provider answered ${exchanged.status}.`);
  const tokens = await exchanged.json();
  const token = tokens[oidc.token];
  if (!token) throw new Error(`Sign-in failed: the identity provider sent no ${oidc.token}.`);
  enter(token);
  return true;
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
  window.addEventListener("hashchange", () => show(false, true));
  $("sign-in").hidden = false;
  try {
    const config = await api.get("/console/config.json");
    api.useRolesClaim(config.roles_claim);
    $("dev-sign-in").hidden = !config.dev_sign_in;
    const oidc = config.oidc;
    if (oidc) {
      $("oidc-sign-in").hidden = false;
      $("oidc-provider").textContent = oidc.provider;
      $("oidc-sign-in").addEventListener("submit", (event) => {
        event.preventDefault();
        startOidc(oidc).catch(fail);
      });
      await finishOidc(oidc);
    }
  } catch (error) {
    fail(error);
  }
}

start();
