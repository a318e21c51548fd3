// Socket.IO 4 on Node, one peer of the fan-out benchmark
// (ui-flow-server/examples/fanout.rs, run by bench/fanout.sh).
//
// Every client joins one room; a broadcast is io.to(room).emit("d", tick)
// with the default parser. It listens on 127.0.0.1 (ephemeral port, printed
// as "addr ...") and obeys the benchmark's control lines on stdin:
// "rss" -> "rss KiB", "cpu" -> "cpu µs" of user + system time since the
// last "cpu", "broadcast COUNT RATE" -> "sent" after the last broadcast.
// A benchmark fixture, not an example of how to use Socket.IO.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const ROOM = "bench";
const PAD = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";

const http = createServer();
const io = new Server(http, { transports: ["websocket"], serveClient: false });
io.on("connection", (socket) => socket.join(ROOM));

// Wall clock in ns: Date.now() is ms only, so anchor hrtime to it once.
const anchorWall = BigInt(Date.now()) * 1000000n;
const anchorMono = process.hrtime.bigint();
const wallNs = () => anchorWall + (process.hrtime.bigint() - anchorMono);

let cpuMark = process.cpuUsage();

async function broadcast(count, rate) {
  const period = 1000000000n / BigInt(rate);
  const start = wallNs();
  for (let seq = 1n; seq <= BigInt(count); seq++) {
    const slot = start + (seq - 1n) * period;
    const wait = Number(slot - wallNs()) / 1e6;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    io.to(ROOM).emit("d", {
      seq: Number(seq),
      slot_ns: Number(slot),
      sent_ns: Number(wallNs()),
      pad: PAD,
    });
  }
  console.log("sent");
}

http.listen(0, "127.0.0.1", 4096, () => {
  console.log(`addr 127.0.0.1:${http.address().port}`);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const words = line.trim().split(/\s+/);
    if (words[0] === "rss") {
      console.log(`rss ${Math.round(process.memoryUsage().rss / 1024)}`);
    } else if (words[0] === "cpu") {
      const used = process.cpuUsage(cpuMark);
      cpuMark = process.cpuUsage();
      console.log(`cpu ${used.user + used.system}`);
    } else if (words[0] === "broadcast") {
      broadcast(Number(words[1]), Number(words[2]));
    } else {
      process.exit(0);
    }
  });
  lines.on("close", () => process.exit(0));
});
