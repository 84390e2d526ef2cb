import { api, ApiError } from "/static/api.js";

const $ = (id) => document.getElementById(id);

function show(session) {
  $("signin").hidden = session !== null;
  $("welcome").hidden = session === null;
  if (session) {
    $("who").textContent = session.user.display_name;
    $("roles").textContent = session.roles.map((r) => r.role.replace("_", " ")).join(", ");
  }
}

async function refresh() {
  try {
    const session = await api("GET", "/api/auth/session");
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
    await api("POST", "/api/auth/sign-in", {
      email: $("email").value, password: $("password").value,
    });
    location.href = "/office";
  } catch (error) {
    $("signin-error").textContent = error.message;
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/auth/sign-out");
  show(null);
});

refresh();
