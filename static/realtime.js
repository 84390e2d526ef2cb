// The Socket.IO connection shared by the office and guest pages: acks as promises, errors as
// exceptions with the server's stable code.
import { io } from "/vendor/socket.io.esm.min.js";

export class EventError extends Error {
  constructor(code, message, retryAfter) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function connect() {
  // Reconnect soon and often (at most 2 s apart): after a server restart the new process is up
  // within seconds, and people should be back in their room as soon as it is.
  const socket = io({
    transports: ["websocket", "polling"], withCredentials: true,
    reconnectionDelay: 250, reconnectionDelayMax: 2000, randomizationFactor: 0.5,
  });
  // The server says it is restarting (SIGTERM) just before it closes every connection: the
  // pages show "reconnecting…", and the client reconnects by itself even if the close came as
  // a server-side disconnect (which Socket.IO would otherwise take as final).
  socket.restarting = false;
  socket.on("server:restarting", () => { socket.restarting = true; });
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect" && socket.restarting) socket.connect();
  });
  socket.on("connect", () => { socket.restarting = false; });
  socket.call = async (event, payload = {}, timeoutMs = 8000) => {
    const ack = await socket.timeout(timeoutMs).emitWithAck(event, payload);
    if (!ack || ack.ok !== true) {
      const error = (ack && ack.error) || { code: "internal", message: "no answer" };
      throw new EventError(error.code, error.message, error.retry_after);
    }
    return ack;
  };
  return socket;
}

// A refused connection that means "go to the sign-in page": no live session, or one that must
// first set a new password (after an admin's reset).
export function signedOut(code) {
  return code === "unauthorized" || code === "password_change_required";
}

export function showToast(text, ms = 3500) {
  console.info(`toast: ${text}`); // what the person was told, for anyone reading the console
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, ms);
}

export function el(tag, attrs = {}, ...children) {
  // Text is always set as text: nothing a person typed is ever parsed as HTML.
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Kept here too for the pages that import it from this module; it lives in avatar.js.
export { initials } from "/static/avatar.js";
