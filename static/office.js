// The office: floor plan, people, status, rooms and doors, knocks and "get", and chat.
import { api } from "/static/api.js";
import { avatarColour, initials } from "/static/avatar.js";
import { ChatPanel } from "/static/chat.js";
import { Meeting, meetingMarkup } from "/static/meeting.js";
import { Notifier } from "/static/notify.js";
import { connect, el, showToast, signedOut, STATUS_WORDS } from "/static/realtime.js";
import { KINDS, kindIcon, kindMark } from "/static/kinds.js";

const SVG = "http://www.w3.org/2000/svg";
const DOOR = { open: "open", closed: "closed · knock", locked: "locked" };
const DOOR_CHOICES = [["open", "Door open"], ["closed", "Closed · knock"], ["locked", "Locked"]];
const MARGIN = 1; // floor units around the rooms drawn
const state = { me: null, people: new Map(), rooms: new Map(), floor: null, myRoom: null, settings: {}, waiting: new Map(), speaker: null };
// At a phone's width the floor plan gives way to a list of rooms (office.css hides the one not
// in use; only the one shown is drawn, so each control exists once).
const COMPACT = matchMedia("(max-width: 600px)");
let chat;
let socket;
let meeting;
let notifier;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function boot() {
  let session;
  try { session = await api("GET", "/api/auth/session"); }
  catch { location.href = "/"; return; }
  if (session.roles.some((r) => r.role === "guest")) { location.href = "/"; return; }
  state.me = session.user.id;
  state.admin = session.roles.some((r) => r.role === "org_admin");
  document.getElementById("me").textContent = session.user.display_name;
  const leads = ["org_admin", "unit_admin", "group_lead"];
  document.getElementById("dashboard-link").hidden = !session.roles.some((r) => leads.includes(r.role));
  socket = connect();
  notifier = new Notifier({ status: () => state.people.get(state.me)?.status });
  notifier.load();
  chat = new ChatPanel(socket, state.me, { notifier, people: () => [...state.people.values()] });
  // The meeting lies over the floor plan (or below it, on a phone): the plan never moves.
  const meetingRoot = meetingMarkup();
  const floorSvg = document.getElementById("floor");
  const floorView = el("div", { class: "floor-view" });
  floorSvg.replaceWith(floorView);
  floorView.append(floorSvg, meetingRoot);
  meeting = new Meeting(socket, (id) => state.people.get(id), meetingRoot);
  window.officehoursMeeting = meeting; // for diagnostics and the browser tests (getStats)
  let connectedBefore = false;
  socket.on("connect", async () => {
    setConnection(true);
    await loadSnapshot();
    if (connectedBefore) await chat.resync();
    else walkToRequestedRoom();
    connectedBefore = true;
  });
  socket.on("disconnect", () => setConnection(false));
  socket.on("server:restarting", () => { setConnection(false); showToast("The server is restarting; you keep your place."); });
  socket.on("connect_error", (err) => { setConnection(false); if (signedOut(err.data?.code)) location.href = "/"; });
  // This session ended (signed out here or elsewhere, expired, password changed or reset).
  socket.on("session:ended", () => { location.href = "/"; });
  socket.on("account:ended", () => { location.href = "/"; });
  // Someone put me in a group: nothing of mine is shared with it until I accept, on /me.
  socket.on("membership:pending", ({ group_name }) => {
    showToast(`You were asked to join ${group_name}. Nothing is shared until you accept: see your page (/me).`, 10000);
  });
  socket.on("office:delta", ({ people }) => { people.forEach(applyPerson); namedGuests(people); render(); });
  socket.on("office:layout", ({ floors, rooms }) => { setLayout(floors, rooms); render(); });
  socket.on("request", showPrompt);
  socket.on("request:resolved", resolvePrompt);
  socket.on("request:withdrawn", withdrawPrompt);
  socket.on("request:unattended", ({ request_id, room_id }) => { unattended.add(request_id); showToast(nobodyInside(room_id)); });
  socket.on("room:waiting", ({ room_id, guests }) => { notifyWaiting(room_id, guests); setWaiting(room_id, guests); render(); });
  // Who is speaking in my room's meeting (only its members are told): marked on the map.
  socket.on("media:speaker", ({ user_id }) => { state.speaker = user_id; render(); });
  socket.on("media:left", () => { state.speaker = null; render(); });
  COMPACT.addEventListener("change", render);
  // The writing on the map is sized for the map's size on screen (renderFloor).
  let drawnFor = { width: 0, height: 0 };
  new ResizeObserver(([entry]) => {
    const { width, height } = entry.contentRect;
    if (Math.abs(width - drawnFor.width) < 8 && Math.abs(height - drawnFor.height) < 8) return;
    drawnFor = { width, height };
    requestAnimationFrame(render);
  }).observe(document.getElementById("floor"));
  socket.on("mentoring:reminder", (e) => {
    showToast(`Your mentoring session starts at ${new Date(e.starts_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`, 8000);
    notifier.sessionSoon(e, state.rooms.get(e.room_id)?.name);
  });
  wireControls();
}

