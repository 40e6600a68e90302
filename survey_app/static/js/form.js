// Questionnaire forms, made nicer when JavaScript runs (they work without it):
// - a question with a show_if condition is hidden until it applies, unless it holds an answer:
//   then it stays in view with its condition hint, and sending brings back the server's message
//   (nothing typed disappears unseen, and nothing hidden is sent);
// - the send button is disabled after the first tap, so a double tap sends once (and enabled
//   again when the page comes back from the back-forward cache);
// - the error summary gets the focus, and its links bring each question into view;
// - [data-print] buttons print the page (poster sheets).
(function () {
  "use strict";

  function chosenValues(form, name) {
    var values = [];
    var inputs = form.querySelectorAll("input[name='" + name + "']");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].checked) { values.push(inputs[i].value); }
    }
    return values;
  }

  function holdsAnswer(box) {
    var inputs = box.querySelectorAll("input, textarea, select");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { return true; }
      } else if (input.value.trim() !== "") {
        return true;
      }
    }
    return false;
  }

  function applyConditions(form) {
    var dependents = form.querySelectorAll("[data-show-if]");
    for (var i = 0; i < dependents.length; i++) {
      var box = dependents[i];
      var wanted = (box.getAttribute("data-show-if-values") || "").split(" ");
      var chosen = chosenValues(form, box.getAttribute("data-show-if"));
      var asked = chosen.some(function (v) { return wanted.indexOf(v) !== -1; });
      box.hidden = !asked && !holdsAnswer(box);
      var hint = box.querySelector(".condition-hint");
      if (hint) { hint.hidden = asked; }
    }
  }

  function enhance(form) {
    applyConditions(form);
    form.addEventListener("change", function () { applyConditions(form); });
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent") === "1") { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) { buttons[i].setAttribute("aria-disabled", "true"); }
    });
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) { return; }
      // Restored by the back button: a new tap must send (the server answers a form already
      // stored with "recorded", and stores nothing).
      form.removeAttribute("data-sent");
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) { buttons[i].removeAttribute("aria-disabled"); }
      applyConditions(form);
    });
  }

  function summarise(summary) {
    summary.focus();
    var links = summary.querySelectorAll("a[href^='#']");
    for (var i = 0; i < links.length; i++) {
      links[i].addEventListener("click", function (event) {
        var target = document.getElementById(this.getAttribute("href").slice(1));
        if (!target) { return; }
        event.preventDefault();
        var question = target.closest(".question, .field") || target;
        question.scrollIntoView();
        target.focus({ preventScroll: true });
      });
    }
  }

  function start() {
    var forms = document.querySelectorAll("form[data-questionnaire-form]");
    for (var i = 0; i < forms.length; i++) { enhance(forms[i]); }
    var summary = document.querySelector(".error-summary");
    if (summary) { summarise(summary); }
    var printers = document.querySelectorAll("[data-print]");
    for (var k = 0; k < printers.length; k++) {
      printers[k].addEventListener("click", function () { window.print(); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
