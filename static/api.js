// Small fetch wrapper: JSON in and out, the CSRF header on state changes, errors as
// exceptions carrying the server's stable code and message.
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) {
    const error = data.error || {};
    // A session opened with a reset credential: the sign-in page asks for the new password.
    if (error.code === "password_change_required" && location.pathname !== "/") location.href = "/";
    throw new ApiError(response.status, error.code || "internal", error.message || "request failed");
  }
  if (data.csrf_token) csrfToken = data.csrf_token;
  return data;
}
