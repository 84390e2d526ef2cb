// The meeting's stage: how the tiles are laid out and what each one says. A grid that fills the
// space, with the active speaker larger; a shared screen as the main view with the cameras
// beside it (or below, when the stage is tall); the person's avatar while their camera is off
// or its picture has not arrived; "muted" and "speaking" in words as well as icons.
import { avatarColour, initials } from "/static/avatar.js";
import { el } from "/static/realtime.js";

const SVG = "http://www.w3.org/2000/svg";
const GAP = 8; // px between tiles (the same as in meeting.css)
const VIEW_KEY = "officehours.meeting.view";
const ICONS = {
  // A microphone with a stroke through it.
  muted: "M8 1.5a2.2 2.2 0 0 0-2.2 2.2v3.6a2.2 2.2 0 0 0 4.4 0V3.7A2.2 2.2 0 0 0 8 1.5zM3.8 7.3a4.2 4.2 0 0 0 8.4 0M8 11.6v2.9M2.5 2.5l11 11",
  // Three bars of a level meter.
  speaking: "M4 6v4M8 3v10M12 5.5v5",
};

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

// The grid that shows `count` 4:3 tiles largest in width × height, the featured one (the active
// speaker) spanning two columns and two rows. Returns columns and the tile size in px.
export function gridFor(count, width, height, featured = false, gap = GAP) {
  const big = featured && count >= 2;
  const cells = big ? count + 3 : count;
  const fewest = big ? 2 : 1;
  let best = { columns: fewest, width: 0 };
  for (let columns = fewest; columns <= Math.max(fewest, cells); columns += 1) {
    const rows = Math.max(big ? 2 : 1, Math.ceil(cells / columns));
    const w = (width - gap * (columns - 1)) / columns;
    const h = (height - gap * (rows - 1)) / rows;
    const tile = Math.min(w, (h * 4) / 3);
    if (tile > best.width + 0.5) best = { columns, width: tile };
  }
  const width4x3 = Math.max(0, Math.floor(best.width));
  return { columns: best.columns, width: width4x3, height: Math.floor((width4x3 * 3) / 4) };
}

export class Stage {
  // `personOf(userId)`: the person ({display_name, avatar_url?}) or undefined.
  constructor(root, personOf) {
    this.root = root;
    this.personOf = personOf;
    this.area = root.querySelector(".stage");
    this.main = root.querySelector(".main");
    this.tiles = root.querySelector(".tiles");
    this.summary = root.querySelector(".summary");
    this.members = new Map(); // connection -> member (docs/protocol.md)
    this.mine = { connection: null, userId: null, muted: false, cameraOff: false };
    this.speaking = null; // connection speaking now
    this.featured = null; // connection of the last other person who spoke: their tile is larger
    this.company = ""; // who else is in the meeting, in words
    // The floor plan under the stage (the office at a laptop's width): out of reach while it
    // is covered, so neither a click nor the Tab key lands on a room nobody can see.
    this.covered = root.closest(".floor-view")?.querySelector("#floor") ?? null;
    this.overlaid = matchMedia("(min-width: 761px)"); // the width at which meeting.css lays it over
    this.overlaid.addEventListener("change", () => this.cover());
    new ResizeObserver(() => this.layout()).observe(this.area);
    this.wireView();
    this.wireFullscreen();
  }

  show(visible) {
    this.root.hidden = !visible;
    this.cover();
  }

  cover() {
    if (!this.covered) return;
    const covering = !this.root.hidden && this.root.dataset.view === "stage" && this.overlaid.matches;
    const hadFocus = this.covered.contains(document.activeElement);
    this.covered.inert = covering;
    // Focus was on the plan (the room just walked into): it goes to the way back to the plan.
    if (covering && hadFocus) this.root.querySelector(".view-toggle").focus({ preventScroll: true });
  }

  // -- tiles ---------------------------------------------------------------------------------
  add({ key, source, stream, userId, connection, mine }) {
    const video = el("video", { autoplay: "", playsinline: "", "data-peer": key, "data-source": source });
    video.muted = mine; // never play your own microphone back
    video.srcObject = stream;
    const tile = el("figure", {
      class: `tile ${source}`, "data-user": userId ?? "me", "data-connection": connection ?? "",
      "data-source": source, "data-video": "waiting",
    }, video, el("div", { class: "avatar", "aria-hidden": "true" }), el("figcaption", {}));
    tile.mine = mine;
    tile.stream = stream;
    tile.userId = userId;
    for (const event of ["loadeddata", "playing", "resize", "emptied"]) video.addEventListener(event, () => this.paint(tile));
    this.tiles.append(tile);
    this.paint(tile);
    this.layout();
    return tile;
  }

