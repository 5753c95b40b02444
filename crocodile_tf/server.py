r"""`crocodile-server`: a tf.distribute server for ParameterServerStrategy clusters.

    TF_CONFIG='{"cluster": {...}, "task": {"type": "ps", "index": 0}}' crocodile-server
    crocodile-server --job=worker --index=1          # job/index override TF_CONFIG's task
    crocodile-server --tasks=ps:0,ps:1,worker:0,worker:1   # several tasks in one process

Parameter servers (`ps`) hold the variables (embedding tables sharded across them); workers run
the training steps the chief (`crocodile-train --strategy=parameter_server`) dispatches. Both are
plain `tf.distribute.Server`s: they run until killed, or until `--max_lifetime_secs` (a safety
net for test and batch clusters so that no server outlives its job). `--tasks` hosts several
tasks of the cluster in one process (one host, small machines: TensorFlow is imported once rather
than once per task); on a real cluster every task is its own process or pod.

TensorFlow's gRPC server listens on 0.0.0.0:<port> whatever host the cluster spec names; see
docs/distributed.md for keeping a single-host cluster on loopback.
"""

from __future__ import annotations

import json
import os
import threading

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf
from absl import app, flags, logging
from tensorflow.core.protobuf import config_pb2

from crocodile_tf.distribute import tf_config

JOBS = ("ps", "worker")


def parse_tasks(text: str) -> list[tuple[str, int]]:
    """"ps:0,worker:1" -> [("ps", 0), ("worker", 1)]."""
    tasks = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        job, _, index = item.partition(":")
        if job not in JOBS or not index.isdigit():
            raise ValueError(f"--tasks: expected job:index with job in {JOBS}, got {item!r}.")
        tasks.append((job, int(index)))
    return tasks


def make_server(job: str | None = None, index: int | None = None, start: bool = True,
                tasks_in_process: int = 1) -> tf.distribute.Server:
    """The `tf.distribute.Server` of task (job, index) of the TF_CONFIG cluster.

    job / index default to TF_CONFIG's "task". With several servers in one process, each needs
    more inter-op threads than the machine's core count, or their blocking ops (a ps serving a
    worker's read while waiting on another) starve each other and the cluster hangs.
    """
    config = tf_config()
    cluster = config.get("cluster")
    if not cluster:
        raise ValueError("crocodile-server needs TF_CONFIG with a 'cluster' (see docs/distributed.md).")
    task = config.get("task", {})
    job = job or task.get("type")
    index = int(task.get("index", 0)) if index is None else int(index)
    if job not in JOBS:
        raise ValueError(f"crocodile-server: job must be one of {JOBS} (--job or TF_CONFIG task), got {job!r}.")
    if job not in cluster or not 0 <= index < len(cluster[job]):
        raise ValueError(f"crocodile-server: task {job}:{index} is not in the TF_CONFIG cluster "
                         f"{json.dumps(cluster)}.")
    # A ps/worker must not block forever on a peer that never comes up.
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    spec = tf.train.ClusterSpec(cluster)
    logging.info("starting %s:%d at %s", job, index, cluster[job][index])
    config = config_pb2.ConfigProto(
        inter_op_parallelism_threads=max(os.cpu_count() or 1, tasks_in_process + 2))
    return tf.distribute.Server(spec, job_name=job, task_index=index, protocol="grpc", config=config,
                                start=start)


FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_enum("job", None, list(JOBS), "Task type (default: TF_CONFIG's task.type).")
    flags.DEFINE_integer("index", None, "Task index (default: TF_CONFIG's task.index).")
    flags.DEFINE_string("tasks", "", "Several tasks in this process, e.g. ps:0,ps:1,worker:0 "
                        "(overrides --job/--index).")
    flags.DEFINE_float("max_lifetime_secs", 0, "Exit after this many seconds (0 = run until killed).")


def main(argv) -> None:
    del argv
    logging.set_verbosity(logging.INFO)
    try:
        tasks = parse_tasks(FLAGS.tasks) if FLAGS.tasks else [(FLAGS.job, FLAGS.index)]
        servers = [make_server(job, index, tasks_in_process=len(tasks)) for job, index in tasks]
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    for server in servers:
        print(f"crocodile-server: {server.target} ready", flush=True)
    if FLAGS.max_lifetime_secs > 0:
        # Server.join() cannot be interrupted; exit the whole process at the deadline.
        timer = threading.Timer(FLAGS.max_lifetime_secs, lambda: os._exit(0))
        timer.daemon = True
        timer.start()
    servers[0].join()  # servers run until the process ends


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
