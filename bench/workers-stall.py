#!/usr/bin/env python3
"""What wrk reports for one pause of the proxy: SIGSTOP at t = 5 s of a 10 s keep-alive run
(wrk -t2 -c50 --latency, unpinned, as bench.py's workers phase), SIGCONT after P seconds.

usage: flock /work/notes/bench.lock python3 bench/workers-stall.py [TARGETS] [PAUSES]
       TARGETS default geoswarm-n22,geoswarm-w2; PAUSES (seconds, comma-separated) default 0,0.6,0.25,0
See bench/workers-notes.md: wrk's coordinated-omission correction turns one stall into the p99."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import measure, procs, targets  # noqa: E402

PATTERNS = {'rps': r'Requests/sec:\s+([\d.]+)', 'requests': r'(\d+) requests in',
            'max': r'Latency\s+\S+\s+\S+\s+(\S+)', 'p50': r'\n\s+50%\s+(\S+)',
            'p99': r'\n\s+99%\s+(\S+)'}


def run(name, pid, pause):
    url = f'http://127.0.0.1:{targets.PORTS[name][0]}/index.html'

    def stall():
        time.sleep(5)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(pause)
        finally:
            os.kill(pid, signal.SIGCONT)
    t = threading.Thread(target=stall)
    if pause:
        t.start()
    out = subprocess.run(['wrk', '-t2', '-c50', '-d10s', '--latency', url],
                         capture_output=True, text=True, timeout=60).stdout
    if pause:
        t.join()
    vals = {k: (m.group(1) if (m := re.search(p, out)) else '?') for k, p in PATTERNS.items()}
    print(f'{name} pause={pause}s', ' '.join(f'{k}={v}' for k, v in vals.items()), flush=True)


def main():
    # A SIGTERM (e.g. from `timeout`) must still stop the backends and proxies started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = (sys.argv[1] if len(sys.argv) > 1 else 'geoswarm-n22,geoswarm-w2').split(',')
    pauses = [float(p) for p in (sys.argv[2] if len(sys.argv) > 2 else '0,0.6,0.25,0').split(',')]
    d = tempfile.mkdtemp(prefix='geoswarm-stall-')
    os.chmod(d, 0o755)
    try:
        targets.start_backends(d)
        ps = {n: targets.start_proxy(n, d, pinned=False, threads=2) for n in names}
        time.sleep(2)
        for n in names:  # warm-up
            measure.wrk(n, 0, False, 2, threads=2, pinned=False)
        for pause in pauses:
            for n in names:
                run(n, ps[n].pid, pause)
    finally:
        procs.stop_all()


main()
