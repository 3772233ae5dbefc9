"""Medians, ratios and the markdown report (printed, and written into docs/benchmarks.md between
the Performance markers; other sections of that file are left untouched)."""
import math
import os
import re
import statistics

from .targets import LABEL, REPO

BEGIN, END = '<!-- performance:begin (written by bench/bench.py) -->', '<!-- performance:end -->'

# (key in results, field, label, digits, lower is better)
METRICS = [
    ('short', 'cpu_s_per_10k', 'proxy CPU-s / 10k new conns', 3, True),
    ('ka', 'cpu_us_per_req', 'proxy CPU µs / keep-alive req', 1, True),
    ('bulk', 'gbps', 'bulk Gbit/s, client → backend (1 stream)', 2, False),
    ('bulk', 'cpu_s_per_gib', 'proxy CPU-s / GiB, client → backend', 3, True),
    ('bulk_r', 'gbps', 'bulk Gbit/s, backend → client (iperf3 -R)', 2, False),
    ('bulk_r', 'cpu_s_per_gib', 'proxy CPU-s / GiB, backend → client', 3, True),
    ('idle', 'kib_per_conn', 'RSS growth KiB / idle client conn', 1, True),
    ('short', 'rps', 'short-conn req/s', 0, False),
    ('short', 'p99_ms', 'short-conn p99 ms', 2, True),
    ('ka', 'rps', 'keep-alive req/s', 0, False),
    ('ka', 'p99_ms', 'keep-alive p99 ms', 2, True),
    ('idle', 'rss_base_mib', 'RSS at start MiB', 1, True),
    ('idle', 'rss_mib', 'RSS with 5k idle conns MiB', 1, True),
]
# Targets for geoswarm-lb, as a ratio to HAProxy in the same run (or absolute, for memory).
# Bulk targets must hold in every run, not only for the medians: see bulk_runs_table().
TARGETS = {('short', 'cpu_s_per_10k'): ('≤ 1.4× HAProxy', 1.4), ('ka', 'cpu_us_per_req'): ('≤ 1.15× HAProxy', 1.15),
           ('bulk', 'gbps'): ('≥ 0.9× HAProxy', 0.9), ('bulk', 'cpu_s_per_gib'): ('≤ 1.05× HAProxy', 1.05),
           ('bulk_r', 'gbps'): ('≥ 0.9× HAProxy', 0.9), ('bulk_r', 'cpu_s_per_gib'): ('≤ 1.05× HAProxy', 1.05),
           ('idle', 'kib_per_conn'): ('≤ 6 KiB', 6.0)}
# geoswarm-lb builds and data paths compared with HAProxy, in this order when present.
VARIANTS = ('geoswarm', 'geoswarm-native', 'geoswarm-base')
SHORT = {'geoswarm': 'JS', 'geoswarm-native': 'native', 'geoswarm-base': 'baseline'}


def stat(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not math.isnan(x)]
    if not xs:
        return None
    m = statistics.median(xs)
    return m, (max(xs) - min(xs)) / 2 / m * 100 if m else 0.0, min(xs), max(xs)


def cell(s, nd, spread='pct'):
    if s is None:
        return 'n/a'
    if spread == 'range':  # bulk: every run counts, so show the extremes
        return f'{s[0]:.{nd}f} ({s[2]:.{nd}f}–{s[3]:.{nd}f})'
    return f'{s[0]:.{nd}f} (±{s[1]:.0f}%)'


def med(res, name, kind, field):
    return stat([r.get(field, float('nan')) for r in res.get(kind, {}).get(name, [])])


def ratio(a, b):
    return 'n/a' if not a or not b or not b[0] else f'{a[0] / b[0]:.2f}'


def run_ratios(res, name, kind, field):
    """geoswarm/HAProxy per repetition (runs are interleaved, so run i of each was measured together)."""
    g, h = res.get(kind, {}).get(name, []), res.get(kind, {}).get('haproxy', [])
    out = []
    for a, b in zip(g, h):
        x, y = a.get(field, float('nan')), b.get(field, float('nan'))
        out.append(x / y if y and not math.isnan(x) and not math.isnan(y) else float('nan'))
    return out


def met(res, name, kind, field, lower):
    t = TARGETS.get((kind, field))
    gs = med(res, name, kind, field)
    if not t or not gs:
        return ''
    if kind == 'idle':
        return 'yes' if gs[0] <= t[1] else 'no'
    if kind in ('bulk', 'bulk_r'):
        rs = [r for r in run_ratios(res, name, kind, field) if not math.isnan(r)]
        if not rs:
            return ''
        ok = sum(1 for r in rs if (r <= t[1] if lower else r >= t[1]))
        return f"{'yes' if ok == len(rs) else 'no'} ({ok}/{len(rs)} runs)"
    hs = med(res, 'haproxy', kind, field)
    if not hs:
        return ''
    r = gs[0] / hs[0]
    return 'yes' if (r <= t[1] if lower else r >= t[1]) else 'no'


