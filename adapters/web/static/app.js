// The chat page: history, live frames over WS /ws/{nickname}?room=R&stream=1, reconnect with
// catch-up from GET /messages?after=<last id>. Protocol: README "The WebSocket protocol".
"use strict";
(() => {
  const ROOM = new URLSearchParams(location.search).get("room") || "lobby";
  const BOTS = new Set(["chatbot"]); // history frames also say `bot: true`
  const CATCH_UP_LIMIT = 1000;
  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller");
  const log = $("log");
  const typingLine = $("typing");
  const statusLine = $("status");
  const jump = $("jump");
  const joinForm = $("join");
  const nickInput = $("nick");
  const codeInput = $("code");
  const sendForm = $("send");
  const text = $("text");
  const sendButton = $("send-button");
  const fileInput = $("file");
  const pendingBox = $("pending");

  let nickname = null;
  let ws = null;
  let lastId = 0;
  const seen = new Set(); // stored message ids already on the page: no duplicates after catch-up
  const streams = new Map(); // stream id -> {li, body, text}
  let catchingUp = false;
  let pending = []; // live frames held while the catch-up request is in flight
  let attempt = 0;
  let reconnectTimer = null;
  let rejected = false;
  let outage = false;
  let composing = false;
  let typingTimer = null;
  // CHATBOT_WEB_TOKEN: the join code is asked for once and kept; both requests carry it.
  let joinCode = "";
  try { joinCode = localStorage.getItem("chatbot.code") || ""; } catch { /* private mode */ }
  const withCode = (url) => (joinCode ? `${url}&token=${encodeURIComponent(joinCode)}` : url);
  // Files: ids are what POST /upload answered; anything else never becomes a URL.
  const FILE_ID = /^[0-9a-f]{32}$/;
  const MAX_FILES = 5;
  const fileUrl = (id) =>
    (joinCode ? `/files/${id}?token=${encodeURIComponent(joinCode)}` : `/files/${id}`);

  function askForCode(message) {
    codeInput.hidden = false;
    codeInput.required = true;
    codeInput.value = joinCode;
    note(message, true);
  }

  $("room").textContent = ROOM;
  document.title = `#${ROOM} · chatbot`;

  // -- Markdown, sanitised --------------------------------------------------------------------
  // marked turns the bot's Markdown into HTML; raw HTML in the text is shown as text, and
  // DOMPurify keeps only formatting tags: nothing can run script or load anything.
  const escapeHtml = (s) =>
    String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const PURIFY = {
    ALLOWED_TAGS: [
      "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
      "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
      "span",
    ],
    ALLOWED_ATTR: ["href", "title", "start", "align"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  const markdownReady = Boolean(window.marked && window.DOMPurify);
  if (markdownReady) {
    window.marked.use({
      gfm: true,
      breaks: true,
      renderer: {
        html: (token) => escapeHtml(token.text),
        image: (token) => escapeHtml(token.text || token.href || ""),
      },
    });
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A" && node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
  }

  function fill(body, message, markdown) {
    if (markdown && markdownReady) {
      body.className = "body md";
      const html = window.marked.parse(message, { async: false });
      body.replaceChildren(window.DOMPurify.sanitize(html, PURIFY));
    } else {
      body.className = "body plain";
      body.textContent = message; // people's messages are text, never HTML
    }
  }

  // -- lines ----------------------------------------------------------------------------------
  const isBot = (f) => f.bot === true || Boolean(f.stream) || BOTS.has(f.nickname);

  function timeOf(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function makeLine(f) {
    const li = document.createElement("li");
    const system = f.type === "error" || f.nickname === "system";
    const bot = !system && isBot(f);
    li.className = "msg " + (system ? "system" : bot ? "bot" : "person");
    if (!system && !bot && f.nickname === nickname) li.classList.add("mine");
    if (f.error) li.classList.add("error");
    if (f.id != null) li.dataset.id = String(f.id);
    li.dataset.nick = f.nickname || "";
    const meta = document.createElement("div");
    meta.className = "meta";
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = f.nickname || "";
    const time = document.createElement("time");
    time.textContent = timeOf(f.timestamp);
    if (f.timestamp) time.dateTime = f.timestamp;
    meta.append(nick, time);
    const body = document.createElement("div");
    fill(body, f.message ?? "", bot && !f.error);
    const files = filesOf(f.attachments);
    if (files) li.append(meta, ...(f.message ? [body] : []), files);
    else li.append(meta, body);
    return li;
  }

  // -- files ----------------------------------------------------------------------------------
  // Images show as thumbnails from our own server (img-src 'self'); text files as a link that
  // downloads them. Built with DOM calls only: a name is text, never HTML.
  function fileView(file) {
    if (!file || typeof file !== "object" || !FILE_ID.test(String(file.id))) return null;
    const name = String(file.name || "file");
    if (file.kind === "image") {
      const a = document.createElement("a");
      a.href = fileUrl(file.id);
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.className = "thumb-link";
      const img = document.createElement("img");
      img.className = "thumb";
      img.src = fileUrl(file.id);
      img.alt = name;
      img.title = name;
      img.decoding = "async";
      if (file.width > 0 && file.height > 0) { img.width = file.width; img.height = file.height; }
      a.append(img);
      return a;
    }
    const chip = document.createElement(file.kind === "text" ? "a" : "span");
    chip.className = "file-chip";
    chip.textContent = `${file.kind === "text" ? "📄" : "📎"} ${name}`;
    if (file.kind === "text") { chip.href = fileUrl(file.id); chip.download = name; }
    return chip;
  }

  function filesOf(list) {
    if (!Array.isArray(list) || list.length === 0) return null;
    const box = document.createElement("div");
    box.className = "files";
    for (const file of list) {
      const view = fileView(file);
      if (view) box.append(view);
    }
    return box.childElementCount ? box : null;
  }

  let pendingFiles = []; // uploaded, waiting to be sent: {id, name, kind, ...}
  let uploading = 0;

  function showPending() {
    pendingBox.replaceChildren();
    pendingBox.hidden = pendingFiles.length === 0 && uploading === 0;
    for (const file of pendingFiles) {
      const item = document.createElement("span");
      item.className = "pending-file";
      const view = fileView(file);
      if (view) item.append(view);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "✕";
      remove.title = `Remove ${file.name}`;
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => {
        pendingFiles = pendingFiles.filter((p) => p !== file);
        showPending();
      });
      item.append(remove);
      pendingBox.append(item);
    }
    if (uploading) {
      const wait = document.createElement("span");
      wait.className = "uploading";
      wait.textContent = "Uploading…";
      pendingBox.append(wait);
    }
  }

  async function upload(file) {
    if (!nickname) return;
    if (pendingFiles.length + uploading >= MAX_FILES) {
      note(`At most ${MAX_FILES} files per message: ${file.name} was not added.`, true);
      return;
    }
    uploading += 1;
    showPending();
    try {
      const url = `/upload?room=${encodeURIComponent(ROOM)}&nickname=${encodeURIComponent(nickname)}` +
        `&name=${encodeURIComponent(file.name || "pasted image")}`;
      const res = await fetch(withCode(url), {
        method: "POST",
        body: file,
        headers: { "Content-Type": file.type || "application/octet-stream" },
      });
      let answer = null;
      try { answer = await res.json(); } catch { /* not JSON */ }
      if (!res.ok || !answer || !FILE_ID.test(String(answer.id))) {
        note((answer && answer.detail) || `${file.name} could not be uploaded (${res.status}).`, true);
      } else {
        pendingFiles.push(answer);
      }
    } catch {
      note(`${file.name} could not be uploaded.`, true);
    } finally {
      uploading -= 1;
      showPending();
      settle(true);
    }
  }

  const uploadAll = (files) => { for (const file of files) upload(file); };

  function note(message, error = false) {
    log.append(makeLine({ type: "error", nickname: "system", message, error: error ? "client" : undefined,
      timestamp: new Date().toISOString() }));
  }

  // -- scrolling ------------------------------------------------------------------------------
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  function settle(stick) {
    if (stick) {
      scroller.scrollTop = scroller.scrollHeight;
      jump.hidden = true;
    } else {
      jump.hidden = false; // the reader scrolled up to read: do not pull them down
    }
  }
  scroller.addEventListener("scroll", () => { if (atBottom()) jump.hidden = true; });
  jump.addEventListener("click", () => settle(true));

  // -- typing line ----------------------------------------------------------------------------
  function showTyping(who) {
    typingLine.textContent = `${who || "chatbot"} is typing…`;
    delete typingLine.dataset.tools;
    typingLine.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 120000); // never left on screen forever
  }
  // A tool runs: the same small line says what it does ("chatbot: searching …").
  function showTool(f) {
    showTyping(f.nickname);
    if (f.state !== "running") return;
    typingLine.textContent = `${f.nickname || "chatbot"}: ${f.message || "using a tool…"}`;
    typingLine.dataset.tools = (f.tools || []).join(",");
  }
  function hideTyping() {
    typingLine.hidden = true;
    clearTimeout(typingTimer);
  }

  // -- frames ---------------------------------------------------------------------------------
  function onText(f) {
    const s = f.stream ? streams.get(f.stream) : undefined;
    if (s) streams.delete(f.stream);
    if (f.id != null) {
      if (seen.has(f.id)) { s?.li.remove(); return; }
      seen.add(f.id);
      lastId = Math.max(lastId, f.id);
    }
    const li = makeLine(f);
    if (s) s.li.replaceWith(li); else log.append(li);
    if (isBot(f)) hideTyping();
  }

  function onDelta(f) {
    let s = streams.get(f.stream);
    if (!s) {
      const li = makeLine({ ...f, type: "text", message: "" });
      li.classList.add("streaming");
      s = { li, body: li.querySelector(".body"), text: "" };
      streams.set(f.stream, s);
      log.append(li);
      hideTyping();
    }
    s.text += f.message ?? "";
    fill(s.body, s.text, true);
  }

  function apply(f) {
    const stick = atBottom() || (f.nickname === nickname && f.type === "text");
    switch (f.type) {
      case "text": onText(f); break;
      case "delta": onDelta(f); break;
      case "typing": showTyping(f.nickname); break;
      case "tool": showTool(f); break;
      case "error":
        if (f.error === "rejected" || f.error === "join_code") rejected = true;
        if (f.error === "join_code") { joinCode = ""; codeInput.hidden = false; codeInput.required = true; }
        log.append(makeLine(f));
        break;
      default: return;
    }
    settle(stick);
  }

  function receive(f) {
    if (catchingUp && f.type !== "error") pending.push(f);
    else apply(f);
  }

  async function catchUp() {
    const url = `/messages?room=${encodeURIComponent(ROOM)}&limit=${CATCH_UP_LIMIT}&after=${lastId}`;
    const res = await fetch(withCode(url), { cache: "no-store" });
    if (res.status === 401) throw new Error("join_code");
    if (!res.ok) throw new Error(`GET /messages: ${res.status}`);
    const frames = await res.json();
    const stick = atBottom() || lastId === 0; // the first load starts at the newest line
    for (const f of frames) onText(f);
    settle(stick);
    return frames.length;
  }

  // -- connection -----------------------------------------------------------------------------
  function setStatus(message, kind) {
    statusLine.textContent = message;
    statusLine.className = `status ${kind}`;
    sendButton.disabled = kind !== "online";
  }

  function dropStreams() {
    for (const s of streams.values()) s.li.remove(); // the finished answer comes with the catch-up
    streams.clear();
    hideTyping();
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    setStatus(outage ? "Reconnecting…" : "Connecting…", "offline");
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const url = `${proto}://${location.host}/ws/${encodeURIComponent(nickname)}` +
      `?room=${encodeURIComponent(ROOM)}&stream=1`;
    const sock = new WebSocket(withCode(url));
    ws = sock;
    catchingUp = true;
    pending = [];
    sock.onmessage = (e) => {
      if (sock !== ws) return;
      let frame;
      try { frame = JSON.parse(e.data); } catch { return; }
      if (frame && typeof frame === "object") receive(frame);
    };
    sock.onopen = async () => {
      let missed;
      try {
        missed = await catchUp();
      } catch {
        sock.close(); // try again from the start: never show live frames over a gap
        return;
      }
      if (sock !== ws) return;
      catchingUp = false;
      const held = pending;
      pending = [];
      held.forEach(apply);
      if (rejected) return;
      attempt = 0;
      if (outage) note(missed ? `Reconnected; ${missed} new message(s) loaded.` : "Reconnected.");
      outage = false;
      setStatus("Connected", "online");
    };
    sock.onclose = () => {
      if (sock !== ws) return;
      ws = null;
      catchingUp = false;
      pending = [];
      dropStreams();
      if (rejected) {
        setStatus("Not joined", "offline");
        sendForm.hidden = true;
        joinForm.hidden = false;
        nickInput.focus();
        return;
      }
      if (!outage) note("Connection lost. Reconnecting…", true);
      outage = true;
      const delay = Math.min(10000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt += 1;
      setStatus(`Disconnected — retrying in ${Math.ceil(delay / 1000)}s`, "offline");
      reconnectTimer = setTimeout(connect, delay);
      settle(atBottom());
    };
  }

  window.addEventListener("online", () => { if (reconnectTimer) connect(); });

  // -- joining and sending --------------------------------------------------------------------
  const loadHistory = () => catchUp().then(() => true, (err) => {
    if (err.message === "join_code") askForCode("This chat needs a join code: ask whoever runs it.");
    else note("Could not load the history.", true);
    return err.message !== "join_code";
  });
  let history = loadHistory();
  try { nickInput.value = localStorage.getItem("chatbot.nickname") || ""; } catch { /* private mode */ }

  joinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const nick = nickInput.value.trim();
    if (!nick) return;
    if (!codeInput.hidden) {
      joinCode = codeInput.value.trim();
      if (!joinCode) return;
      lastId = 0;
      if (!(await (history = loadHistory()))) return; // still the wrong code: stay here
      try { localStorage.setItem("chatbot.code", joinCode); } catch { /* private mode */ }
      codeInput.hidden = true;
      codeInput.required = false;
    }
    nickname = nick;
    try { localStorage.setItem("chatbot.nickname", nick); } catch { /* private mode */ }
    rejected = false;
    attempt = 0;
    $("who").textContent = `as ${nick}`;
    for (const li of log.querySelectorAll(".msg.person")) {
      li.classList.toggle("mine", li.dataset.nick === nick);
    }
    joinForm.hidden = true;
    sendForm.hidden = false;
    text.focus();
    await history;
    connect();
  });

  function autosize() {
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight + 2, 144)}px`;
  }

  function send() {
    const message = text.value.trim();
    if (!message && pendingFiles.length === 0) return; // empty: nothing to send
    if (uploading) return; // wait for the upload: it goes with this message
    if (!ws || ws.readyState !== WebSocket.OPEN || catchingUp) return; // kept in the box
    const frame = { type: "text", message };
    if (pendingFiles.length) frame.attachments = pendingFiles.map((f) => f.id);
    ws.send(JSON.stringify(frame));
    text.value = "";
    pendingFiles = [];
    showPending();
    autosize();
  }

  fileInput.addEventListener("change", () => {
    uploadAll([...fileInput.files]);
    fileInput.value = "";
  });
  text.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return; // plain text: pasted as usual
    e.preventDefault();
    uploadAll(files);
  });
  document.addEventListener("dragover", (e) => {
    if (!sendForm.hidden && e.dataTransfer?.types.includes("Files")) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (sendForm.hidden || !e.dataTransfer?.files.length) return;
    e.preventDefault();
    uploadAll([...e.dataTransfer.files]);
  });

  sendForm.addEventListener("submit", (e) => { e.preventDefault(); send(); text.focus(); });
  text.addEventListener("input", autosize);
  text.addEventListener("compositionstart", () => { composing = true; });
  text.addEventListener("compositionend", () => { composing = false; });
  text.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey) return; // Shift+Enter: a new line
    // Enter while an IME composes (Korean, Japanese, ...) confirms the syllable; it must not send.
    if (e.isComposing || composing || e.keyCode === 229) return;
    e.preventDefault();
    send();
  });
})();
