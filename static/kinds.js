// Kinds of room (rooms/layout.py RoomKind): a name and an icon each; office.css gives each its
// colour (data-kind), so a room is recognisable at a glance on the map and in the room list.
const SVG = "http://www.w3.org/2000/svg";

// Icons drawn with strokes on a 24-unit grid.
export const KINDS = {
  lobby: { label: "Lobby", icon: "M3 11l9-7 9 7M5.5 9.5V20h13V9.5M10 20v-5.5h4V20" },
  team_room: { label: "Team room", icon: "M9 11a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM3 20a6 6 0 0 1 12 0M16 5.2a3 3 0 0 1 0 5.6M18 14.3a6 6 0 0 1 3 5.7" },
  meeting_room: { label: "Meeting room", icon: "M3 4h18v11H3zM8 20h8M12 15v5" },
  mentoring_room: { label: "Mentoring room", icon: "M2 9l10-5 10 5-10 5zM6 11v5c3 2.5 9 2.5 12 0v-5M22 9v6" },
  private_office: { label: "Private office", icon: "M4 16v-4a8 8 0 0 1 16 0v4M4 15h3v5H4zM17 15h3v5h-3z" },
  town_hall: { label: "Town hall", icon: "M3 9l9-5 9 5M5 10v8M9.7 10v8M14.3 10v8M19 10v8M3 20.5h18" },
};
const SQUARE = "M5 0h14a5 5 0 0 1 5 5v14a5 5 0 0 1-5 5H5a5 5 0 0 1-5-5V5a5 5 0 0 1 5-5z";

function node(tag, attrs) {
  const made = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) made.setAttribute(key, value);
  return made;
}

// The icon on the kind's colour, for HTML (the room list, the legend).
export function kindIcon(kind) {
  const box = document.createElement("span");
  box.className = "kind-icon";
  box.setAttribute("aria-hidden", "true");
  const icon = node("svg", { viewBox: "0 0 24 24" });
  icon.append(node("path", { d: KINDS[kind]?.icon || "" }));
  box.append(icon);
  return box;
}

// The same on the floor plan: a rounded square of `size` floor units at (x, y).
export function kindMark(kind, x, y, size) {
  const mark = node("g", { transform: `translate(${x} ${y}) scale(${size / 24})`, "aria-hidden": "true" });
  mark.append(node("path", { class: "kind-bg", d: SQUARE }));
  mark.append(node("path", { class: "kind-glyph", d: KINDS[kind]?.icon || "", transform: "translate(4.2 4.2) scale(.65)" }));
  return mark;
}