def tables(res, names):
    vs = [v for v in VARIANTS if v in names]
    head = (['metric (median of runs; bulk: median (min–max), other rows: ±half-spread)'] + [LABEL[n] for n in names] +
            [f'{SHORT[v]} / HAProxy' for v in vs] + (['JS / nginx'] if 'nginx' in names and 'geoswarm' in names else []) +
            ['target'] + [f'met? ({SHORT[v]})' for v in vs if v != 'geoswarm-base'])
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for kind, field, label, nd, lower in METRICS:
        if not any(med(res, n, kind, field) for n in names):
            continue  # not measured in this run (--only)
        spread = 'range' if kind in ('bulk', 'bulk_r') else 'pct'
        label = label.replace('5k idle', f"{res.get('idle_n', 5000) / 1000:g}k idle")
        row = [label] + [cell(med(res, n, kind, field), nd, spread) for n in names]
        hs = med(res, 'haproxy', kind, field)
        row += [ratio(med(res, v, kind, field), hs) for v in vs]
        if 'nginx' in names and 'geoswarm' in names:
            row.append(ratio(med(res, 'geoswarm', kind, field), med(res, 'nginx', kind, field)))
        t = TARGETS.get((kind, field))
        row.append(t[0] if t else '')
        row += [met(res, v, kind, field, lower) for v in vs if v != 'geoswarm-base']
        out.append('| ' + ' | '.join(row) + ' |')
    errs = sum(r.get('sock_errors', 0) + r.get('non2xx', 0) for k in ('short', 'ka')
               for v in res.get(k, {}).values() for r in v)
    out.append('')
    out.append(f'wrk socket errors + non-2xx responses over all runs: {errs}.')
    for n in names:  # an idle client the backend never saw is not a relayed connection
        bad = [r.get('sink_conns') for r in res.get('idle', {}).get(n, []) if r.get('sink_conns') != res.get('idle_n')]
        if bad:
            out.append(f"{LABEL[n]}: in {len(bad)} idle run(s) the backend held {', '.join(map(str, bad))} connections, "
                       f"not {res.get('idle_n')}: its idle-memory numbers do not measure relayed connections.")
    failed = sum(1 for k in ('bulk', 'bulk_r') for v in res.get(k, {}).values() for r in v if 'error' in r)
    if failed:
        out.append(f'iperf3 runs that failed (no result, left out of the medians): {failed}.')
    return '\n'.join(out)


def bulk_runs_table(res, names):
    """Every bulk run, so a bimodal result cannot hide behind a median."""
    if not any(res.get(k) for k in ('bulk', 'bulk_r')):
        return ''
    vs = [v for v in VARIANTS if v in names]
    head = ['direction', 'run'] + [f'{LABEL[n]}: Gbit/s, CPU-s/GiB' for n in names] + \
        [f'{SHORT[v]} / HAProxy: Gbit/s, CPU' for v in vs]
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for kind, label in (('bulk', 'client → backend'), ('bulk_r', 'backend → client')):
        n_runs = max((len(v) for v in res.get(kind, {}).values()), default=0)
        for i in range(n_runs):
            row = [label, str(i + 1)]
            for n in names:
                rs = res.get(kind, {}).get(n, [])
                r = rs[i] if i < len(rs) else {}
                g, c = r.get('gbps', float('nan')), r.get('cpu_s_per_gib', float('nan'))
                row.append('failed' if 'error' in r else 'n/a' if math.isnan(g) else f'{g:.2f}, {c:.3f}')
            for v in vs:
                gr, cr = run_ratios(res, v, kind, 'gbps'), run_ratios(res, v, kind, 'cpu_s_per_gib')
                a = gr[i] if i < len(gr) else float('nan')
                b = cr[i] if i < len(cr) else float('nan')
                row.append('n/a' if math.isnan(a) or math.isnan(b) else f'{a:.2f}, {b:.2f}')
            out.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(out)


def native_line(res):
    n = res.get('native')
    if not n or n.get('present') or not n.get('requested'):
        return ''
    return (f"geoswarm-lb (native): not measured in this run, `{n['addon']}` was not built "
            '(`npm run build:lb` skips it without a C compiler).')


def workers_table(res):
    w = res.get('workers')
    if not w:
        return ''
    names = [n for n in ('haproxy', 'nginx', 'geoswarm', 'geoswarm-n22', 'geoswarm-w2') if n in w.get('short', {})]
    out = ['| unpinned, 2 threads/workers | ' + ' | '.join(LABEL[n] for n in names) + ' |',
           '|---|' + '---|' * len(names)]
    for kind, field, label, nd in (('short', 'rps', 'short-conn req/s', 0),
                                   ('short', 'cpu_s_per_10k', 'proxy CPU-s / 10k new conns', 3),
                                   ('short', 'p99_ms', 'short-conn p99 ms', 2),
                                   ('ka', 'rps', 'keep-alive req/s', 0),
                                   ('ka', 'cpu_us_per_req', 'proxy CPU µs / keep-alive req', 1),
                                   ('ka', 'p99_ms', 'keep-alive p99 ms', 2)):
        out.append(f'| {label} | ' + ' | '.join(cell(med(w, n, kind, field), nd) for n in names) + ' |')
    return '\n'.join(out)


