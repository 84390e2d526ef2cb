// A guest's page: the link, a name, the lobby, then one room: its people and its chat.
import { api } from "/static/api.js";
import { avatarColour, initials } from "/static/avatar.js";
import { ChatPanel } from "/static/chat.js";
import { Meeting, meetingMarkup } from "/static/meeting.js";
import { connect, el, showToast, STATUS_WORDS } from "/static/realtime.js";

const token = decodeURIComponent(location.pathname.split("/").pop());
const $ = (id) => document.getElementById(id);
let socket;
let chat;
let roomId = null;
let me = null;
let meeting;
let knock = null; // the request id of my knock, while it waits
const names = new Map();
const WAITING = "Waiting for someone in the room to let you in…";
const NOBODY = "Nobody is in the room to let you in right now. Your knock waits until someone comes in.";
const unattended = new Set(); // may arrive just before the ack that names my knock

async function start() {
  try {
    const link = await api("GET", `/api/guest-links/${encodeURIComponent(token)}`);
    $("invite").textContent = `You are invited to ${link.room} at ${link.organization}.`;
    $("guest-form").hidden = false;
    $("guest-name").focus();
  } catch (error) {
    $("invite").textContent = error.message;
  }
}

$("guest-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const session = await api("POST", `/api/guest-links/${encodeURIComponent(token)}/join`, { display_name: $("guest-name").value });
    me = session.user.id;
    $("guest-form").hidden = true;
    enter();
  } catch (error) {
    showToast(error.message);
  }
});

function enter() {
  socket = connect();
  chat = new ChatPanel(socket, me);
  const meetingRoot = meetingMarkup();
  $("room-title").after(meetingRoot);
  meeting = new Meeting(socket, (id) => (names.has(id) ? { display_name: names.get(id) } : undefined), meetingRoot);
  window.officehoursMeeting = meeting; // for diagnostics and the browser tests (getStats)
  socket.on("connect", async () => {
    const status = await socket.call("guest:status");
    roomId = status.room.id;
    $("room-title").textContent = status.room.name;
    if (status.admitted) return admitted(status.people);
    await knockOnce();
  });
  socket.on("guest:room", ({ people }) => admitted(people));
  // Only my own knock's news is mine (the server sends no other, but a page never guesses).
  socket.on("request:unattended", (event) => {
    unattended.add(event.request_id);
    if (event.request_id === knock) $("lobby-state").textContent = NOBODY;
  });
  socket.on("request:resolved", (event) => {
    if (event.request_id !== knock || event.outcome === "accepted") return;
    knock = null;
    const said = { declined: "Nobody can let you in right now.", expired: "Nobody answered.", cancelled: "Your knock was withdrawn." };
    $("lobby-state").textContent = said[event.outcome] || "Your knock ended.";
    $("knock-again").hidden = false;
  });
  $("knock-again").addEventListener("click", knockOnce);
  socket.on("guest:ended", ({ reason }) => end(reason));
  // The guest session reached its end (the link's): the same ending, whichever comes first.
  socket.on("session:ended", () => end("Your visit has ended."));
  socket.on("connect_error", (err) => { if (err.data?.code === "unauthorized") end("Your visit has ended."); });
}

async function knockOnce() {
  $("knock-again").hidden = true;
  try {
    const result = await socket.call("room:enter", { room_id: roomId });
    if (result.outcome === "entered") return admitted((await socket.call("guest:status")).people);
    knock = result.request_id;
    $("lobby-state").textContent = unattended.has(knock) ? NOBODY : WAITING;
  } catch (error) {
    $("lobby-state").textContent = error.message;
    $("knock-again").hidden = false;
  }
}

async function admitted(people) {
  if (!people.some((p) => p.user_id === me)) return;
  for (const p of people) names.set(p.user_id, p.display_name);
  meeting.follow(true, people.filter((p) => p.status !== "offline").length);
  knock = null;
  $("lobby-state").textContent = "";
  $("knock-again").hidden = true;
  $("room").hidden = false;
  $("people").replaceChildren(...people.map((p) => {
    const chip = el("span", { class: "avatar-chip", "aria-hidden": "true" }, initials(p.display_name));
    chip.style.setProperty("--avatar-bg", avatarColour(p.user_id));
    return el("li", {}, chip,
      el("span", { class: "who" },
        el("span", { class: "name" }, p.user_id === me ? `${p.display_name.replace(/ \(guest\)$/, "")} (you, guest)` : p.display_name),
        el("span", { class: "meta" }, el("span", { class: `status s-${p.status}`, "aria-hidden": "true" }),
          el("span", { class: "status-word" }, STATUS_WORDS[p.status] || p.status))));
  }));
  if (![...chat.conversations.values()].some((c) => c.info.room_id === roomId)) {
    const room = await socket.call("chat:room", { room_id: roomId });
    chat.add(room.conversation, `# ${$("room-title").textContent}`, room.messages);
    chat.show(room.conversation.id);
  }
}

function end(reason) {
  socket?.disconnect();
  $("knock-again").hidden = true;
  $("room").hidden = true;
  $("lobby-state").textContent = reason;
}

start();
