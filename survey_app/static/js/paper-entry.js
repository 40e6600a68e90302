// Paper entry: Enter moves to the next field (as Tab does), so that a clerk keys a whole form
// without the mouse; Enter on the last answer moves to the Save button, where Enter saves.
// Without this script, Tab still moves on and the form works the same.
(function () {
  "use strict";
  function fields(form) {
    return Array.prototype.filter.call(
      form.querySelectorAll("input:not([type=hidden]), select, textarea, button[type=submit]"),
      function (el) { return !el.disabled && el.offsetParent !== null; }
    );
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.paper-entry");
    if (!form) { return; }
    form.addEventListener("keydown", function (event) {
      var target = event.target;
      // Shift+Enter in a comment box writes a new line; Enter on the Save button saves.
      if (event.key !== "Enter" || target.tagName === "BUTTON" || event.shiftKey) { return; }
      event.preventDefault();
      var all = fields(form);
      var next = all[all.indexOf(target) + 1];
      if (next) {
        next.focus();
        if (next.select && next.tagName === "INPUT") { next.select(); }
      }
    });
    form.addEventListener("focusin", function (event) {
      if (event.target.tagName === "INPUT" && event.target.select) { event.target.select(); }
    });
  });
})();
