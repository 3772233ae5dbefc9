"""Process control for the benchmark: start pinned processes, stop them by PID, read CPU and memory
of a process tree from /proc. Every process started here is recorded and stopped by PID."""
import os
import signal
import subprocess
import time

HZ = os.sysconf('SC_CLK_TCK')
_procs = []  # (name, Popen)


def start(name, cmd, cpus, log_dir, env=None):
    """Starts cmd pinned to `cpus` ("0", "1", or None = unpinned); output goes to log_dir/name.out."""
    full = (['taskset', '-c', cpus] if cpus else []) + cmd
    out = open(os.path.join(log_dir, f'{name}.out'), 'w')
    p = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                         start_new_session=True)
    _procs.append((name, p))
    return p


def children():
    """Map ppid -> [pid] for every process on the machine."""
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(')') + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all of its descendants."""
    kids = children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def ticks(pids):
    """utime+stime (clock ticks) summed over pids."""
    total = 0
    for p in pids:
        try:
            with open(f'/proc/{p}/stat') as f:
                st = f.read()
            fields = st[st.rindex(')') + 2:].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def mem_mib(pids):
    """(RSS MiB, PSS MiB) summed over pids."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        rss += int(line.split()[1])
            with open(f'/proc/{p}/smaps_rollup') as f:
                for line in f:
                    if line.startswith('Pss:'):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, pss / 1024


def stop(p, timeout=15):
    """SIGTERM the process, wait (bounded), then SIGKILL it and any leftover descendants, by PID."""
    if p.poll() is not None:
        return
    pids = tree(p.pid)
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for q in pids:
        try:
            os.kill(q, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


def stop_named(name):
    for n, p in list(_procs):
        if n == name:
            _procs.remove((n, p))
            stop(p)


def stop_all():
    while _procs:
        _, p = _procs.pop()
        stop(p)


def wait_port(port, timeout=15):
    """True once something accepts on 127.0.0.1:port."""
    import socket
    t0 = time.time()
    while time.time() - t0 < timeout:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(('127.0.0.1', port)) == 0:
                return True
        time.sleep(0.1)
    return False


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])
