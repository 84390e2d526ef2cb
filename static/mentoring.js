// Mentoring: my invitations, my pairings (agreement, goals, milestones, sessions, notes,
// feedback) and, for program managers, a small program page. Everything a person typed is
// rendered with el(), which sets it as text.
import { api } from "/static/api.js";
import { Notifier } from "/static/notify.js";
import { connect, el, showToast, signedOut } from "/static/realtime.js";

const M = "/api/mentoring";
const $ = (id) => document.getElementById(id);
const state = {
  me: null, manager: false, people: [], rooms: new Map(), programs: new Map(),
  pairs: new Map(), // pair id → { doc, card }
  mentored: new Set(), // my mentee enrolments that have an active pair
  program: null, enrolments: [], proposal: null,
  myStatus: "available", // for do-not-disturb: from the snapshot, then office:delta
};
let socket;
let notifier;
let uid = 0;

// -- small helpers ------------------------------------------------------------------------

function field(label, control, { hidden = false } = {}) {
  // A control with a real <label>: every input is named for keyboards and screen readers.
  if (!control.id) control.id = `f${++uid}`;
  return el("span", { class: "field" },
    el("label", { for: control.id, class: hidden ? "visually-hidden" : "" }, label), control);
}

function when(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function day(iso) {
  return new Date(iso).toLocaleDateString([], { dateStyle: "medium" });
}

function tags(text) {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

async function attempt(action, done) {
  try {
    const result = await action();
    if (done) showToast(done);
    return result;
  } catch (error) {
    showToast(error.message);
    return undefined;
  }
}

function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try { await handler(); } finally { if (button) button.disabled = false; }
  });
  return form;
}

/** Keep list items (keyed by id) in place so focus and half-typed text survive updates. */
function reconcile(list, items, build, update) {
  const existing = new Map([...list.children].map((n) => [n.dataset.key, n]));
  const wanted = items.map((item) => {
    const key = String(item.id);
    let node = existing.get(key);
    if (!node) { node = build(item); node.dataset.key = key; }
    update(node, item);
    return node;
  });
  wanted.forEach((node, i) => { if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null); });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
}

/** A textarea that remembers whether the person changed it since it was last saved. */
function noteArea(label, hint) {
  const area = el("textarea", { rows: "3", maxlength: "20000", "aria-describedby": undefined });
  area.addEventListener("input", () => { area.dataset.dirty = "1"; });
  area.setValue = (text) => { if (area.dataset.dirty !== "1" && document.activeElement !== area) area.value = text; };
  const help = el("span", { class: "hint", id: `h${++uid}` }, hint);
  area.setAttribute("aria-describedby", help.id);
  return { area, node: el("div", { class: "note" }, field(label, area), help) };
}

// -- boot ---------------------------------------------------------------------------------

async function boot() {
  let session;
  try { session = await api("GET", "/api/auth/session"); }
  catch { location.href = "/"; return; }
  if (session.roles.some((r) => r.role === "guest")) { location.href = "/"; return; }
  state.me = session.user.id;
  state.manager = session.roles.some((r) => r.role === "org_admin" || r.role === "program_manager");
  $("me").textContent = session.user.display_name;
  $("signout").addEventListener("click", async () => { await api("POST", "/api/auth/sign-out"); location.href = "/"; });
  $("make-feed").addEventListener("click", makeFeed);
  if (state.manager) wireManager();

  socket = connect();
  notifier = new Notifier({ status: () => state.myStatus });
  notifier.load();
  socket.on("connect", async () => {
    setConnection(true);
    await attempt(async () => {
      const snap = await socket.call("office:snapshot");
      state.people = snap.people.filter((p) => !p.guest);
      state.myStatus = state.people.find((p) => p.user_id === state.me)?.status || state.myStatus;
      state.rooms = new Map(snap.rooms.map((r) => [r.id, r]));
    });
    await loadAll(); // after a reconnect too: events may have been missed
  });
  socket.on("disconnect", () => setConnection(false));
  socket.on("server:restarting", () => setConnection(false));
  socket.on("connect_error", (err) => { setConnection(false); if (signedOut(err.data?.code)) location.href = "/"; });
  socket.on("session:ended", () => { location.href = "/"; });
  socket.on("account:ended", () => { location.href = "/"; });
  socket.on("mentoring:invited", (e) => { showToast(`You are invited to ${e.program_name} as ${e.role}`); loadInvitations(); });
  socket.on("mentoring:matched", () => { loadPrograms().then(loadPairs).then(loadInvitations); });
  socket.on("mentoring:unmatched", () => loadPairs().then(loadInvitations));
  socket.on("mentoring:session", (e) => refreshPair(e.pair_id));
  socket.on("mentoring:pair_changed", onPairChanged);
  socket.on("mentoring:step", (e) => showToast(`New in your program: ${e.step.title}`, 6000));
  socket.on("mentoring:reminder", (e) => {
    showToast(`A mentoring session starts at ${when(e.starts_at)}`, 8000);
    notifier.sessionSoon(e, state.rooms.get(e.room_id)?.name);
  });
  socket.on("office:delta", ({ people }) => {
    const me = people.find((p) => p.user_id === state.me);
    if (me) state.myStatus = me.status;
  });
  socket.on("office:layout", ({ rooms }) => { state.rooms = new Map(rooms.map((r) => [r.id, r])); });
  // Sessions move from upcoming to past (and open for feedback) as time passes.
  setInterval(() => { for (const entry of state.pairs.values()) if (entry.doc) updatePair(entry.card, entry.doc); }, 30000);
}

