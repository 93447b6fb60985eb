// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "✓";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Forms marked data-once disable their submit button when sent, so a double click
  // sends one request (the server is idempotent anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // Live regions: <div data-poll-url="..." data-settled="false"> is refreshed from the
  // server every few seconds until it says it has settled.
  function poll(region) {
    var url = region.getAttribute("data-poll-url");
    var delay = 2500;
    function tick() {
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          if (!fresh) return;
          region.replaceWith(fresh);
          region = fresh;
          if (fresh.getAttribute("data-settled") !== "true") setTimeout(tick, delay);
        })
        .catch(function () { setTimeout(tick, delay * 4); });
    }
    if (region.getAttribute("data-settled") !== "true") setTimeout(tick, delay);
  }
  document.querySelectorAll("[data-poll-url]").forEach(poll);

  // Sign-up: the new account takes the browser's time zone (the server checks it and
  // falls back to UTC; without this script the account starts in UTC).
  document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
    try {
      input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) { /* an old browser: UTC, changeable in Preferences */ }
  });
})();
