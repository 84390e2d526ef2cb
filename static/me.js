// "What admins can see about me", from GET /api/me/analytics: which figures count me, and
// every time an admin looked at one of them. Written for people, not for analysts. Below it,
// "Your account": an admin's password reset, every sign-in, my sessions, my password. Last,
// "Notifications": what reaches me while the office is in the background (static/notify.js).
import { api } from "/static/api.js";
import { el } from "/static/realtime.js";
import { resetNotice } from "/static/account.js";
import { askPermission, chime, desktopPermission, KINDS, loadSettings } from "/static/notify.js";

const WHAT = {
  active: ["Active people", "that you used the office (signed in, were online, entered a room)"],
  messages: ["Messages sent", "how many messages you sent, never what they said"],
  rooms: ["Time in rooms", "how many minutes you spent in rooms"],
  meetings: ["Meetings", "the meetings you took part in and how long they lasted"],
  mentoring: ["Mentoring", "your mentoring program activity, as counts"],
  ties_minutes: ["Time with other teams", "minutes you spent in a room with people of other teams"],
  ties_new_pairs: ["New cross-team pairs", "that you met someone from another team for the first time"],
  people: ["Per-person activity", "your name with your counts and last active day"],
};
const $ = (id) => document.getElementById(id);
const day = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const moment = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function dateOf(iso) { return day.format(new Date(`${iso}T00:00:00Z`)); }

function whose(scope) {
  if (scope === "org") return "the whole organization";
  if (String(scope).startsWith("unit:")) return "your department (unit)";
  if (String(scope).startsWith("group:")) return "your team (group)";
  return "a part of the organization";
}

function listOf(words) {
  if (words.length < 2) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

async function boot() {
  let session;
  try { session = await api("GET", "/api/auth/session"); }
  catch { location.href = "/"; return; }
  $("me").textContent = session.user.display_name;
  wireAccount();
  if (!session.roles.some((r) => r.role === "guest")) showNotificationSettings();
  loadAccount().catch((error) => { $("sign-ins-summary").textContent = `Could not load: ${error.message}`; });
  let report;
  const seen = lastSeenHead();
  const query = seen ? `?seen_entries=${seen.entries}&seen_head=${seen.mac}` : "";
  try { report = await api("GET", `/api/me/analytics${query}`); }
  catch (error) {
    $("problem").textContent = `This page could not be loaded: ${error.message}`;
    $("problem").hidden = false;
    return;
  }
  if (!report.from) {  // a guest: no pseudonym, so no figure can count them
    $("figures-summary").textContent = "As a guest you are not counted in any figure, and no dashboard shows anything about you.";
    return;
  }
  const period = `between ${dateOf(report.from)} and ${dateOf(report.to)}`;
  if (report.figures.some((f) => f.dashboard === "people")) $("per-person").hidden = false;
  renderFigures(report.figures, period);
  renderLooks(report.looks, period);
  renderAudit(report.audit, seen);
}

// The audit log's head (entries, MAC) this browser saw last: the server checks the log still
// holds it, so a log rewritten or cut back since then shows up here.
const SEEN_KEY = "officehours.audit-head";

function lastSeenHead() {
  try {
    const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || "null");
    if (seen && Number.isInteger(seen.entries) && /^[0-9a-f]{64}$/.test(seen.mac)) return seen;
  } catch { /* nothing usable stored */ }
  return null;
}

function renderAudit(audit, seen) {
  if (!audit) return;
  const fingerprint = audit.head.mac.slice(0, 16);
  if (audit.intact) {
    $("audit-summary").textContent =
      `The audit log these looks come from checks out: ${audit.head.entries} entries, fingerprint ${fingerprint}.`;
    localStorage.setItem(SEEN_KEY, JSON.stringify(audit.head));
  } else {
    const since = seen ? ` (this browser last saw ${seen.entries} entries, fingerprint ${seen.mac.slice(0, 16)})` : "";
    $("audit-summary").textContent =
      `Warning: the audit log has been changed, cut back or rewritten from entry ${audit.first_broken_seq} on${since}. The looks listed here may be incomplete.`;
    $("audit-summary").classList.add("problem");
  }
}

