/* The sign-in link of `ember studio`: /login#token=... fills the token and signs in; the
   fragment never reaches the server's logs, and it leaves the address bar at once. */
"use strict";
(function () {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  const box = document.getElementById("token-box");
  if (box) box.open = true;
  document.getElementById("token").value = decodeURIComponent(match[1]);
  document.getElementById("signin-form").submit();
})();
