"""One load run each: wrk (short or keep-alive), iperf3 bulk, idle-connection memory. Each reads the
proxy's CPU ticks (process tree) right before and after the run. All runs are bounded in time."""
import json
import os
import re
import subprocess
import time

from . import procs
from .targets import BACKEND, BENCH, LOAD_CPU, PORTS


def port_of(name, i):
    return BACKEND[('http', 'iperf', 'sink')[i]] if name == 'direct' else PORTS[name][i]


def _num(pattern, text, default=0.0):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default


def _ms(v, unit):
    return float(v) * {'us': 1e-3, 'ms': 1.0, 's': 1e3}[unit]


def wrk(name, pid, close, dur, conns=50, threads=1, pinned=True):
    url = f'http://127.0.0.1:{port_of(name, 0)}/index.html'
    cmd = ['wrk', f'-t{threads}', f'-c{conns}', f'-d{dur}s', '--latency']
    if close:
        cmd += ['-H', 'Connection: close']
    cmd.append(url)
    full = (['taskset', '-c', LOAD_CPU] if pinned else []) + cmd
    pids = procs.tree(pid) if pid else []
    t0, c0 = time.time(), procs.ticks(pids)
    out = subprocess.run(full, capture_output=True, text=True, timeout=dur + 30).stdout
    t1, c1 = time.time(), procs.ticks(pids)
    reqs = _num(r'(\d+) requests in', out)
    m = re.search(r'99%\s+([\d.]+)(us|ms|s)\b', out)
    p99 = _ms(m.group(1), m.group(2)) if m else float('nan')
    # wrk corrects for coordinated omission: one stall of S ms on k connections adds about k*S/I
    # synthetic samples spread over [I, S] (I = run time / requests per connection), so a single
    # 0.6 s pause turns p99 into ~0.5 s. The max shows such a stall; conns/rps bounds the mean
    # of the real samples (Little's law), so a p99 far above it comes from a few long stalls.
    mx = re.search(r'Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)\b', out)
    max_ms = _ms(mx.group(1), mx.group(2)) if mx else float('nan')
    rps = _num(r'Requests/sec:\s+([\d.]+)', out)
    errs = sum(int(x) for x in re.findall(r'(?:connect|read|write|timeout) (\d+)', out))
    cpu = (c1 - c0) / procs.HZ
    return {'rps': rps, 'requests': reqs, 'p99_ms': p99,
            'max_ms': max_ms, 'little_mean_ms': 1e3 * conns / rps if rps else float('nan'),
            'sock_errors': errs, 'non2xx': int(_num(r'Non-2xx or 3xx responses: (\d+)', out)),
            'proxy_cpu_s': cpu, 'proxy_cpu_pct': 100 * cpu / (t1 - t0),
            'cpu_s_per_10k': cpu / reqs * 1e4 if reqs else float('nan'),
            'cpu_us_per_req': cpu / reqs * 1e6 if reqs else float('nan'), 'cmd': ' '.join(full)}


def iperf(name, pid, size, streams=1, pinned=True, reverse=False):
    """reverse: -R, the backend sends (download through the proxy) instead of the client."""
    cmd = ['iperf3', '-c', '127.0.0.1', '-p', str(port_of(name, 1)), '-n', size, '-P', str(streams), '-J']
    if reverse:
        cmd.append('-R')
    full = (['taskset', '-c', LOAD_CPU] if pinned else []) + cmd
    pids = procs.tree(pid) if pid else []
    for _ in range(3):
        t0, c0 = time.time(), procs.ticks(pids)
        out = subprocess.run(full, capture_output=True, text=True, timeout=120).stdout
        t1, c1 = time.time(), procs.ticks(pids)
        # iperf3 -s serves one test at a time and can still be closing the previous one.
        if 'server is busy' not in out:
            break
        time.sleep(1)
    try:
        e = json.loads(out).get('end', {})
    except json.JSONDecodeError:
        e = {}
    if 'sum_sent' not in e:
        return {'gbps': float('nan'), 'cpu_s_per_gib': float('nan'), 'error': out[-300:], 'cmd': ' '.join(full)}
    gib = e['sum_sent']['bytes'] / 2**30
    cpu = (c1 - c0) / procs.HZ
    return {'gbps': e['sum_received']['bits_per_second'] / 1e9, 'gib': gib, 'proxy_cpu_s': cpu,
            'cpu_s_per_gib': cpu / gib if pid else float('nan'), 'proxy_cpu_pct': 100 * cpu / (t1 - t0),
            'cmd': ' '.join(full)}


def _sink_count(d):
    try:
        return int(open(f'{d}/logs/sink.count').read() or 0)
    except (OSError, ValueError):
        return -1


def idle_mem(name, p, d, n=5000, hold=6):
    """RSS growth of a fresh proxy process tree while n idle client connections are held open."""
    time.sleep(2)
    base = procs.mem_mib(procs.tree(p.pid))
    cmd = ['taskset', '-c', LOAD_CPU, 'node', os.path.join(BENCH, 'js', 'idle-clients.js'),
           str(port_of(name, 2)), str(n), str(hold)]
    cl = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        ready = cl.stdout.readline().strip()
        t = time.time()
        while _sink_count(d) < n and time.time() - t < 15:
            time.sleep(0.2)
        time.sleep(2)
        held = procs.mem_mib(procs.tree(p.pid))
        cnt = _sink_count(d)
        cl.wait(hold + 30)
    finally:
        if cl.poll() is None:
            cl.kill()
    return {'client': ready, 'sink_conns': cnt, 'rss_base_mib': base[0], 'pss_base_mib': base[1],
            'rss_mib': held[0], 'pss_mib': held[1], 'kib_per_conn': (held[0] - base[0]) * 1024 / n,
            'cmd': ' '.join(cmd)}
