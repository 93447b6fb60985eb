// The Stripe payment and card pages (templates/billing/stripe_pay.html and
// stripe_card_setup.html). Stripe.js collects the card and runs the bank's check; then
// the browser goes to the portal's return page, which asks Stripe what happened: the
// portal never takes the browser's word for a payment.
(function () {
  "use strict";

  var root = document.getElementById("stripe-root");
  if (!root) return;
  var data = root.dataset;
  var errorBox = root.querySelector("[data-error]");
  var statusBox = root.querySelector("[data-status]");
  var buttons = root.querySelectorAll("button");

  function showError(message) {
    errorBox.textContent = message || data.msgFailed;
    errorBox.hidden = false;
    errorBox.focus();
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function setBusy(busy, message) {
    buttons.forEach(function (button) { button.disabled = busy; });
    root.setAttribute("aria-busy", busy ? "true" : "false");
    statusBox.textContent = busy ? (message || data.msgWorking) : "";
  }

  if (typeof Stripe !== "function") {  // blocked, or no network
    buttons.forEach(function (button) { button.disabled = true; });
    showError(data.msgUnavailable);
    return;
  }
  var stripe = Stripe(data.publishableKey);

  // Errors found before Stripe tried the payment (an incomplete card number, no network)
  // keep the customer here to fix them. After an attempt, whatever its outcome, the
  // portal's return page decides: a declined payment is recorded there and the customer
  // starts a fresh one, never retrying a payment the portal already counts as failed.
  var LOCAL_ERRORS = ["validation_error", "api_connection_error", "rate_limit_error"];

  function settle(result) {
    var error = result && result.error;
    if (error && LOCAL_ERRORS.indexOf(error.type) >= 0) {
      setBusy(false);
      showError(error.message);
      return;
    }
    if (error && error.message) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
    }
    setBusy(true, data.msgFinishing);
    window.location.assign(data.returnUrl);
  }

  function failed() {
    setBusy(false);
    showError(data.msgFailed);
  }

  function run(confirm) {
    clearError();
    setBusy(true);
    var promise;
    try {
      promise = confirm();
    } catch (exception) {
      failed();
      return;
    }
    Promise.resolve(promise).then(settle, failed);
  }

  var card = null;
  var cardHolder = root.querySelector("#card-element");
  if (cardHolder) {
    var lang = (document.documentElement.lang || "en").slice(0, 2);
    card = stripe.elements({ locale: lang === "zh" ? "zh" : "auto" }).create("card", {
      style: { base: { fontSize: "16px", lineHeight: "24px" } }
    });
    card.mount(cardHolder);
    card.on("change", function (event) {
      if (event && event.error) showError(event.error.message);
      else if (event) clearError();
    });
  }

  var WALLETS = {
    alipay: function () {
      return stripe.confirmAlipayPayment(data.clientSecret,
                                         { return_url: data.absoluteReturnUrl });
    },
    wechat_pay: function () {
      return stripe.confirmWechatPayPayment(data.clientSecret, {
        payment_method_options: { wechat_pay: { client: "web" } }
      });
    },
    paypal: function () {
      return stripe.confirmPayPalPayment(data.clientSecret,
                                         { return_url: data.absoluteReturnUrl });
    }
  };
  var WALLET_FUNCTIONS = {
    alipay: "confirmAlipayPayment", wechat_pay: "confirmWechatPayPayment",
    paypal: "confirmPayPalPayment"
  };

  root.querySelectorAll("[data-action]").forEach(function (element) {
    var action = element.getAttribute("data-action");
    if (action === "card" || action === "setup") {
      element.addEventListener("submit", function (event) {
        event.preventDefault();
        if (root.getAttribute("aria-busy") === "true") return;
        run(function () {
          var payment = { payment_method: { card: card } };
          return action === "card" ? stripe.confirmCardPayment(data.clientSecret, payment)
                                   : stripe.confirmCardSetup(data.clientSecret, payment);
        });
      });
    } else if (action === "authenticate") {
      // The bank's check for a card the payment already has (an auto-renewal charge).
      element.addEventListener("click", function () {
        run(function () {
          return data.paymentMethod
            ? stripe.confirmCardPayment(data.clientSecret,
                                        { payment_method: data.paymentMethod })
            : stripe.confirmCardPayment(data.clientSecret);
        });
      });
    } else if (WALLETS[action]) {
      if (typeof stripe[WALLET_FUNCTIONS[action]] !== "function") {
        element.hidden = true;  // this Stripe.js cannot do it (a test double)
        return;
      }
      element.addEventListener("click", function () { run(WALLETS[action]); });
    }
  });
  root.querySelectorAll(".wallets").forEach(function (group) {
    group.hidden = !group.querySelector("button:not([hidden])");
  });
})();
