// Load generator for bench/presence.py: N socket.io-client connections in one Node process, so
// send and receive times share one clock. Reads its job as JSON on stdin; prints "phase:start"
// and "phase:end" around the move phase, then one JSON line of results. Loopback only; bounded
// in clients (the job's list) and in time (a hard deadline exits the process).
import { io } from "socket.io-client";

const job = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => { data += c; });
  process.stdin.on("end", () => resolve(data));
}));
const { url, mode, clients, moverShare, seconds, hz, lockstep, deflate, batch = 50, drainMs = 500 } = job;
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ fatal: "load generator deadline passed" }));
  process.exit(3);
}, (seconds + 150) * 1000);

const sent = new Map(); // "user:x:y" -> send time (ms); positions are unique per mover in a run
const latencies = [];
let delivered = 0; // observer receipts matched to a move sent in the phase
let received = 0; // every person entry / moved event received, matched or not
let moves = 0;
let measuring = false;
// Errors by kind, with a few samples each (event, code, message), so a failure can be reported.
const errors = { connect: 0, enter: 0, position: 0, ack_timeout: 0, disconnect: 0 };
const samples = [];
function fail(kind, detail) {
  errors[kind] += 1;
  if (samples.length < 10) samples.push({ kind, ...detail });
}

function observe(userId, x, y, now) {
  received += 1;
  if (!measuring) return;
  const at = sent.get(`${userId}:${x}:${y}`);
  if (at !== undefined) { delivered += 1; latencies.push(now - at); }
}

function open(i) {
  const spec = clients[i];
  const options = { transports: ["websocket"], reconnection: false, forceNew: true, timeout: 30000 };
  // Browsers offer permessage-deflate; by default these clients do not, because inflating
  // every frame of 500 connections in one process would make the load generator the
  // bottleneck (a server that accepts compresses once per recipient: see --deflate).
  options.perMessageDeflate = deflate ? { threshold: 1024 } : false;
  if (mode === "office") options.extraHeaders = { Cookie: `officehours_session=${spec.token}`, Origin: url };
  else options.auth = { user_id: spec.user_id };
  const socket = io(url, options);
  if (mode === "office") {
    socket.on("office:delta", ({ people }) => {
      const now = performance.now();
      for (const p of people) if (p.position) observe(p.user_id, p.position[0], p.position[1], now);
    });
  } else {
    socket.on("moved", (m) => observe(m.user_id, m.x, m.y, performance.now()));
    socket.on("moved_batch", (batch) => {
      const now = performance.now();
      for (const m of batch) observe(m.user_id, m.x, m.y, now);
    });
  }
  socket.on("disconnect", (reason) => { if (measuring) fail("disconnect", { user_id: spec.user_id, reason }); });
  return new Promise((resolve, reject) => {
    socket.once("connect", async () => {
      if (mode === "office") {
        try {
          const ack = await socket.timeout(30000).emitWithAck("room:enter", { room_id: spec.room_id });
          if (!ack.ok || ack.outcome !== undefined && ack.outcome !== "entered") {
            fail("enter", { event: "room:enter", user_id: spec.user_id, ack });
          }
        } catch (e) {
          fail("ack_timeout", { event: "room:enter", user_id: spec.user_id, message: String(e) });
        }
      }
      resolve({ socket, spec, index: i });
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
await new Promise((r) => setTimeout(r, 1000)); // everyone is in; let the entry deltas settle

// Movers send at `hz` each. Spread evenly over the period (people do not move in lockstep),
// unless `lockstep`: then every mover sends at the same instant, a burst every period.
const movers = opened.slice(0, Math.round(opened.length * moverShare));
const period = 1000 / hz;
function position(spec, round) {
  // Unique per mover and round, inside the mover's room: [x, y, w, h].
  const [rx, ry, w, h] = spec.rect ?? [0, 0, 1000, 1000];
  return [rx + (round % w), ry + (Math.floor(round / w) % h)];
}
function send(m, round) {
  const [x, y] = position(m.spec, round);
  sent.set(`${m.spec.user_id}:${x}:${y}`, performance.now());
  moves += 1;
  if (mode === "office") {
    m.socket.timeout(10000).emit("room:position", { x, y }, (err, ack) => {
      if (err) fail("ack_timeout", { event: "room:position", user_id: m.spec.user_id });
      else if (!ack.ok) fail("position", { event: "room:position", user_id: m.spec.user_id, ack });
    });
  } else {
    m.socket.emit("move", { x, y });
  }
}

measuring = true;
console.log("phase:start"); // the orchestrator samples server CPU between these two lines
const started = performance.now();
const stopAt = started + seconds * 1000;
let next = 0; // sends so far; send n is mover n % M in round floor(n / M)
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = performance.now();
    if (movers.length === 0 || now >= stopAt) { clearInterval(tick); resolve(); return; }
    for (;;) {
      const round = Math.floor(next / movers.length);
      const slot = lockstep ? 0 : (next % movers.length) / movers.length;
      const due = started + (round + slot) * period;
      if (due > now || due >= stopAt) break;
      send(movers[next % movers.length], round);
      next += 1;
    }
  }, 2);
});
const elapsed = (performance.now() - started) / 1000;
console.log("phase:end");
await new Promise((r) => setTimeout(r, drainMs)); // updates already on their way still count
measuring = false;
for (const c of opened) c.socket.disconnect();
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : null);
const offered = moves * opened.length; // every connected client observes every move (its own too)
console.log(JSON.stringify({
  connected: opened.length, ramp_s: rampSeconds, movers: movers.length, moves, seconds: elapsed,
  offered, delivered, delivered_per_s: delivered / elapsed, delivered_share: offered ? delivered / offered : 0,
  received, errors: Object.values(errors).reduce((a, b) => a + b, 0), error_kinds: errors,
  error_samples: samples,
  p50_ms: pct(0.5), p90_ms: pct(0.9), p99_ms: pct(0.99), max_ms: latencies.length ? latencies[latencies.length - 1] : null,
}));
clearTimeout(deadline);
process.exit(0);
