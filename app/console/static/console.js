// Live parts of the console: every ~2 s the page is fetched again and each element marked
// data-live is replaced by its new version. Without JavaScript the page still reads; it is
// only not refreshed. A part with focus or typed text is left alone until it is free.
(function () {
  "use strict";
  var PERIOD_MS = 2000;
  var parts = document.querySelectorAll("[data-live][id]");
  if (!parts.length || !window.fetch || !window.DOMParser) return;

  function busy(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) return true;
    var fields = el.querySelectorAll("input:not([type=hidden]), textarea");
    for (var i = 0; i < fields.length; i++) if (fields[i].value) return true;
    var open = el.querySelectorAll("details[open]");
    return open.length > 0;
  }

  function refresh() {
    if (document.hidden) return schedule();
    fetch(window.location.href, {credentials: "same-origin", headers: {"X-Console-Live": "1"}})
      .then(function (response) {
        // Signed out or expired: the answer is the sign-in page; go there.
        if (response.redirected && response.url.indexOf("/console/login") !== -1) {
          window.location.assign(response.url);
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var next = fresh.getElementById(old.id);
          if (next && !busy(old) && next.innerHTML !== old.innerHTML) {
            old.replaceWith(document.importNode(next, true));
          }
        });
      })
      .catch(function () {})
      .then(schedule);
  }

  function schedule() { window.setTimeout(refresh, PERIOD_MS); }
  schedule();
})();
