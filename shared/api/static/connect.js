// The HubSpot connect page (seed 004's flow): status, Connect through HubSpot's consent page in
// a popup, Disconnect, and banners. It calls the API with the caller's WARP token, taken from
// the address's fragment (`/connect#token=…`, never sent to a server) or typed in, and kept for
// this tab only. No build step, no dependencies.
(function () {
  "use strict";

  var TOKEN_KEY = "warp.connect.token";
  var MESSAGE_SOURCE = "warp-hubspot-connect";
  var el = function (id) { return document.getElementById(id); };
  var popupWatch = null;

  function takeTokenFromFragment() {
    var match = /(?:^|&)token=([^&]+)/.exec(window.location.hash.slice(1));
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  // The claims are read only to choose what to show; the API checks the token itself.
  function claims() {
    try {
      var payload = token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload));
    } catch (e) {
      return {};
    }
  }

  // Whose portal this page manages: the token's customer, `?customer_id=` for an admin, or
  // WARP's own (home) portal.
  function target() {
    var scoped = claims().customer_id;
    var asked = new URLSearchParams(window.location.search).get("customer_id");
    return { customerId: scoped || asked || null };
  }

  function banner(kind, text) {
    var shown = el(kind === "success" ? "banner-success" : "banner-error");
    var other = el(kind === "success" ? "banner-error" : "banner-success");
    other.hidden = true;
    shown.textContent = text;
    shown.hidden = false;
  }

  async function api(method, path) {
    var answer = await fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + token(), "Accept": "application/json" }
    });
    var body = null;
    try { body = await answer.json(); } catch (e) { body = null; }
    if (!answer.ok) {
      var detail = body && (body.detail || body.title);
      var error = new Error(detail || ("The API answered " + answer.status));
      error.status = answer.status;
      throw error;
    }
    return body;
  }

  function pick(items) {
    var want = target();
    return items.find(function (item) {
      return want.customerId
        ? item.role === "customer" && item.customer_id === want.customerId
        : item.role === "home";
    }) || null;
  }

  function show(installation) {
    var connected = installation && installation.status === "active";
    var waiting = installation && installation.status === "needs_reconnect";
    var indicator = el("indicator");
    indicator.className = "indicator" + (connected ? " connected" : waiting ? " warning" : "");
    el("status").textContent = connected ? "Connected \u2713" : waiting ? "Reconnect needed" : "Not connected";
    var live = connected || waiting;
    el("details").hidden = !live;
    if (live) {
      el("portal").textContent = installation.portal_id +
        (installation.hub_domain ? " (" + installation.hub_domain + ")" : "");
      el("connected-at").textContent = new Date(installation.connected_at).toLocaleString();
      el("scopes").textContent = installation.scopes.join(", ") || "\u2014";
      var lastError = installation.last_error;
      el("last-error").textContent = lastError || "";
      el("last-error").hidden = !lastError;
      el("last-error-label").hidden = !lastError;
    }
    var isStatic = installation && installation.token_source === "static";
    el("connect").hidden = connected && !isStatic;
    el("connect").textContent = waiting ? "Reconnect HubSpot" : isStatic ? "Connect through OAuth" : "Connect HubSpot";
    el("disconnect").hidden = !live || isStatic;
    el("connection").hidden = false;
  }

  async function refresh() {
    try {
      var list = await api("GET", "/v1/hubspot/installations");
      show(pick(list.items));
    } catch (error) {
      if (error.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        signIn();
      }
      banner("error", error.message);
    }
  }

  async function connect() {
    var button = el("connect");
    button.disabled = true;
    // Opened now, inside the click, so the browser does not block it; pointed at HubSpot once
    // the API has made this connect's link.
    var popup = window.open("", "hubspot-connect", "popup,width=620,height=760");
    try {
      var customerId = target().customerId;
      var query = customerId && !claims().customer_id
        ? "?customer_id=" + encodeURIComponent(customerId) : "";
      var started = await api("GET", "/v1/hubspot/oauth/initiate" + query);
      if (!popup) {
        // Pop-ups blocked: go there in this tab; the callback page links back.
        window.location.assign(started.authorize_url);
        return;
      }
      popup.location.href = started.authorize_url;
      clearInterval(popupWatch);
      popupWatch = setInterval(function () {
        if (popup.closed) {
          clearInterval(popupWatch);
          button.disabled = false;
        }
      }, 500);
    } catch (error) {
      if (popup) { popup.close(); }
      button.disabled = false;
      banner("error", error.message);
    }
  }

  async function disconnect() {
    var button = el("disconnect");
    button.disabled = true;
    try {
      var list = await api("GET", "/v1/hubspot/installations");
      var installation = pick(list.items);
      if (installation) {
        await api("DELETE", "/v1/hubspot/installations/" + installation.portal_id);
      }
      banner("success", "HubSpot disconnected successfully!");
    } catch (error) {
      banner("error", error.message);
    } finally {
      button.disabled = false;
      await refresh();
    }
  }

  function received(event) {
    if (event.origin !== window.location.origin) { return; }
    var outcome = event.data;
    if (!outcome || outcome.source !== MESSAGE_SOURCE) { return; }
    clearInterval(popupWatch);
    el("connect").disabled = false;
    if (outcome.ok) {
      banner("success", "HubSpot connected successfully!");
    } else {
      banner("error", outcome.message || "HubSpot could not be connected.");
    }
    refresh();
  }

  function signIn() {
    el("connection").hidden = true;
    el("sign-in").hidden = false;
  }

  el("sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, el("token").value.trim());
    el("sign-in").hidden = true;
    refresh();
  });
  el("connect").addEventListener("click", connect);
  el("disconnect").addEventListener("click", disconnect);
  window.addEventListener("message", received);

  takeTokenFromFragment();
  if (token()) { refresh(); } else { signIn(); }
})();
