#!/usr/bin/env python3
"""geoswarm-lb vs HAProxy vs nginx stream: CPU per new connection, per keep-alive request, per GiB,
bulk throughput, idle-connection memory, p99; workers=N gain; control plane with 1,000 servers.

usage: python3 bench/bench.py [--quick] [--runs N] [--dur S] [--only short,ka,bulk,idle,workers,control]
                              [--targets haproxy,nginx,geoswarm,geoswarm-native,geoswarm-base]
                              [--no-docs] [--out FILE.json] [--render FILE.json]
--quick: 1 run, 3 s wrk, 512M iperf3, 1,000 idle conns, 100 servers; does not touch docs/.
Traffic goes only to 127.0.0.1; every process is started and stopped by PID here."""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import control, measure, procs, report, targets  # noqa: E402

# geoswarm: the JS data path (GEOSWARM_LB_NATIVE=0); geoswarm-native: the addon (=1), only when
# lb/dist/geoswarm-lb.node exists (the report then says it was skipped).
PINNED = ['haproxy', 'nginx', 'geoswarm', 'geoswarm-native']


def args():
    a = argparse.ArgumentParser()
    a.add_argument('--quick', action='store_true')
    a.add_argument('--runs', type=int)
    a.add_argument('--dur', type=int)
    a.add_argument('--only', default='short,ka,bulk,idle,workers,control')
    a.add_argument('--no-docs', action='store_true')
    a.add_argument('--targets', default=','.join(PINNED), help='subset of the pinned targets (development)')
    a.add_argument('--idle-n', type=int)
    a.add_argument('--out')
    a.add_argument('--render', metavar='RESULTS.json', help='only re-render docs/benchmarks.md from saved results')
    return a.parse_args()


def log(*xs):
    print(*xs, flush=True)


def pinned_phase(res, d, kinds, runs, dur, size, idle_n, names):
    if kinds & {'short', 'ka', 'bulk'}:
        ps = {n: targets.start_proxy(n, d, pinned=True) for n in names}
        time.sleep(2)
        for n in names:  # warm-up (JIT, pools), not recorded
            measure.wrk(n, 0, True, 2)
            measure.wrk(n, 0, False, 2)
        for kind in ('short', 'ka'):
            if kind not in kinds:
                continue
            for r in range(runs):  # targets interleaved inside each repetition
                for n in names:
                    x = measure.wrk(n, ps[n].pid, kind == 'short', dur)
                    res[kind].setdefault(n, []).append(x)
                    log(f"{kind} {r} {n}: {x['rps']:.0f} req/s p99={x['p99_ms']:.2f}ms "
                        f"cpu/10k={x['cpu_s_per_10k']:.3f}s cpu/req={x['cpu_us_per_req']:.1f}us "
                        f"cpu={x['proxy_cpu_pct']:.0f}% err={x['sock_errors']} non2xx={x['non2xx']}")
        if 'bulk' in kinds:
            for r in range(runs):
                for key, reverse in (('bulk', False), ('bulk_r', True)):
                    for n in names:
                        x = measure.iperf(n, ps[n].pid, size, reverse=reverse)
                        res.setdefault(key, {}).setdefault(n, []).append(x)
                        log(f"{key} {r} {n}: {x['gbps']:.2f} Gbit/s cpu/GiB={x['cpu_s_per_gib']:.3f}s")
        for n in names:
            procs.stop_named(n)
    if 'idle' in kinds:
        for r in range(runs):
            for n in names:
                p = targets.start_proxy(n, d, pinned=True)
                x = measure.idle_mem(n, p, d, idle_n)
                procs.stop_named(n)
                res['idle'].setdefault(n, []).append(x)
                log(f"idle {r} {n}: {x['client']} sink={x['sink_conns']} rss {x['rss_base_mib']:.1f} -> "
                    f"{x['rss_mib']:.1f} MiB = {x['kib_per_conn']:.2f} KiB/conn")
                time.sleep(1)


