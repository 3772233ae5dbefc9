// The live dashboard served at GET /dashboard (same auth as the API). One static page: it polls
// GET /servers, GET /servers/:name/stats and GET /providers (refused labels) every 2 s (the stats
// window) and redraws. Its icon is
// inline (an empty data: URL), so the browser asks for no /favicon.ico (a 404 in the console).
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>geoswarm-lb</title>
<link rel="icon" href="data:,">
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --muted: #6e7781; --line: #d0d7de; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #status { color: var(--muted); margin-bottom: 16px; }
  section.server { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 16px; padding: 12px 16px; }
  section.server h2 { font-size: 16px; margin: 0 0 8px; }
  .meta { color: var(--muted); font-size: 13px; margin-bottom: 8px; }
  .meta b { color: #1f2328; font-weight: 600; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
  th { font-weight: 600; font-size: 12px; color: var(--muted); text-transform: uppercase; }
  .live { color: var(--ok); font-weight: 600; }
  .dead { color: var(--bad); font-weight: 600; }
  .undiscovered { color: var(--muted); font-style: italic; }
  .disabled { color: var(--muted); font-weight: 600; }
  .empty { color: var(--muted); }
  #refusals { border: 1px solid var(--bad); border-radius: 6px; margin: 0 0 16px; padding: 8px 16px; }
  #refusals h2 { font-size: 16px; margin: 0 0 8px; color: var(--bad); }
  .origin { color: var(--muted); font-size: 13px; font-weight: 400; }
</style>
</head>
<body>
<h1>geoswarm-lb</h1>
<div id="status">loading…</div>
<div id="refusals" hidden></div>
<div id="servers"></div>
<script>
"use strict";
const REFRESH_MS = 2000;
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const rate = (bytesPerSecond) => {
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  let v = bytesPerSecond, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
};
async function getJson(path) {
  const res = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}
function renderServer(name, cfg, stats) {
  const rows = stats.backends.slice().sort((a, b) => (a.host + ":" + a.port).localeCompare(b.host + ":" + b.port));
  const body = rows.length === 0
    ? [el("tr", {}, el("td", { colspan: "8", class: "empty" }, "no backends discovered"))]
    : rows.map((b) => {
        // Disabled (API disable/drain) first: such a backend may be live but is never elected.
        const state = !b.stats.discovered ? ["undiscovered", "undiscovered"]
          : b.stats.enabled === false ? ["disabled", b.stats.live ? "disabled (live)" : "disabled (dead)"]
          : b.stats.live ? ["live", "live"] : ["dead", "dead"];
        return el("tr", { "data-backend": b.host + ":" + b.port },
          el("td", {}, b.host + ":" + b.port),
          el("td", { class: state[0] }, state[1]),
          el("td", {}, b.stats.discovered ? "yes" : "no"),
          el("td", {}, b.stats.active_connections),
          el("td", {}, b.stats.total_connections),
          el("td", {}, b.stats.refused_connections),
          el("td", {}, rate(b.stats.rx_second)),
          el("td", {}, rate(b.stats.tx_second)));
      });
  return el("section", { class: "server", "data-server": name },
    el("h2", {}, name, ...(cfg.origin ? [" ", el("span", { class: "origin" }, "from " + cfg.origin + " (read-only)")] : [])),
    el("div", { class: "meta" },
      el("b", {}, cfg.protocol), " on ", el("b", {}, cfg.bind), " · balance ", el("b", {}, cfg.balance),
      " · discovery ", el("b", {}, cfg.discovery.kind), " · active connections ",
      el("b", { class: "active" }, stats.active_connections),
      " · rx ", el("b", {}, rate(stats.rx_second)), " · tx ", el("b", {}, rate(stats.tx_second))),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["backend", "state", "discovered", "active", "total", "refused", "rx", "tx"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...body)));
}
function renderRefusals(providers) {
  const rows = [];
  for (const [provider, p] of Object.entries(providers || {})) {
    for (const r of p.refusals || []) {
      rows.push(el("tr", { "data-refusal": r.source + " " + r.name + " " + r.label },
        el("td", {}, provider), el("td", {}, r.source + " " + r.name), el("td", {}, r.label),
        el("td", {}, r.value), el("td", {}, r.problem)));
    }
  }
  const box = document.getElementById("refusals");
  box.hidden = rows.length === 0;
  box.replaceChildren(el("h2", {}, "Refused labels (" + rows.length + ")"),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["provider", "from", "label", "value", "problem"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
}
async function refresh() {
  try {
    renderRefusals(await getJson("/providers").catch(() => ({})));
    const servers = await getJson("/servers");
    const names = Object.keys(servers).sort();
    const stats = await Promise.all(names.map((n) => getJson("/servers/" + encodeURIComponent(n) + "/stats")));
    const root = document.getElementById("servers");
    root.replaceChildren(...(names.length ? names.map((n, i) => renderServer(n, servers[n], stats[i])) : [el("p", { class: "empty" }, "no servers")]));
    document.getElementById("status").textContent = names.length + " server(s) · updated " + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById("status").textContent = "refresh failed: " + err.message;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();
</script>
</body>
</html>
`;
