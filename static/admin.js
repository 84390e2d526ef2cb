// The engagement dashboard: pick a dashboard, whose figures and a period; see the table
// (hidden figures marked) and a chart of it (uPlot, from npm), and download it as CSV.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { api } from "/static/api.js";
import { el } from "/static/realtime.js";

const DASHBOARDS = {
  active: { title: "Active people", about: "People who did anything in the office, by group. The total counts each person once." },
  messages: { title: "Messages sent", about: "How many messages were sent, by kind of conversation. Never what they said." },
  rooms: { title: "Time in rooms", about: "Minutes people spent in rooms, by kind of room." },
  meetings: { title: "Meetings", about: "Meetings that ended, their total minutes and their median length." },
  mentoring: { title: "Mentoring", about: "Mentoring program activity, counted in events." },
  ties_minutes: { title: "Time with other teams", about: "Minutes each group's people spent in a room with people of other groups." },
  ties_new_pairs: { title: "New cross-team pairs", about: "Pairs of people from different groups who were together for the first time." },
  people: { title: "Per-person activity", about: "Your organization's policy shows each person's activity: counts and the last active day, never what anyone wrote." },
};
const COLUMNS = {
  room: "Room chat", direct: "Direct messages", group: "Group chat", pair: "Mentoring pairs",
  team_room: "Team rooms", private_office: "Private offices", meeting_room: "Meeting rooms",
  mentoring_room: "Mentoring rooms", lobby: "Lobby", town_hall: "Town hall",
  held: "Meetings held", minutes: "Minutes", median_minutes: "Median length (minutes)",
};
const COLORS = ["#2f5bd3", "#2e9d55", "#d9822b", "#8e44ad", "#c62828", "#00838f", "#6d4c41", "#546e7a"];
const HIDDEN = "—";
const CHART_HEIGHT = 200;

const state = { names: {}, minGroupSize: 5, plot: null };
const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const longDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });

function scopeName(label) {
  if (state.names[label]) return state.names[label];
  if (label === "org") return "Whole organization";
  const [kind, id] = label.split(":");
  return `${kind === "unit" ? "Unit" : "Group"} ${id}`;
}

function scopeOption(label) {
  const kind = label === "org" ? "Organization" : label.startsWith("unit:") ? "Unit" : "Group";
  return `${kind}: ${scopeName(label)}`;
}

function columnName(column) {
  if (COLUMNS[column]) return COLUMNS[column];
  if (column.startsWith("group:") || column.startsWith("unit:")) return scopeName(column);
  const words = column.replace(/^mentoring_/, "").replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function periodName(iso, granularity, short = false) {
  const day = new Date(`${iso}T00:00:00Z`);
  if (short) return shortDate.format(day);
  return granularity === "week" ? `Week of ${longDate.format(day)}` : longDate.format(day);
}

function isoDay(date) { return date.toISOString().slice(0, 10); }

function hiddenText() { return `hidden: fewer than ${state.minGroupSize} people`; }

async function boot() {
  let session;
  try { session = await api("GET", "/api/auth/session"); }
  catch { location.href = "/"; return; }
  $("me").textContent = session.user.display_name;
  let index;
  try { index = await api("GET", "/api/admin/dashboards"); }
  catch (error) {
    showProblem(error.status === 403
      ? "The engagement dashboard is for organization admins, unit admins and group leads."
      : `The dashboard could not be loaded: ${error.message}`);
    return;
  }
  state.names = index.scope_names || {};
  state.minGroupSize = index.min_group_size;
  const dashboards = $("dashboard");
  const names = index.per_person_activity ? [...index.dashboards, "people"] : index.dashboards;
  for (const name of names) {
    dashboards.append(el("option", { value: name }, DASHBOARDS[name]?.title || columnName(name)));
  }
  const scopes = [...new Set([...index.scopes, ...Object.keys(state.names)])];
  for (const label of scopes) $("scope").append(el("option", { value: label }, scopeOption(label)));
  const today = new Date();
  $("to").value = isoDay(today);
  // This ISO week and the three before it (the server's default too).
  const monday = today.getTime() - ((today.getUTCDay() + 6) % 7) * 86400000;
  $("from").value = isoDay(new Date(monday - 21 * 86400000));
  $("controls").hidden = false;
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); show(); });
  // Per-person activity has no periods: one line per person for the whole span.
  dashboards.addEventListener("change", () => { $("granularity").disabled = dashboards.value === "people"; });
  window.addEventListener("resize", () => {
    if (state.plot) state.plot.setSize({ width: chartWidth(), height: CHART_HEIGHT });
  });
  await show();
}

