// A guest's page: the link, a name, the lobby, then one room: its people and its chat.
import { api } from "/static/api.js";
import { ChatPanel } from "/static/chat.js";
import { Meeting, meetingMarkup } from "/static/meeting.js";
import { connect, el, showToast } from "/static/realtime.js";

const token = decodeURIComponent(location.pathname.split("/").pop());
const $ = (id) => document.getElementById(id);
let socket;
let chat;
let roomId = null;
let me = null;
let meeting;
const names = new Map();

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
  meeting = new Meeting(socket, (id) => names.get(id) || "Someone", meetingRoot);
  window.officehoursMeeting = meeting; // for diagnostics and the browser tests (getStats)
  socket.on("connect", async () => {
    const status = await socket.call("guest:status");
    roomId = status.room.id;
    $("room-title").textContent = status.room.name;
    if (status.admitted) return admitted(status.people);
    const result = await socket.call("room:enter", { room_id: roomId });
    if (result.outcome === "entered") return admitted((await socket.call("guest:status")).people);
    $("lobby-state").textContent = "Waiting for someone in the room to let you in…";
  });
  socket.on("guest:room", ({ people }) => admitted(people));
  socket.on("request:resolved", (event) => {
    if (event.outcome === "declined") $("lobby-state").textContent = "Nobody can let you in right now.";
    if (event.outcome === "expired") $("lobby-state").textContent = "Nobody answered. Reload the page to knock again.";
  });
  socket.on("guest:ended", ({ reason }) => end(reason));
  socket.on("connect_error", (err) => { if (err.data?.code === "unauthorized") end("Your visit has ended."); });
}

async function admitted(people) {
  if (!people.some((p) => p.user_id === me)) return;
  for (const p of people) names.set(p.user_id, p.display_name);
  meeting.follow(true, people.filter((p) => p.status !== "offline").length);
  $("lobby-state").textContent = "";
  $("room").hidden = false;
  $("people").replaceChildren(...people.map((p) => el("li", {},
    el("span", { class: `status s-${p.status}` }), el("span", {}, p.user_id === me ? `${p.display_name.replace(/ \(guest\)$/, "")} (you, guest)` : p.display_name))));
  if (![...chat.conversations.values()].some((c) => c.info.room_id === roomId)) {
    const room = await socket.call("chat:room", { room_id: roomId });
    chat.add(room.conversation, `# ${$("room-title").textContent}`, room.messages);
    chat.show(room.conversation.id);
  }
}

function end(reason) {
  socket?.disconnect();
  $("room").hidden = true;
  $("lobby-state").textContent = reason;
}

start();