// /office?room=ID (e.g. "Go to our room" on the mentoring page): walk in once, then forget it.
function walkToRequestedRoom() {
  const wanted = Number(new URLSearchParams(location.search).get("room"));
  if (!wanted) return;
  history.replaceState(null, "", "/office");
  if (state.rooms.has(wanted)) enterRoom(wanted);
  else showToast("That room is not on the floor plan any more.");
}

function setConnection(online) {
  const pill = document.getElementById("connection");
  pill.textContent = online ? "online" : "reconnecting…";
  pill.classList.toggle("online", online);
}

async function loadSnapshot() {
  const snap = await socket.call("office:snapshot");
  state.settings = snap.settings;
  setLayout(snap.floors, snap.rooms);
  for (const p of snap.people) applyPerson(p, true);
  state.waiting = new Map();
  for (const w of snap.waiting) setWaiting(w.room_id, w.guests);
  const convs = await socket.call("chat:list");
  for (const c of convs.conversations) chat.add(c, chat.labelOf(c));
  render();
  startIdleWatch();
}

function setLayout(floors, rooms) {
  state.floors = floors.length ? floors : [{ id: null, name: "Office", width: 50, height: 30 }];
  state.rooms = new Map(rooms.map((r) => [r.id, r]));
  showFloor(state.rooms.get(state.myRoom)?.floor_id ?? state.floor?.id);
}

// One floor is drawn at a time (the Mentoring floor holds the pairs' rooms); the floor of the
// room I am in is shown when I walk in, and the buttons switch between floors.
function showFloor(floorId) {
  state.floor = state.floors.find((f) => f.id === floorId) || state.floors[0];
  document.getElementById("floor-name").textContent = state.floor.name;
  const tabs = document.getElementById("floor-tabs");
  tabs.hidden = state.floors.length < 2;
  tabs.replaceChildren(...state.floors.map((f) => el("button", {
    type: "button", class: "secondary", "aria-pressed": String(f.id === state.floor.id),
    onclick: () => { showFloor(f.id); render(); },
  }, f.name)));
}

function applyPerson(p, force = false) {
  const known = state.people.get(p.user_id);
  if (!force && known && known.rev > p.rev) return; // an older change than we have
  // A guest is nobody's colleague: gone from the list once their visit ends.
  if (p.guest && p.status === "offline") { state.people.delete(p.user_id); return; }
  state.people.set(p.user_id, p);
  if (p.user_id === state.me && p.room_id !== state.myRoom) roomChanged(p.room_id);
  if (p.user_id === state.me) syncStatusControls(p);
}

