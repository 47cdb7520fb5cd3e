// What the course's day-2 React client does, without React: load the room's history with
// fetch(), render every message as `nickname [timestamp] : message`, then open the WebSocket
// and append every frame it receives. `?api=` is the chat server (http://localhost:8000 in class).
const params = new URLSearchParams(location.search);
const API = params.get("api");
const WS = API.replace(/^http/, "ws");
const nickname = params.get("nick") || "guest";
const log = document.getElementById("log");
const historyState = document.getElementById("history");
const socketState = document.getElementById("socket");
const socketEvents = [];

function render(message) {
  const line = document.createElement("li");
  line.textContent = `${message.nickname} [${message.timestamp}] : ${message.message}`;
  log.append(line);
}

function socketEvent(name) {
  socketEvents.push(name);
  socketState.textContent = socketEvents.join(", ");
}

async function loadHistory() {
  try {
    const response = await fetch(API + "/messages");
    const messages = await response.json();
    messages.forEach(render);
    historyState.textContent = `${messages.length} loaded`;
  } catch (err) {
    historyState.textContent = `failed (${err.name})`;
  }
}

function connect() {
  const ws = new WebSocket(`${WS}/ws/${encodeURIComponent(nickname)}`);
  ws.onopen = () => socketEvent("open");
  ws.onmessage = (event) => render(JSON.parse(event.data));
  ws.onerror = () => socketEvent("error");
  ws.onclose = (event) => socketEvent(`close ${event.code}`);
}

loadHistory().then(connect);
