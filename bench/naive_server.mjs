// The obvious Node socket.io server for a floor of moving people: one broadcast per move.
// A reference for bench/presence.py. Usage: node naive_server.mjs PORT
import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
io.on("connection", (socket) => {
  const userId = Number(socket.handshake.auth.user_id);
  socket.join("floor");
  socket.on("move", ({ x, y }) => io.to("floor").emit("moved", { user_id: userId, x, y }));
});
httpServer.listen(Number(process.argv[2]), "127.0.0.1");
