// imagepipe review console: lists pending images and sends approve/reject decisions.
// Configuration comes from config.js: window.IMAGEPIPE_REVIEW = {apiBase, reviewer, fetch?}.
// Deployed as a static page, apiBase is the review Function URL and `fetch` a function that
// signs each request (SigV4) with the reviewer's credentials; locally the console server
// signs for it, for requests carrying the session token it put in the page's
// <meta name="imagepipe-console-token">. Every value from the API is written with
// textContent, never as HTML.
"use strict";

(function () {
  const config = window.IMAGEPIPE_REVIEW || {};
  const apiBase = (config.apiBase || "/api").replace(/\/$/, "");
  const send = config.fetch || window.fetch.bind(window);
  const tokenMeta = document.querySelector('meta[name="imagepipe-console-token"]');
  const token = tokenMeta ? tokenMeta.content : "";
  const queue = document.getElementById("queue");
  const status = document.getElementById("status");
  const template = document.getElementById("card");

  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? "error" : "";
  }

  async function call(method, path, body) {
    const headers = body ? { "content-type": "application/json" } : {};
    if (token) headers["X-Imagepipe-Console-Token"] = token;
    const response = await send(apiBase + path, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
    });
    let payload = {};
    try { payload = await response.json(); } catch (e) { payload = {}; }
    if (!response.ok) {
      const error = new Error(payload.message || response.status + " " + response.statusText);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  function percent(value) {
    return typeof value === "number" ? (value * 100).toFixed(1) + "%" : "";
  }

  function thresholdsFor(label, thresholds) {
    for (const key of [label.name, label.parent, label.category]) {
      if (key && thresholds[key]) return thresholds[key];
    }
    return thresholds["default"] || {};
  }

  function render(item) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.asset = item.asset_id;
    card.querySelector(".preview").src = item.preview_url || "";
    card.querySelector(".preview-link").href = item.preview_url || "#";
    card.querySelector(".asset").textContent = item.asset_id;
    card.querySelector(".meta").textContent =
      [item.visibility, item.source, item.requester && "by " + item.requester, item.since && "waiting since " + item.since]
        .filter(Boolean).join(" · ");
    card.querySelector(".prompt").textContent = item.prompt ? "“" + item.prompt + "”" : "";
    const reasons = card.querySelector(".reasons");
    for (const reason of item.reasons || []) {
      const li = document.createElement("li");
      li.textContent = reason;
      reasons.appendChild(li);
    }
    const rows = card.querySelector(".labels tbody");
    for (const label of item.labels || []) {
      const limits = label.category === "Face" ? {} : thresholdsFor(label, item.thresholds || {});
      const tr = document.createElement("tr");
      const cells = [label.name, label.category, percent(label.confidence), percent(limits.review), percent(limits.reject)];
      cells.forEach((text, index) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (index === 2 && typeof limits.review === "number" && label.confidence >= limits.review) td.className = "crossed";
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    }
    if (!rows.children.length) card.querySelector(".labels").hidden = true;
    card.querySelector(".model").textContent =
      "backend " + (item.backend || "?") + " · " + (item.model_version || "?") + (item.faces ? " · faces: " + item.faces : "");
    card.querySelector(".approve").addEventListener("click", () => decide(card, item.asset_id, "approve"));
    card.querySelector(".reject").addEventListener("click", () => decide(card, item.asset_id, "reject"));
    return card;
  }

  async function decide(card, assetId, action) {
    const reason = card.querySelector(".reason").value.trim();
    if (action === "reject" && !reason) {
      say("A reason is required to reject " + assetId + ".", true);
      card.querySelector(".reason").focus();
      return;
    }
    const buttons = card.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const result = await call("POST", "/reviews/" + encodeURIComponent(assetId) + "/" + action, reason ? { reason } : {});
      card.classList.add("decided");
      card.dataset.decision = result.decision;
      say(assetId + " " + result.decision + " by " + result.reviewer + ".", false);
      setTimeout(() => card.remove(), 400);
    } catch (error) {
      say("Could not " + action + " " + assetId + ": " + error.message, true);
      if (error.status === 409) { card.classList.add("decided"); } else { buttons.forEach((b) => { b.disabled = false; }); }
    }
  }

  async function load() {
    say("Loading…", false);
    try {
      const page = await call("GET", "/reviews?limit=50");
      queue.replaceChildren(...page.items.map(render));
      say(page.items.length ? page.items.length + " image(s) waiting for review." : "Nothing waiting for review.", false);
    } catch (error) {
      say("Could not load the review queue: " + error.message, true);
    }
  }

  if (config.reviewer) document.getElementById("reviewer").textContent = "signed in as " + config.reviewer;
  document.getElementById("refresh").addEventListener("click", load);
  load();
})();
