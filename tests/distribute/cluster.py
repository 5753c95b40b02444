"""Test helpers: run a tiny tf.distribute cluster (subprocesses) on loopback only.

TensorFlow's gRPC server binds 0.0.0.0:<port> (hard-coded), so the cluster runs in a private
network namespace (`unshare --net`, loopback only): nothing it opens is reachable from outside
the machine. Without namespaces (no unprivileged user namespaces) the tests skip, unless
CROCODILE_ALLOW_HOST_NETWORK=1 says the host network may be used.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAUNCH = os.path.join(HERE, "launch.py")
_NETNS = ["unshare", "--net", "--map-root-user", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


@functools.lru_cache(maxsize=None)
def netns_prefix() -> list[str] | None:
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(_NETNS + ["true"], capture_output=True, timeout=20)
        if probe.returncode == 0:
            return list(_NETNS)
    if os.environ.get("CROCODILE_ALLOW_HOST_NETWORK") == "1":
        return []
    return None


def require_loopback_cluster():
    if netns_prefix() is None:
        pytest.skip("needs a private network namespace (`unshare --net --map-root-user`) to keep "
                    "TensorFlow's 0.0.0.0-bound gRPC servers on loopback; set "
                    "CROCODILE_ALLOW_HOST_NETWORK=1 to run on the host network instead.")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def server_cmd(tasks: str, lifetime: float) -> list[str]:
    """crocodile-server hosting `tasks` (e.g. "ps:0,ps:1,worker:0,worker:1") in one process."""
    return python_cmd("-m", "crocodile_tf.server", f"--tasks={tasks}", f"--max_lifetime_secs={lifetime}")


def run_cluster(cluster: dict[str, int], processes: list[dict], out_dir: str, timeout: float = 55) -> dict:
    """Runs the cluster (see launch.py); returns {"cluster": ..., "logs": {name: text}}."""
    os.makedirs(out_dir, exist_ok=True)
    spec_path = os.path.join(out_dir, "spec.json")
    with open(spec_path, "w") as f:
        json.dump({"cluster": cluster, "processes": processes, "timeout": timeout, "out_dir": out_dir}, f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(netns_prefix() + [sys.executable, LAUNCH, spec_path], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        output, _ = proc.communicate(timeout=timeout + 20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher's own process group
        output, _ = proc.communicate()
    logs = {}
    for process in processes:
        name = process["name"]
        path = os.path.join(out_dir, f"{name}.log")
        if os.path.exists(path):
            with open(path) as f:
                logs[name] = f.read()
    if proc.returncode != 0:
        tails = "\n".join(f"--- {n} ---\n{t[-3000:]}" for n, t in logs.items())
        raise AssertionError(f"cluster failed (launcher exit {proc.returncode}):\n{output}\n{tails}")
    with open(os.path.join(out_dir, "cluster.json")) as f:
        return {**json.load(f), "logs": logs}
