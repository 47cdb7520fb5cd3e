// The operator's console. Everything it shows comes from /admin/api/*; every change is a POST
// with the session's CSRF token. Text from the chats (channel names, nicknames, summaries) is
// only ever set as textContent: nothing a chat says can become markup here.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#9333ea", "#ea580c", "#475569", "#0d9488"];

const state = {
  data: null,
  period: "30d",
  sort: { key: "cost", dir: -1 },
  measure: "tokens",
  split: "model",
  channel: null,
  detail: null,
};

function $(selector) { return document.querySelector(selector); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  return node;
}

const number = new Intl.NumberFormat("en-US");
function tokens(n) { return number.format(Math.round(n)); }
function usd(n) {
  if (!n) return "$0";
  return Math.abs(n) < 0.01 ? "$" + n.toFixed(4) : "$" + n.toFixed(2);
}
function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : "—"; }

async function api(path, body) {
  const options = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRF-Token"] = CSRF;
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { location.reload(); throw new Error("logged out"); }
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || data.error || response.statusText);
  return data;
}

function notify(text, bad) {
  const notice = $("#notice");
  notice.textContent = text;
  notice.className = bad ? "bad" : "good";
  notice.hidden = false;
}

// -- totals --------------------------------------------------------------------------------

function renderTotals() {
  const box = $("#totals");
  box.replaceChildren();
  const sum = (period, field) =>
    state.data.channels.reduce((total, c) => total + c.periods[period][field], 0);
  const failed = state.data.failures.by_day.reduce((total, f) => total + f.count, 0);
  const cards = [
    ["Channels", number.format(state.data.channels.length)],
    ["Tokens today", tokens(sum("today", "tokens"))],
    ["Cost today", usd(sum("today", "cost_usd"))],
    ["Cost, 30 days", usd(sum("30d", "cost_usd"))],
    ["Failed turns, 30 days", number.format(failed)],
  ];
  for (const [name, value] of cards) {
    box.append(el("div", { class: "card" }, el("span", { text: name }), el("strong", { text: value })));
  }
}

// -- the channel table ---------------------------------------------------------------------

function channelValue(c, key) {
  const p = c.periods[state.period];
  switch (key) {
    case "channel": return c.channel;
    case "platform": return c.platform;
    case "messages": return p.messages;
    case "turns": return p.turns;
    case "tokens": return p.tokens;
    case "cost": return p.cost_usd;
    default: return c.last_at || "";
  }
}

function renderChannels() {
  const { key, dir } = state.sort;
  const rows = [...state.data.channels].sort((a, b) => {
    const x = channelValue(a, key), y = channelValue(b, key);
    if (x < y) return -dir;
    if (x > y) return dir;
    return a.channel < b.channel ? -1 : 1;
  });
  const body = $("#channel-table tbody");
  body.replaceChildren();
  for (const c of rows) {
    const p = c.periods[state.period];
    const name = el("button", { type: "button", class: "link", text: c.channel });
    name.addEventListener("click", () => openChannel(c.channel));
    const row = el("tr", { "data-channel": c.channel, class: c.channel === state.channel ? "chosen" : null },
      el("td", {}, name, c.overridden ? el("span", { class: "badge", text: "settings changed" }) : null),
      el("td", { text: c.platform }),
      el("td", { class: "num", text: number.format(p.messages) }),
      el("td", { class: "num", text: number.format(p.turns) }),
      el("td", { class: "num", text: tokens(p.tokens) }),
      el("td", { class: "num", text: usd(p.cost_usd) }),
      el("td", { text: when(c.last_at) }));
    body.append(row);
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 7, text: "No channel has a message yet." })));
  for (const th of document.querySelectorAll("#channel-table th")) {
    const on = th.dataset.sort === key;
    th.setAttribute("aria-sort", on ? (dir > 0 ? "ascending" : "descending") : "none");
  }
  for (const b of document.querySelectorAll("#channels [data-period]")) {
    b.classList.toggle("on", b.dataset.period === state.period);
  }
}

// -- charts --------------------------------------------------------------------------------

