// One person's page: the contacts list (rows added and removed here, the whole list sent as JSON with PUT)
// and the away form (PUT) and its end (DELETE), each with the session's X-CSRF-Token header (console.js's send).
"use strict";
(function () {
  const said = JSON.parse(document.getElementById("script-words").innerHTML);

  const {send, refused, remove} = window.gateConsole;  // console.js's

  async function submit(form, method, body) {
    const button = form.querySelector("button[type=submit]");
    const answer = form.querySelector("output.answer");
    button.disabled = true;
    answer.textContent = said.working;
    answer.className = "answer";
    const result = await send(form.action, method, body);
    button.disabled = false;
    answer.className = "answer " + (result.ok ? "ok" : "bad");
    answer.textContent = result.ok ? said.done : refused(result);
    if (result.ok) setTimeout(() => location.reload(), 800);
  }

  function removable(row) {
    row.querySelector("[data-remove-row]").addEventListener("click", () => row.remove());
  }

  const contacts = document.querySelector("form[data-contacts]");
  if (contacts) {
    const body = contacts.querySelector("tbody");
    body.querySelectorAll("tr[data-contact]").forEach(removable);
    const add = contacts.querySelector("[data-add-row]");
    add.addEventListener("click", () => {
      if (body.rows.length >= parseInt(add.dataset.max, 10)) return;
      const row = document.getElementById("contact-row").content.firstElementChild.cloneNode(true);
      body.appendChild(row);
      removable(row);
      row.querySelector("input").focus();
    });
    contacts.addEventListener("submit", (event) => {
      event.preventDefault();
      const list = Array.from(body.querySelectorAll("tr[data-contact]")).map((row) => {
        const value = (name) => row.querySelector(`[name="${name}"]`).value.trim();
        return {name: value("name"), phone: value("phone"), relation: value("relation"),
                consent_at: value("consent_at") || null};
      });
      submit(contacts, "PUT", {contacts: list});
    });
  }

  const away = document.querySelector("form[data-away]");
  if (away) {
    away.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(away, "PUT", {until: away.elements.until.value, reason: away.elements.reason.value});
    });
  }

  document.querySelectorAll("button[data-end-away]").forEach((button) => {
    button.addEventListener("click", () => remove(button, button.dataset.endAway));
  });
})();
