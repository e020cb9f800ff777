// paywatch checkout page: countdown, copy buttons and live status. Every text and amount shown comes
// from the server (the page or GET <payment>/status); this script never computes with money.
"use strict";

(() => {
  const root = document.getElementById("checkout");
  if (!root) return;
  const byId = (id) => document.getElementById(id);
  const PAYABLE = new Set(["awaiting", "underpaid"]);
  const FINAL = new Set(["paid", "cancelled", "refunded"]); // nothing the buyer does changes these
  const POLL_PAYABLE_MS = 2000;
  const POLL_OTHER_MS = 10000; // expired, paid late: late funds or a refund may still change them
  const statusUrl = root.dataset.statusUrl;
  const qrUrl = root.dataset.qrUrl;

  let state = root.dataset.state;
  let expiresAt = Date.parse(root.dataset.expiresAt);
  let offset = Date.parse(root.dataset.serverTime) - Date.now(); // server clock minus this one
  let remaining = byId("amount-to-send").textContent.trim();
  let failures = 0;
  let timer = null;

  // --- countdown --------------------------------------------------------------------------------
  const two = (n) => String(n).padStart(2, "0");
  function clock(ms) {
    let s = Math.ceil(ms / 1000);
    const days = Math.floor(s / 86400);
    s -= days * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const hms = h || days ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
    return days ? `${days} d ${hms}` : hms;
  }

  const expires = byId("expires");
  const line = byId("countdown-line");
  if (!Number.isNaN(expiresAt)) {
    expires.textContent = new Date(expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function tick() {
    if (!PAYABLE.has(state) || Number.isNaN(expiresAt)) return;
    const left = expiresAt - (Date.now() + offset);
    if (left > 0) {
      byId("countdown-part").hidden = false;
      byId("countdown").textContent = clock(left);
    } else if (!line.classList.contains("done")) {
      line.classList.add("done");
      line.textContent = line.dataset.doneText;
    }
  }
  tick();
  setInterval(tick, 1000);

  // --- copy buttons -----------------------------------------------------------------------------
  const announce = byId("copied");
  function copyByHand(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
  async function copy(button) {
    const text = byId(button.dataset.copy).textContent.trim();
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      ok = copyByHand(text);
      button.focus();
    }
    announce.textContent = ok ? announce.dataset.copiedText : announce.dataset.failedText;
    if (ok) {
      button.textContent = announce.dataset.copiedText;
      button.classList.add("done");
      setTimeout(() => {
        button.textContent = "Copy";
        button.classList.remove("done");
      }, 2000);
    }
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.hidden = false;
    button.addEventListener("click", () => copy(button));
  }

  // --- live status ------------------------------------------------------------------------------
  function show(status) {
    offset = Date.parse(status.server_time) - Date.now();
    expiresAt = Date.parse(status.expires_at);
    if (status.state !== state || byId("state-message").textContent !== status.message) {
      state = status.state;
      root.dataset.state = state;
      byId("state").className = `state state-${state}`;
      byId("state-title").textContent = status.title;
      byId("state-message").textContent = status.message;
      document.title = status.title;
    }
    byId("pay").hidden = !status.payable;
    if (status.payable && status.amount_remaining !== remaining) {
      remaining = status.amount_remaining;
      byId("amount-to-send").textContent = remaining;
      byId("qr").src = `${qrUrl}?amount=${encodeURIComponent(remaining)}`;
      byId("wallet-link").href = status.pay_uri;
    }
    tick();
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    let delay = PAYABLE.has(state) ? POLL_PAYABLE_MS : POLL_OTHER_MS;
    if (failures) delay = Math.min(30000, POLL_PAYABLE_MS * 2 ** failures);
    else if (FINAL.has(state)) return;
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    const notice = byId("connection");
    try {
      const response = await fetch(statusUrl, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      show(await response.json());
      failures = 0;
      notice.hidden = true;
    } catch {
      failures += 1;
      notice.textContent = notice.dataset.text;
      notice.hidden = false;
    }
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && (timer !== null || failures)) poll();
  });
  schedule();
})();
