// Load generator for bench/load.py: many socket.io-client connections in one Node process,
// spread over several server processes, running a mixed office workload (presence, room moves,
// positions, room chat with typing). Reads its job as JSON on stdin; prints "ramp:done",
// "phase:start" and "phase:end" lines, then one JSON line of results. Loopback only; bounded in
// clients (the job's list) and in time (a hard deadline exits the process).
import { io } from "socket.io-client";

const job = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => { data += c; });
  process.stdin.on("end", () => resolve(data));
}));
const {
  clients, orgs, seconds, rate, mix, batch = 100, connectTimeoutMs = 60000, ackTimeoutMs = 15000,
  drainMs = 2000, seed = 1,
} = job;
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ fatal: "load generator deadline passed" }));
  process.exit(3);
}, (seconds + 600) * 1000);

// A small deterministic PRNG (mulberry32), so two runs with the same job pick the same actions.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

let measuring = false;
const errors = {};
const samples = [];
function fail(kind, detail) {
  errors[kind] = (errors[kind] ?? 0) + 1;
  if (samples.length < 20) samples.push({ kind, ...detail });
}

// Client → server: every event is sent with an ack; latency = ack round trip.
const ackLatency = {}; // event -> [ms], phase only
const sentCount = {};
const ackedCount = {};
const unanswered = {}; // event -> acks that timed out or were lost, phase only
let chatAcked = 0; // chat:send acknowledged ok (stored), over the whole run
// Server → client: every event received, by name (phase only), and chat send → receipt.
const receivedCount = {};
let receivedTotal = 0;
const chatSent = new Map(); // client_id -> send time (ms)
const chatDelivery = [];
let chatExpected = 0; // other people in the room at send time, by the generator's own room map
let chatDelivered = 0;

function call(c, event, payload) {
  const t0 = performance.now();
  if (measuring) sentCount[event] = (sentCount[event] ?? 0) + 1;
  return c.socket.timeout(ackTimeoutMs).emitWithAck(event, payload).then(
    (ack) => {
      const ms = performance.now() - t0;
      if (measuring) {
        ackedCount[event] = (ackedCount[event] ?? 0) + 1;
        (ackLatency[event] ??= []).push(ms);
      }
      if (!ack || !ack.ok) {
        fail(ack?.error?.code ?? "bad_ack", { event, user_id: c.spec.user_id, error: ack?.error });
        return null;
      }
      return ack;
    },
    (e) => {
      fail(c.socket.connected ? "ack_timeout" : "ack_lost", { event, user_id: c.spec.user_id, message: String(e) });
      if (measuring) {
        // An ack that never came counts in every percentile, at the time-out (a lost
        // connection's acks too: the user waited at least that long).
        (ackLatency[event] ??= []).push(Math.max(ackTimeoutMs, performance.now() - t0));
        unanswered[event] = (unanswered[event] ?? 0) + 1;
      }
      return null;
    },
  );
}

const occupancy = new Map(); // room id -> set of client indexes (the generator's view)
function place(c, roomId) {
  occupancy.get(c.roomId)?.delete(c.index);
  c.roomId = roomId;
  if (!occupancy.has(roomId)) occupancy.set(roomId, new Set());
  occupancy.get(roomId).add(c.index);
}

async function joinRoom(c, roomId) {
  const ack = await call(c, "room:enter", { room_id: roomId });
  if (!ack) return false;
  if (ack.outcome !== "entered") { fail("not_entered", { user_id: c.spec.user_id, ack }); return false; }
  place(c, roomId);
  c.rect = orgs[c.spec.org].rooms.find((r) => r.id === roomId).rect;
  const chat = await call(c, "chat:room", { room_id: roomId });
  c.conversation = chat ? chat.conversation.id : null;
  return true;
}

