// medcite: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  // Copy-citation buttons: shown only when script runs; without it the citation text is shown.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand && document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function setUpCopyButtons(root) {
    root.querySelectorAll("button.copy-citation[data-citation]").forEach(function (button) {
      button.hidden = false;
      if (button.dataset.ready) { return; }
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.citation);
        var status = button.parentElement.querySelector(".copy-status");
        var value = source && source.querySelector(".citation-value");
        if (!value) { return; }
        copyText(value.textContent.trim()).then(function () {
          if (status) { status.textContent = "Copied"; }
        }, function () {
          if (status) { status.textContent = "Select the citation text to copy it"; }
        });
      });
    });
  }

  // After htmx appends an answer: clear the question box and bring the answer into view.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "ask-form" && event.detail.successful) {
      form.reset();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "conversation" && target.lastElementChild) {
      target.lastElementChild.scrollIntoView({ block: "start" });
    }
    setUpCopyButtons(document);
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopyButtons(document);
    var mark = document.getElementById("quote");
    if (mark && window.location.hash === "#quote") {
      mark.focus({ preventScroll: true });
    }
  });
})();
