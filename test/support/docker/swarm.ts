// Swarm-mode services for tests against the testbed's real swarm: the command lines, so that a
// test states only what differs (labels, replicas, publish mode).

/**
 * `docker service create` arguments for a busybox httpd service answering its own name on
 * port 80, its tasks constrained to `region-<region>` by engine label; `flags` go before the
 * constraint (labels, `--replicas`, ...).
 */
export function httpdService(
  image: string,
  name: string,
  region: number,
  publish: string,
  ...flags: string[]
): string[] {
  return [
    "service",
    "create",
    "--detach",
    "--no-resolve-image",
    "--name",
    name,
    ...flags,
    "--constraint",
    `engine.labels.region==region-${region}`,
    "--publish",
    publish,
    image,
    "sh",
    "-c",
    `echo ${name} > /www/index.html; exec httpd -f -p 80 -h /www`,
  ];
}

/** One `format` line (a Go template, e.g. `{{.Node}}`) per task of `svc` meant to be running. */
export async function runningTasks(
  docker: (...args: string[]) => Promise<string>,
  svc: string,
  format: string,
): Promise<string[]> {
  const out = await docker(
    "service",
    "ps",
    svc,
    "--filter",
    "desired-state=running",
    "--format",
    format,
  );
  return out.split("\n");
}
