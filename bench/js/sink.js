// Idle-connection backend: accepts, discards data, holds sockets; writes the live count to a file.
// usage: node sink.js PORT COUNT_FILE
const net = require("node:net");
const fs = require("node:fs");
const [port, countFile] = [Number(process.argv[2]), process.argv[3]];
let n = 0;
net
  .createServer((s) => {
    n++;
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => n--);
  })
  .listen({ port, host: "127.0.0.1", backlog: 4096 });
setInterval(() => {
  fs.writeFileSync(`${countFile}.tmp`, String(n));
  fs.renameSync(`${countFile}.tmp`, countFile); // readers never see a half-written file
}, 250);
