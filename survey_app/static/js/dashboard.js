// Live figures: re-fetch the figures block every few seconds and swap it in when it changed.
// The server renders (and escapes) the block; this only moves it into the page.
(function () {
  "use strict";
  var box = document.getElementById("live-figures");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-refresh-url");
  var everyMs = 5000;
  var last = box.innerHTML;

  function refresh() {
    if (document.hidden) { return schedule(); }
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        // Sent to the sign-in page: the session ended (signed out elsewhere, idle, 8 hours).
        // Load the page again, which shows the sign-in page, rather than keep old figures.
        if (response.redirected) { window.location.reload(); throw new Error("signed out"); }
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html !== last) {
          box.innerHTML = html;
          last = html;
          box.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* keep the figures shown; try again later */ })
      .then(schedule);
  }
  function schedule() { window.setTimeout(refresh, everyMs); }
  schedule();
})();