function setConnection(online) {
  $("connection").textContent = online ? "online" : "reconnecting…";
  $("connection").classList.toggle("online", online);
}

async function loadAll() {
  await loadPrograms();
  await loadPairs(); // first: an invitation card offers a mentee without a mentor a choice
  await loadInvitations();
  if (state.manager) await loadProgram();
}

async function loadPrograms() {
  const { programs } = await attempt(() => api("GET", `${M}/programs`)) || { programs: [] };
  state.programs = new Map(programs.map((p) => [p.id, p]));
  if (state.manager) fillProgramSelect();
}

// -- invitations --------------------------------------------------------------------------

const SHARED = "If you accept, the program's managers see your name in the program, your role and the matching profile below (skills, goals, interests, languages, time zone, weekly hours and, as a mentor, how many mentees you take); each time they look, it is recorded. As a mentor, mentees' suggestions use only the parts you tick under \u201cShown to mentees\u201d (skills and languages to begin with), and never your hours or time zone in detail. Nothing of it is shared before you accept, or if you decline. Notes, goals and feedback in a pairing are only ever seen by the two of you.";
// What a mentor may let mentees' suggestions use, with the words shown beside each box.
const SHOWABLE = [["skills", "Show my skills"], ["languages", "Show my languages"], ["goals", "Show my goals"],
  ["interests", "Show my interests"], ["availability", "Show that our weekly hours overlap"],
  ["timezone", "Show that our time zones are close"], ["protected", "Show the optional attributes I opted in"]];

async function loadInvitations() {
  const data = await attempt(() => api("GET", `${M}/enrolments`));
  if (!data) return;
  const shown = data.enrolments.filter((e) => e.state === "invited" || e.state === "active");
  $("no-invitations").hidden = shown.length > 0;
  reconcile($("invitations"), shown, buildInvitation, updateInvitation);
}