function renderFigures(figures, period) {
  if (figures.length === 0) {
    $("figures-summary").textContent = `You are not counted in any figure ${period}.`;
    return;
  }
  const byDashboard = new Map();
  for (const f of figures) {
    const entry = byDashboard.get(f.dashboard) || { weeks: [], scopes: new Set() };
    entry.weeks.push(f.week);
    f.scopes.forEach((s) => entry.scopes.add(s));
    byDashboard.set(f.dashboard, entry);
  }
  $("figures-summary").textContent =
    `${period[0].toUpperCase()}${period.slice(1)}, you are counted in ${byDashboard.size} kind${byDashboard.size === 1 ? "" : "s"} of figure.`;
  const rows = [...byDashboard].map(([name, entry]) => {
    const [title, meaning] = WHAT[name] || [name, ""];
    const weeks = entry.weeks.length === 1
      ? `the week of ${dateOf(entry.weeks[0])}`
      : `${entry.weeks.length} weeks, from the week of ${dateOf(entry.weeks[0])} to the week of ${dateOf(entry.weeks[entry.weeks.length - 1])}`;
    const levels = [...entry.scopes].sort(order).map(whose);
    return el("tr", {},
      el("th", { scope: "row" }, title),
      el("td", {}, meaning),
      el("td", {}, weeks),
      el("td", {}, `In the totals for ${listOf([...new Set(levels)])}`));
  });
  $("figures").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Figures that include you"),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Figure"), el("th", { scope: "col" }, "What it counts about you"),
      el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "Who can see it"))),
    el("tbody", {}, ...rows));
  $("figures").hidden = false;
}

function order(a, b) {
  const rank = (s) => (s.startsWith("group:") ? 0 : s.startsWith("unit:") ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}

function renderLooks(looks, period) {
  if (looks.length === 0) {
    $("looks-summary").textContent = `Nobody has looked at a figure that includes you ${period}.`;
    return;
  }
  $("looks-summary").textContent =
    `${looks.length} time${looks.length === 1 ? "" : "s"} an admin or lead opened or downloaded a figure that includes you, newest first.`;
  const rows = [...looks].reverse().map((look) => {
    const [title] = WHAT[look.dashboard] || [look.dashboard];
    const who = look.admin?.display_name || "An admin whose account was closed";
    return el("tr", {},
      el("td", {}, moment.format(new Date(look.at))),
      el("th", { scope: "row" }, who),
      el("td", {}, `${look.action === "exported" ? "Downloaded" : "Viewed"} “${title}” for ${whose(look.scope)}`),
      el("td", {}, `${dateOf(look.from)} to ${dateOf(look.to)}`));
  });
  $("looks").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Who looked at figures that include you"),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "Who"),
      el("th", { scope: "col" }, "What they did"), el("th", { scope: "col" }, "Period it covered"))),
    el("tbody", {}, ...rows));
  $("looks").hidden = false;
}

const HOW = { password: "Password", reset_credential: "Reset credential (one-time)", invite_code: "Invite code", guest_link: "Guest link" };

