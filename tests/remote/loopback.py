"""Helpers of the loopback process tests: free ports, JSON requests, processes
that must come up (their /health answers) and are killed at the end."""
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time

procs = []  # every process started; the caller kills them at the end


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, data


def ok_json(port, path, body=None):
    """POST `body` (GET without one); fails unless 200. The JSON answer (the text of a GET)."""
    status, data = request(port, "POST" if body is not None else "GET", path, body)
    if status != 200:
        fail(f"{path} on port {port}: HTTP {status} {data[:500]}")
    return json.loads(data) if body is not None else data


def wait_up(port, proc, log):
    for _ in range(300):
        try:
            if request(port, "GET", "/health", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print(open(log).read()[-3000:])
    fail(f"the process on port {port} did not start")


def start(args, port, log, env=None):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    procs.append(p)
    wait_up(port, p, log)
    return p


def kill_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def run(main):
    """main(tmp) in a fresh temporary folder; every process started is killed at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            main(tmp)
        finally:
            kill_all()