function buildInvitation(e) {
  const profile = e.profile;
  const inputs = {
    skills: el("input", { value: profile.skills.join(", "), maxlength: "800" }),
    goals: el("input", { value: profile.goals.join(", "), maxlength: "800" }),
    interests: el("input", { value: profile.interests.join(", "), maxlength: "800" }),
    languages: el("input", { value: profile.languages.join(", "), maxlength: "400" }),
    timezone: el("input", { value: profile.timezone, maxlength: "64" }),
  };
  const capacity = el("input", { type: "number", min: "0", max: "20", value: String(profile.capacity) });
  const shownBoxes = SHOWABLE.map(([key, label]) => {
    const box = el("input", { type: "checkbox", value: key });
    box.checked = (profile.shown_to_mentees || []).includes(key);
    return el("label", { class: "check" }, box, ` ${label}`);
  });
  const shownToMentees = e.role === "mentor"
    ? el("fieldset", { class: "shown" }, el("legend", {}, "Shown to mentees in their suggestions"), ...shownBoxes)
    : null;
  const form = onSubmit(el("form", { class: "profile", autocomplete: "off" },
    field("Skills (comma-separated)", inputs.skills),
    field("Goals", inputs.goals),
    field("Interests", inputs.interests),
    field("Languages", inputs.languages),
    field("Time zone (e.g. Europe/Berlin)", inputs.timezone),
    e.role === "mentor" ? field("Mentees I can take", capacity) : null,
    shownToMentees,
    el("button", { type: "submit", class: "secondary" }, "Save my profile")), async () => {
    const body = {
      skills: tags(inputs.skills.value), goals: tags(inputs.goals.value),
      interests: tags(inputs.interests.value), languages: tags(inputs.languages.value),
      timezone: inputs.timezone.value.trim() || "UTC",
    };
    if (e.role === "mentor") {
      body.capacity = Number(capacity.value);
      body.shown_to_mentees = shownBoxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    }
    await attempt(() => api("PATCH", `${M}/enrolments/${e.id}/profile`, body), "Profile saved");
  });
  const answer = async (accept) => {
    const done = await attempt(() => api("POST", `${M}/enrolments/${e.id}/answer`, { accept }),
      accept ? "You joined the program" : "Invitation declined");
    if (done) { await loadPrograms(); await loadInvitations(); }
  };
  const heading = el("h3", {});
  const shared = el("p", { class: "shared" }, SHARED);
  const buttons = el("div", { class: "row answer" },
    el("button", { type: "button", onclick: () => answer(true) }, "Accept"),
    el("button", { type: "button", class: "secondary", onclick: () => answer(false) }, "Decline"));
  const choices = el("div", { class: "choices", "aria-live": "polite" });
  const pick = el("div", { class: "pick", hidden: "" },
    el("button", { type: "button", class: "secondary", onclick: () => showMentors(e, choices) }, "Choose my mentor"),
    choices);
  const details = el("details", {}, el("summary", {}, "My profile in this program"), form);
  return el("li", { class: "card invitation" }, heading, el("p", { class: "muted status-line" }), shared, buttons, pick, details);
}

// A mentee without a mentor in the program picks one of their suggested mentors.
async function showMentors(e, box) {
  const data = await attempt(() => api("GET", `${M}/programs/${e.program_id}/suggestions?mentee_enrolment_id=${e.id}`));
  if (!data) return;
  showSuggestions(box, el("h4", { tabindex: "-1" }, "Mentors suggested for you"), data.suggestions, {
    action: "Choose", label: (s) => `Choose ${s.display_name} as my mentor`,
    choose: (s) => pickMentor(e, s, box),
    none: "No mentor has room for another mentee yet. Try again later, or ask the program's manager.",
  });
}

// Ranked mentors with their reasons and one button each; the manager's view adds the score.
function showSuggestions(box, heading, suggestions, { action, label, choose, none, score = false }) {
  box.replaceChildren(heading, suggestions.length ? el("ol", { class: "suggestions" }, ...suggestions.map((s) =>
    el("li", {},
      el("div", { class: "row" }, el("strong", {}, s.display_name),
        score ? el("span", { class: "score" }, `score ${s.score}`) : null,
        el("button", { type: "button", "aria-label": label(s), onclick: () => choose(s) }, action)),
      el("ul", { class: "reasons" }, ...s.reasons.map((r) => el("li", {}, r))))))
    : el("p", { class: "muted" }, none));
  heading.focus();
}

async function pickMentor(e, suggestion, box) {
  const made = await attempt(() => api("POST", `${M}/programs/${e.program_id}/pick`,
    { mentor_enrolment_id: suggestion.mentor_enrolment_id }), `${suggestion.display_name} is your mentor`);
  if (!made) return;
  box.replaceChildren();
  await loadPairs();
  await loadInvitations();
}

function updateInvitation(node, e) {
  const open = e.state === "invited";
  node.querySelector("h3").textContent = `${e.program_name} — ${e.role === "mentor" ? "mentor" : "mentee"}`;
  node.querySelector(".status-line").textContent = open
    ? `You are invited as “${e.display_name}”. Fill in your profile, then accept or decline.`
    : `You take part as “${e.display_name}” since ${day(e.accepted_at)}.`;
  node.querySelector(".shared").hidden = !open;
  node.querySelector(".answer").hidden = !open;
  node.querySelector(".pick").hidden = !(e.role === "mentee" && e.state === "active" && !state.mentored.has(e.id));
  // Open while deciding; folded away once the person has answered.
  if (open !== (node.dataset.state === "invited")) node.querySelector("details").open = open;
  node.dataset.state = e.state;
}

// -- pairings -----------------------------------------------------------------------------