async function roomChanged(roomId) {
  const previous = state.myRoom;
  state.myRoom = roomId;
  state.speaker = null;
  const floorId = state.rooms.get(roomId)?.floor_id;
  if (state.floor && floorId !== undefined && floorId !== state.floor.id) showFloor(floorId);
  for (const [id, entry] of chat.conversations) if (entry.info.kind === "room" && entry.info.room_id === previous) chat.remove(id);
  document.getElementById("leave-room").hidden = roomId === null;
  document.getElementById("where").textContent = roomId ? `You are in ${state.rooms.get(roomId)?.name}` : "You are in the hallway";
  if (roomId === null) { chat.disable("Walk into a room to chat"); return; }
  try {
    const room = await socket.call("chat:room", { room_id: roomId });
    chat.add(room.conversation, `# ${state.rooms.get(roomId)?.name || "room"}`, room.messages);
    chat.show(room.conversation.id);
  } catch (error) { showToast(error.message); }
}

const unattended = new Set();
function nobodyInside(roomId) {
  return `Nobody in ${state.rooms.get(roomId)?.name || "the room"} can let you in right now; your knock waits until someone comes in.`;
}

async function enterRoom(roomId) {
  try {
    const result = await socket.call("room:enter", { room_id: roomId });
    if (result.outcome !== "knocking") return;
    // The notice that nobody inside may answer can come just before this ack.
    showToast(unattended.has(result.request_id) ? nobodyInside(roomId) : `You knocked on ${state.rooms.get(roomId).name}; waiting for someone to open…`);
  } catch (error) { showToast(error.message); }
}

function render() {
  // Deltas sent while connecting arrive before the snapshot (socket.io delivers them just ahead
  // of "connect"): nothing to draw yet, and a throw there would swallow the "connect" event.
  if (!state.floor) return;
  const focused = focusKey(); // drawing replaces the nodes: the control in use keeps the focus
  const occupants = occupantsByRoom();
  const rooms = [...state.rooms.values()].filter((room) => state.floor.id === null || room.floor_id === state.floor.id);
  if (COMPACT.matches) {
    document.getElementById("floor").replaceChildren();
    renderRoomList(rooms, occupants);
  } else {
    document.getElementById("room-list").replaceChildren();
    renderFloor(rooms, occupants);
  }
  renderKinds(rooms);
  renderMe();
  renderPeople();
  renderWaiting();
  restoreFocus(focused);
  const here = [...state.people.values()].filter((p) => p.room_id !== null && p.room_id === state.myRoom && p.status !== "offline");
  meeting.follow(state.myRoom !== null, here.length);
}

// The view is fitted to the rooms of the floor, not to its nominal size: a 1000×1000 floor
// holding one 10×8 pair room draws that room large enough to see and to click.
function viewBoxFor(rooms) {
  if (!rooms.length) return `0 0 ${state.floor.width} ${state.floor.height}`;
  const left = Math.min(...rooms.map((r) => r.x)) - MARGIN;
  const top = Math.min(...rooms.map((r) => r.y)) - MARGIN;
  const right = Math.max(...rooms.map((r) => r.x + r.w)) + MARGIN;
  const bottom = Math.max(...rooms.map((r) => r.y + r.h)) + MARGIN;
  // At least a quarter of a standard floor, so a lone small room is not blown up to fill it.
  const width = Math.max(right - left, 24);
  const height = Math.max(bottom - top, 14);
  return `${left} ${top} ${width} ${height}`;
}

function mayChangeDoor(room) {
  return state.admin || (room.owners || []).includes(state.me);
}

// The focused control's key, found again among the new nodes after a redraw.
function focusKey() {
  const active = document.activeElement;
  return active?.closest?.("[data-focus-key]")?.getAttribute("data-focus-key") ?? null;
}

function restoreFocus(key) {
  if (key === null) return;
  document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
}

function doorSelect(room) {
  const select = el("select", { class: "door-select", "aria-label": `Door of ${room.name}`, "data-focus-key": `door-${room.id}` },
    ...DOOR_CHOICES.map(([value, label]) => el("option", { value }, label)));
  select.value = room.door;
  select.addEventListener("change", async () => {
    try { await api("PATCH", `/api/office/rooms/${room.id}`, { door: select.value }); }
    catch (error) { select.value = room.door; showToast(error.message); }
  });
  return select;
}

