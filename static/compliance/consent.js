// Cookie consent banner: Accept all / Reject all / Customise, saved through POST /consent
// (which logs the choice and sets the levqor_consent cookie). Without this script the banner's
// form still works. Nothing non-necessary runs until the visitor has said yes to it.
(function () {
  "use strict";
  var banner = document.getElementById("cookie-banner");
  if (!banner) { return; }
  var form = document.getElementById("cookie-form");
  var choices = document.getElementById("cookie-choices");
  var categories = ["functional", "analytics", "marketing"];

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function readConsent() {
    var match = document.cookie.match(/(?:^|;\s*)levqor_consent=([^;]+)/);
    if (!match) { return null; }
    try { return JSON.parse(decodeURIComponent(match[1])); } catch (e) { return null; }
  }

  // Analytics: a first-party page view, only with analytics consent (the server checks too).
  function afterConsent() {
    var consent = readConsent();
    if (consent && consent.c && consent.c.analytics) {
      fetch("/consent/analytics-event", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({name: "page_view", path: window.location.pathname})
      }).catch(function () {});
    }
  }

  function save(body) {
    return fetch("/consent", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) { throw new Error("consent not saved: " + response.status); }
      return response.json();
    }).then(function (saved) {
      categories.forEach(function (name) {
        form.querySelector("input[name=" + name + "]").checked = !!saved.choices[name];
      });
      banner.classList.add("hidden");
      choices.classList.add("hidden");
      afterConsent();
    });
  }

  form.addEventListener("submit", function (event) {
    var action = event.submitter ? event.submitter.value : "save";
    event.preventDefault();
    var body = {action: action};
    if (action === "save") {
      body = {choices: {}};
      categories.forEach(function (name) {
        body.choices[name] = form.querySelector("input[name=" + name + "]").checked;
      });
    }
    save(body).catch(function () { form.submit(); });
  });

  document.getElementById("cookie-customise").addEventListener("click", function () {
    choices.classList.toggle("hidden");
  });

  function reopen() {
    banner.classList.remove("hidden");
    choices.classList.remove("hidden");
    banner.scrollIntoView({block: "nearest"});
  }
  document.querySelectorAll("#cookie-settings, [data-cookie-settings]").forEach(function (button) {
    button.addEventListener("click", reopen);
  });

  if (banner.classList.contains("hidden")) { afterConsent(); }
})();