async function loadAccount() {
  const [security, sessions] = await Promise.all([api("GET", "/api/me/security"), api("GET", "/api/me/sessions")]);
  $("reset-box").replaceChildren(...[resetNotice(security)].filter(Boolean));
  const signIns = security.sign_ins;
  $("sign-ins-summary").textContent = signIns.length
    ? `Every sign-in into your account in the last ${security.history_days} days, newest first (never from where).`
    : `No sign-ins in the last ${security.history_days} days.`;
  $("sign-ins").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "How"))),
    el("tbody", {}, ...signIns.map((s) => el("tr", {}, el("td", {}, moment.format(new Date(s.at))), el("td", {}, HOW[s.method] || s.method)))));
  $("sign-ins").hidden = signIns.length === 0;
  $("sessions").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Signed in"), el("th", { scope: "col" }, "How"),
      el("th", { scope: "col" }, "Ends"), el("th", { scope: "col" }, ""))),
    el("tbody", {}, ...sessions.sessions.map((s) => el("tr", {},
      el("td", {}, moment.format(new Date(s.created_at))),
      el("td", {}, HOW[s.method] || s.method),
      el("td", {}, moment.format(new Date(s.expires_at))),
      el("td", {}, s.current ? "this browser" : el("button", { type: "button", class: "secondary", onclick: () => endSession(s.id) }, "Sign out"))))));
  $("sessions").hidden = false;
}

async function endSession(id) {
  await api("DELETE", `/api/me/sessions/${id}`);
  await loadAccount();
}

function wireAccount() {
  $("signout-everywhere").addEventListener("click", async () => {
    await api("POST", "/api/auth/sign-out-everywhere");
    location.href = "/";
  });
  $("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("password-result").textContent = "";
    try {
      await api("POST", "/api/me/password", {
        current_password: $("current-password").value, new_password: $("new-password").value,
      });
      $("password-form").reset();
      $("password-result").textContent = "Password changed. Your other sessions were signed out.";
      await loadAccount();
    } catch (error) {
      $("password-result").textContent = error.message;
    }
  });
}

boot();

// -- notifications -------------------------------------------------------------------------

const KIND_LABELS = {
  knocks: "someone knocks on a room I am in, or asks me over",
  direct_messages: "someone writes to me in a direct or group conversation",
  mentions: "someone mentions me (@ and my name) in a room's chat",
  guests_waiting: "a guest waits at a room I may let them into",
  mentoring_sessions: "one of my mentoring sessions is about to start",
};

async function showNotificationSettings() {
  const settings = await loadSettings();
  const boxes = KINDS.map((kind) => {
    const box = el("input", { type: "checkbox", id: `notify-${kind}`, "data-kind": kind });
    box.checked = settings[kind];
    return el("label", {}, box, ` ${KIND_LABELS[kind]}`);
  });
  $("notify-kinds").append(...boxes);
  $("notify-sound").checked = settings.sound;
  const inputs = [...$("notifications").querySelectorAll("input[type=checkbox]")];
  const chosen = () => Object.fromEntries([...KINDS, "sound"].map((k) => [k, $(`notify-${k}`).checked]));
  let saved = chosen();
  for (const input of inputs) {
    input.addEventListener("change", async () => {
      $("notify-saved").textContent = "Saving…";
      try {
        saved = await api("PUT", "/api/me/notifications", chosen());
        $("notify-saved").textContent = "Saved.";
      } catch (error) {
        for (const [kind, on] of Object.entries(saved)) $(`notify-${kind}`).checked = on;
        $("notify-saved").textContent = `Not saved: ${error.message}`;
      }
    });
  }
  let audio = null;
  $("notify-sound-try").addEventListener("click", () => {
    const Context = window.AudioContext || window.webkitAudioContext;
    audio ??= Context ? new Context() : null;
    if (audio) chime(audio);
  });
  $("notify-permission").addEventListener("click", async () => {
    await askPermission();
    describePermission();
  });
  describePermission();
  $("notifications").hidden = false;
}

const PERMISSION_WORDS = {
  granted: "Desktop notifications are on in this browser.",
  default: "Desktop notifications are off in this browser: the sound and the count in the title still work.",
  denied: "This browser blocks notifications from Officehours. To allow them, open the site settings (the icon left of the address) and allow notifications.",
  unsupported: "This browser cannot show desktop notifications; the sound and the count in the title still work.",
};

function describePermission() {
  const permission = desktopPermission();
  $("notify-desktop").textContent = PERMISSION_WORDS[permission] || PERMISSION_WORDS.unsupported;
  $("notify-permission").hidden = permission !== "default";
}
