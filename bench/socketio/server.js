// The Socket.IO 4 peer of bench/live_vs_socketio.py, written the way Socket.IO's
// documentation recommends for rooms: clients join a room, and what one sends is
// broadcast to the others with socket.to(room).emit (volatile for poses, which may be
// dropped). WebSocket transport only, no per-message deflate, 64 KiB messages: the same
// settings as twinland's /live endpoint.
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3100);
const io = new Server(port, {
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
  serveClient: false,
});

io.on("connection", (socket) => {
  const room = String(socket.handshake.query.room || "lobby");
  socket.join(room);
  socket.on("camera", (camera) => socket.to(room).emit("camera", camera));
  socket.on("pose", (pose) => socket.volatile.to(room).emit("pose", pose));
});

process.stdout.write(`listening ${port}\n`);
