r"""Runs a tiny tf.distribute cluster on loopback: one process per task, TF_CONFIG each.

    python tests/distribute/launch.py SPEC.json

SPEC: {"cluster": {"ps": 2, "worker": 2, "chief": 1},
       "processes": [{"name": "servers", "task": ["ps", 0], "cmd": [...]},
                     {"name": "chief", "task": ["chief", 0], "cmd": [...], "wait": true}],
       "timeout": 50, "out_dir": "..."}

Ports are picked free on 127.0.0.1 and the cluster spec names "127.0.0.1:<port>". Each process
gets TF_CONFIG with the cluster and its "task"; its output goes to <out_dir>/<name>.log. The
launcher waits for the processes marked "wait" (all must exit 0), then kills the others by pid
(servers run until killed). Exit code 0 on success, 1 on a failed process, 2 on timeout.
TensorFlow's gRPC server binds 0.0.0.0, so the tests run this launcher inside a private network
namespace whose only interface is loopback (see `cluster.py`).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_ports(n):
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out_dir = spec["out_dir"]
    sizes = spec["cluster"]
    ports = iter(free_ports(sum(sizes.values())))
    cluster = {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in sizes.items()}
    procs = {}
    for process in spec["processes"]:
        job, index = process["task"]
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": job, "index": index}}))
        env.update(process.get("env", {}))
        log = open(os.path.join(out_dir, f"{process['name']}.log"), "w")
        procs[process["name"]] = (process, subprocess.Popen(process["cmd"], env=env, stdout=log,
                                                            stderr=subprocess.STDOUT))
    deadline = time.time() + spec.get("timeout", 50)
    waited = {n: p for n, (t, p) in procs.items() if t.get("wait")}
    code = 0
    try:
        while waited:
            for name, proc in list(waited.items()):
                rc = proc.poll()
                if rc is not None:
                    del waited[name]
                    if rc != 0:
                        print(f"launch: task {name} exited with {rc}", file=sys.stderr)
                        code = 1
            if code:
                break
            if time.time() > deadline:
                print(f"launch: timeout waiting for {sorted(waited)}", file=sys.stderr)
                code = 2
                break
            time.sleep(0.2)
    finally:
        for name, (_, proc) in procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
    with open(os.path.join(out_dir, "cluster.json"), "w") as f:
        json.dump({"cluster": cluster, "code": code}, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