def workers_phase(res, d, runs, dur):
    """Unpinned, 2 threads/workers each: what workers = 2 gains over one thread (both on Node 22)."""
    w = res['workers'] = {'short': {}, 'ka': {}}
    names = ['haproxy', 'nginx', 'geoswarm-n22', 'geoswarm-w2']
    ps = {n: targets.start_proxy(n, d, pinned=False, threads=2) for n in names}
    time.sleep(2)
    for n in names:
        measure.wrk(n, 0, True, 2, threads=2, pinned=False)
        measure.wrk(n, 0, False, 2, threads=2, pinned=False)
    for kind in ('short', 'ka'):
        for r in range(runs):
            for n in names:
                x = measure.wrk(n, ps[n].pid, kind == 'short', dur, threads=2, pinned=False)
                w[kind].setdefault(n, []).append(x)
                log(f"workers {kind} {r} {n}: {x['rps']:.0f} req/s p99={x['p99_ms']:.2f}ms max={x['max_ms']:.1f}ms "
                    f"cpu/10k={x['cpu_s_per_10k']:.3f}s cpu/req={x['cpu_us_per_req']:.1f}us")
    for n in names:
        procs.stop_named(n)


def main():
    a = args()
    if a.render:
        res = json.load(open(a.render))
        log('wrote', report.write_docs(res, report.render(res)))
        return
    runs = a.runs or (1 if a.quick else 3)
    dur = a.dur or (3 if a.quick else 10)
    size = '512M' if a.quick else '2G'
    idle_n = a.idle_n or (1000 if a.quick else 5000)
    kinds = set(a.only.split(','))
    if not targets.have_tools():
        sys.exit('missing haproxy/nginx/libnginx-mod-stream/wrk/iperf3/taskset: run bench/setup.sh first')
    if not os.path.exists(targets.ARTIFACT):
        sys.exit(f'missing {targets.ARTIFACT}: run npm run build:lb first')
    d = tempfile.mkdtemp(prefix='geoswarm-bench-')
    os.chmod(d, 0o755)  # nginx workers run as an unprivileged user and must read www/
    res = {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
           'mode': 'quick' if a.quick else 'full', 'runs': runs, 'dur': dur, 'bulk_size': size, 'idle_n': idle_n,
           'command': ' '.join([f'{k}={os.environ[k]}' for k in ('BENCH_ARTIFACT', 'BENCH_BASELINE', 'BENCH_BASELINE_FLAGS')
                                if os.environ.get(k)] + ['python3 bench/bench.py'] + sys.argv[1:]), 'load_before': procs.loadavg(),
           'versions': targets.versions(), 'short': {}, 'ka': {}, 'bulk': {}, 'idle': {}}
    names = a.targets.split(',')
    addon = os.path.relpath(targets.NATIVE_ADDON, targets.REPO)
    if addon.startswith('..'):  # BENCH_ARTIFACT outside the repository
        addon = 'geoswarm-lb.node next to $BENCH_ARTIFACT'
    res['native'] = {'addon': addon, 'present': targets.have_native(),
                     'requested': 'geoswarm-native' in names}
    if 'geoswarm-native' in names and not res['native']['present']:
        names.remove('geoswarm-native')
        log(f"geoswarm-native skipped: no {targets.NATIVE_ADDON}")
    log(f"scratch {d}; load before: {res['load_before']}")
    try:
        targets.start_backends(d)
        pinned_phase(res, d, kinds, runs, dur, size, idle_n, names)
        if 'workers' in kinds:
            workers_phase(res, d, runs, dur)
        if 'control' in kinds:
            res['control'] = control.run(d, 100 if a.quick else 1000)
            log('control', json.dumps(res['control']))
    finally:
        procs.stop_all()
    res['load_after'] = procs.loadavg()
    body = report.render(res)
    log('\n' + report.env_block(res) + '\n\n' + body)
    out = a.out or os.path.join(targets.BENCH, 'results', f"{res['mode']}-latest.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(res, f, indent=1)
    if not a.quick and not a.no_docs:
        log('wrote', report.write_docs(res, body))


if __name__ == '__main__':
    main()
