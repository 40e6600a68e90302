// Questionnaire forms, made nicer when JavaScript runs (they work without it):
// - a question with a show_if condition is hidden (and its inputs disabled) until it applies;
// - the send button is disabled after the first tap, so a double tap sends once;
// - the first question with an error gets the focus;
// - [data-print] buttons print the page (poster sheets).
(function () {
  "use strict";

  function chosenValues(form, name) {
    var values = [];
    var inputs = form.querySelectorAll("input[name='" + name + "']");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].checked && !inputs[i].disabled) { values.push(inputs[i].value); }
    }
    return values;
  }

  function applyConditions(form) {
    var dependents = form.querySelectorAll("[data-show-if]");
    for (var i = 0; i < dependents.length; i++) {
      var box = dependents[i];
      var wanted = (box.getAttribute("data-show-if-values") || "").split(" ");
      var chosen = chosenValues(form, box.getAttribute("data-show-if"));
      var shown = chosen.some(function (v) { return wanted.indexOf(v) !== -1; });
      box.hidden = !shown;
      var inputs = box.querySelectorAll("input, textarea, select");
      for (var j = 0; j < inputs.length; j++) { inputs[j].disabled = !shown; }
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
    var firstError = form.querySelector(".has-error input, .has-error textarea");
    if (firstError) { firstError.focus(); }
  }

  function start() {
    var forms = document.querySelectorAll("form[data-questionnaire-form]");
    for (var i = 0; i < forms.length; i++) { enhance(forms[i]); }
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
