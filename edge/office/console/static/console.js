// The console's live updates and its writes: no framework, no build step.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.body.dataset.page;
  // The scripts' words in the page's language, from the console's catalog (base.html's script-words).
  const said = (() => {
    const node = document.getElementById("script-words");
    return node ? JSON.parse(node.innerHTML) : {};
  })();

  function toast(text) {
    const box = document.getElementById("toast");
    const item = document.createElement("div");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 6000);
  }

  // A request to the console's API with the session's X-CSRF-Token header: ``body`` a FormData (sent as it is:
  // photos, CSV files), an object (as JSON) or null; the answer's JSON (or the status text) with ok and status.
  async function send(url, method, body) {
    const headers = {"X-CSRF-Token": csrf, "Accept": "application/json"};
    const json = body !== null && !(body instanceof FormData);
    if (json) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {method: method, credentials: "same-origin", headers: headers,
                                       body: json ? JSON.stringify(body) : body});
    let data = {};
    try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
    return {ok: response.ok, status: response.status, data: data};
  }

  // "Not done: " and why, in the page's language.
  function refused(result) {
    return said.not_done + (result.data.message || result.data.error || result.status);
  }

  // A button removing something (url): asks, sends DELETE, reloads the page, or says why not.
  async function remove(button, url) {
    if (!window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    const result = await send(url, "DELETE", null);
    if (result.ok) {
      location.reload();
      return;
    }
    button.disabled = false;
    window.alert(refused(result));
  }

  // The pages' own scripts (registry.js, person.js) write through these; this script runs before them.
  window.gateConsole = {send: send, refused: refused, remove: remove};

  // Every form marked data-api is sent as JSON with the X-CSRF-Token header; the answer is shown in place.
  document.querySelectorAll("form[data-api]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      new FormData(form).forEach((value, key) => { if (key !== "csrf_token") body[key] = value; });
      if ("amount_cents" in body) body.amount_cents = parseInt(body.amount_cents, 10);
      const button = form.querySelector("button");
      const answer = form.querySelector("output.answer");
      button.disabled = true;
      const result = await send(form.action, "POST", body);
      button.disabled = false;
      let text;
      if (result.ok) {
        text = result.data.result ? said.gate_did + (result.data.result.barrier || "")
          : form.classList.contains("notify-test") ? said.test_queued : said.acked;
      } else {
        text = refused(result);
      }
      if (answer) { answer.textContent = text; answer.className = "answer " + (result.ok ? "ok" : "bad"); }
      else toast(text);
      if (result.ok && form.classList.contains("ack")) {
        const card = form.closest("[data-alert-id]");
        if (card) card.remove();
        refreshAlertCount();
      }
      if (result.ok && (form.classList.contains("pay") || form.classList.contains("correct"))) {
        setTimeout(() => location.reload(), 2500);  // the lot as the gate's answer left it
      }
    });
  });

  async function refreshAlertCount() {
    try {
      const response = await fetch("/api/alerts?state=open", {credentials: "same-origin"});
      if (!response.ok) return;
      const alerts = await response.json();
      document.getElementById("alert-count").textContent = alerts.length ? String(alerts.length) : "";
    } catch (e) { /* the next event tries again */ }
  }

  // -- passages: a new row for each event that matches the filter ------------------------------
  const table = document.getElementById("passages");
  const words = (() => {
    const node = document.getElementById("row-words");
    return node ? JSON.parse(node.innerHTML) : {};
  })();
  function w(key) { return (key && words[key]) || key || ""; }

  function addRow(e) {
    if (!table) return;
    const want = table.dataset;
    if (want.gate && e.gate !== want.gate) return;
    if (want.kind && e.kind !== want.kind) return;
    if (want.date && !(e.ts || "").startsWith(want.date)) return;
    if (table.querySelector('tr[data-event-id="' + CSS.escape(e.event_id) + '"]')) return;
    const s = e.subject || {};
    let who = e.person ? (e.person.unit + " " + e.person.name) : (s.plate || (s.type === "visitor" ? w("visitor_of") + " " + s.unit : e.kind === "stranger" ? w("stranger") : w("unknown")));
    if (s.plate && e.person) who += " · " + s.plate;
    let decision = w(e.decision);
    if (e.fee_cents) decision += " · " + (e.fee_cents / 100).toFixed(2) + " " + w("yuan");
    const reason = e.reason_text || e.reason || "";  // the stream says it in the page's language
    const cells = [(e.ts || "").slice(0, 19).replace("T", " "), e.gate, w(e.lane), w(e.kind), who, decision, reason];
    const row = document.createElement("tr");
    row.className = "kind-" + e.kind + " fresh";
    row.dataset.eventId = e.event_id;
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (i === 6) cell.className = "reason";
      row.appendChild(cell);
    });
    table.tBodies[0].prepend(row);
    while (table.tBodies[0].rows.length > 500) table.tBodies[0].lastElementChild.remove();
  }

  let reloading = null;
  function reloadSoon() {
    if (reloading) return;
    reloading = setTimeout(() => location.reload(), 800);
  }

  // -- one live stream for every page -----------------------------------------------------------
  function connect() {
    const source = new EventSource("/api/events/stream");
    const dot = document.getElementById("live");
    source.onopen = () => { if (dot) dot.classList.add("on"); };
    source.onerror = () => { if (dot) dot.classList.remove("on"); };
    source.addEventListener("event", (message) => {
      const e = JSON.parse(message.data);
      addRow(e);
      if (page === "parking" && e.subject && e.subject.type === "vehicle") reloadSoon();
    });
    source.addEventListener("alert", (message) => {
      const a = JSON.parse(message.data);
      refreshAlertCount();
      if (page === "alerts") reloadSoon();
      else if (a.state === "raised") toast(said.new_alert + (a.unit || a.device_text || a.device || a.subject || ""));
    });
  }
  if (page !== "login") {
    connect();
    refreshAlertCount();
    setInterval(refreshAlertCount, 30000);
  }
})();