function query() {
  const params = new URLSearchParams({
    scope: $("scope").value, from: $("from").value, to: $("to").value,
    granularity: $("granularity").value,
  });
  return params.toString();
}

async function show() {
  const name = $("dashboard").value;
  const q = query();
  if (name === "people") { await showPeople(q); return; }
  let table;
  try { table = await api("GET", `/api/admin/dashboards/${encodeURIComponent(name)}?${q}`); }
  catch (error) { showProblem(error.message); return; }
  $("problem").hidden = true;
  state.minGroupSize = table.min_group_size;
  const info = DASHBOARDS[name] || { title: columnName(name), about: "" };
  $("result-title").textContent = `${info.title} · ${scopeName(table.scope)}`;
  $("result-about").textContent = `${info.about} From ${longDate.format(new Date(`${table.from}T00:00:00Z`))} to ${longDate.format(new Date(`${table.to}T00:00:00Z`))}; figures are ${table.unit}.`;
  $("legend").replaceChildren(
    el("span", { class: "hidden-cell", "aria-hidden": "true" }, HIDDEN),
    ` means ${hiddenText()}, so that nobody can be picked out of a small group. `,
    "Zero looks the same, and other figures may be hidden too so that none can be worked out from the rest. ",
    el("span", { class: "pending-cell", "aria-hidden": "true" }, "…"),
    ` means ${PENDING}.`,
  );
  $("csv").href = `/api/admin/dashboards/${encodeURIComponent(name)}/csv?${q}`;
  $("result").hidden = false; // before the chart, so it can take the width it is given
  renderTable(table, info.title);
  renderChart(table);
}

async function showPeople(q) {
  let answer;
  try { answer = await api("GET", `/api/admin/people?${q}`); }
  catch (error) { showProblem(error.message); return; }
  $("problem").hidden = true;
  const info = DASHBOARDS.people;
  $("result-title").textContent = `${info.title} · ${scopeName(answer.scope)}`;
  $("result-about").textContent = `${info.about} From ${longDate.format(new Date(`${answer.from}T00:00:00Z`))} to ${longDate.format(new Date(`${answer.to}T00:00:00Z`))}.`;
  $("legend").textContent = "These figures are about single people, so nothing is hidden. Every look is recorded and shown to the people in it.";
  $("csv").href = `/api/admin/people/csv?${q}`;
  if (state.plot) { state.plot.destroy(); state.plot = null; }
  $("chart").hidden = true;
  $("chart-caption").textContent = "";
  const head = el("tr", {}, ...["Person", "Activity events", "Messages", "Meetings", "Last active"]
    .map((h) => el("th", { scope: "col" }, h)));
  const byName = [...answer.people].sort((a, b) => (a.display_name ?? "\uffff").localeCompare(b.display_name ?? "\uffff"));
  const rows = byName.map((p) => el("tr", {},
    el("th", { scope: "row" }, p.display_name ?? "Closed account (anonymous)"),
    el("td", {}, numbers.format(p.events)), el("td", {}, numbers.format(p.messages)),
    el("td", {}, numbers.format(p.meetings)),
    el("td", {}, p.last_active ? longDate.format(new Date(`${p.last_active}T00:00:00Z`)) : "—")));
  $("table").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Per-person activity"),
    el("thead", {}, head), el("tbody", {}, ...rows));
  $("result").hidden = false;
}