function open(index) {
  const spec = clients[index];
  const socket = io(spec.url, {
    transports: ["websocket"], reconnection: false, forceNew: true, timeout: connectTimeoutMs,
    perMessageDeflate: false,
    extraHeaders: { Cookie: `officehours_session=${spec.token}`, Origin: spec.url },
  });
  const c = { index, spec, socket, roomId: null, rect: null, conversation: null, busy: true, typedAt: -1e9, sends: 0 };
  socket.onAny((event, data) => {
    if (!measuring) return;
    receivedTotal += 1;
    receivedCount[event] = (receivedCount[event] ?? 0) + 1;
    if (event === "chat:message" && data.sender_id !== spec.user_id) {
      const at = chatSent.get(data.client_id);
      if (at !== undefined) { chatDelivered += 1; chatDelivery.push(performance.now() - at); }
    }
  });
  socket.on("disconnect", (reason) => { if (measuring) fail("disconnect", { user_id: spec.user_id, reason }); });
  return new Promise((resolve, reject) => {
    socket.once("connect", async () => {
      await joinRoom(c, spec.room_id);
      c.busy = false;
      resolve(c);
    });
    socket.once("connect_error", (e) => {
      socket.close();
      reject(e);
    });
  });
}

const opened = [];
const rampStart = performance.now();
for (let start = 0; start < clients.length; start += batch) {
  const results = await Promise.allSettled(
    clients.slice(start, start + batch).map((_, k) => open(start + k)),
  );
  for (const r of results) {
    if (r.status === "fulfilled") opened.push(r.value);
    else fail("connect", { message: r.reason?.message, data: r.reason?.data });
  }
}
const rampSeconds = (performance.now() - rampStart) / 1000;
await new Promise((r) => setTimeout(r, 2000)); // let the entry deltas settle
console.log(`ramp:done ${JSON.stringify({ connected: opened.length, ramp_s: rampSeconds })}`);

// -- the mixed workload: each connection acts at `rate` per second on average (Poisson), the
// action drawn from `mix`. Chat is typing first, then the message a second later, as in the
// web client (typing at most once every 2 s per conversation, the server's limit).
const actions = Object.entries(mix).filter(([, w]) => w > 0);
const totalWeight = actions.reduce((a, [, w]) => a + w, 0);
function action() {
  let x = random() * totalWeight;
  for (const [name, w] of actions) { x -= w; if (x < 0) return name; }
  return actions[actions.length - 1][0];
}
const statuses = ["available", "busy", "away", "available", "do_not_disturb"];
let chatSerial = 0;
const unacked = []; // chat sends without an ok ack: sent again at the end with the same client_id
const inflight = new Set();
function track(promise) { inflight.add(promise); promise.finally(() => inflight.delete(promise)); }

function act(c) {
  const kind = action();
  if (kind === "presence") {
    track(call(c, "presence:set", { status: pick(statuses), text: random() < 0.5 ? "focus time" : "" }));
  } else if (kind === "position") {
    const [x, y, w, h] = c.rect;
    track(call(c, "room:position", { x: x + Math.floor(random() * w), y: y + Math.floor(random() * h) }));
  } else if (kind === "move") {
    const rooms = orgs[c.spec.org].rooms;
    const room = pick(rooms);
    if (room.id === c.roomId || (occupancy.get(room.id)?.size ?? 0) >= room.capacity - 5) return;
    c.busy = true;
    track(joinRoom(c, room.id).finally(() => { c.busy = false; }));
  } else if (kind === "chat" && c.conversation !== null) {
    const now = performance.now();
    const conversation = c.conversation;
    if (now - c.typedAt > 2100) {
      c.typedAt = now;
      track(call(c, "chat:typing", { conversation_id: conversation }));
    }
    c.busy = true; // stay in the room until the message is acknowledged
    track(new Promise((r) => setTimeout(r, 1000)).then(async () => {
      const clientId = `b${c.spec.user_id}-${++chatSerial}`;
      const others = (occupancy.get(c.roomId)?.size ?? 1) - 1;
      chatSent.set(clientId, performance.now());
      if (measuring) chatExpected += others;
      const payload = { conversation_id: conversation, client_id: clientId, body: `hello from ${c.spec.user_id} (${chatSerial})` };
      const ack = await call(c, "chat:send", payload);
      if (ack) { chatAcked += 1; c.busy = false; } else unacked.push({ c, payload }); // stays put
    }));
  }
}

