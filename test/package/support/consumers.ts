// What the package consumer tests know about the repository: its package.json and lockfile, the
// examples (each a consumer project) and their stack files.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "../../..");
export const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
const LOCK = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));

export const CONSUMER_NAMES = ["platform", "composition", "app"] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];

/** A real ed25519 public key (its private half was discarded), for stacks built under test. */
export const TEST_SSH_PUBLIC_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmjyrLnhipsnBdBz3QE+aRio5B+71E755noO0asOK0L geoswarm-test";

/** The version the repository's lockfile installs for `name`. */
export function lockedVersion(name: string): string {
  const entry = LOCK.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is not in package-lock.json`);
  return entry.version;
}

/** An example's dependencies and devDependencies as its package.json declares them. */
export function exampleDependencies(name: ConsumerName): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "examples", name, "package.json"), "utf8"));
  return { ...pkg.dependencies, ...pkg.devDependencies };
}

/**
 * A lockfile for a consumer whose package.json is `pkg`: the repository lockfile's entries under a
 * new root, so that `npm install` keeps the repository's versions of every package it shares
 * (direct and transitive), adds the tarball and prunes the rest.
 */
export function seededLockfile(pkg: {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}): object {
  const packages: Record<string, unknown> = {
    "": { name: pkg.name, dependencies: pkg.dependencies, devDependencies: pkg.devDependencies },
  };
  for (const [key, entry] of Object.entries(LOCK.packages)) {
    if (key.startsWith("node_modules/")) packages[key] = entry;
  }
  return { name: pkg.name, lockfileVersion: 3, requires: true, packages };
}

/** Pulumi.yaml's project name and Pulumi.<stack>.yaml's config ("ns:key" → value) of a project. */
export function readStackConfig(
  dir: string,
  stack: string,
): { project: string; config: Record<string, unknown> } {
  const json = execFileSync(
    "python3",
    [
      "-c",
      "import json,sys,yaml; print(json.dumps([yaml.safe_load(open(f)) for f in sys.argv[1:]]))",
      path.join(dir, "Pulumi.yaml"),
      path.join(dir, `Pulumi.${stack}.yaml`),
    ],
    { encoding: "utf8" },
  );
  const [project, stackFile] = JSON.parse(json);
  return { project: project.name, config: stackFile.config ?? {} };
}

export const sha256File = (file: string): string =>
  createHash("sha256").update(readFileSync(file)).digest("hex");

/** Pulumi's wire form of a secret, as the mock monitor hands it over. */
export const isSecret = (v: unknown): boolean =>
  typeof v === "object" &&
  v !== null &&
  (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] ===
    "1b47061264138c4ac30d75fd1eb44270";