const PENDING = "not yet published: figures of a day or week appear once it has ended";

function figure(cell) {
  if (!cell) return el("td", {}, "");
  if (cell.pending) {
    return el("td", { class: "pending-cell", title: PENDING, "data-pending": "true" },
      el("span", { "aria-hidden": "true" }, "…"), el("span", { class: "visually-hidden" }, PENDING));
  }
  if (cell.suppressed) {
    return el("td", { class: "hidden-cell", title: hiddenText(), "data-suppressed": "true" },
      el("span", { "aria-hidden": "true" }, HIDDEN), el("span", { class: "visually-hidden" }, hiddenText()));
  }
  return el("td", {}, numbers.format(cell.value));
}

function renderTable(table, title) {
  const totals = table.rows.some((r) => r.total);
  const head = el("tr", {}, el("th", { scope: "col" }, table.granularity === "week" ? "Week" : "Day"),
    ...table.columns.map((c) => el("th", { scope: "col" }, columnName(c))),
    totals ? el("th", { scope: "col" }, "Total") : null);
  const body = table.rows.map((row) => el("tr", {},
    el("th", { scope: "row" }, periodName(row.period, table.granularity)),
    ...row.cells.map(figure),
    totals ? figure(row.total) : null));
  const parts = [
    el("caption", { class: "visually-hidden" }, `${title}, ${table.unit}, one line per ${table.granularity}`),
    el("thead", {}, head),
    el("tbody", {}, ...body),
  ];
  $("table").replaceChildren(...parts);
}

function renderChart(table) {
  if (state.plot) { state.plot.destroy(); state.plot = null; }
  const xs = table.rows.map((_, i) => i);
  const labels = table.rows.map((r) => periodName(r.period, table.granularity, true));
  const series = table.columns.map((_, c) => table.rows.map((r) => {
    const cell = r.cells[c];
    return cell && !cell.suppressed && !cell.pending ? cell.value : null;
  }));
  const shown = series.filter((s) => s.some((v) => v !== null)).length;
  const hiddenAll = shown === 0;
  $("chart-caption").textContent = hiddenAll
    ? `Nothing to draw: every figure in this table is ${hiddenText()}. The table below has the totals.`
    : `${table.unit} per ${table.granularity}; gaps are hidden figures. The table below has the same figures.`;
  const holder = $("chart");
  holder.hidden = hiddenAll;
  if (hiddenAll) return;
  const options = {
    width: chartWidth(), height: CHART_HEIGHT,
    scales: {
      x: { time: false, range: () => [-0.5, Math.max(0.5, xs.length - 0.5)] },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    axes: [
      { ...axisColours(), splits: () => xs, values: (_u, splits) => splits.map((i) => labels[i] ?? "") },
      { ...axisColours(), values: (_u, splits) => splits.map((v) => numbers.format(v)) },
    ],
    series: [
      { label: table.granularity === "week" ? "Week" : "Day", value: (_u, i) => (i == null ? "" : labels[i] ?? "") },
      ...table.columns.map((c, i) => ({
        label: columnName(c), stroke: COLORS[i % COLORS.length], width: 2,
        points: { show: true, size: 7, fill: COLORS[i % COLORS.length] },
        value: (_u, v) => (v == null ? HIDDEN : numbers.format(v)),
      })),
    ],
  };
  state.plot = new uPlot(options, [xs, ...series], holder);
}

// The canvas does not follow CSS: the axes take the theme's text and border colours.
function axisColours() {
  const line = { stroke: themeColour("--border"), width: 1 };
  return { stroke: themeColour("--text-muted"), grid: line, ticks: line };
}

function themeColour(token) {
  const probe = document.body.appendChild(document.createElement("span"));
  probe.style.color = `var(${token})`;
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour;
}

function chartWidth() {
  return Math.max(320, $("chart").getBoundingClientRect().width || 900);
}

function showProblem(text) {
  $("problem").textContent = text;
  $("problem").hidden = false;
}

boot();
