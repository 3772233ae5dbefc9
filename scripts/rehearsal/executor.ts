// The Executor of the mocks (./mocks.ts) on the testbed: boots a machine from its recorded user
// data, runs remote commands, writes CopyToRemote sources, applies security-group rules and
// registers LbServers through the provider.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Firewall } from "./firewall";
import { type Machine, shq, type Testbed } from "./machines";
import type { Executor, Recorded } from "./mocks";
import { commandVerdict, deliveredFiles, rehearsalNode, runcmdVerdict } from "./policy";

// biome-ignore lint/suspicious/noExplicitAny: js-yaml ships no types here (a dependency of @pulumi/pulumi)
const yaml = require("js-yaml") as { load(text: string): any };

/** Boots machines and runs commands for the mocks (see mocks.ts). */
export class TestbedExecutor implements Executor {
  /** What each boot skipped, by machine name, for the report. */
  readonly skipped: Record<string, string[]> = {};

  constructor(
    private readonly tb: Testbed,
    private readonly firewall: Firewall,
    private readonly recordedById: (id: string) => Recorded | undefined,
    private readonly log: (line: string) => void,
  ) {}

  async boot(ip: string, instance: Recorded): Promise<void> {
    const m = this.tb.byIp(ip);
    const doc = yaml.load(String(instance.inputs.userData).replace(/^#cloud-config\n/, "")) ?? {};
    if (doc.hostname) {
      m.name = doc.hostname;
      await this.tb.exec(m, `hostname ${shq(doc.hostname)}`);
    }
    // The security groups filter before the machine's first packet.
    const sgs: string[] = instance.inputs.vpcSecurityGroupIds ?? [];
    await this.firewall.attach(
      m,
      sgs.map((id) => this.recordedById(id)?.name ?? id),
    );
    const skipped: string[] = [];
    const errors: string[] = [];
    for (const f of doc.write_files ?? [])
      await this.tb.writeFile(m, f.path, f.content ?? "", f.permissions ?? "0644", f.owner);
    if (doc.packages)
      skipped.push(`packages ${JSON.stringify(doc.packages)}: the testbed host's (no apt at boot)`);
    for (const argv of (doc.runcmd ?? []) as string[][]) {
      const why = runcmdVerdict(argv);
      if (why) {
        skipped.push(`${argv.join(" ")}: ${why}`);
        continue;
      }
      const r = await this.tb.exec(m, argv.map(shq).join(" "));
      if (r.code !== 0)
        errors.push(
          `('scripts_user', '${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim().split("\n").pop()}')`,
        );
    }
    if (skipped.some((s) => s.includes("install-node.sh"))) {
      await this.linkNode(m);
    }
    if ((await this.tb.exec(m, "test -S /run/docker.sock")).code === 0) {
      const tar = join(this.tb.dir, "image", "busybox-rootfs.tar");
      const r = await this.tb.exec(
        m,
        `docker import -c 'CMD ["/bin/sh"]' ${shq(tar)} ${shq(this.tb.image)} >/dev/null`,
      );
      if (r.code !== 0) errors.push(`('testbed image', '${r.stderr.trim()}')`);
    }
    const status = {
      status: errors.length ? "error" : "done",
      errors,
      recoverable_errors: {},
      detail: "rehearsal boot",
    };
    writeFileSync(join(m.dir, "cloud-init.json"), JSON.stringify(status));
    this.skipped[m.name] = [...(this.skipped[m.name] ?? []), ...skipped];
    this.log(
      `booted ${m.name} (${ip})${errors.length ? ` with errors: ${errors.join("; ")}` : ""}`,
    );
  }

  // A copy, not a link: the balancer's unit hides /home, /root and /tmp (ProtectHome,
  // PrivateTmp), and a checkout there would leave a link pointing nowhere.
  private async linkNode(m: Machine): Promise<void> {
    await this.tb.exec(
      m,
      `mkdir -p /usr/local/bin && install -m 0755 ${shq(rehearsalNode())} /usr/local/bin/node`,
    );
  }

  async command(
    name: string,
    ip: string,
    create: string,
    stdin?: string,
  ): Promise<{ stdout: string; stderr: string }> {
    const m = this.tb.byIp(ip);
    const why = commandVerdict(create);
    if (why) {
      this.skipped[m.name] = [...(this.skipped[m.name] ?? []), `remote command ${name}: ${why}`];
      if (why.includes("nodejs.org")) await this.linkNode(m);
      for (const f of deliveredFiles(create, stdin))
        await this.tb.writeFile(m, f.path, f.content, f.mode);
      this.log(`skipped ${name} on ${m.name}: ${why}`);
      return { stdout: "", stderr: why };
    }
    const t0 = Date.now();
    const r = await this.tb.exec(m, create, { stdin: stdin ?? "", timeoutMs: 300_000 });
    this.log(`ran ${name} on ${m.name}: exit ${r.code} in ${Date.now() - t0} ms`);
    if (r.code !== 0)
      throw new Error(`remote command on ${m.name} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return { stdout: r.stdout, stderr: r.stderr };
  }

  async copy(name: string, ip: string, remotePath: string, content: Buffer): Promise<void> {
    const m = this.tb.byIp(ip);
    await this.tb.writeFile(m, remotePath, content, "0644");
    this.log(`copied ${name} to ${m.name}:${remotePath}`);
  }

  async securityGroupRule(name: string, inputs: Record<string, any>): Promise<void> {
    await this.firewall.addRule(
      name,
      inputs,
      this.recordedById(inputs.securityGroupId)?.name ?? inputs.securityGroupId,
    );
  }

  async lbServer(
    name: string,
    inputs: Record<string, any>,
    old?: Record<string, any>,
  ): Promise<Record<string, any>> {
    // The provider's own code path, as the engine calls it: check, then create; for a resource
    // that exists, diff and then update, or delete and create (replace), or nothing.
    const { lbServerProvider: p } = await import("../../components/lb-server-provider");
    const news = { ...inputs };
    delete news.__provider;
    const { inputs: checked, failures } = await p.check(old ?? {}, news);
    if (failures.length)
      throw new Error(failures.map((f) => `${f.property}: ${f.reason}`).join("; "));
    const state = checked as never;
    if (old) {
      const id = String(old.serverName ?? name);
      const d = await p.diff(id, old as never, state);
      if (d.replaces?.length) {
        await p.delete(id, old as never);
      } else {
        if (d.changes) {
          const { outs } = await p.update(id, old as never, state);
          this.log(`updated ${name} through the LbServer provider (PUT)`);
          return outs as Record<string, any>;
        }
        return old;
      }
    }
    const { outs } = await p.create(state);
    this.log(`registered ${name} through the LbServer provider at ${inputs.api.url}`);
    return outs as Record<string, any>;
  }
}
