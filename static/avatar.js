// A person's avatar when there is no picture: their initials on a colour of their own, the same
// on every page and in every browser, always dark enough for white text (WCAG AA, 4.5:1).

export function initials(name) {
  return String(name).replace(/\(guest\)/, "").trim().split(/\s+/).map((w) => w[0] || "")
    .join("").slice(0, 2).toUpperCase();
}

// Hue from the id (consecutive ids a golden angle apart, so neighbours differ); lightness
// lowered from 48% until white text on it reaches 4.6:1.
export function avatarColour(id) {
  const n = Number.isInteger(Number(id)) ? Number(id) : [...String(id)].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const hue = Math.round((Math.abs(n) * 137.508) % 360);
  let light = 48;
  while (light > 20 && 1.05 / (luminance(hue, 0.55, light / 100) + 0.05) < 4.6) light -= 2;
  return `hsl(${hue} 55% ${light}%)`;
}

function luminance(hue, s, l) {
  const a = s * Math.min(l, 1 - l);
  const channel = (k) => {
    const c = l - a * Math.max(-1, Math.min((k + hue / 30) % 12 - 3, 9 - (k + hue / 30) % 12, 1));
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(8) + 0.0722 * channel(4);
}
