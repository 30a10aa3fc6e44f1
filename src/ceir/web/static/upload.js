/* Upload progress for forms marked data-progress (the citizens' appeal form).
 *
 * Progressive enhancement: without this script (or without XMLHttpRequest and FormData) the form
 * is sent the ordinary way and works the same. With it, a form carrying files is sent by
 * XMLHttpRequest so that a <progress> bar can say how much has gone, which on a slow mobile
 * connection is the difference between waiting and giving up. The answer is then shown as the
 * browser would have shown it: a page the form leads to is opened, the form sent back with its
 * mistakes replaces this one.
 */
(function () {
  "use strict";
  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;

  function hasFiles(form) {
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) return true;
    }
    return false;
  }

  function show(answer) {
    var page = new DOMParser().parseFromString(answer, "text/html");
    document.title = page.title;
    document.body.replaceWith(document.adoptNode(page.body));
    var focus = document.getElementById("form-error") || document.querySelector("main h1");
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-progress") || !hasFiles(form)) return;
    if (event.defaultPrevented) return;
    event.preventDefault();
    var box = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var text = form.querySelector("[data-progress-text]");
    var buttons = form.querySelectorAll("button[type=submit]");
    var action = new URL(form.getAttribute("action") || location.href, location.href);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", action.href);
    xhr.setRequestHeader("Accept", "text/html");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable || !bar) return;
      var percent = Math.floor((e.loaded / e.total) * 100);
      bar.value = percent;
      if (text) text.textContent = text.getAttribute("data-template").replace("{percent}", percent);
    });
    xhr.addEventListener("load", function () {
      var landed = new URL(xhr.responseURL || action.href);
      if (landed.pathname !== action.pathname) {
        location.assign(landed.href); // the application filed, or sign-in asked again
      } else {
        show(xhr.responseText);
      }
    });
    xhr.addEventListener("error", function () {
      // The connection broke: send it the ordinary way, so that the browser says what happened.
      form.removeAttribute("data-progress");
      HTMLFormElement.prototype.submit.call(form);
    });
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    if (box) box.hidden = false;
    xhr.send(new FormData(form));
  });

  // Taking back a kept document sends its own small form: it carries what is in the fields now.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[form]") : null;
    if (!button || !button.form) return;
    var copies = button.form.querySelectorAll("[data-copy-of]");
    for (var i = 0; i < copies.length; i++) {
      var field = document.getElementById(copies[i].getAttribute("data-copy-of"));
      if (field) copies[i].value = field.value;
    }
  });
})();
