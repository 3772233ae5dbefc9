// scripts/deploy-preflight.sh and the deploy workflow: `pulumi up` from a machine outside
// ssh.allowedCidr, with neither a bastion nor an API CIDR for it, must stop at once with a
// message instead of timing out in the middle of an update. The script is run for real against
// stack files written here; the GitHub workflow itself cannot run here, so its YAML is read.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./support/stack";

const SCRIPT = path.join(ROOT, "scripts", "deploy-preflight.sh");

function preflight(config: Record<string, unknown>, ip: string) {
  const dir = mkdtempSync(path.join(tmpdir(), "geoswarm-preflight-"));
  const file = path.join(dir, "Pulumi.test.yaml");
  writeFileSync(file, JSON.stringify({ config }));
  const r = spawnSync("bash", [SCRIPT, "--file", file, "--ip", ip], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

const ssh = { publicKey: "ssh-ed25519 AAAA k", allowedCidr: "100.64.10.0/24" };

describe("scripts/deploy-preflight.sh", () => {
  it("passes a machine inside ssh.allowedCidr", () => {
    const r = preflight({ "geoswarm:ssh": ssh }, "100.64.10.7");
    expect(r.out).toContain("inside ssh.allowedCidr 100.64.10.0/24");
    expect(r.status).toBe(0);
  });

  it("stops a machine outside it with neither a bastion nor an API CIDR, naming both keys", () => {
    const r = preflight({ "geoswarm:ssh": ssh }, "20.30.40.50");
    expect(r.status).toBe(1);
    expect(r.out).toContain("geoswarm:ssh.bastion is not set");
    expect(r.out).toContain("geoswarm:balancer.apiAllowedCidrs");
  });

  it("passes it with a bastion and an API CIDR that holds it, and not with the bastion alone", () => {
    const bastion = { ...ssh, bastion: { host: "100.64.10.5" } };
    const ok = preflight(
      {
        "geoswarm:ssh": bastion,
        "geoswarm:balancer": { apiAllowedCidrs: ["20.30.0.0/16"] },
      },
      "20.30.40.50",
    );
    expect(ok.out).toContain("through the bastion 100.64.10.5");
    expect(ok.status).toBe(0);
    const apiMissing = preflight({ "geoswarm:ssh": bastion }, "20.30.40.50");
    expect(apiMissing.status).toBe(1);
    expect(apiMissing.out).toContain("api: 20.30.40.50 is outside");
  });

  it("refuses a bad command line with usage", () => {
    const r = spawnSync("bash", [SCRIPT, "--bogus"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Usage: scripts/deploy-preflight.sh");
  });
});

describe(".github/workflows/pulumi.yml", () => {
  const workflow = JSON.parse(
    execFileSync(
      "python3",
      [
        "-c",
        "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        path.join(ROOT, ".github", "workflows", "pulumi.yml"),
      ],
      { encoding: "utf8" },
    ),
  );
  const steps: { name?: string; run?: string; uses?: string; with?: Record<string, unknown> }[] =
    workflow.jobs.pulumi.steps;

  it("runs the preflight before `pulumi up`, on Node 22, on a runner the repository chooses", () => {
    const preflightAt = steps.findIndex((s) => s.run?.includes("scripts/deploy-preflight.sh"));
    const upAt = steps.findIndex((s) => s.with?.command === "up");
    expect(preflightAt).toBeGreaterThanOrEqual(0);
    expect(upAt).toBeGreaterThan(preflightAt);
    expect(
      steps.find((s) => s.uses?.startsWith("actions/setup-node"))?.with?.["node-version"],
    ).toBe(22);
    expect(workflow.jobs.pulumi["runs-on"]).toContain("vars.GEOSWARM_RUNS_ON");
  });
});
