// EMULATION, labelled as such: a plain gobetween API in front of a real geoswarm-lb. gobetween 0.8
// has no `PUT /servers/:name` (its router answers "404 page not found"), answers `GET` of an
// unknown server with `200 null`, and `DELETE` of an unknown server with `200 null`
// (pulumi-notes §2.7, yyyar/gobetween src/api/servers.go). Everything else is forwarded to the
// real balancer unchanged, so servers are really created and deleted.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface GobetweenProxy {
  url: string;
  /** "METHOD /path -> status" for every request, in order. */
  calls: string[];
  /** Answer the next POST with 500 instead of forwarding it (a failure mid-update). */
  failNextPost: boolean;
  close(): Promise<void>;
}

export async function gobetweenProxy(upstream: string): Promise<GobetweenProxy> {
  const state: GobetweenProxy = {
    url: "",
    calls: [],
    failNextPost: false,
    close: async () => {},
  };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const answer = (status: number, text: string, type = "application/json; charset=utf-8") => {
      state.calls.push(`${req.method} ${req.url} -> ${status}`);
      res.writeHead(status, { "content-type": type }).end(text);
    };
    if (req.method === "PUT") return answer(404, "404 page not found", "text/plain");
    if (req.method === "POST" && state.failNextPost) {
      state.failNextPost = false;
      return answer(500, JSON.stringify({ error: "injected failure" }));
    }
    const up = await fetch(`${upstream}${req.url}`, {
      method: req.method,
      headers: {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(req.headers["content-type"] ? { "content-type": req.headers["content-type"] } : {}),
      },
      body: body.length > 0 ? body : undefined,
    });
    const text = await up.text();
    const isServer = /^\/servers\/[^/]+$/.test(req.url ?? "");
    if (isServer && up.status === 404 && (req.method === "GET" || req.method === "DELETE")) {
      return answer(200, "null\n");
    }
    answer(up.status, text, up.headers.get("content-type") ?? "text/plain");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise((r) => server.close(() => r()));
  return state;
}