async function loadPairs() {
  const data = await attempt(() => api("GET", `${M}/pairs`));
  if (!data) return;
  const active = data.pairs.filter((p) => p.state === "active");
  state.mentored = new Set(active.map((p) => p.mentee_enrolment_id));
  $("no-pairs").hidden = active.length > 0;
  const docs = (await Promise.all(active.map((p) => attempt(() => api("GET", `${M}/pairs/${p.id}`))))).filter(Boolean);
  reconcile($("pairs"), docs, buildPair, updatePair);
  for (const id of [...state.pairs.keys()]) if (!docs.some((d) => d.id === id)) state.pairs.delete(id);
}

async function refreshPair(pairId) {
  const entry = state.pairs.get(pairId);
  if (!entry) { await loadPairs(); return; }
  const doc = await attempt(() => api("GET", `${M}/pairs/${pairId}`));
  if (doc) updatePair(entry.card, doc);
}

function onPairChanged(event) {
  const entry = state.pairs.get(event.pair_id);
  if (!entry) { loadPairs(); return; }
  if (event.what === "notes" || event.what === "feedback") {
    const session = entry.sessions.get(event.session_id);
    if (session) (event.what === "notes" ? session.loadNotes : session.loadFeedback)();
    return;
  }
  refreshPair(event.pair_id);
}

function buildPair(doc) {
  const iAmMentor = doc.mentor_id === state.me;
  const title = el("h3", {});
  const program = el("p", { class: "muted" });
  const room = el("button", { type: "button", class: "go-room", onclick: () => { location.href = `/office?room=${doc.room_id}`; } }, "Go to our room");

  // Agreement
  const agreed = noteArea("What we agreed to work on", "Seen by both of you.");
  const cadence = el("select", {},
    el("option", { value: "weekly" }, "Weekly"),
    el("option", { value: "fortnightly" }, "Every two weeks"),
    el("option", { value: "monthly" }, "Monthly"));
  const agreedAt = el("p", { class: "muted" });
  const agreementForm = onSubmit(el("form", { class: "agreement" }, agreed.node,
    el("div", { class: "row" }, field("How often we meet", cadence),
      el("button", { type: "submit", class: "secondary" }, "Save agreement")), agreedAt), async () => {
    const saved = await attempt(() => api("PUT", `${M}/pairs/${doc.id}/agreement`,
      { goals: agreed.area.value, cadence: cadence.value }), "Agreement saved");
    if (saved) delete agreed.area.dataset.dirty;
  });

  // Goals
  const goals = el("ul", { class: "goals" });
  const goalTitle = el("input", { maxlength: "300", required: "" });
  const goalForm = onSubmit(el("form", { class: "row", autocomplete: "off" },
    field("New goal", goalTitle), el("button", { type: "submit" }, "Add goal")), async () => {
    if (await attempt(() => api("POST", `${M}/pairs/${doc.id}/goals`, { title: goalTitle.value }))) {
      goalTitle.value = "";
      await refreshPair(doc.id);
    }
  });

  // Sessions
  const start = el("input", { type: "datetime-local", required: "" });
  const soon = new Date(Date.now() + 86400000);
  soon.setHours(10, 0, 0, 0);
  start.value = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const minutes = el("select", {}, ...[30, 45, 60, 90].map((m) => el("option", { value: String(m), selected: m === 60 ? "" : undefined }, `${m} minutes`)));
  const scheduleForm = onSubmit(el("form", { class: "row wrap schedule" },
    field("Starts at", start), field("Length", minutes),
    el("button", { type: "submit" }, "Schedule session")), async () => {
    const at = new Date(start.value);
    if (Number.isNaN(at.getTime())) { showToast("Pick a date and time"); return; }
    if (await attempt(() => api("POST", `${M}/pairs/${doc.id}/sessions`,
      { starts_at: at.toISOString(), minutes: Number(minutes.value) }), "Session scheduled")) await refreshPair(doc.id);
  });
  const upcoming = el("ul", { class: "sessions", "aria-label": "Upcoming sessions" });
  const past = el("ul", { class: "sessions", "aria-label": "Past sessions" });

  const card = el("article", { class: "card pair", "data-pair": doc.id, "aria-labelledby": `pair-${doc.id}-title` },
    el("div", { class: "pair-head" }, el("div", {}, title, program), room),
    el("div", { class: "pair-body" },
      el("div", {},
        el("h4", {}, "Goals and milestones"), goals, goalForm,
        el("h4", {}, "Agreement"), agreementForm),
      el("div", {},
        el("h4", {}, "Sessions"), scheduleForm,
        el("h5", {}, "Upcoming"), upcoming,
        el("h5", {}, "Past"), past)));
  title.id = `pair-${doc.id}-title`;
  const entry = { card, sessions: new Map(), iAmMentor, parts: { title, program, room, agreed, cadence, agreedAt, goals, upcoming, past } };
  state.pairs.set(doc.id, entry);
  card.entry = entry;
  return card;
}