// On the map the door control sits in the room's bottom-right corner. Chromium does not paint
// a control's text at a fraction of a pixel, so it is laid out 20 times larger and scaled down.
function doorControl(room, big) {
  const box = svg("foreignObject", { x: room.x + room.w - 5.5 * big, y: room.y + room.h - 1.6 * big, width: 5.2 * big, height: 1.3 * big, class: "door-control" });
  const scaled = el("div", { class: "door-scale" }, doorSelect(room));
  scaled.style.transform = `scale(${0.05 * big})`;
  box.append(scaled);
  return box;
}

function occupantsByRoom() {
  const occupants = new Map();
  for (const p of state.people.values()) {
    if (p.room_id !== null && p.status !== "offline") {
      if (!occupants.has(p.room_id)) occupants.set(p.room_id, []);
      occupants.get(p.room_id).push(p);
    }
  }
  return occupants;
}

function statusWords(p) {
  const words = STATUS_WORDS[p.status] || p.status;
  return isSpeaking(p) ? `${words}, speaking` : words;
}

// The active speaker is known for my room's meeting only.
function isSpeaking(p) {
  return state.speaker !== null && p.user_id === state.speaker && p.room_id === state.myRoom && state.myRoom !== null;
}

function roomLabel(room, inside) {
  const who = inside.map((p) => `${p.display_name}${p.user_id === state.me ? " (you)" : ""} (${statusWords(p)})`).join(", ");
  return `${room.name}${room.id === state.myRoom ? " (you are here)" : ""}, ${KINDS[room.kind]?.label || "room"}, door ${DOOR[room.door]}, ` +
    `${inside.length} of ${room.capacity} people${who ? `: ${who}` : ""}`;
}

// A person on the map: their picture or initials on their colour, the status mark (a shape
// as well as a colour), a ring for me, a pulsing ring while speaking.
function mapAvatar(p, cx, cy) {
  const classes = ["avatar", p.guest ? "guest" : "", p.user_id === state.me ? "me" : "", isSpeaking(p) ? "speaking" : ""];
  const avatar = svg("g", { class: classes.filter(Boolean).join(" "), "data-user": p.user_id, "aria-hidden": "true" });
  avatar.append(svg("title", {}, `${p.display_name}${p.user_id === state.me ? " (you)" : ""}: ${statusWords(p)}${p.text ? ` — ${p.text}` : ""}`));
  avatar.append(svg("circle", { class: "speak", cx, cy, r: 1.08 }));
  if (p.user_id === state.me) avatar.append(svg("circle", { class: "you", cx, cy, r: 1.12 }));
  if (p.guest) avatar.append(svg("circle", { class: "guest-ring", cx, cy, r: 1.08 }));
  avatar.append(svg("circle", { class: "face", cx, cy, r: 0.88, fill: avatarColour(p.user_id) }));
  if (p.avatar_url) {
    const clip = svg("clipPath", { id: `avatar-clip-${p.user_id}` });
    clip.append(svg("circle", { cx, cy, r: 0.84 }));
    avatar.append(clip, svg("image", { href: p.avatar_url, x: cx - 0.84, y: cy - 0.84, width: 1.68, height: 1.68,
      preserveAspectRatio: "xMidYMid slice", "clip-path": `url(#avatar-clip-${p.user_id})` }));
  } else {
    avatar.append(svg("text", { x: cx, y: cy }, initials(p.display_name)));
  }
  avatar.append(statusMark(p.status, cx + 0.66, cy + 0.62));
  return avatar;
}

const MARK_GLYPHS = {
  available: (x, y) => `M${x - 0.13} ${y + 0.01}l.09 .09l.17 -.18`,
  busy: (x, y) => `M${x - 0.01} ${y}h.02`,
  away: (x, y) => `M${x} ${y - 0.15}V${y}h.12`,
  do_not_disturb: (x, y) => `M${x - 0.14} ${y}h.28`,
};

