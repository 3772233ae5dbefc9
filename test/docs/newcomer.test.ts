// What a newcomer meets besides the quick start (issue 16): the runtime is Node 22 everywhere
// (the test command, the balancer command, CI), the docs name what exists (testbed paths, the
// tools setup installs, the entry points' healthcheck keys), and the noise is gone (Vite's
// configLoader warning, npm's install-scripts warning).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseClusterSpec } from "../../components/config";
import { prodConfig } from "../components/support/stack";
import { blocksUnder, ROOT, readDoc } from "./support/markdown";

const pkg = JSON.parse(readDoc("package.json"));
const sh = (cmd: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync("bash", ["-c", cmd], { cwd: ROOT, encoding: "utf8", env, timeout: 120_000 });
// A PATH without the pinned Node 22: what a Debian machine with its own Node has.
const plainPath = (process.env.PATH ?? "")
  .split(":")
  .filter((d) => !d.includes(".cache/node22"))
  .join(":");

describe("Node 22 everywhere", () => {
  it("engines, the test command and the balancer command run under Node 22", () => {
    expect(pkg.engines.node).toBe(">=22");
    expect(pkg.scripts.test).toMatch(/^scripts\/with-node22\.sh /);
    expect(pkg.scripts.lb).toMatch(/^scripts\/with-node22\.sh node /);
    const node = sh("scripts/with-node22.sh node --version", { ...process.env, PATH: plainPath });
    expect(node.stdout.trim()).toMatch(/^v22\.(\d+)\./);
    expect(Number(node.stdout.trim().split(".")[1])).toBeGreaterThanOrEqual(12);
  });

  it("every GitHub workflow sets up Node 22", () => {
    const dir = resolve(ROOT, ".github/workflows");
    for (const file of readdirSync(dir)) {
      const text = readDoc(`.github/workflows/${file}`);
      const versions = [...text.matchAll(/node-version:\s*(\S+)/g)].map((m) => m[1]);
      expect(versions.length, file).toBeGreaterThan(0);
      expect(new Set(versions), file).toEqual(new Set(["22"]));
    }
  });

  it("no doc asks for Node.js 20", () => {
    for (const doc of ["README.md", "docs/deploy.md", "scripts/testbed/README.md"]) {
      expect(readDoc(doc), doc).not.toMatch(/Node(\.js)?\s+(≥\s*|>=\s*)?20\b/);
    }
  });
});

describe("docs name what exists", () => {
  it("every `cd` in the README's and the testbed README's shell blocks is a folder here", () => {
    for (const doc of ["README.md", "scripts/testbed/README.md"]) {
      const text = readDoc(doc);
      for (const [, dir] of text.matchAll(/^cd\s+(\S+)\s/gm)) {
        expect(existsSync(resolve(ROOT, dir)), `${doc}: cd ${dir}`).toBe(true);
      }
    }
  });

  it("setup installs every tool the testbed README needs, jq included", () => {
    const setup = readDoc("scripts/setup.sh");
    const needs = /\*\*Needs\*\*[^:]*:([\s\S]+?)\.\s*$/m.exec(
      readDoc("scripts/testbed/README.md"),
    )?.[1];
    expect(needs).toBeDefined();
    for (const tool of ["docker.io", "busybox-static", "iproute2", "iptables", "curl", "jq"]) {
      expect(needs, tool).toContain(tool);
      expect(setup, tool).toMatch(new RegExp(`^\\s+${tool.replace(".", "\\.")}\\s`, "m"));
    }
  });

  it("deploy.md documents every key of an entry point's healthcheck", () => {
    const spec = parseClusterSpec(prodConfig());
    const keys = Object.keys(spec.entryPoints[0].healthcheck);
    const row = readDoc("docs/deploy.md")
      .split("\n")
      .find((l) => l.startsWith("| `entryPoints[]`"));
    for (const key of keys) expect(row, key).toContain(key);
  });

  it("the deploy line points at deploy.md sections that exist", () => {
    const readme = readDoc("README.md");
    const named = /docs\/deploy\.md\), sections "([^"]+)" and\s+"([^"]+)"/.exec(readme);
    expect(named).not.toBeNull();
    const headings = readDoc("docs/deploy.md")
      .split("\n")
      .filter((l) => l.startsWith("## "))
      .map((l) => l.slice(3).trim());
    for (const name of (named as RegExpExecArray).slice(1, 3)) {
      expect(headings).toContain(name.replace(/\s+/g, " "));
    }
    const deploy = readDoc("docs/deploy.md");
    expect(deploy).toContain("pulumi stack init prod");
    expect(deploy).toContain("--secret geoswarm:sshPrivateKey");
  });

  it("the demo is run as root, not through sudo", () => {
    const [demo] = blocksUnder(
      readDoc("README.md"),
      "The whole system locally: testbed, demo, end-to-end tests",
    );
    expect(demo.join("\n")).not.toMatch(/\bsudo\b/);
  });
});

describe("no noise", () => {
  it("vitest loads its config without Vite's configLoader warning", () => {
    const r = sh("npx vitest list test/docs/tables.test.ts");
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/configLoader/);
  });

  it("every dependency install script is settled in allowScripts", () => {
    const r = sh("npm install-scripts ls");
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/not yet covered/);
    expect(Object.keys(pkg.allowScripts ?? {}).length).toBeGreaterThan(0);
  });
});
