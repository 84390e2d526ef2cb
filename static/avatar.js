// A person's avatar when there is no picture: their initials on a colour of their own. The colour
// comes from the person's id, so it is the same on every page, in every browser and for everyone
// (the map, the lists and the meeting's tiles); no module keeps a colour of its own.

// Dark enough for white initials on every one of them (at least 4.5:1, WCAG AA).
const PALETTE = [
  "#b3261e", "#a4460b", "#7c5e00", "#2e7d32", "#00695c", "#0e7490",
  "#1565c0", "#3949ab", "#6a1b9a", "#ad1457", "#5d4037", "#455a64",
];

export function initials(name) {
  return String(name).replace(/\(guest\)/, "").trim().split(/\s+/).map((w) => w[0] || "")
    .join("").slice(0, 2).toUpperCase();
}

// Ids are spread over the palette by a multiplicative hash, so people created one after the
// other (consecutive ids) get colours far apart.
export function avatarColour(id) {
  const n = Number.isSafeInteger(Number(id))
    ? Number(id)
    : [...String(id)].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);
  const spread = (Math.imul(Math.abs(n), 2654435761) >>> 0) / 2 ** 32; // Fibonacci hashing
  return PALETTE[Math.floor(spread * PALETTE.length)];
}