measuring = true;
console.log("phase:start");
const started = performance.now();
const stopAt = started + seconds * 1000;
const perMs = (rate * opened.length) / 1000;
let due = 0; // expected events not yet issued
let last = started;
let skipped = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = performance.now();
    if (opened.length === 0 || now >= stopAt) { clearInterval(tick); resolve(); return; }
    due += (now - last) * perMs;
    last = now;
    while (due >= 1) {
      due -= 1;
      const c = opened[Math.floor(random() * opened.length)];
      if (c.busy || !c.socket.connected) { skipped += 1; continue; }
      act(c);
    }
  }, 5);
});
const elapsed = (performance.now() - started) / 1000;
const connectedAtEnd = opened.filter((c) => c.socket.connected).length;
console.log("phase:end");
await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, ackTimeoutMs + 2000))]);
await new Promise((r) => setTimeout(r, drainMs)); // deliveries already on their way still count
measuring = false;
// As the protocol asks of clients: send again, with the same client_id, every message that got
// no ack (the server returns the stored one instead of storing it twice). Acked = stored then.
let resent = 0;
let resentAcked = 0;
for (const { c, payload } of unacked.splice(0)) {
  if (!c.socket.connected) continue;
  resent += 1;
  if (await call(c, "chat:send", payload)) { resentAcked += 1; chatAcked += 1; }
}
console.log("teardown"); // every connection closes at once from here (a mass disconnect)
for (const c of opened) c.socket.disconnect();
await new Promise((r) => setTimeout(r, 3000));

function stats(list) {
  if (!list.length) return { n: 0, p50_ms: null, p99_ms: null, max_ms: null };
  list.sort((a, b) => a - b);
  const at = (p) => list[Math.min(list.length - 1, Math.floor(list.length * p))];
  return { n: list.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: list[list.length - 1] };
}
const allAcks = Object.values(ackLatency).flat();
const byEvent = {};
for (const [event, list] of Object.entries(ackLatency)) {
  byEvent[event] = { sent: sentCount[event], timeouts: unanswered[event] ?? 0, ...stats(list) };
}
const ackTimeouts = Object.values(unanswered).reduce((a, b) => a + b, 0);
// A receipt the generator's room map expected and that never came counts, like an unanswered
// ack, at the ack time-out.
const chatMissing = Math.max(0, chatExpected - chatDelivered);
for (let i = 0; i < chatMissing; i++) chatDelivery.push(ackTimeoutMs);
const acked = Object.values(ackedCount).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  attempted: clients.length, connected: opened.length, connected_at_end: connectedAtEnd, ramp_s: rampSeconds,
  seconds: elapsed, skipped_busy: skipped,
  sent: Object.values(sentCount).reduce((a, b) => a + b, 0), acked, acked_per_s: acked / elapsed,
  received: receivedTotal, received_per_s: receivedTotal / elapsed, received_by_event: receivedCount,
  ack: stats(allAcks), ack_by_event: byEvent, ack_timeouts: ackTimeouts, ack_timeout_ms: ackTimeoutMs,
  chat_acked: chatAcked, chat_resent: resent, chat_resent_acked: resentAcked, chat_expected: chatExpected, chat_delivered: chatDelivered, chat_missing: chatMissing, chat_delivery: stats(chatDelivery),
  errors: Object.values(errors).reduce((a, b) => a + b, 0), error_kinds: errors, error_samples: samples,
}));
clearTimeout(deadline);
process.exit(0);
