// "ping": a TCP connect to host:port within the timeout; healthy = connected (then closed at
// once). Plain TCP even for TLS backends, as in gobetween. IPv6 hosts may carry brackets.
import { connect } from "node:net";
import { unbracketHost } from "../config";
import { type HealthCheck, settleOnce } from "./check";

export const ping: HealthCheck = (host, port, timeoutMs, signal) => {
  const socket = connect({ host: unbracketHost(host), port });
  const { promise, finish } = settleOnce(timeoutMs, signal, () => socket.destroy());
  socket.on("error", () => finish("unhealthy"));
  socket.once("connect", () => finish("healthy"));
  return promise;
};