function statusMark(status, x, y) {
  const mark = svg("g", { class: `mark s-${status}` });
  mark.append(svg("circle", { cx: x, cy: y, r: 0.34 }));
  if (MARK_GLYPHS[status]) mark.append(svg("path", { d: MARK_GLYPHS[status](x, y), "stroke-width": status === "busy" ? 0.16 : undefined }));
  return mark;
}

// "You are here": a flag on the top edge of my room, drawn over the rooms around it.
function hereFlag(room, big) {
  const w = 4.2;
  const flag = svg("g", { class: "here-flag", "aria-hidden": "true",
    transform: `translate(${room.x + room.w - (w + 0.5) * big} ${room.y - 0.5 * big}) scale(${big})` });
  flag.append(svg("path", { d: `M.5 0h${w - 1}a.5 .5 0 0 1 0 1h-${w - 1}a.5 .5 0 0 1 0-1z` }));
  flag.append(svg("text", { x: w / 2, y: 0.52 }, "You are here"));
  return flag;
}

function fitText(node, width) {
  if (width > 0 && node.getComputedTextLength() > width) {
    node.setAttribute("textLength", width);
    node.setAttribute("lengthAdjust", "spacingAndGlyphs");
  }
}

// How much larger than its floor units the writing on the map is drawn: on a wide floor in a
// small window a unit is a few pixels, and names, marks and controls would be too small to
// read. `px` is the size of a unit on screen; a unit of 15 px needs nothing.
function enlargement(px, most) {
  return Math.min(most, Math.max(1, 15 / (px || 15)));
}

function renderFloor(rooms, occupants) {
  const floor = document.getElementById("floor");
  const view = viewBoxFor(rooms);
  floor.setAttribute("viewBox", view);
  const [, , viewW, viewH] = view.split(" ").map(Number);
  const box = floor.getBoundingClientRect();
  const px = Math.min(box.width / viewW, box.height / viewH);
  const big = { label: enlargement(px, 1.5), avatar: enlargement(px, 1.25), door: enlargement(px, 1.3) };
  const nodes = [];
  const fits = [];
  for (const room of rooms) {
    const inside = occupants.get(room.id) || [];
    // The button is the room's outline; what is drawn on it is said by its label (names, kind,
    // door, people and their status), so the drawing itself is hidden from screen readers.
    const group = svg("g", { class: `room${room.id === state.myRoom ? " mine" : ""}`, "data-room": room.id, "data-kind": room.kind });
    const button = svg("g", { class: "hit", tabindex: "0", role: "button", "data-focus-key": `room-${room.id}`, "aria-label": roomLabel(room, inside) });
    button.append(svg("rect", { x: room.x + 0.12, y: room.y + 0.12, width: room.w - 0.24, height: room.h - 0.24, rx: 0.45 }));
    button.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); enterRoom(room.id); } });
    group.append(button);
    // The room's heading (kind, name, door and count), drawn at (0, 0) and placed by a transform.
    const heading = svg("g", { class: "heading", transform: `translate(${room.x} ${room.y}) scale(${big.label})`, "aria-hidden": "true" });
    const kind = svg("text", { class: "kind", x: 2.6, y: 1.0 }, KINDS[room.kind]?.label || room.kind);
    const name = svg("text", { class: "name", x: 2.6, y: 1.85 }, room.name);
    const door = svg("text", { class: "door", x: 2.6, y: 2.55 }, `${DOOR[room.door]} · ${inside.length}/${room.capacity}`);
    heading.append(kindMark(room.kind, 0.55, 0.55, 1.75), kind, name, door);
    group.append(heading);
    fits.push(...[kind, name, door].map((node) => [node, (room.w - 0.4) / big.label - 2.6]));
    const step = 2.1 * big.avatar;
    const top = room.y + 2.9 * big.label + 1.4 * big.avatar;
    const cols = Math.max(1, Math.floor((room.w - 0.6) / step));
    inside.forEach((p, i) => {
      const cx = p.position ? p.position[0] : room.x + 1.45 * big.avatar + (i % cols) * step;
      const cy = p.position ? p.position[1] : top + Math.floor(i / cols) * step;
      const avatar = mapAvatar(p, 0, 0);
      avatar.setAttribute("transform", `translate(${cx} ${cy}) scale(${big.avatar})`);
      group.append(avatar);
    });
    // A click anywhere on the room (an avatar too) is the button's: it takes the focus.
    group.addEventListener("click", () => { button.focus({ preventScroll: true }); enterRoom(room.id); });
    nodes.push(group);
    // A sibling of the room, not inside it: a control inside a button would be unreachable.
    if (mayChangeDoor(room)) nodes.push(doorControl(room, big.door));
  }
  const mine = rooms.find((room) => room.id === state.myRoom);
  if (mine) nodes.push(hereFlag(mine, big.label));
  floor.replaceChildren(...nodes);
  for (const [node, width] of fits) fitText(node, width);
}

