// usage: node idle-clients.js PORT N HOLD_SECONDS
// Opens N TCP connections to 127.0.0.1:PORT (100 in flight at a time), prints READY <n>,
// holds them idle for HOLD_SECONDS, then closes everything and exits. Bounded: exits after
// HOLD_SECONDS + 60 s whatever happens.
const net = require("node:net");
const [port, N, hold] = process.argv.slice(2).map(Number);
const socks = [];
let opened = 0;
let connected = 0;
let failed = 0;
function openOne() {
  if (opened >= N) return;
  opened++;
  const s = net.connect({ port, host: "127.0.0.1" });
  s.on("connect", () => {
    connected++;
    socks.push(s);
    next();
  });
  s.on("error", () => {
    failed++;
    next();
  });
}
function next() {
  if (connected + failed === N) {
    console.log(`READY ${connected} failed=${failed}`);
    setTimeout(() => {
      for (const s of socks) s.destroy();
      process.exit(0);
    }, hold * 1000);
  } else openOne();
}
for (let i = 0; i < 100; i++) openOne();
setTimeout(
  () => {
    console.log("TIMEOUT");
    process.exit(1);
  },
  (hold + 60) * 1000,
).unref();