  remove(tile) {
    if (!tile) return;
    tile.remove();
    this.layout();
  }

  // The remote stream got another track (video after audio): watch it too.
  trackAdded(tile) {
    if (tile) this.paint(tile);
  }

  clear() {
    this.main.replaceChildren();
    this.tiles.replaceChildren();
    this.members.clear();
    this.speaking = null;
    this.featured = null;
    this.mine.connection = null;
    this.company = "";
    this.setSummary("");
  }

  all() {
    return [...this.main.children, ...this.tiles.children];
  }

  // Whether the tile's picture is there to show: its camera on, a frame decoded, and frames
  // still arriving (a track is muted while nothing comes).
  flowing(tile) {
    const video = tile.querySelector("video");
    const track = tile.stream.getVideoTracks()[0];
    if (track && !track.watched) {
      track.watched = true;
      for (const event of ["mute", "unmute", "ended"]) track.addEventListener(event, () => this.paint(tile));
    }
    if (!track || track.readyState !== "live" || track.muted) return false;
    return video.readyState >= 2 && video.videoWidth > 0;
  }

  stateOf(tile) {
    if (tile.mine) return { muted: this.mine.muted, cameraOff: this.mine.cameraOff };
    const member = this.members.get(tile.dataset.connection);
    return { muted: Boolean(member?.muted), cameraOff: Boolean(member?.camera_off) };
  }

  // Draw one tile's avatar, caption and indicators from what is known now.
  paint(tile) {
    const camera = tile.dataset.source === "camera";
    const person = this.personOf(tile.mine ? this.mine.userId : tile.userId) || {};
    const name = tile.mine ? "You" : person.display_name || "Someone";
    const { muted, cameraOff } = camera ? this.stateOf(tile) : { muted: false, cameraOff: false };
    const speaking = camera && this.speaking !== null && tile.dataset.connection === this.speaking;
    const video = cameraOff ? "off" : this.flowing(tile) ? "on" : "waiting";
    if (tile.dataset.video !== video) tile.dataset.video = video;
    tile.toggleAttribute("data-muted", muted);
    tile.toggleAttribute("data-speaking", speaking);

    const avatarId = tile.mine ? this.mine.userId : tile.userId;
    const avatar = tile.querySelector(".avatar");
    const key = person.avatar_url ? `url ${person.avatar_url}` : `initials ${initials(person.display_name || name)} ${avatarId}`;
    if (avatar.dataset.key !== key) {
      avatar.dataset.key = key;
      const face = person.avatar_url
        ? el("img", { class: "face", src: person.avatar_url, alt: "" })
        : el("span", { class: "face" }, initials(person.display_name || name));
      if (!person.avatar_url && avatarId !== null && avatarId !== undefined) face.style.setProperty("--avatar-colour", avatarColour(avatarId));
      avatar.replaceChildren(face);
    }

    // The words are what screen readers read (the tile's name is its caption); the icons are
    // what the eye reads. Text is only present while true: "muted" is nowhere on an unmuted tile.
    const caption = [el("span", { class: "name" }, camera ? name : `${name} — screen`)];
    if (muted) caption.push(el("span", { class: "indicator muted" }, icon("muted"), el("span", { class: "visually-hidden" }, ", muted")));
    if (speaking) caption.push(el("span", { class: "indicator speaking" }, icon("speaking"), el("span", { class: "visually-hidden" }, ", speaking")));
    if (camera && video === "off") caption.push(el("span", { class: "visually-hidden" }, ", camera off"));
    const figcaption = tile.querySelector("figcaption");
    if (figcaption.textContent !== caption.map((c) => c.textContent).join("")) figcaption.replaceChildren(...caption);
  }

  paintAll() {
    for (const tile of this.all()) this.paint(tile);
  }

  // -- what the meeting says -----------------------------------------------------------------
  setMine(fields) {
    Object.assign(this.mine, fields);
    this.paintAll();
  }

  setMembers(members) {
    this.members = new Map(members.map((m) => [m.connection, m]));
    const others = [...new Set(members.filter((m) => m.connection !== this.mine.connection).map((m) => m.user_id))];
    const names = others.map((id) => this.personOf(id)?.display_name || "someone");
    const list = new Intl.ListFormat("en", { type: "conjunction" }).format(names);
    this.company = names.length ? `Meeting with ${list}` : "Waiting for others to join…";
    this.summarise();
    this.paintAll();
  }

