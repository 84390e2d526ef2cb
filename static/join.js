import { api } from "/static/api.js";

const token = decodeURIComponent(location.pathname.split("/").pop());
const target = document.getElementById("invite");

try {
  const link = await api("GET", `/api/guest-links/${encodeURIComponent(token)}`);
  target.textContent = `You are invited to ${link.room} at ${link.organization}` +
    (link.requires_admission ? "; someone in the room will let you in." : ".");
} catch (error) {
  target.textContent = error.message;
}
