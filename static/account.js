// The account notices shared by the sign-in page and /me.
import { el } from "/static/realtime.js";

const moment = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const HOW = { password: "with the password", reset_credential: "with a reset credential", invite_code: "with an invite code" };

// "An admin reset your password": who, when, and the sign-ins since, so a sign-in the person
// did not make cannot go unnoticed.
export function resetNotice(security) {
  const reset = security?.latest_reset;
  if (!reset) return null;
  const by = reset.by ? `${reset.by.display_name} (${reset.by.role.replace("_", " ")})` : "an admin whose account was closed";
  const since = (security.sign_ins || []).filter((s) => s.at >= reset.at);
  return el("div", { class: "notice", role: "status", id: "reset-notice" },
    el("p", {}, el("strong", {}, "Your password was reset by an admin: "), `${by}, ${moment.format(new Date(reset.at))}.`),
    el("p", {}, since.length ? "Sign-ins into your account since then:" : "Nobody has signed in since."),
    since.length ? el("ul", {}, ...since.map((s) => el("li", {}, `${moment.format(new Date(s.at))}, ${HOW[s.method] || s.method}`))) : null,
    el("p", { class: "muted" }, "If one of these was not you, tell your organization; the audit log records who reset it."));
}

