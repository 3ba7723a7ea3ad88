// The OAuth callback page, opened in the connect popup: hands the outcome to the page that
// opened it (same origin only) and closes. Opened directly, it stays and links back.
(function () {
  "use strict";
  var result = document.getElementById("callback");
  var outcome = {
    source: "warp-hubspot-connect",
    ok: result.dataset.ok === "true",
    message: result.dataset.message,
    portalId: result.dataset.portalId || null
  };
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(outcome, window.location.origin);
    window.close();
  }
})();
