// What reaches a person whose Officehours tab is in the background: a desktop notification
// (Web Notifications), a short sound made with WebAudio, and a count in the tab's title.
//
// Rules, in the order they apply:
// - only while the tab is hidden: a visible page shows its own prompts, toasts and badges;
// - only the kinds the person left on (GET /api/me/notifications; all on until changed);
//   a kind switched off is not counted in the title either;
// - the title counts every such item until the tab is visible again, do-not-disturb included
//   (the count interrupts nobody and tells them what they missed);
// - on do not disturb: no desktop notification and no sound;
// - the desktop notification needs the browser's permission, which is only ever asked for
//   when the person presses a button (on /me, or the offer shown after the first item that
//   would have notified), never on load. The sound needs no permission.
// Several tabs of the same person get the same events: the first tab to take an item
// (by its tag, in localStorage) shows and sounds it, the others only count it.
import { api } from "/static/api.js";
import { el } from "/static/realtime.js";

export const KINDS = ["knocks", "direct_messages", "mentions", "guests_waiting", "mentoring_sessions"];
const DEFAULTS = Object.fromEntries([...KINDS, "sound"].map((k) => [k, true]));
const OFFER_KEY = "officehours.notify-offer";
const TAKEN_KEY = "officehours.notified";
const MAX_BODY = 140;

export function desktopPermission() {
  return "Notification" in window ? Notification.permission : "unsupported";
}

// Asked only from a click: browsers ignore (or hold against the site) a request made without one.
export async function askPermission() {
  if (!("Notification" in window)) return "unsupported";
  try { return await Notification.requestPermission(); }
  catch { return Notification.permission; }
}

export async function loadSettings() {
  try { return { ...DEFAULTS, ...(await api("GET", "/api/me/notifications")) }; }
  catch { return { ...DEFAULTS }; } // a guest, or the server is away: the defaults
}

// A short two-note chime; nothing to download.
export function chime(context) {
  const start = context.currentTime + 0.01;
  for (const [frequency, at] of [[880, 0], [1318.5, 0.13]]) {
    const tone = context.createOscillator();
    const volume = context.createGain();
    tone.type = "sine";
    tone.frequency.value = frequency;
    volume.gain.setValueAtTime(0.0001, start + at);
    volume.gain.exponentialRampToValueAtTime(0.18, start + at + 0.02);
    volume.gain.exponentialRampToValueAtTime(0.0001, start + at + 0.32);
    tone.connect(volume).connect(context.destination);
    tone.start(start + at);
    tone.stop(start + at + 0.34);
  }
}

function clip(text) {
  const plain = String(text ?? "");
  return plain.length > MAX_BODY ? `${plain.slice(0, MAX_BODY - 1)}…` : plain;
}

// The first tab to take a tag shows it; false if another tab of this browser already did.
function take(tag) {
  try {
    const taken = JSON.parse(localStorage.getItem(TAKEN_KEY) || "[]");
    if (taken.includes(tag)) return false;
    localStorage.setItem(TAKEN_KEY, JSON.stringify([...taken.slice(-99), tag]));
  } catch { /* no storage: every tab shows it */ }
  return true;
}