function updatePair(card, doc) {
  const entry = card.entry;
  entry.doc = doc;
  const { title, program, room, agreed, cadence, agreedAt, goals, upcoming, past } = entry.parts;
  const other = entry.iAmMentor ? doc.mentee_name : doc.mentor_name;
  title.textContent = `${other || "Your pair"} — ${entry.iAmMentor ? "you are the mentor" : "your mentor"}`;
  const roomName = state.rooms.get(doc.room_id)?.name;
  program.textContent = `${state.programs.get(doc.program_id)?.name || "Program"} · matched ${day(doc.matched_at)}${roomName ? ` · room: ${roomName}` : ""}`;
  room.hidden = !doc.room_id;
  agreed.area.setValue(doc.agreement.goals);
  if (doc.agreement.cadence && document.activeElement !== cadence) cadence.value = doc.agreement.cadence;
  agreedAt.textContent = doc.agreement.agreed_at ? `Last agreed ${when(doc.agreement.agreed_at)}` : "Not agreed yet.";
  reconcile(goals, doc.goals, (g) => buildGoal(doc.id, g), updateGoal);
  const now = Date.now();
  const live = doc.sessions.filter((s) => !s.cancelled && new Date(s.ends_at).getTime() > now);
  const done = doc.sessions.filter((s) => s.cancelled || new Date(s.ends_at).getTime() <= now).reverse();
  reconcile(upcoming, live, (s) => buildSession(entry, doc.id, s), updateSession);
  reconcile(past, done, (s) => buildSession(entry, doc.id, s), updateSession);
  if (!live.length) upcoming.replaceChildren(el("li", { class: "muted", "data-key": "none" }, "Nothing scheduled."));
  if (!done.length) past.replaceChildren(el("li", { class: "muted", "data-key": "none" }, "No past sessions."));
}

function buildGoal(pairId, goal) {
  const title = el("span", { class: "title" });
  const status = el("span", { class: "badge-status" });
  const toggle = el("button", { type: "button", class: "secondary small" });
  toggle.addEventListener("click", async () => {
    const next = toggle.dataset.status === "done" ? "open" : "done";
    if (await attempt(() => api("PATCH", `${M}/goals/${goal.id}`, { status: next }))) await refreshPair(pairId);
  });
  const milestones = el("ul", { class: "milestones" });
  const msTitle = el("input", { maxlength: "300", required: "" });
  const msDue = el("input", { type: "date" });
  const form = onSubmit(el("form", { class: "row wrap", autocomplete: "off" },
    field("New milestone", msTitle), field("Due (optional)", msDue),
    el("button", { type: "submit", class: "secondary" }, "Add milestone")), async () => {
    const body = { title: msTitle.value };
    if (msDue.value) body.due_on = `${msDue.value}T00:00:00Z`;
    if (await attempt(() => api("POST", `${M}/goals/${goal.id}/milestones`, body))) {
      msTitle.value = ""; msDue.value = "";
      await refreshPair(pairId);
    }
  });
  const node = el("li", { class: "goal" }, el("div", { class: "row" }, status, title, toggle), milestones, form);
  node.parts = { title, status, toggle, milestones, pairId };
  return node;
}

function updateGoal(node, goal) {
  const { title, status, toggle, milestones, pairId } = node.parts;
  title.textContent = goal.title;
  status.textContent = goal.status === "done" ? "done" : "open";
  status.className = `badge-status ${goal.status}`;
  toggle.dataset.status = goal.status;
  toggle.textContent = goal.status === "done" ? "Reopen" : "Mark done";
  toggle.setAttribute("aria-label", `${toggle.textContent}: goal ${goal.title}`);
  reconcile(milestones, goal.milestones, (m) => buildMilestone(pairId, m), updateMilestone);
}

function buildMilestone(pairId, ms) {
  const text = el("span", { class: "title" });
  const status = el("span", { class: "badge-status" });
  const toggle = el("button", { type: "button", class: "secondary small" });
  toggle.addEventListener("click", async () => {
    const next = toggle.dataset.status === "done" ? "open" : "done";
    if (await attempt(() => api("PATCH", `${M}/milestones/${ms.id}`, { status: next }))) await refreshPair(pairId);
  });
  const node = el("li", { class: "row" }, status, text, toggle);
  node.parts = { text, status, toggle };
  return node;
}