// The rooms as a list (phones): each entry a button that walks in, as a click on the map does.
function renderRoomList(rooms, occupants) {
  document.getElementById("room-list").replaceChildren(...rooms.map((room) => {
    const inside = occupants.get(room.id) || [];
    const mine = room.id === state.myRoom;
    return el("li", { class: `room-card${mine ? " mine" : ""}`, "data-room": room.id, "data-kind": room.kind },
      el("button", { type: "button", class: "room-button", "data-focus-key": `list-room-${room.id}`, onclick: () => enterRoom(room.id) },
        kindIcon(room.kind),
        el("span", { class: "room-text" },
          el("span", { class: "room-name" }, room.name),
          el("span", { class: "room-meta" }, `${KINDS[room.kind]?.label || "Room"} · door ${DOOR[room.door]} · ${inside.length} of ${room.capacity}`)),
        mine ? el("span", { class: "here" }, "You are here") : null),
      mayChangeDoor(room) ? doorSelect(room) : null,
      inside.length ? el("ul", { class: "room-people", "aria-label": `In ${room.name}` }, ...inside.map((p) =>
        el("li", { class: isSpeaking(p) ? "speaking" : "", "data-user": p.user_id },
          avatarChip(p, true),
          el("span", {}, p.display_name, p.user_id === state.me ? " (you)" : ""),
          el("span", { class: "status-word" }, statusWords(p))))) : null);
  }));
}

// The kinds of room on this floor, each with its colour and icon (not on phones: the list says it).
function renderKinds(rooms) {
  const kinds = [...new Set(rooms.map((room) => room.kind))].filter((kind) => KINDS[kind]);
  document.getElementById("kinds").replaceChildren(...kinds.map((kind) =>
    el("li", { "data-kind": kind }, kindIcon(kind), KINDS[kind].label)));
}

function avatarChip(p, withStatus = false) {
  const chip = el("span", { class: "avatar-chip", "aria-hidden": "true" },
    p.avatar_url ? el("img", { src: p.avatar_url, alt: "" }) : initials(p.display_name),
    withStatus ? el("span", { class: `status s-${p.status}` }) : null);
  chip.style.setProperty("--avatar-bg", avatarColour(p.user_id));
  if (isSpeaking(p)) chip.classList.add("speaking");
  return chip;
}

// My avatar in the header, with my status mark (the select beside it says it in words).
function renderMe() {
  const me = state.people.get(state.me);
  if (me) document.getElementById("my-avatar").replaceWith(Object.assign(avatarChip(me, true), { id: "my-avatar" }));
}