// A round top for the scale, so its ticks (the top and its half) read cleanly.
function niceMax(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// Bars stacked per day, one colour per series, drawn at the chart's own pixel width so the
// labels stay readable on a phone. Each bar carries its day, series and value.
function stackedBars(target, days, series, format, emptyText) {
  target.replaceChildren();
  const height = Number(target.dataset.height);
  const width = Math.max(320, Math.round(target.getBoundingClientRect().width) || 720);
  target.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const left = 64, right = 8, top = 12, bottom = 26;
  const totals = days.map((_, i) => series.reduce((t, s) => t + s.values[i], 0));
  const peak = Math.max(0, ...totals);
  const max = peak > 0 ? niceMax(peak) : 0;
  const plot = height - top - bottom;
  const slot = (width - left - right) / days.length;
  target.append(svg("line", { x1: left, x2: width - right, y1: top + plot, y2: top + plot, class: "axis" }));
  if (max === 0) {
    const text = svg("text", { x: width / 2, y: top + plot / 2, "text-anchor": "middle", class: "empty" });
    text.textContent = emptyText;
    target.append(text);
    return;
  }
  for (const fraction of [0.5, 1]) {
    const y = top + plot * (1 - fraction);
    target.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" });
    label.textContent = format(max * fraction);
    target.append(label);
  }
  days.forEach((day, i) => {
    let y = top + plot;
    for (const s of series) {
      const value = s.values[i];
      if (!value) continue;
      const h = (value / max) * plot;
      y -= h;
      const rect = svg("rect", {
        x: left + i * slot + slot * 0.15, y, width: slot * 0.7, height: Math.max(h, 0.5),
        fill: s.color, "data-day": day, "data-series": s.name, "data-value": value,
      });
      const title = svg("title", {});
      title.textContent = `${day} · ${s.name}: ${format(value)}`;
      rect.append(title);
      target.append(rect);
    }
    const every = Math.ceil(days.length / Math.max(2, Math.floor((width - left) / 56)));
    if ((days.length - 1 - i) % every === 0) {
      const last = i === days.length - 1;
      const label = svg("text", {
        x: last ? width - right : left + i * slot + slot / 2, y: height - 8,
        "text-anchor": last ? "end" : "middle", class: "tick",
      });
      label.textContent = day.slice(5);
      target.append(label);
    }
  });
}

function legend(target, series, format) {
  target.replaceChildren();
  for (const s of series) {
    const total = s.values.reduce((a, b) => a + b, 0);
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = s.color;
    target.append(el("li", { "data-series": s.name }, swatch, el("span", { text: `${s.name}: ${format(total)}` })));
  }
}

function seriesOf(rows, days, nameOf, valueOf) {
  const index = new Map(days.map((d, i) => [d, i]));
  const byName = new Map();
  for (const row of rows) {
    const i = index.get(row.day);
    if (i === undefined) continue;
    const name = nameOf(row);
    if (!byName.has(name)) byName.set(name, new Array(days.length).fill(0));
    byName.get(name)[i] += valueOf(row);
  }
  const names = [...byName.keys()].sort();
  return names.map((name, i) => ({ name, color: COLORS[i % COLORS.length], values: byName.get(name) }));
}

function renderUsage() {
  const days = state.data.days;
  const cost = state.measure === "cost";
  const series = seriesOf(state.data.usage, days,
    (row) => (state.split === "model" ? row.model : row.platform),
    (row) => (cost ? row.cost_usd : row.tokens));
  const chart = $("#usage-chart");
  chart.setAttribute("aria-label", `${cost ? "Estimated cost" : "Tokens"} per day by ${state.split}`);
  chart.dataset.measure = state.measure;
  chart.dataset.split = state.split;
  stackedBars(chart, days, series, cost ? usd : tokens, "No answers in the last 30 days");
  legend($("#usage-legend"), series, cost ? usd : tokens);
  for (const b of document.querySelectorAll("#usage [data-measure]")) b.classList.toggle("on", b.dataset.measure === state.measure);
  for (const b of document.querySelectorAll("#usage [data-split]")) b.classList.toggle("on", b.dataset.split === state.split);
}

function renderErrors() {
  const days = state.data.days;
  const series = seriesOf(state.data.failures.by_day, days, (row) => row.kind, (row) => row.count);
  stackedBars($("#errors-chart"), days, series, (n) => number.format(n), "No failed turns in the last 30 days");
  legend($("#errors-legend"), series, (n) => number.format(n));
  const body = $("#failure-table tbody");
  body.replaceChildren();
  for (const f of state.data.failures.latest) {
    body.append(el("tr", {}, el("td", { text: when(f.at) }), el("td", { text: f.kind }),
      el("td", { text: f.channel }), el("td", { text: f.tag || "" })));
  }
}

function renderPeople() {
  const body = $("#people-table tbody");
  body.replaceChildren();
  for (const p of state.data.people) {
    const month = p.periods["30d"], today = p.periods.today;
    body.append(el("tr", {}, el("td", { text: p.name }), el("td", { text: p.user }),
      el("td", { text: p.platform }), el("td", { class: "num", text: number.format(month.turns) }),
      el("td", { class: "num", text: tokens(month.tokens) }), el("td", { class: "num", text: usd(month.cost_usd) }),
      el("td", { class: "num", text: tokens(today.tokens) })));
  }
  if (!state.data.people.length) body.append(el("tr", {}, el("td", { colspan: 7, text: "No answers in the last 30 days." })));
}

function renderStatus() {
  const status = state.data.status;
  const list = $("#provider-list");
  list.replaceChildren();
  for (const p of status.providers) {
    list.append(el("li", { class: p.missing ? "bad" : "good" },
      el("strong", { text: p.name + (p.chosen ? " (chosen)" : "") }),
      el("span", { text: p.missing ? ` missing: ${p.missing}` : " ready" })));
  }
  list.append(el("li", {}, el("strong", { text: "adapters running: " }), el("span", { text: status.adapters.join(", ") || "none" })));
  $("#check-lines").textContent = status.lines.join("\n");
  const limits = $("#file-limit-list");
  limits.replaceChildren();
  const all = [...state.data.limits, ...Object.values(state.data.tag_limits).flat()];
  for (const l of all) limits.append(el("li", { text: `${l.label}: ${l.tokens !== null ? tokens(l.tokens) + " tokens" : usd(l.cost_usd)}` }));
  if (!all.length) limits.append(el("li", { text: "none" }));
  limits.append(el("li", { class: "muted", text: `Prices as of ${status.prices_as_of || "(no date)"}` + (status.unpriced.length ? `; no price for ${status.unpriced.join(", ")}` : "") }));
}

function renderAll() {
  $("#as-of").textContent = "as of " + when(state.data.now) + " UTC";
  renderTotals();
  renderChannels();
  renderUsage();
  renderErrors();
  renderPeople();
  renderStatus();
}

async function load() {
  state.data = await api("/admin/api/dashboard");
  renderAll();
}

// -- one channel: memory, settings, actions ------------------------------------------------

function limitText(l) { return `${l.label}: ${l.tokens !== null ? tokens(l.tokens) + " tokens" : usd(l.cost_usd)}`; }

function limitRow(limit) {
  const scope = el("select", { class: "scope", "aria-label": "Scope" },
    ...["user", "channel", "platform"].map((s) => el("option", { value: s, text: { user: "each person", channel: "the channel", platform: "the platform" }[s], selected: limit.scope === s })));
  const period = el("select", { class: "period", "aria-label": "Period" },
    ...["day", "month"].map((p) => el("option", { value: p, text: "per " + p, selected: limit.period === p })));
  const amount = el("input", { class: "amount", type: "number", min: "0", step: "any", required: true, "aria-label": "Amount",
    value: limit.tokens !== null && limit.tokens !== undefined ? limit.tokens : limit.cost_usd });
  const unit = el("select", { class: "unit", "aria-label": "Unit" },
    el("option", { value: "tokens", text: "tokens", selected: limit.cost_usd === null || limit.cost_usd === undefined }),
    el("option", { value: "usd", text: "USD", selected: limit.cost_usd !== null && limit.cost_usd !== undefined }));
  const remove = el("button", { type: "button", class: "remove", text: "Remove" });
  const row = el("li", { class: "limit" }, scope, period, amount, unit, remove);
  remove.addEventListener("click", () => row.remove());
  return row;
}

function editedLimits() {
  if ($("#file-limits").checked) return null;
  return [...document.querySelectorAll("#limit-rows .limit")].map((row) => {
    const value = Number(row.querySelector(".amount").value);
    const out = { scope: row.querySelector(".scope").value, period: row.querySelector(".period").value };
    if (row.querySelector(".unit").value === "usd") out.cost_usd = value;
    else out.tokens = Math.round(value);
    return out;
  });
}

function renderDetail() {
  const d = state.detail;
  $("#detail").hidden = false;
  $("#detail-title").textContent = d.channel;
  const memory = $("#detail-memory");
  memory.replaceChildren();
  const m = d.memory;
  const facts = [
    ["Messages held", number.format(m.messages)],
    ["Size", `${number.format(m.chars)} characters`],
    ["First message", when(m.first_at)],
    ["Forgotten by the model up to", m.reset_after_id ? `message #${m.reset_after_id}` : "nothing (never reset)"],
    ["Summary versions", number.format(m.summaries)],
  ];
  if (m.last_context) {
    const c = m.last_context;
    facts.push(["Last answer's context", `${tokens(c.system + c.summary + c.recall + c.recent)} of ${tokens(c.budget)} tokens (summary ${tokens(c.summary)}, recalled ${tokens(c.recall)}, recent ${tokens(c.recent)})`]);
  }
  for (const [name, value] of facts) memory.append(el("dt", { text: name }), el("dd", { text: value }));
  const summary = $("#detail-summary");
  if (m.summary) {
    summary.textContent = m.summary.text;
    summary.append(el("footer", { text: `${number.format(m.summary.covers_messages)} messages, by ${m.summary.model || "the model"}, ${when(m.summary.created_at)} UTC, ${number.format(m.summary.chars)} characters${m.summary.stale ? " (older than the last reset: not used)" : ""}` }));
  } else {
    summary.textContent = "None yet: one is written once older messages pile up.";
  }
  const s = d.settings;
  const file = s.file;
  const fileLimits = file.limits || s.global_limits;
  $("#settings-file").textContent = `In the file: persona ${file.persona || "(default)"}, ${file.system_prompt ? "its own system prompt" : "no system prompt of its own"}, limits: ${fileLimits.length ? fileLimits.map(limitText).join("; ") : "none"}.`;
  const persona = $("#persona");
  persona.replaceChildren(el("option", { value: "", text: `(the file's: ${file.persona || "chatbot"})` }),
    ...d.personas.map((p) => el("option", { value: p, text: "@" + p })));
  const over = s.override;
  persona.value = over && over.persona ? over.persona : "";
  $("#system-prompt").value = over && over.system_prompt ? over.system_prompt : "";
  const own = over && over.limits;
  $("#file-limits").checked = !own;
  const rows = $("#limit-rows");
  rows.replaceChildren(...(own || s.effective.limits).map(limitRow));
  syncLimitEditor();
  const uses = $("#detail-uses");
  uses.replaceChildren();
  for (const u of d.uses) {
    const amount = u.tokens !== null ? `${tokens(u.used)} of ${tokens(u.cap)} tokens` : `${usd(u.used)} of ${usd(u.cap)}`;
    uses.append(el("li", { class: u.over ? "bad" : null, text: `${u.label}: ${amount}${u.over ? " (reached)" : ""}, resets ${when(u.resets)} UTC` }));
  }
  if (!d.uses.length) uses.append(el("li", { class: "muted", text: "No channel or platform limit here (per-person limits are each person's: @chatbot usage)." }));
}

function syncLimitEditor() {
  const file = $("#file-limits").checked;
  for (const node of document.querySelectorAll("#limit-rows select, #limit-rows input, #limit-rows button, #add-limit")) node.disabled = file;
}

async function openChannel(channel) {
  state.channel = channel;
  state.detail = await api("/admin/api/channel?key=" + encodeURIComponent(channel));
  renderDetail();
  renderChannels();
  $("#detail").scrollIntoView({ block: "start" });
}

function confirmThen(text, action, run) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.addEventListener("close", async function onClose() {
    dialog.removeEventListener("close", onClose);
    if (dialog.returnValue === "ok") await run();
  });
  dialog.showModal();
}

