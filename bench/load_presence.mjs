// Load generator for bench/presence.py: N socket.io-client connections in one Node process
// (one clock for send and receive times). Reads its job as JSON on stdin, prints one JSON
// line of results. Loopback only; bounded in clients and time.
import { io } from "socket.io-client";

const job = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => { data += c; });
  process.stdin.on("end", () => resolve(data));
}));
const { url, mode, clients, moverShare, seconds, hz } = job;
const sent = new Map(); // "user:x:y" -> send time (ms)
const latencies = [];
let delivered = 0;
let received = 0;
let errors = 0;
let moves = 0;
let measuring = false;

function observe(userId, position, now) {
  received += 1;
  if (!measuring || !position) return;
  const at = sent.get(`${userId}:${position[0]}:${position[1]}`);
  if (at !== undefined) { delivered += 1; latencies.push(now - at); }
}

function open(i) {
  const spec = clients[i];
  const options = { transports: ["websocket"], reconnection: false, forceNew: true };
  if (mode === "office") options.extraHeaders = { Cookie: `officehours_session=${spec.token}`, Origin: url };
  else options.auth = { user_id: spec.user_id };
  const socket = io(url, options);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), 30000);
    socket.on("connect", async () => {
      clearTimeout(timer);
      if (mode === "office") {
        socket.on("office:delta", ({ people }) => {
          const now = performance.now();
          for (const p of people) observe(p.user_id, p.position, now);
        });
        const ack = await socket.timeout(30000).emitWithAck("room:enter", { room_id: spec.room_id });
        if (!ack.ok) { errors += 1; }
      } else {
        socket.on("moved", (m) => observe(m.user_id, [m.x, m.y], performance.now()));
      }
      resolve({ socket, spec, index: i });
    });
    socket.on("connect_error", (e) => { clearTimeout(timer); reject(e); });
    socket.on("disconnect", () => { if (measuring) errors += 1; });
  });
}

const opened = [];
for (let start = 0; start < clients.length; start += 50) {
  const batch = await Promise.allSettled(clients.slice(start, start + 50).map((_, k) => open(start + k)));
  for (const r of batch) { if (r.status === "fulfilled") opened.push(r.value); else errors += 1; }
}
await new Promise((r) => setTimeout(r, 1000)); // let entry deltas settle
const movers = opened.filter((_, i) => i < Math.round(opened.length * moverShare));
measuring = true;
console.log("phase:start"); // the orchestrator samples server CPU between these two lines
const started = performance.now();
const stopAt = started + seconds * 1000;
let step = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    if (performance.now() >= stopAt) { clearInterval(tick); resolve(); return; }
    step += 1;
    for (const m of movers) {
      const x = step % 1000;
      const y = m.index % 1000;
      sent.set(`${m.spec.user_id}:${x}:${y}`, performance.now());
      moves += 1;
      if (mode === "office") {
        m.socket.timeout(10000).emit("room:position", { x, y }, (err, ack) => { if (err || !ack.ok) errors += 1; });
      } else {
        m.socket.emit("move", { x, y });
      }
    }
  }, 1000 / hz);
});
const elapsed = (performance.now() - started) / 1000;
console.log("phase:end");
await new Promise((r) => setTimeout(r, 500)); // drain
measuring = false;
for (const c of opened) c.socket.disconnect();
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : null);
console.log(JSON.stringify({
  connected: opened.length, movers: movers.length, moves, seconds: elapsed,
  delivered, delivered_per_s: delivered / elapsed, received, errors,
  p50_ms: pct(0.5), p99_ms: pct(0.99),
}));
process.exit(0);
