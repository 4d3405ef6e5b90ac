// The registry pages' writes (people, vehicles, import, passes): no framework, no build step.
// A form marked data-send goes as multipart/form-data (photos and CSV files included) with the
// session's X-CSRF-Token header; a button marked data-delete asks for confirmation, then sends DELETE.
"use strict";
(function () {
  // The words in the page's language, from the console's catalog (base.html's script-words).
  const said = JSON.parse(document.getElementById("script-words").innerHTML);
  const words = {ok: said.done, wait: said.working, imported: said.imported, updated: said.updated};

  const {send, refused, remove} = window.gateConsole;  // console.js's

  document.querySelectorAll("form[data-send]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = new FormData(form);
      body.delete("csrf_token");
      const button = form.querySelector("button[type=submit]");
      const answer = form.querySelector("output.answer");
      const problems = form.querySelector("ul.problems");
      button.disabled = true;
      answer.textContent = words.wait;
      answer.className = "answer";
      if (problems) { problems.replaceChildren(); problems.hidden = true; }
      let result;
      try {
        result = await send(form.action, "POST", body);
      } catch (e) {
        result = {ok: false, status: 0, data: {error: String(e)}};
      }
      button.disabled = false;
      answer.className = "answer " + (result.ok ? "ok" : "bad");
      if (!result.ok) {
        answer.textContent = refused(result);
        if (problems && result.data.problems) {
          result.data.problems.forEach((text) => {
            const item = document.createElement("li");
            item.textContent = text;
            problems.appendChild(item);
          });
          problems.hidden = false;
        }
        return;
      }
      const data = result.data;
      answer.textContent = data.kind ? words.imported + data.created.length + words.updated + data.updated.length
                                     : words.ok;
      if (form.dataset.done === "reload") setTimeout(() => location.reload(), 1200);
      else form.reset();
    });
  });

  document.querySelectorAll("button[data-delete]").forEach((button) => {
    button.addEventListener("click", () => remove(button, button.dataset.delete));
  });

  // A search box above a long list: only the rows that contain what is typed stay visible.
  document.querySelectorAll("input[data-filter]").forEach((input) => {
    const table = document.querySelector(input.dataset.filter);
    if (!table) return;
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      table.tBodies[0].querySelectorAll("tr").forEach((row) => {
        row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
      });
    });
  });

  // The registry's state at each gate changes as the gates catch up: the section is fetched again
  // (rendered by the server, as on the first load) every few seconds while the page is in view.
  const sync = document.getElementById("registry-sync");
  if (sync) {
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await fetch("/registry/sync", {credentials: "same-origin"});
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("registry-sync");
        if (fresh) sync.replaceChildren(...fresh.childNodes);
      } catch (e) { /* the next round tries again */ }
    }, 5000);
  }

  document.querySelectorAll("button[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
})();