function updateMilestone(node, ms) {
  const { text, status, toggle } = node.parts;
  text.textContent = ms.due_on ? `${ms.title} (due ${day(ms.due_on)})` : ms.title;
  status.textContent = ms.status;
  status.className = `badge-status ${ms.status}`;
  toggle.dataset.status = ms.status;
  toggle.textContent = ms.status === "done" ? "Reopen" : "Mark done";
  toggle.setAttribute("aria-label", `${toggle.textContent}: milestone ${ms.title}`);
}

function buildSession(entry, pairId, s) {
  const label = el("strong", {});
  const ics = el("a", { href: `${M}/sessions/${s.id}/calendar.ics`, download: `mentoring-session-${s.id}.ics` }, "Add to calendar");
  const cancel = el("button", { type: "button", class: "secondary small" }, "Cancel session");
  cancel.addEventListener("click", async () => {
    if (await attempt(() => api("DELETE", `${M}/sessions/${s.id}`), "Session cancelled")) await refreshPair(pairId);
  });

  const shared = noteArea("Shared notes — both of you see these", "Shared with your pair.");
  const mine = noteArea("My private notes — only you see these", "Private: never shown to your pair or to anyone else.");
  const saveNote = (kind, area) => async () => {
    const saved = await attempt(() => api("PUT", `${M}/sessions/${s.id}/notes/${kind}`, { body: area.value }),
      kind === "shared" ? "Shared notes saved" : "Private notes saved");
    if (saved) delete area.dataset.dirty;
  };
  const notes = el("div", { class: "notes" },
    el("div", { class: "note-box shared-note" }, shared.node,
      el("button", { type: "button", class: "secondary small", onclick: saveNote("shared", shared.area) }, "Save shared notes")),
    el("div", { class: "note-box private-note" }, mine.node,
      el("button", { type: "button", class: "secondary small", onclick: saveNote("private", mine.area) }, "Save private notes")));
  const loadNotes = async () => {
    const data = await attempt(() => api("GET", `${M}/sessions/${s.id}/notes`));
    if (!data) return;
    shared.area.setValue(data.shared?.body || "");
    mine.area.setValue(data.private?.body || "");
  };

  // Feedback (once the session has taken place)
  const rating = el("select", {}, ...[5, 4, 3, 2, 1].map((r) => el("option", { value: String(r) }, `${r} of 5`)));
  const comment = el("textarea", { rows: "2", maxlength: "4000" });
  const feedbackForm = onSubmit(el("form", { class: "feedback-form" },
    field("How was this session? Rating", rating), field("Anything to add (optional)", comment),
    el("button", { type: "submit", class: "secondary small" }, "Send feedback")), async () => {
    const body = { rating: Number(rating.value) };
    if (comment.value.trim()) body.text = comment.value;
    if (await attempt(() => api("POST", `${M}/sessions/${s.id}/feedback`, body), "Thank you for your feedback")) await loadFeedback();
  });
  const given = el("ul", { class: "plain feedback" });
  const loadFeedback = async () => {
    const data = await attempt(() => api("GET", `${M}/sessions/${s.id}/feedback`));
    if (!data) return;
    const mySide = entry.iAmMentor ? "mentor" : "mentee";
    feedbackForm.hidden = data.given_by.includes(mySide);
    given.replaceChildren(...(data.feedback || []).map((f) => el("li", {},
      el("strong", {}, f.from === mySide ? "You" : entry.iAmMentor ? "Your mentee" : "Your mentor"),
      `: ${f.rating} of 5`, f.text ? el("span", { class: "feedback-text" }, ` — ${f.text}`) : null)));
  };
  const feedback = el("div", { class: "feedback-box" }, el("h6", {}, "Feedback"), given, feedbackForm);

  const details = el("details", { class: "session-notes" }, el("summary", {}, "Notes and feedback"), notes, feedback);
  let loaded = false;
  details.addEventListener("toggle", () => { if (details.open && !loaded) { loaded = true; loadNotes(); loadFeedback(); } });
  const node = el("li", { class: "session", "data-session": s.id }, el("div", { class: "row" }, label, ics, cancel), details);
  node.parts = { label, cancel, ics, feedback };
  entry.sessions.set(s.id, { loadNotes: () => loaded && loadNotes(), loadFeedback: () => loaded && loadFeedback() });
  return node;
}