def control_table(c):
    if not c:
        return ''
    return '\n'.join([
        '| control plane | value |', '|---|---|',
        f"| create {c['servers']} servers via `POST /servers/:name` (sequential, keep-alive) | {c['create_s']:.2f} s "
        f"({c['create_s'] / c['servers'] * 1e3:.2f} ms per server) |",
        f"| RSS before / after / growth | {c['rss_before_mib']:.1f} MiB / {c['rss_after_mib']:.1f} MiB / "
        f"{(c['rss_after_mib'] - c['rss_before_mib']) * 1024 / c['servers']:.1f} KiB per server |",
        f"| `GET /servers` with {c['servers']} servers | {c['list_ms']:.1f} ms |",
        f"| `GET /servers/:name/stats` (median of 20) | {c['stats_ms']:.2f} ms |",
        f"| errors | {c['errors']} |",
    ])


def render(res):
    names = [n for n in ('haproxy', 'nginx') + VARIANTS if any(n in res.get(k, {}) for k in ('short', 'ka', 'bulk', 'idle'))]
    parts = [tables(res, names)]
    if native_line(res):
        parts += ['', native_line(res)]
    if res.get('bulk') or res.get('bulk_r'):
        parts += ['', 'Bulk, every run (iperf3 `-n ' + str(res.get('bulk_size', '?')) + '`; ratios are to HAProxy in the same repetition):',
                  '', bulk_runs_table(res, names)]
    if res.get('workers'):
        parts += ['', workers_table(res)]
    if res.get('control'):
        parts += ['', control_table(res['control'])]
    return '\n'.join(parts)


def env_block(res):
    v = res['versions']
    lines = [f"* date: {res['date']}; mode: {res['mode']} ({res['runs']} runs, wrk {res['dur']} s, "
             f"iperf3 -n {res['bulk_size']}, {res['idle_n']} idle conns)",
             f"* load average (1/5/15 min) before: {res['load_before']}; after: {res['load_after']}",
             f"* command: `{res['command']}`"]
    lines += [f'* {k}: {val}' for k, val in v.items()]
    return '\n'.join(lines)


def write_docs(res, body):
    path = os.path.join(REPO, 'docs', 'benchmarks.md')
    notes_path = os.path.join(REPO, 'bench', 'notes.md')  # hand-written analysis, kept with the tables
    notes = open(notes_path).read().strip() if os.path.exists(notes_path) else ''
    section = (f"{BEGIN}\n## Performance\n\n{PREAMBLE}\n\n### Last run (`cd bench && npm run bench`)\n\n"
               f"{env_block(res)}\n\n{body}\n\n{notes}\n\n{END}")
    old = open(path).read() if os.path.exists(path) else '# Benchmarks\n'
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + '.*?' + re.escape(END), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip('\n') + '\n\n' + section + '\n'
    with open(path, 'w') as f:
        f.write(new)
    return path


PREAMBLE = """\
geoswarm-lb against HAProxy (mode tcp) and nginx stream, with equivalent configs in front of the same
backends (nginx serving 12 bytes over HTTP, `iperf3 -s`, and a Node sink holding idle connections).
Every feature of geoswarm-lb's data path stays on: leastconn election, access rules
(`default = "deny"`, `allow 127.0.0.0/8`), client/backend idle timeouts, connect timeout, retries,
`max_connections`, per-server and per-backend byte counters, the REST API and Prometheus metrics.
HAProxy and nginx get the same timeouts and the same source-address rule. geoswarm-lb runs twice,
from the same artifact: "JS" forces the JavaScript relay (`GEOSWARM_LB_NATIVE=0`), "native" the
splice() addon `lb/dist/geoswarm-lb.node` (`GEOSWARM_LB_NATIVE=1`; left out, with a line saying
so, when the addon was not built).

Method: one core per role, so that the proxy's CPU can be read without the load generator's.
Each proxy runs alone on CPU 0 with one thread or process (`taskset -c 0`); wrk, the backends,
iperf3 and the idle clients run on CPU 1. Proxy CPU is utime+stime of the proxy's process tree from
`/proc/<pid>/stat`, read right before and after each load run; it excludes softirq work the kernel
does for loopback TCP, so it is a lower bound, the same kind for every proxy. Targets are
interleaved inside each repetition, so run i of every target was measured under the same
background load; numbers are medians of the runs, and bulk rows also give the extremes and every
run. Short connections: `wrk -t1 -c50 --latency -H 'Connection: close'` (one client and one
backend TCP connection per request). Keep-alive: the same without the header. Bulk: `iperf3 -P 1`
through the proxy, client → backend (upload) and backend → client (`-R`, download). Idle memory: a
fresh proxy process, then 5,000 idle client connections (10,000 sockets in the proxy); RSS growth
divided by 5,000. Machines are shared and noisy: ratios measured in the same run are the numbers
to quote, not absolute values."""