  // One line of what is going on, read out when it changes (role="status"): who is here and
  // whose screen is the main view.
  summarise() {
    const main = this.main.firstElementChild;
    const sharer = main && (main.mine ? "You are sharing your screen" : `${this.personOf(main.userId)?.display_name || "Someone"} is sharing their screen`);
    this.setSummary([this.company, sharer].filter(Boolean).join(" · "));
  }

  setSpeaker(connection) {
    this.speaking = connection;
    // The featured tile stays on the last other person who spoke: your own voice does not
    // enlarge you, and silence does not shuffle the grid.
    if (connection !== null && connection !== this.mine.connection) this.featured = connection;
    this.paintAll();
    this.layout();
  }

  setSummary(text) {
    if (this.summary.textContent !== text) this.summary.textContent = text;
  }

  // -- layout --------------------------------------------------------------------------------
  layout() {
    const tiles = this.all();
    const screens = tiles.filter((t) => t.dataset.source === "screen");
    // Someone else's screen before your own (you know what you are showing).
    const main = screens.filter((t) => !t.mine).at(-1) || screens.at(-1) || null;
    for (const tile of [...this.main.children]) if (tile !== main) this.moveTo(this.tiles, tile);
    if (main && main.parentNode !== this.main) this.moveTo(this.main, main);
    const strip = [...this.tiles.children];
    const featured = main ? null : strip.find((t) => t.dataset.source === "camera" && t.dataset.connection === this.featured && strip.length >= 2);
    for (const tile of strip) tile.classList.toggle("featured", tile === featured);
    this.area.dataset.layout = main ? "share" : "grid";
    this.summarise();
    const width = this.area.clientWidth;
    const height = this.area.clientHeight;
    if (!width || !height) return;
    if (main) {
      this.area.dataset.strip = width / height >= 1.2 ? "side" : "below";
      return;
    }
    const grid = gridFor(strip.length, width, height, Boolean(featured));
    this.tiles.style.setProperty("--columns", grid.columns);
    this.tiles.style.setProperty("--tile-width", `${grid.width}px`);
    this.tiles.style.setProperty("--tile-height", `${grid.height}px`);
  }

  // Moving a playing video in the page may pause it: play on.
  moveTo(parent, tile) {
    parent.append(tile);
    tile.querySelector("video")?.play().catch(() => {});
  }

  // -- the floor plan or the meeting; full screen --------------------------------------------
  wireView() {
    const button = this.root.querySelector(".view-toggle");
    const show = (view) => {
      this.root.dataset.view = view;
      button.textContent = view === "stage" ? "Show floor plan" : "Show meeting";
      try { localStorage.setItem(VIEW_KEY, view); } catch { /* private mode: not remembered */ }
      this.cover();
    };
    let saved = null;
    try { saved = localStorage.getItem(VIEW_KEY); } catch { /* not remembered */ }
    show(saved === "map" ? "map" : "stage");
    button.addEventListener("click", () => show(this.root.dataset.view === "stage" ? "map" : "stage"));
  }

  wireFullscreen() {
    const button = this.root.querySelector(".fullscreen");
    button.hidden = !document.fullscreenEnabled;
    const label = () => { button.textContent = document.fullscreenElement === this.root ? "Exit full screen" : "Full screen"; };
    document.addEventListener("fullscreenchange", label);
    button.addEventListener("click", () => {
      const done = document.fullscreenElement === this.root ? document.exitFullscreen() : this.root.requestFullscreen();
      done.catch(() => {});
    });
    label();
  }

  leaveFullscreen() {
    if (document.fullscreenElement === this.root) document.exitFullscreen().catch(() => {});
  }
}

export function stageMarkup() {
  return el("section", { class: "meeting", "aria-label": "Meeting", hidden: "" },
    el("div", { class: "stage", "data-layout": "grid" },
      el("div", { class: "main" }),
      el("div", { class: "tiles" })),
    el("div", { class: "controls" },
      el("p", { class: "summary", role: "status" }),
      el("button", { type: "button", class: "mic", disabled: "" }, "Mute"),
      el("button", { type: "button", class: "cam", disabled: "" }, "Camera off"),
      el("button", { type: "button", class: "share", disabled: "" }, "Share screen"),
      el("button", { type: "button", class: "secondary view-toggle" }, "Show floor plan"),
      el("button", { type: "button", class: "secondary fullscreen" }, "Full screen")));
}