function updateSession(node, s) {
  const { label, cancel, ics, feedback } = node.parts;
  const length = Math.round((new Date(s.ends_at) - new Date(s.starts_at)) / 60000);
  label.textContent = `${when(s.starts_at)} · ${length} minutes${s.cancelled ? " · cancelled" : ""}`;
  const started = new Date(s.starts_at).getTime() <= Date.now();
  cancel.hidden = s.cancelled || started;
  ics.setAttribute("aria-label", `Add to calendar: the session of ${when(s.starts_at)}`);
  feedback.hidden = s.cancelled || !started;
}

async function makeFeed() {
  const feed = await attempt(() => api("POST", `${M}/calendar-feed`));
  if (!feed) return;
  $("feed").hidden = false;
  $("feed-url").value = feed.url;
  $("feed-url").focus();
  $("feed-url").select();
}

// -- program managers ---------------------------------------------------------------------

function wireManager() {
  $("manage").hidden = false;
  onSubmit($("new-program"), async () => {
    const created = await attempt(() => api("POST", `${M}/programs`, { name: $("program-name").value }), "Program created");
    if (!created) return;
    $("program-name").value = "";
    await loadPrograms();
    $("program-select").value = String(created.id);
    await loadProgram();
  });
  $("program-select").addEventListener("change", loadProgram);
  $("program-refresh").addEventListener("click", loadProgram);
  onSubmit($("invite-form"), async () => {
    const body = { user_id: Number($("invite-person").value), role: $("invite-role").value };
    if ($("invite-name").value.trim()) body.display_name = $("invite-name").value.trim();
    if (await attempt(() => api("POST", `${M}/programs/${state.program}/enrolments`, body), "Invitation sent")) {
      $("invite-name").value = "";
      await loadProgram();
    }
  });
  onSubmit($("match-form"), () => match(Number($("match-mentor").value), Number($("match-mentee").value)));
  $("assign-preview").addEventListener("click", () => assign(false));
  $("assign-apply").addEventListener("click", () => assign(true));
  window.addEventListener("focus", () => { if (state.program) loadProgram(); });
}

function fillProgramSelect() {
  const select = $("program-select");
  const current = select.value;
  select.replaceChildren(...[...state.programs.values()].map((p) => el("option", { value: String(p.id) }, p.name)));
  if (current && state.programs.has(Number(current))) select.value = current;
}

async function loadProgram() {
  const id = Number($("program-select").value);
  $("program").hidden = !id;
  if (!id) return;
  if (id !== state.program) { $("suggestions").replaceChildren(); $("assignment").replaceChildren(); $("assign-apply").hidden = true; }
  state.program = id;
  const [enrolments, pairs, health] = await Promise.all([
    attempt(() => api("GET", `${M}/programs/${id}/enrolments`)),
    attempt(() => api("GET", `${M}/programs/${id}/pairs`)),
    attempt(() => api("GET", `${M}/programs/${id}/health`)),
  ]);
  if (health) showHealth(health);
  if (!enrolments || !pairs) return;
  state.enrolments = enrolments.enrolments;
  const names = new Map(state.enrolments.map((e) => [e.id, e.display_name]));
  const enrolled = new Set(state.enrolments.filter((e) => e.state === "invited" || e.state === "active").map((e) => e.user_id));
  const person = $("invite-person");
  const chosen = person.value;
  person.replaceChildren(...state.people.map((p) => el("option", { value: String(p.user_id) },
    enrolled.has(p.user_id) ? `${p.display_name} (enrolled)` : p.display_name)));
  if (chosen) person.value = chosen;

  $("enrolments").replaceChildren(...state.enrolments.map((e) => {
    const profile = e.profile
      ? [e.profile.skills.length ? `skills: ${e.profile.skills.join(", ")}` : "", `tz ${e.profile.timezone}`,
        e.role === "mentor" ? `takes ${e.profile.capacity}` : ""].filter(Boolean).join(" · ")
      : e.state === "invited" ? "shared once they accept" : "—";
    const canSuggest = e.role === "mentee" && e.state === "active" && e.active_pairs === 0;
    return el("tr", { "data-enrolment": e.id },
      el("td", {}, e.display_name), el("td", {}, e.role), el("td", {}, e.state),
      el("td", {}, String(e.active_pairs)), el("td", { class: "profile-cell" }, profile),
      el("td", {}, canSuggest ? el("button", { type: "button", class: "secondary small",
        "aria-label": `Suggestions for ${e.display_name}`, onclick: () => suggest(e) }, "Suggestions") : null));
  }));
  const active = (role) => state.enrolments.filter((e) => e.role === role && e.state === "active");
  const options = (list) => list.length
    ? list.map((e) => el("option", { value: String(e.id) }, e.display_name))
    : [el("option", { value: "" }, "nobody yet")];
  $("match-mentor").replaceChildren(...options(active("mentor")));
  $("match-mentee").replaceChildren(...options(active("mentee").filter((e) => e.active_pairs === 0)));
  $("program-pairs").replaceChildren(...pairs.pairs.map((p) => el("li", {},
    `${names.get(p.mentor_enrolment_id)} mentors ${names.get(p.mentee_enrolment_id)} · ${p.mode.replace("_", " ")}`,
    ` · score ${p.score ?? "—"} · ${p.state}`)));
  if (!pairs.pairs.length) $("program-pairs").replaceChildren(el("li", { class: "muted" }, "No pairs yet."));
}

