import { api, ApiError } from "/static/api.js";
import { resetNotice } from "/static/account.js";
import { el } from "/static/realtime.js";

const $ = (id) => document.getElementById(id);

function show(session) {
  $("signin").hidden = session !== null;
  $("welcome").hidden = session === null;
  $("step").replaceChildren();
  if (!session) $("email").focus();
  if (session) {
    $("who").textContent = session.user.display_name;
    $("roles").textContent = session.roles.map((r) => r.role.replace("_", " ")).join(", ");
  }
}

// After signing in with an admin's reset credential: that session can only set a new password.
function newPasswordStep(security) {
  $("signin").hidden = true;
  $("welcome").hidden = true;
  const error = el("p", { class: "error", role: "alert", id: "new-password-error" });
  const input = el("input", { id: "new-password", type: "password", autocomplete: "new-password", required: "" });
  const form = el("form", { id: "new-password-form", novalidate: "" },
    el("h2", {}, "Choose a new password"),
    el("p", { class: "muted" }, "You signed in with a one-time credential. Choose your own password (at least 10 characters) to continue."),
    el("label", { for: "new-password" }, "New password"), input,
    el("button", { type: "submit" }, "Set password and continue"), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api("POST", "/api/me/password", { new_password: input.value });
      location.href = "/office";
    } catch (e) { error.textContent = e.message; }
  });
  $("step").replaceChildren(...[resetNotice(security), form].filter(Boolean));
  input.focus();
}

function noticeStep(security) {
  $("signin").hidden = true;
  const go = el("button", { type: "button", id: "continue" }, "Continue to the office");
  go.addEventListener("click", () => { location.href = "/office"; });
  $("step").replaceChildren(resetNotice(security), go);
}

async function refresh() {
  try {
    const session = await api("GET", "/api/auth/session");
    if (session.password_change_required) { newPasswordStep(await api("GET", "/api/me/security")); return; }
    if (!session.roles.some((r) => r.role === "guest")) { location.href = "/office"; return; }
    show(session);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) show(null);
    else throw error;
  }
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    const session = await api("POST", "/api/auth/sign-in", {
      email: $("email").value, password: $("password").value,
    });
    if (session.password_change_required) newPasswordStep(session.security_notice);
    else if (session.security_notice?.latest_reset) noticeStep(session.security_notice);
    else location.href = "/office";
  } catch (error) {
    const text = error.message || "Sign-in failed";
    $("signin-error").textContent = text[0].toUpperCase() + text.slice(1);
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/auth/sign-out");
  show(null);
});

refresh();
