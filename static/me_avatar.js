// "Profile picture" on /me: choose a file, see it as colleagues will, upload it or remove it.
// The browser draws the picture into a small square (a centred crop, at most 256 pixels) and
// uploads that: a phone photo of several megabytes becomes a few kilobytes, and the location,
// camera and other details the file carried stay behind. The server checks and cleans again
// whatever it is sent (PUT /api/me/avatar).
import { api } from "/static/api.js";
import { avatarColour, initials } from "/static/avatar.js";

const SIDE = 256; // pixels of the square that is uploaded
const MAX_FILE_MB = 20; // larger files are not even decoded
const TYPES = ["image/png", "image/jpeg", "image/webp"];
const $ = (id) => document.getElementById(id);

let csrf = null;
let chosen = null; // the square, encoded, waiting for "Use this picture"

function say(text, problem = false) {
  $("avatar-result").textContent = text;
  $("avatar-result").classList.toggle("problem", problem && Boolean(text));
}

function show(avatar) {
  const picture = $("avatar-current");
  if (avatar) picture.src = avatar.url;
  else picture.removeAttribute("src");
  picture.hidden = !avatar;
  $("avatar-initials").hidden = Boolean(avatar);
  $("avatar-remove").hidden = !avatar;
  $("avatar-caption").textContent = avatar
    ? "Your picture, as colleagues see it."
    : "You have no picture: colleagues see your initials.";
}

function forgetChoice() {
  chosen = null;
  $("avatar-upload").disabled = true;
  $("avatar-preview-figure").hidden = true;
}

// WebP where the browser can write it (a fraction of a PNG's size), else PNG.
function encode(canvas) {
  const blob = (type, quality) => new Promise((done) => canvas.toBlob(done, type, quality));
  return blob("image/webp", 0.9).then((webp) => (webp?.type === "image/webp" ? webp : blob("image/png")));
}

async function choose(file) {
  forgetChoice();
  say("");
  if (!file) return;
  if (!TYPES.includes(file.type)) {
    say(`“${file.name}” is not a PNG, JPEG or WebP picture. Choose one of those.`, true);
    return;
  }
  if (file.size > MAX_FILE_MB * 1024 * 1024) {
    say(`“${file.name}” is larger than ${MAX_FILE_MB} MB. Choose a smaller picture.`, true);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file); // upright, whatever way the camera held it
  } catch {
    say(`“${file.name}” could not be read as a picture; it may be damaged. Choose another.`, true);
    return;
  }
  const crop = Math.min(bitmap.width, bitmap.height);
  const side = Math.min(SIDE, crop);
  const canvas = $("avatar-preview");
  canvas.width = side;
  canvas.height = side;
  canvas.getContext("2d").drawImage(
    bitmap, (bitmap.width - crop) / 2, (bitmap.height - crop) / 2, crop, crop, 0, 0, side, side);
  bitmap.close();
  chosen = await encode(canvas);
  $("avatar-preview-figure").hidden = false;
  $("avatar-upload").disabled = false;
  say("This is how colleagues will see it. Choose “Use this picture” to upload it.");
}

async function upload() {
  if (!chosen) return;
  $("avatar-upload").disabled = true;
  say("Uploading your picture…");
  let response;
  try {
    response = await fetch("/api/me/avatar", {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": chosen.type, "X-CSRF-Token": csrf },
      body: chosen,
    });
  } catch {
    $("avatar-upload").disabled = false;
    say("The picture could not be sent: check your connection and try again.", true);
    return;
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("avatar-upload").disabled = false;
    say(`The picture was not accepted: ${data.error?.message || `error ${response.status}`}.`, true);
    return;
  }
  forgetChoice();
  $("avatar-file").value = "";
  show(data.avatar);
  say("Your new picture is set. Colleagues see it now.");
  $("avatar-file").focus(); // the button used is disabled now: stay in the same place
}

async function remove() {
  try {
    await api("DELETE", "/api/me/avatar");
  } catch (error) {
    say(`The picture could not be removed: ${error.message}.`, true);
    return;
  }
  show(null);
  say("Your picture is removed. Colleagues see your initials again.");
  $("avatar-file").focus(); // the button used is hidden now
}

async function boot() {
  let session;
  try {
    session = await api("GET", "/api/auth/session");
  } catch {
    return; // not signed in: the page's own script goes back to sign-in
  }
  if (session.roles.some((r) => r.role === "guest")) return; // no account, so no picture
  csrf = session.csrf_token;
  $("avatar-initials").textContent = initials(session.user.display_name);
  $("avatar-initials").style.setProperty("--avatar-colour", avatarColour(session.user.id));
  $("avatar-file").addEventListener("change", () => choose($("avatar-file").files[0]));
  $("avatar-upload").addEventListener("click", upload);
  $("avatar-remove").addEventListener("click", remove);
  try {
    show((await api("GET", "/api/me/avatar")).avatar);
  } catch (error) {
    say(`Your picture could not be loaded: ${error.message}.`, true);
  }
  $("avatar-card").hidden = false;
}

boot();