function renderPeople() {
  const list = document.getElementById("people");
  // A guest in the hallway is listed only while knocking (their knock ended: not here for us).
  const knocking = new Set([...state.waiting.values()].flat());
  const people = [...state.people.values()].filter((p) => !p.guest || p.room_id !== null || knocking.has(p.user_id)).sort((a, b) =>
    (a.status === "offline") - (b.status === "offline") || a.display_name.localeCompare(b.display_name));
  list.replaceChildren(...people.map((p) => {
    const where = p.status === "offline" ? null : p.room_id ? state.rooms.get(p.room_id)?.name || "" : "hallway";
    const canGet = p.user_id !== state.me && state.myRoom && p.status !== "offline" && p.room_id !== state.myRoom && !p.guest;
    return el("li", { "data-user": p.user_id, class: p.status === "offline" ? "offline" : "" },
      avatarChip(p),
      el("span", { class: "who" },
        el("span", { class: "name" }, p.display_name, p.user_id === state.me ? " (you)" : ""),
        el("span", { class: "meta" },
          el("span", { class: `status s-${p.status}`, "aria-hidden": "true" }),
          el("span", { class: "status-word" }, statusWords(p)),
          where ? el("span", { class: "where" }, `· ${where}`) : null,
          p.text ? el("span", {}, ` — ${p.text}`) : null)),
      canGet ? el("button", { type: "button", class: "secondary", "aria-label": `Get ${p.display_name}`, "data-focus-key": `get-${p.user_id}`, onclick: () => getPerson(p) }, "Get") : null,
      p.user_id !== state.me && !p.guest ? el("button", { type: "button", class: "secondary", "aria-label": `Message ${p.display_name}`, "data-focus-key": `message-${p.user_id}`, onclick: () => openDirect(p) }, "Message") : null);
  }));
}

async function getPerson(p) {
  try { await socket.call("person:get", { user_id: p.user_id }); showToast(`Asked ${p.display_name} to come over`); }
  catch (error) { showToast(error.message); }
}

async function openDirect(p) {
  try {
    const { conversation } = await socket.call("chat:open_direct", { user_ids: [p.user_id] });
    const history = await socket.call("chat:history", { conversation_id: conversation.id });
    chat.add(conversation, chat.labelOf(conversation), history.messages);
    chat.show(conversation.id);
  } catch (error) { showToast(error.message); }
}

// Requests this tab was prompted for: their end closes the prompt; the toasts are for the knocker.
const prompted = new Set();

function showPrompt(request) {
  prompted.add(request.request_id);
  const box = document.getElementById("prompts");
  const text = request.kind === "knock"
    ? `${request.from_name} is knocking on ${request.room_name}.`
    : `${request.from_name} asks you to come to ${request.room_name}.`;
  const answer = async (accept) => {
    card.remove();
    try { await socket.call("request:answer", { request_id: request.request_id, accept }); }
    catch (error) { showToast(error.message); }
  };
  const card = el("div", { class: "prompt", role: "alertdialog", "data-request": request.request_id, "aria-label": text },
    el("p", {}, text),
    el("div", { class: "buttons" },
      el("button", { type: "button", class: "secondary", onclick: () => answer(false) }, request.kind === "knock" ? "Not now" : "Decline"),
      el("button", { type: "button", onclick: () => answer(true) }, request.kind === "knock" ? "Let in" : "Go")));
  box.append(card);
  card.querySelector("button:last-child").focus();
  notifier.request(request);
}

// Guests knocking at each room (room:waiting), shown to whoever may let them in.
function setWaiting(roomId, guests) {
  if (guests.length) state.waiting.set(roomId, guests);
  else state.waiting.delete(roomId);
}

// I may let a guest in if I may walk into the room: its door is not locked, or it is mine.
function mayAdmit(room) {
  return room.door !== "locked" || room.owners.includes(state.me);
}