export class Notifier {
  // status(): my presence status now ("do_not_disturb" silences everything but the count).
  constructor({ status = () => "available" } = {}) {
    this.status = status;
    this.settings = { ...DEFAULTS };
    this.title = document.title;
    this.unseen = 0;
    this.seen = new Set(); // tags this page has counted
    this.shown = new Map(); // tag -> Notification
    this.audio = null;
    document.addEventListener("visibilitychange", () => this.visibilityChanged());
    // Browsers let a page play sound once the person has interacted with it: the audio is
    // made ready on the first click or key, so a chime can play later in the background.
    const unlock = () => {
      if (this.settings.sound) this.context();
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
  }

  async load() {
    this.settings = await loadSettings();
  }

  context() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    this.audio ??= new Context();
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  visibilityChanged() {
    if (document.visibilityState !== "visible") return;
    this.unseen = 0;
    this.seen.clear();
    document.title = this.title;
    for (const notification of this.shown.values()) notification.close();
    this.shown.clear();
    this.load(); // changed on /me in another tab meanwhile: follow it
  }

  // kind: one of KINDS; tag: one per item (the same item arriving twice notifies once);
  // open(): what a click on the notification does, after bringing the tab to the front.
  notify(kind, { tag, title, body, open }) {
    if (!this.settings[kind] || document.visibilityState !== "hidden" || this.seen.has(tag)) return;
    this.seen.add(tag);
    this.unseen += 1;
    document.title = `(${this.unseen}) ${this.title}`;
    if (this.status() === "do_not_disturb" || !take(tag)) return;
    if (this.settings.sound) {
      const context = this.context();
      if (context) chime(context);
    }
    if (desktopPermission() === "granted") this.show(tag, title, clip(body), open);
    else if (desktopPermission() === "default") this.offer();
  }

  show(tag, title, body, open) {
    let notification;
    try { notification = new Notification(title, { body, tag, icon: "/static/favicon.svg" }); }
    catch { return; } // e.g. a phone browser that only notifies from a service worker
    notification.addEventListener("click", () => {
      window.focus();
      notification.close();
      open?.();
    });
    notification.addEventListener("close", () => { if (this.shown.get(tag) === notification) this.shown.delete(tag); });
    this.shown.set(tag, notification);
  }

  // The item is over (a knock answered elsewhere, a guest let in): its notification goes.
  close(tag) {
    this.shown.get(tag)?.close();
    this.shown.delete(tag);
  }

  // After the first item that would have shown a desktop notification: offer to turn them on
  // (the page's prompts area), once, until the person answers or dismisses it.
  offer() {
    const box = document.getElementById("prompts");
    if (!box || document.getElementById("notify-offer")) return;
    try { if (localStorage.getItem(OFFER_KEY)) return; } catch { /* offer anyway */ }
    const remember = (answer) => { try { localStorage.setItem(OFFER_KEY, answer); } catch { /* ignore */ } };
    const card = el("div", { id: "notify-offer", class: "prompt", role: "dialog", "aria-labelledby": "notify-offer-text" },
      el("p", { id: "notify-offer-text" }, "Something happened while this tab was in the background. Desktop notifications can tell you next time."),
      el("p", {}, el("a", { href: "/me#notifications" }, "Choose what notifies you")),
      el("div", { class: "buttons" },
        el("button", { type: "button", class: "secondary", onclick: () => { remember("dismissed"); card.remove(); } }, "Not now"),
        el("button", { type: "button", onclick: async () => { remember("asked"); card.remove(); await askPermission(); } }, "Turn on desktop notifications")));
    box.append(card);
  }

  // -- the kinds of item, from the events that carry them ------------------------------------

  request(request, open) {
    const text = request.kind === "knock"
      ? `${request.from_name} is knocking on ${request.room_name}`
      : `${request.from_name} asks you to come to ${request.room_name}`;
    this.notify("knocks", { tag: `request-${request.request_id}`, title: text, body: "Open Officehours to answer.", open });
  }

  directMessage(message, label, open) {
    const title = label && label !== message.sender_name ? `${message.sender_name} in ${label}` : message.sender_name;
    this.notify("direct_messages", { tag: `message-${message.id}`, title, body: message.body, open });
  }

  mention(message, label, open) {
    this.notify("mentions", { tag: `message-${message.id}`, title: `${message.sender_name} mentioned you in ${label}`, body: message.body, open });
  }

  guestWaiting(roomId, guestId, guestName, roomName, open) {
    this.notify("guests_waiting", { tag: `guest-${roomId}-${guestId}`, title: `${guestName} is waiting at ${roomName}`, body: "Walk in to let them in.", open });
  }

  sessionSoon(reminder, roomName, open) {
    const at = new Date(reminder.starts_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const minutes = reminder.minutes_before;
    const when = minutes > 0 ? `in ${minutes} minute${minutes === 1 ? "" : "s"}` : "now";
    this.notify("mentoring_sessions", {
      tag: `session-${reminder.session_id}`, title: `Your mentoring session starts ${when}`,
      body: `At ${at}${roomName ? ` in ${roomName}` : ""}.`, open,
    });
  }
}

// "@Ada Lovelace" in a message: the ids of the people named so (case-insensitive, the whole
// name, the longest name first so "@Ada Lovelace" is not taken for "@Ada"). The server tells
// each of them (chat:mention) if they can read the conversation.
export function mentionsIn(body, people, meId) {
  let text = body.toLocaleLowerCase();
  const found = new Set();
  const names = people.filter((p) => p.user_id !== meId)
    .map((p) => ({ id: p.user_id, name: `@${p.display_name.replace(/ \(guest\)$/, "").toLocaleLowerCase()}` }))
    .filter((p) => p.name.length > 1)
    .sort((a, b) => b.name.length - a.name.length);
  for (const { id, name } of names) {
    for (let at = text.indexOf(name); at !== -1 && found.size < 20; at = text.indexOf(name, at + 1)) {
      const after = text[at + name.length];
      if (after !== undefined && /[\p{L}\p{N}_]/u.test(after)) continue; // "@Adam" is not "@Ada"
      found.add(id);
      text = text.slice(0, at) + " ".repeat(name.length) + text.slice(at + name.length); // taken
    }
  }
  return [...found];
}
