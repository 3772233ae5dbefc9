// Registers or removes one balancer server through the LbServer dynamic provider's own code path
// (components/lb-server-provider.ts: check, then create / read / delete, as the Pulumi engine
// would call them), without the Pulumi engine. Used by scripts/demo.sh; bundled by
// scripts/demo/build.mjs into scripts/demo/dist/register.cjs.
//
//   register.cjs create NAME SERVER_JSON    check + create; prints the effective config as JSON
//   register.cjs read NAME                  prints the server as the balancer reports it
//   register.cjs delete NAME                delete (idempotent)
//
// The API comes from the environment, so the password never shows in `ps`:
//   GEOSWARM_API_URL (e.g. http://10.201.0.1:8888), GEOSWARM_API_USER, GEOSWARM_API_PASSWORD
import { type LbServerState, lbServerProvider } from "../../components/lb-server-provider";

const USAGE = `usage: register.cjs create NAME SERVER_JSON | read NAME | delete NAME
env: GEOSWARM_API_URL, GEOSWARM_API_USER, GEOSWARM_API_PASSWORD`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`[register] ERROR: ${msg}\n`);
  process.exit(code);
}

function apiFromEnv(): LbServerState["api"] {
  const url = process.env.GEOSWARM_API_URL;
  const username = process.env.GEOSWARM_API_USER;
  const password = process.env.GEOSWARM_API_PASSWORD;
  if (!url || !username || password === undefined) {
    fail(`GEOSWARM_API_URL, GEOSWARM_API_USER and GEOSWARM_API_PASSWORD must be set\n${USAGE}`, 2);
  }
  return { url, username, password };
}

async function main(argv: string[]): Promise<void> {
  const [cmd, name, json] = argv;
  const arity: Record<string, number> = { create: 3, read: 2, delete: 2 };
  if (cmd === "-h" || cmd === "--help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!(cmd in arity) || argv.length !== arity[cmd]) fail(`bad arguments\n${USAGE}`, 2);
  const api = apiFromEnv();
  if (cmd === "create") {
    let server: unknown;
    try {
      server = JSON.parse(json);
    } catch (err) {
      fail(`SERVER_JSON is not valid JSON: ${(err as Error).message}`, 2);
    }
    const news = { serverName: name, api, server };
    const { failures } = await lbServerProvider.check({}, news);
    if (failures.length > 0) {
      fail(
        `invalid server "${name}":\n${failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n")}`,
        2,
      );
    }
    const { outs } = await lbServerProvider.create(news as LbServerState);
    process.stdout.write(`${JSON.stringify(outs.effective)}\n`);
  } else if (cmd === "read") {
    const r = await lbServerProvider.read(name, { serverName: name, api, server: {} });
    if (r.id === "") fail(`server "${name}" does not exist on ${api.url}`);
    process.stdout.write(`${JSON.stringify((r.props as LbServerState).effective)}\n`);
  } else {
    await lbServerProvider.delete(name, { serverName: name, api, server: {} });
  }
}

main(process.argv.slice(2)).catch((err: Error) => fail(err.message));
