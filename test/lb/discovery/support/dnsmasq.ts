// A real dnsmasq (Debian dnsmasq-base) on 127.0.0.1:<free port>, UDP and TCP, answering only from
// its command line: SRV records, host records, `local` domains (NXDOMAIN for unknown names).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";

export function dnsmasqPath(): string | undefined {
  try {
    return execFileSync("sh", ["-c", "command -v dnsmasq || ls /usr/sbin/dnsmasq"], {
      encoding: "utf8",
    })
      .trim()
      .split("\n")[0];
  } catch {
    return undefined;
  }
}

export interface DnsmasqOptions {
  /** srv-host values: "_web._tcp.example.test,web1.example.test,8080,1,10" */
  srv?: string[];
  /** host-record values: "web1.example.test,10.0.0.1" */
  hosts?: string[];
  /** Domains answered locally (NXDOMAIN for unknown names). */
  local?: string[];
}

async function freePort(): Promise<number> {
  const tcp = net.createServer();
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  const port = (tcp.address() as net.AddressInfo).port;
  await new Promise<void>((r) => tcp.close(() => r()));
  return port;
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export class Dnsmasq {
  private child?: ChildProcess;
  port = 0;
  stderr = "";

  constructor(private readonly bin: string) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts with new records on the same port). */
  async start(opts: DnsmasqOptions, port?: number): Promise<void> {
    await this.stop();
    this.port = port ?? this.port ?? 0;
    if (this.port === 0) this.port = await freePort();
    const args = [
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      "--pid-file=",
      "--user=root",
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--log-facility=-",
      `--port=${this.port}`,
      ...(opts.local ?? []).map((d) => `--local=/${d}/`),
      ...(opts.srv ?? []).map((s) => `--srv-host=${s}`),
      ...(opts.hosts ?? []).map((h) => `--host-record=${h}`),
    ];
    this.stderr = "";
    const child = spawn(this.bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    child.stderr?.on("data", (c: Buffer) => {
      this.stderr += c.toString();
    });
    const t0 = Date.now();
    while (!(await answers(this.port))) {
      if (child.exitCode !== null || Date.now() - t0 > 5000) {
        throw new Error(`dnsmasq did not start on ${this.port}: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // UDP is bound by the time TCP answers; make sure with one datagram round trip.
    await new Promise<void>((resolve) => {
      const u = dgram.createSocket("udp4");
      u.send(Buffer.alloc(0), this.port, "127.0.0.1", () => {
        u.close();
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }
}
