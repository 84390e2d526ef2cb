// The colour theme: the system's unless the person chose light or dark on this browser. A
// classic script loaded in <head>, so the theme is set before the page is first painted.
(() => {
  const KEY = "officehours.theme";
  const NEXT = { system: "dark", dark: "light", light: "system" };
  const WORDS = { system: "same as the system", dark: "dark", light: "light" };
  const ICONS = {
    system: "M12 3a9 9 0 1 0 0 18a9 9 0 0 0 0-18zM12 3v18",
    dark: "M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z",
    light: "M12 8a4 4 0 1 0 0 8a4 4 0 0 0 0-8zM12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4",
  };
  let stored = null;
  try { stored = localStorage.getItem(KEY); } catch { /* storage blocked: the system's theme */ }
  let current = stored === "light" || stored === "dark" ? stored : "system";

  function apply(theme) {
    if (theme === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
  }

  function label(button) {
    const theme = current;
    button.setAttribute("aria-label", `Theme: ${WORDS[theme]}. Switch to ${WORDS[NEXT[theme]]}`);
    button.title = button.getAttribute("aria-label");
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[theme]);
    svg.append(path);
    button.replaceChildren(svg);
  }

  apply(current);
  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      label(button);
      button.hidden = false;
      button.addEventListener("click", () => {
        current = NEXT[current];
        try { if (current === "system") localStorage.removeItem(KEY); else localStorage.setItem(KEY, current); } catch { /* kept for this page only */ }
        apply(current);
        label(button);
      });
    }
    // A header's menu button (narrow screens): shows or hides what it controls.
    for (const button of document.querySelectorAll("[data-menu-toggle]")) {
      button.addEventListener("click", () => {
        const open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", String(open));
        document.getElementById(button.getAttribute("aria-controls"))?.classList.toggle("open", open);
      });
    }
  });
})();
