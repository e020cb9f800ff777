// paywatch operator console. Everything shown comes from the JSON API, called with the key the
// operator enters; the key is kept in this page's memory (or, if asked, in this tab's
// sessionStorage) and sent only in the Authorization header. Data is put into the page as text,
// never parsed as HTML. Amounts are the API's strings: shown, never computed with.
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);
  const STORAGE_KEY = "paywatch.console.key";
  const HEALTH_EVERY_MS = 10000;
  let key = null;
  let signedIn = false;
  let healthTimer = null;
  let paymentsCursor = null;
  let paymentsFilter = {};
  let deliveriesFilter = {};

  // --- DOM -------------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const time = (iso) =>
    iso ? el("time", { datetime: iso, title: iso }, new Date(iso).toLocaleString()) : "—";
  const badge = (status) => el("span", { class: `badge ${status}` }, status);
  const short = (text) => (text && text.length > 14 ? `${text.slice(0, 5)}…${text.slice(-5)}` : text || "—");
  const keyText = (text) => el("span", { class: "key", title: text || "" }, short(text));
  const seconds = (value) => (value === null || value === undefined ? "unknown" : `${value.toFixed(1)} s`);

  function fill(tableId, rows, columns, emptyText) {
    const body = byId(tableId).tBodies[0];
    body.replaceChildren(...rows);
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: columns, class: "empty" }, emptyText)));
  }

  function flash(text, good) {
    const box = byId("flash");
    box.textContent = text;
    box.className = `flash ${good ? "good" : "bad"}`;
  }

  // --- the API ---------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      const details = (problem.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
      super([problem.detail || `HTTP ${status}`, details].filter(Boolean).join(" — "));
      this.status = status;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${key}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 401 && signedIn) signOut("The key was refused (unknown or revoked): sign in again.");
      throw new ApiError(response.status, data || {});
    }
    return data;
  }

  async function guarded(tableId, columns, load) {
    try {
      await load();
    } catch (error) {
      if (signedIn) fill(tableId, [], columns, `Could not load: ${error.message}`);
    }
  }

  // --- watcher health --------------------------------------------------------------------------
  function renderHealth(s) {
    const w = s.watcher;
    const items = [
      ["Watcher", `${w.state}${w.role ? ` (${w.role})` : ""}`, w.state === "running" && !w.heartbeat_stale],
      ["Heartbeat", w.heartbeat_age_seconds === null ? "never" : `${seconds(w.heartbeat_age_seconds)} ago`, !w.heartbeat_stale],
      ["Mode", s.mode || "—", null],
      ["Streams connected", `${s.active_streams} of ${s.streams.length}`, s.streams.length > 0 && s.active_streams === s.streams.length],
      ["Lag", seconds(s.lag_seconds), null],
      ["Pending payments", String(s.pending_payments), null],
      ["Webhook backlog", s.outbox_backlog === null ? "unknown" : String(s.outbox_backlog), null],
      ["Instances", String(s.instances.length), null],
    ];
    byId("health-summary").replaceChildren(
      ...items.map(([label, value, ok]) =>
        el("div", { class: ok === null ? "" : ok ? "ok" : "bad" }, el("dt", {}, label), el("dd", {}, value)),
      ),
    );
    fill(
      "streams-table",
      s.streams.map((st) =>
        el(
          "tr",
          {},
          el("td", {}, st.account ? el("span", { title: st.key }, "account ", keyText(st.account)) : st.key),
          el("td", {}, st.connected ? "yes" : "no"),
          el("td", { class: "num" }, st.cursor),
          el("td", { class: "num" }, seconds(st.lag_seconds)),
          el("td", {}, time(st.last_event_at)),
          el("td", {}, st.last_error || "—"),
        ),
      ),
      6,
      "No streams yet.",
    );
  }
  const loadHealth = () =>
    guarded("streams-table", 6, async () => renderHealth(await api("payments/monitor/status")));

  // --- payments --------------------------------------------------------------------------------
  function paymentRow(p) {
    const flags = Object.entries(p.flags)
      .filter(([, on]) => on)
      .map(([name]) => name);
    return el(
      "tr",
      { "data-payment-id": p.id },
      el("td", {}, el("a", { href: `pay/${encodeURIComponent(p.id)}`, class: "key", target: "_blank", rel: "noopener noreferrer" }, p.id)),
      el("td", {}, p.order_id),
      el("td", {}, badge(p.status), flags.length ? ` ${flags.join(", ")}` : "", p.failure_reason ? ` (${p.failure_reason})` : ""),
      el("td", { class: "num" }, `${p.amount} ${p.currency}`),
      el("td", { class: "num" }, p.amount_received),
      el("td", {}, time(p.created_at)),
      el("td", {}, time(p.expires_at)),
    );
  }
  async function loadPayments(more = false) {
    await guarded("payments-table", 7, async () => {
      const params = new URLSearchParams({ limit: "25" });
      for (const [name, value] of Object.entries(paymentsFilter)) if (value) params.set(name, value);
      if (more && paymentsCursor) params.set("cursor", paymentsCursor);
      const page = await api(`payments?${params}`);
      const body = byId("payments-table").tBodies[0];
      const rows = page.payments.map(paymentRow);
      if (more) body.append(...rows);
      else fill("payments-table", rows, 7, "No payments.");
      paymentsCursor = page.next_cursor;
      byId("payments-more").hidden = !paymentsCursor;
    });
  }

  // --- unmatched receipts ----------------------------------------------------------------------
  async function assign(receipt, input, button) {
    const paymentId = input.value.trim();
    if (!paymentId) {
      flash(`Enter the id of the payment receipt ${receipt.id} belongs to.`, false);
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const p = await api(`receipts/${receipt.id}/assign`, { method: "POST", body: { payment_id: paymentId } });
      flash(
        `Receipt ${receipt.id} assigned to ${p.id}: ${p.status}, ${p.amount_received} of ${p.amount} ${p.currency} received.`,
        true,
      );
      await Promise.all([loadReceipts(), loadPayments(), loadHealth()]);
    } catch (error) {
      flash(`Receipt ${receipt.id} was not assigned: ${error.message}`, false);
      button.disabled = false;
    }
  }
  function receiptRow(r) {
    const input = el("input", {
      type: "text",
      "aria-label": `Payment id for receipt ${r.id}`,
      placeholder: "pay_…",
      autocomplete: "off",
      spellcheck: "false",
    });
    const button = el("button", { type: "button", "aria-label": `Assign receipt ${r.id}` }, "Assign");
    button.addEventListener("click", () => assign(r, input, button));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") assign(r, input, button);
    });
    return el(
      "tr",
      { "data-receipt-id": String(r.id) },
      el("td", {}, String(r.id), " ", keyText(r.transaction_hash)),
      el("td", {}, time(r.closed_at)),
      el("td", { class: "num" }, `${r.amount} ${r.asset.code}`),
      el("td", {}, keyText(r.from)),
      el("td", {}, r.memo === null ? "none" : `${r.memo} (${r.memo_type})`),
      el("td", {}, r.reason || "—"),
      el("td", {}, el("div", { class: "assign" }, input, button)),
    );
  }
  const loadReceipts = () =>
    guarded("receipts-table", 7, async () => {
      const page = await api("receipts?unmatched=true&limit=100");
      fill("receipts-table", page.receipts.map(receiptRow), 7, "No unmatched receipts.");
    });

  // --- webhook deliveries ----------------------------------------------------------------------
  async function redeliver(d, button) {
    button.disabled = true;
    try {
      await api(`webhooks/deliveries/${d.id}/redeliver`, { method: "POST" });
      flash(`Delivery ${d.id} (event ${d.event_id}) will be sent again now.`, true);
      await loadDeliveries();
    } catch (error) {
      flash(`Delivery ${d.id} was not redelivered: ${error.message}`, false);
      button.disabled = false;
    }
  }
  function deliveryRow(d) {
    const button = el("button", { type: "button", class: "secondary", "aria-label": `Redeliver delivery ${d.id}` }, "Redeliver");
    button.addEventListener("click", () => redeliver(d, button));
    const answer = d.last_status_code !== null ? `HTTP ${d.last_status_code}` : d.last_error || "—";
    return el(
      "tr",
      { "data-delivery-id": String(d.id) },
      el("td", {}, String(d.id)),
      el("td", {}, `${d.event_type} #${d.event_id}`),
      el("td", {}, d.endpoint),
      el("td", {}, badge(d.status), d.in_flight ? " in flight" : ""),
      el("td", { class: "num" }, String(d.attempts)),
      el("td", {}, answer),
      el("td", {}, button),
    );
  }
  const loadDeliveries = () =>
    guarded("deliveries-table", 7, async () => {
      const params = new URLSearchParams({ limit: "50" });
      if (deliveriesFilter.status) params.set("status", deliveriesFilter.status);
      const page = await api(`webhooks/deliveries?${params}`);
      fill("deliveries-table", page.deliveries.map(deliveryRow), 7, "No webhook deliveries.");
    });

  // --- webhook endpoints -----------------------------------------------------------------------
  async function enable(e, button) {
    button.disabled = true;
    try {
      await api(`webhooks/endpoints/${encodeURIComponent(e.name)}/enable`, { method: "POST" });
      flash(`Endpoint ${e.name} is enabled: new events are queued for it again. Redeliver what failed meanwhile.`, true);
      await Promise.all([loadEndpoints(), loadDeliveries()]);
    } catch (error) {
      flash(`Endpoint ${e.name} was not enabled: ${error.message}`, false);
      button.disabled = false;
    }
  }
  function endpointRow(e) {
    let action = "—";
    if (e.status === "disabled") {
      action = el("button", { type: "button", "aria-label": `Enable endpoint ${e.name}` }, "Enable");
      action.addEventListener("click", () => enable(e, action));
    }
    return el(
      "tr",
      { "data-endpoint": e.name },
      el("td", {}, e.name),
      el("td", {}, el("span", { class: "key" }, e.url)),
      el("td", {}, badge(e.status)),
      el("td", { class: "num" }, String(e.backlog)),
      el("td", {}, e.disabled_at ? [time(e.disabled_at), e.disabled_reason ? ` (${e.disabled_reason})` : ""] : "—"),
      el("td", {}, action),
    );
  }
  const loadEndpoints = () =>
    guarded("endpoints-table", 6, async () => {
      const page = await api("webhooks/endpoints");
      fill("endpoints-table", page.endpoints.map(endpointRow), 6, "No webhook endpoints configured.");
    });

  // --- signing in and out ----------------------------------------------------------------------
  const loaders = {
    health: loadHealth,
    payments: () => loadPayments(),
    receipts: loadReceipts,
    endpoints: loadEndpoints,
    deliveries: loadDeliveries,
  };

  function enter() {
    signedIn = true;
    byId("sign-in").hidden = true;
    byId("dashboard").hidden = false;
    byId("sign-out").hidden = false;
    flash("", true);
    for (const load of Object.values(loaders)) load();
    healthTimer = setInterval(loadHealth, HEALTH_EVERY_MS);
  }

  function signOut(message) {
    signedIn = false;
    key = null;
    sessionStorage.removeItem(STORAGE_KEY);
    clearInterval(healthTimer);
    for (const id of ["streams-table", "payments-table", "receipts-table", "endpoints-table", "deliveries-table"]) {
      byId(id).tBodies[0].replaceChildren();
    }
    byId("health-summary").replaceChildren();
    byId("dashboard").hidden = true;
    byId("sign-out").hidden = true;
    byId("sign-in").hidden = false;
    byId("sign-in-error").textContent = message || "";
    byId("api-key").focus();
  }

  async function signIn(candidate, remember) {
    key = candidate;
    try {
      await api("payments/monitor/status"); // needs the admin scope
    } catch (error) {
      key = null;
      sessionStorage.removeItem(STORAGE_KEY);
      byId("sign-in-error").textContent =
        error.status === 401
          ? "Unknown or revoked API key."
          : error.status === 403
            ? "This key lacks the admin scope the console needs."
            : `Could not reach the API: ${error.message}`;
      return;
    }
    if (remember) sessionStorage.setItem(STORAGE_KEY, candidate);
    byId("api-key").value = "";
    byId("sign-in-error").textContent = "";
    enter();
  }

  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = byId("api-key").value.trim();
    if (!candidate) {
      byId("sign-in-error").textContent = "Enter an API key.";
      return;
    }
    signIn(candidate, byId("remember").checked);
  });
  byId("sign-out").addEventListener("click", () => signOut("Signed out."));
  for (const button of document.querySelectorAll("[data-refresh]")) {
    button.addEventListener("click", () => loaders[button.dataset.refresh]());
  }
  byId("payments-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    paymentsFilter = {
      status: form.get("status"),
      order_id: form.get("order_id").trim(),
      buyer_id: form.get("buyer_id").trim(),
    };
    loadPayments();
  });
  byId("payments-more").addEventListener("click", () => loadPayments(true));
  byId("deliveries-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    deliveriesFilter = { status: new FormData(event.target).get("status") };
    loadDeliveries();
  });

  const kept = sessionStorage.getItem(STORAGE_KEY);
  if (kept) signIn(kept, true);
})();
