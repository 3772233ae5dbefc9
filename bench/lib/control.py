"""Control plane: time to create N servers through the REST API, and the RSS they cost."""
import http.client
import json
import os
import statistics
import time

from . import procs
from .targets import ARTIFACT, BACKEND

API_PORT = 26888


def run(d, n=1000):
    cfg = f'{d}/control.toml'
    with open(cfg, 'w') as f:
        f.write(f'[logging]\nlevel = "warn"\noutput = "{d}/logs/control.log"\n'
                f'[api]\nenabled = true\nbind = "127.0.0.1:{API_PORT}"\nmax_servers = {n}\n')
    p = procs.start('control', ['node', ARTIFACT, '-c', cfg], None, f'{d}/logs')
    try:
        if not procs.wait_port(API_PORT):
            raise RuntimeError('control-plane geoswarm did not start')
        time.sleep(2)
        before = procs.mem_mib([p.pid])[0]
        conn = http.client.HTTPConnection('127.0.0.1', API_PORT, timeout=10)
        body = {'bind': '127.0.0.1:0', 'protocol': 'tcp', 'balance': 'leastconn',
                'client_idle_timeout': '300s', 'backend_idle_timeout': '300s',
                'backend_connection_timeout': '5s',
                'discovery': {'kind': 'static', 'static_list': [f"127.0.0.1:{BACKEND['http']}"]},
                'access': {'default': 'deny', 'rules': ['allow 127.0.0.0/8']}}
        data = json.dumps(body).encode()
        errors = 0
        t0 = time.time()
        for i in range(n):
            conn.request('POST', f'/servers/s{i}', body=data, headers={'Content-Type': 'application/json'})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
        create_s = time.time() - t0
        time.sleep(2)
        after = procs.mem_mib([p.pid])[0]
        t0 = time.time()
        conn.request('GET', '/servers')
        r = conn.getresponse()
        listed = len(json.loads(r.read()))
        list_ms = (time.time() - t0) * 1e3
        times = []
        for i in range(20):
            t0 = time.time()
            conn.request('GET', f'/servers/s{i * (n // 20)}/stats')
            conn.getresponse().read()
            times.append((time.time() - t0) * 1e3)
        conn.close()
        return {'servers': n, 'listed': listed, 'create_s': create_s, 'errors': errors,
                'rss_before_mib': before, 'rss_after_mib': after, 'list_ms': list_ms,
                'stats_ms': statistics.median(times)}
    finally:
        procs.stop_named('control')
