// Installed in the browser by tests/browser/test_stripe.py before any page script runs.
//
// localstripe's Stripe.js double runs only the 3-D Secure step of confirmCardPayment and
// ignores the card the customer typed. This stands in for the rest, as Stripe.js does it:
// the card and the PaymentIntent go to the test (Python), which gives the card to
// localstripe's API and confirms; the test hands back what Stripe.js would answer. When
// the bank wants 3-D Secure, localstripe's own double then runs the challenge.
(function () {
  "use strict";
  var wrapped;
  Object.defineProperty(window, "Stripe", {
    configurable: true,
    get: function () { return wrapped; },
    set: function (factory) {
      wrapped = function (key) {
        var stripe = factory(key);
        var challenge = stripe.confirmCardPayment;
        stripe.confirmCardPayment = function (clientSecret, data) {
          var card = data && data.payment_method && data.payment_method.card;
          if (!card || typeof card === "string") return challenge(clientSecret, data);
          return new Promise(function (resolve) {
            window.__cardConfirm = {
              clientSecret: clientSecret,
              card: card.value ? card.value.card : null,
              resolve: function (result) {
                window.__cardConfirm = null;
                resolve(result.requiresAction ? challenge(clientSecret) : result);
              }
            };
          });
        };
        return stripe;
      };
    }
  });
})();