function showHealth(h) {
  const minutes = (s) => (s === null ? "—" : `${Math.round(s / 60)} min`);
  const rating = h.rating.suppressed
    ? "hidden until more people have rated"
    : `${h.rating.average} of 5 from ${h.rating.people} people (weeks up to ${day(h.rating.as_of)})`;
  const rows = [
    ["Mentors", h.mentors], ["Mentees", h.mentees], ["Open invitations", h.invitations_open],
    ["Pairs matched", h.pairs_matched], ["Pairs ended", h.pairs_ended],
    ["Pairs that met in the last 30 days", h.pairs_met_last_30_days],
    ["Sessions scheduled", h.sessions_scheduled], ["Sessions held", h.sessions_held],
    ["Median session length", minutes(h.median_session_seconds)],
    ["Goals open", h.goals_open], ["Goals completed", h.goals_completed],
    ["Feedback given (weeks that have ended)", h.feedback_given], ["Rating", rating],
  ];
  $("health").replaceChildren(...rows.map(([name, value]) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, String(value)))));
}

async function suggest(mentee) {
  const data = await attempt(() => api("GET", `${M}/programs/${state.program}/suggestions?mentee_enrolment_id=${mentee.id}`));
  if (!data) return;
  const heading = el("h3", { tabindex: "-1" }, `Suggested mentors for ${mentee.display_name}`);
  showSuggestions($("suggestions"), heading, data.suggestions, {
    action: "Match", label: (s) => `Match ${s.display_name} with ${mentee.display_name}`,
    choose: (s) => match(s.mentor_enrolment_id, mentee.id), none: "No mentor with capacity left.",
    score: true,
  });
}

async function match(mentorId, menteeId) {
  if (!mentorId || !menteeId) { showToast("Choose a mentor and a mentee"); return; }
  if (await attempt(() => api("POST", `${M}/programs/${state.program}/pairs`,
    { mentor_enrolment_id: mentorId, mentee_enrolment_id: menteeId }), "Matched")) {
    $("suggestions").replaceChildren();
    await loadProgram();
  }
}

const pairsOf = (n) => `${n} pair${n === 1 ? "" : "s"}`;

async function assign(apply) {
  const result = await attempt(() => api("POST", `${M}/programs/${state.program}/assign`, { apply }));
  if (!result) return;
  const names = new Map(state.enrolments.map((e) => [e.id, e.display_name]));
  const box = $("assignment");
  box.replaceChildren(...[
    el("p", {}, apply
      ? `Made ${pairsOf(result.pairs.length)} (total score ${result.total_score}).`
      : `Proposed ${pairsOf(result.pairs.length)}: total score ${result.total_score} (picking greedily would give ${result.greedy_total_score}).`),
    el("ul", { class: "plain" }, ...result.pairs.map((p) => el("li", {},
      el("strong", {}, `${names.get(p.mentor_enrolment_id)} → ${names.get(p.mentee_enrolment_id)}`),
      ` · score ${p.score}`, el("span", { class: "muted" }, ` — ${p.reasons.join("; ")}`)))),
    result.unassigned_mentees.length
      ? el("p", { class: "muted" }, `Left without a mentor: ${result.unassigned_mentees.map((id) => names.get(id)).join(", ")}`) : null,
  ].filter(Boolean));
  $("assign-apply").hidden = apply || result.pairs.length === 0;
  if (apply) await loadProgram();
}

boot();
