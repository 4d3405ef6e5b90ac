// The portal's few actions, each a JSON request to the portal's own API: ask for a code, log in with it
// (both before any session: no CSRF token yet), pause care-watch (PUT) and end it (DELETE), log out; writes
// with a session carry its X-CSRF-Token (the page's <meta name="csrf-token">).
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const said = JSON.parse(document.getElementById("script-words").innerHTML);

  async function send(url, method, body) {
    const headers = {"Accept": "application/json"};
    if (csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== null) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {method: method, credentials: "same-origin", headers: headers,
                                       body: body === null ? null : JSON.stringify(body)});
    let data = {};
    try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
    return {ok: response.ok, status: response.status, data: data};
  }

  function tell(output, ok, text) {
    output.className = "answer " + (ok ? "ok" : "bad");
    output.textContent = text;
  }

  function refused(result) {
    return said.not_done + (result.data.message || result.data.error || result.status);
  }

  // -- logging in ------------------------------------------------------------------------------
  const ask = document.getElementById("ask");
  const verify = document.getElementById("verify");
  if (ask && verify) {
    const answer = document.getElementById("answer");
    const phone = document.getElementById("phone");
    ask.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("ask-button");
      if (!phone.value.trim()) { tell(answer, false, said.phone_first); phone.focus(); return; }
      button.disabled = true;
      tell(answer, true, said.working);
      const result = await send("/my/login", "POST", {phone: phone.value.trim()});
      button.disabled = false;
      if (!result.ok) { tell(answer, false, refused(result)); return; }
      answer.textContent = "";
      document.getElementById("sent").textContent = said.sent + result.data.phone + said.sent_after;
      button.textContent = said.resend;
      verify.hidden = false;
      document.getElementById("code").focus();
    });
    verify.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = document.getElementById("code");
      tell(answer, true, said.working);
      const result = await send("/my/verify", "POST", {phone: phone.value.trim(), code: code.value.trim()});
      if (!result.ok) { tell(answer, false, refused(result)); code.select(); return; }
      tell(answer, true, said.done);
      location.assign("/my/");
    });
  }

  // -- away --------------------------------------------------------------------------------------
  document.querySelectorAll("form[data-away]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const output = form.closest("article").querySelector("output.answer");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      tell(output, true, said.working);
      const result = await send(form.getAttribute("action"), "PUT",
                                {until: form.elements.until.value, reason: form.elements.reason.value.trim()});
      button.disabled = false;
      tell(output, result.ok, result.ok ? said.done : refused(result));
      if (result.ok) setTimeout(() => location.reload(), 800);
    });
  });
  document.querySelectorAll("button[data-end-away]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (!window.confirm(said.confirm_back)) return;
      const output = button.closest("article").querySelector("output.answer");
      button.disabled = true;
      const result = await send(`/my/api/away/${button.dataset.endAway}`, "DELETE", null);
      button.disabled = false;
      tell(output, result.ok, result.ok ? said.done : refused(result));
      if (result.ok) setTimeout(() => location.reload(), 800);
    });
  });

  // -- logging out -------------------------------------------------------------------------------
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await send("/my/logout", "POST", null);
      location.assign("/my/login");
    });
  }
})();