// A guest who starts knocking where I may let them in, while I am not inside (inside, their
// knock itself reaches me): a notification when the tab is in the background. The knock can
// come just before the guest's name (office:delta): then it waits for the name.
const unnamedGuests = new Map(); // guest id -> room id
function notifyWaiting(roomId, guests) {
  const room = state.rooms.get(roomId);
  const before = state.waiting.get(roomId) || [];
  for (const guest of before) if (!guests.includes(guest)) notifier.close(`guest-${roomId}-${guest}`);
  if (!room || !mayAdmit(room) || state.myRoom === roomId) return;
  for (const guest of guests.filter((g) => !before.includes(g))) {
    if (state.people.has(guest)) notifyGuest(roomId, guest);
    else unnamedGuests.set(guest, roomId);
  }
}

function namedGuests(people) {
  for (const p of people) {
    const roomId = unnamedGuests.get(p.user_id);
    if (roomId === undefined) continue;
    unnamedGuests.delete(p.user_id);
    if (state.waiting.get(roomId)?.includes(p.user_id)) notifyGuest(roomId, p.user_id);
  }
}

function notifyGuest(roomId, guest) {
  const name = state.people.get(guest)?.display_name;
  const room = state.rooms.get(roomId);
  if (name && room) notifier.guestWaiting(roomId, guest, name, room.name);
}

function renderWaiting() {
  const badges = [];
  for (const [roomId, guests] of state.waiting) {
    const room = state.rooms.get(roomId);
    if (!room || !mayAdmit(room)) continue;
    const text = guests.length === 1 ? `1 guest waiting in ${room.name}` : `${guests.length} guests waiting in ${room.name}`;
    badges.push(el("button", { type: "button", "data-room": roomId, "data-focus-key": `waiting-${roomId}`, title: "Walk in to let them in",
      onclick: () => { if (state.myRoom !== roomId) enterRoom(roomId); } }, text));
  }
  document.getElementById("waiting").replaceChildren(...badges);
}

// I was asked but can no longer answer (I walked out): the prompt goes.
function withdrawPrompt(event) {
  document.querySelector(`.prompt[data-request="${CSS.escape(event.request_id)}"]`)?.remove();
  notifier.close(`request-${event.request_id}`);
  prompted.delete(event.request_id);
}

function resolvePrompt(event) {
  document.querySelector(`.prompt[data-request="${CSS.escape(event.request_id)}"]`)?.remove();
  notifier.close(`request-${event.request_id}`);
  if (prompted.delete(event.request_id)) return; // we were asked: no news for whoever answered
  const room = state.rooms.get(event.room_id)?.name || "the room";
  const messages = { declined: `Nobody can let you into ${room} now.`, expired: `Nobody answered at ${room}.` };
  if (event.kind === "knock" && messages[event.outcome]) showToast(messages[event.outcome]);
}

function syncStatusControls(me) {
  const select = document.getElementById("status-select");
  if (document.activeElement !== select && me.status !== "offline") select.value = me.status === "away" && !me.idle ? "away" : select.value;
}

let idleTimer = null;
let idle = false;
function startIdleWatch() {
  const reset = () => {
    if (idle) { idle = false; socket.call("presence:idle", { idle: false }).catch(() => {}); }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { idle = true; socket.call("presence:idle", { idle: true }).catch(() => {}); },
      (state.settings.idle_after_seconds || 300) * 1000);
  };
  if (!startIdleWatch.wired) {
    ["mousemove", "keydown", "pointerdown", "focus"].forEach((e) => window.addEventListener(e, reset, { passive: true }));
    startIdleWatch.wired = true;
  }
  reset();
}

function wireControls() {
  const select = document.getElementById("status-select");
  const text = document.getElementById("status-text");
  const setStatus = async () => {
    try { await socket.call("presence:set", { status: select.value, text: text.value }); }
    catch (error) { showToast(error.message); }
  };
  select.addEventListener("change", setStatus);
  text.addEventListener("change", setStatus);
  document.getElementById("leave-room").addEventListener("click", () => socket.call("room:leave").catch((e) => showToast(e.message)));
  document.getElementById("signout").addEventListener("click", async () => {
    await api("POST", "/api/auth/sign-out");
    location.href = "/";
  });
}

boot();