async function act(path, done) {
  const channel = state.channel;
  try {
    const answer = await api(path, { channel, confirm: channel });
    notify("Done: " + answer.done, false);
    await load();
    await openChannel(channel);
  } catch (err) {
    notify(`${done} failed: ${err.message}`, true);
  }
}

function wire() {
  for (const b of document.querySelectorAll("#channels [data-period]")) {
    b.addEventListener("click", () => { state.period = b.dataset.period; renderChannels(); });
  }
  for (const th of document.querySelectorAll("#channel-table th")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : (key === "channel" || key === "platform" ? 1 : -1) };
      renderChannels();
    });
  }
  for (const b of document.querySelectorAll("#usage [data-measure]")) {
    b.addEventListener("click", () => { state.measure = b.dataset.measure; renderUsage(); });
  }
  for (const b of document.querySelectorAll("#usage [data-split]")) {
    b.addEventListener("click", () => { state.split = b.dataset.split; renderUsage(); });
  }
  $("#refresh").addEventListener("click", () => load().catch((err) => notify(err.message, true)));
  $("#logout").addEventListener("click", async () => {
    await api("/admin/logout", {}).catch(() => null);
    location.reload();
  });
  $("#file-limits").addEventListener("change", syncLimitEditor);
  $("#add-limit").addEventListener("click", () => $("#limit-rows").append(limitRow({ scope: "user", period: "day", tokens: 20000 })));
  $("#do-reset").addEventListener("click", () => confirmThen(
    `Reset ${state.channel}? The model forgets everything said there so far; the messages stay.`,
    "Reset", () => act("/admin/api/channel/reset", "Reset")));
  $("#do-forget").addEventListener("click", () => confirmThen(
    `Forget ${state.channel}? Its messages and summary are deleted for good.`,
    "Forget", () => act("/admin/api/channel/forget", "Forget")));
  $("#settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api("/admin/api/channel/settings", {
        channel: state.channel,
        persona: $("#persona").value || null,
        system_prompt: $("#system-prompt").value.trim() || null,
        limits: editedLimits(),
      });
      state.detail = answer.channel;
      renderDetail();
      notify(`Saved: the settings of ${state.channel} apply now (other processes within 5 s).`, false);
      await load();
    } catch (err) {
      notify("Not saved: " + err.message, true);
    }
  });
}

wire();
let resized = null;
window.addEventListener("resize", () => {
  clearTimeout(resized);
  resized = setTimeout(() => { if (state.data) { renderUsage(); renderErrors(); } }, 150);
});
load().catch((err) => notify("Could not load: " + err.message, true));
