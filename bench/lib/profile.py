"""Runs geoswarm-lb with --cpu-prof under one load and summarises the profile (self time)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib import measure, procs, targets  # noqa: E402


def summarise(path, top=35):
    prof = json.load(open(path))
    nodes = {n['id']: n for n in prof['nodes']}
    self_us = {}
    deltas = prof['timeDeltas']
    for sid, dt in zip(prof['samples'], deltas):
        self_us[sid] = self_us.get(sid, 0) + dt
    by_fn = {}
    total = sum(deltas)
    for nid, t in self_us.items():
        cf = nodes[nid]['callFrame']
        key = f"{cf['functionName'] or '(anon)'} {os.path.basename(cf['url'])}:{cf['lineNumber'] + 1}"
        by_fn[key] = by_fn.get(key, 0) + t
    for k, t in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f'{100 * t / total:5.1f}%  {k}')


def main():
    kind, secs = sys.argv[1], int(sys.argv[2])
    d = tempfile.mkdtemp(prefix='geoswarm-prof-')
    os.chmod(d, 0o755)
    try:
        targets.start_backends(d)
        s = targets.subst_for('geoswarm', d, 1)
        cfg = targets.render('geoswarm.toml', f'{d}/geoswarm.toml', s)
        p = procs.start('geoswarm', ['node', f'--cpu-prof-dir={d}/prof', '--cpu-prof', targets.ARTIFACT, '-c', cfg],
                        targets.PROXY_CPU, f'{d}/logs')
        procs.wait_port(targets.PORTS['geoswarm'][0])
        measure.wrk('geoswarm', 0, True, 2)
        if kind == 'bulk':
            x = measure.iperf('geoswarm', p.pid, '4G')
        else:
            x = measure.wrk('geoswarm', p.pid, kind == 'short', secs)
        print({k: v for k, v in x.items() if k != 'cmd'})
        procs.stop_named('geoswarm')
        time.sleep(1)
    finally:
        procs.stop_all()
    files = glob.glob(f'{d}/prof/*.cpuprofile')
    if files:
        print(files[0])
        summarise(files[0])


if __name__ == '__main__':
    main()
