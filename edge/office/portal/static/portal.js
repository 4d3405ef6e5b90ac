// The portal's few actions, each a JSON request to the portal's own API: ask for a code, log in with it
// (both before any session: no CSRF token yet), pause care-watch (PUT) and end it (DELETE), invite a car or a
// visitor on foot (POST; the visitor's pass shown to save or share), cancel (DELETE), log out; writes
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

  // A button that ends something of the household (a pause, an invitation): asks ``question``, sends DELETE
  // to ``url``, says how it went in its card and reloads the page.
  function endsOnClick(button, question, url) {
    button.addEventListener("click", async () => {
      if (!window.confirm(question)) return;
      const output = button.closest("article").querySelector("output.answer");
      button.disabled = true;
      const result = await send(url, "DELETE", null);
      button.disabled = false;
      tell(output, result.ok, result.ok ? said.done : refused(result));
      if (result.ok) setTimeout(() => location.reload(), 800);
    });
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
    endsOnClick(button, said.confirm_back, `/my/api/away/${button.dataset.endAway}`);
  });

  // -- invitations -------------------------------------------------------------------------------
  const wordsOf = document.getElementById("invite-words");
  const invited = wordsOf ? JSON.parse(wordsOf.innerHTML) : {};

  function showPass(data) {
    const figure = document.getElementById("pass");
    const png = "data:image/png;base64," + data.qr_png_base64;
    document.getElementById("pass-img").src = png;
    document.getElementById("pass-words").textContent = invited.pass_for + " " +
      data.valid_from.slice(0, 16).replace("T", " ") + " – " + data.valid_until.slice(0, 16).replace("T", " ");
    const save = document.getElementById("pass-save");
    save.href = png;
    save.download = "pass-" + data.valid_from.slice(0, 10) + ".png";
    const share = document.getElementById("pass-share");
    if (navigator.canShare) {
      share.hidden = false;
      share.onclick = async () => {
        const blob = await (await fetch(png)).blob();
        const file = new File([blob], save.download, {type: "image/png"});
        if (navigator.canShare({files: [file]})) await navigator.share({files: [file], title: invited.pass_for});
      };
    }
    figure.hidden = false;
    figure.scrollIntoView({behavior: "smooth"});
  }

  document.querySelectorAll("form[data-invite]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const output = form.querySelector("output.answer");
      const button = form.querySelector("button[type=submit]");
      const body = {hours: Number(form.elements.hours.value)};
      const day = form.elements.day.value, time = form.elements.time.value;
      if (day) body.from = time ? day + "T" + time : day;
      if (form.dataset.invite === "car") {
        body.plate = form.elements.plate.value.trim();
        body["class"] = form.elements["class"].value;
      } else {
        body.name = form.elements.name.value.trim();
      }
      button.disabled = true;
      tell(output, true, said.working);
      const result = await send("/my/api/invites", "POST", body);
      button.disabled = false;
      if (!result.ok) { tell(output, false, refused(result)); return; }
      if (result.data.qr_png_base64) {
        tell(output, true, said.done);
        showPass(result.data);
      } else {
        tell(output, true, invited.registered);
        setTimeout(() => location.reload(), 1500);
      }
    });
  });
  document.querySelectorAll("button[data-cancel]").forEach((button) => {
    endsOnClick(button, invited.confirm_cancel, `/my/api/invites/${button.dataset.cancel}`);
  });
  document.querySelectorAll("button[data-show-pass]").forEach((button) => {
    button.addEventListener("click", async () => {
      const output = button.closest("article").querySelector("output.answer");
      const result = await send(`/my/api/invites/${button.dataset.showPass}/pass`, "GET", null);
      if (!result.ok) { tell(output, false, refused(result)); return; }
      showPass(result.data);
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
