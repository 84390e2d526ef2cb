// Load generator for bench/chat.py: socket.io-client connections in one Node process (much
// cheaper per event than python-socketio, so the benchmark measures the server). Each client
// walks into its room, opens the room's chat and sends in a closed loop: the next message after
// the previous one's acknowledgement. An acknowledgement that does not come within the time-out
// counts as an error and enters the percentiles at the time-out. Reads its job as JSON on
// stdin, prints one JSON line. Loopback only; bounded by the job's clients and a deadline.
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";

const job = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => { data += c; });
  process.stdin.on("end", () => resolve(data));
}));
const { base, tokens, room_ids: roomIds, seconds, ackTimeoutMs = 30000 } = job;
setTimeout(() => {
  console.log(JSON.stringify({ fatal: "chat load generator deadline passed" }));
  process.exit(3);
}, (seconds + 300) * 1000).unref();

function call(socket, event, payload, timeoutMs = ackTimeoutMs) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

async function open(token, i) {
  const socket = io(base, {
    transports: ["websocket"], reconnection: false, forceNew: true,
    extraHeaders: { Cookie: `officehours_session=${token}`, Origin: base },
  });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  const room = roomIds[i % roomIds.length];
  const entered = await call(socket, "room:enter", { room_id: room });
  if (!entered.ok) throw new Error(`room:enter: ${JSON.stringify(entered)}`);
  const chat = await call(socket, "chat:room", { room_id: room });
  if (!chat.ok) throw new Error(`chat:room: ${JSON.stringify(chat)}`);
  let received = 0;
  socket.on("chat:message", () => { received += 1; });
  return { socket, conversation: chat.conversation.id, received: () => received };
}

const clients = [];
for (let start = 0; start < tokens.length; start += 50) {
  clients.push(...await Promise.all(tokens.slice(start, start + 50).map((t, k) => open(t, start + k))));
}

const latencies = [];
let acked = 0;
let errors = 0;
let timeouts = 0;
const started = performance.now();
const stopAt = started + seconds * 1000;

async function sender({ socket, conversation }) {
  let n = 0;
  while (performance.now() < stopAt) {
    n += 1;
    const t0 = performance.now();
    try {
      const ack = await call(socket, "chat:send", {
        conversation_id: conversation,
        client_id: randomUUID().replaceAll("-", ""),
        body: `benchmark message ${n} with a little text in it`,
      });
      if (ack.ok) {
        acked += 1;
        latencies.push(performance.now() - t0);
      } else {
        errors += 1;
      }
    } catch {
      errors += 1;
      timeouts += 1;
      latencies.push(ackTimeoutMs); // unanswered: counted at its time-out
    }
  }
}

await Promise.all(clients.map(sender));
const elapsed = (performance.now() - started) / 1000;
const delivered = clients.reduce((sum, c) => sum + c.received(), 0);
for (const { socket } of clients) socket.disconnect();
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * q) - 1)] : null);
console.log(JSON.stringify({
  acked, errors, ack_timeouts: timeouts, seconds: elapsed,
  msgs_per_s: acked / elapsed, deliveries_per_s: delivered / elapsed,
  ack_p50_ms: at(0.5), ack_p99_ms: at(0.99),
}));
process.exit(0);
