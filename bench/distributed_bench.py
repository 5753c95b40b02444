r"""Distributed training throughput on one host: default vs ParameterServerStrategy (2 ps + 2
workers + chief) vs MultiWorkerMirroredStrategy (2 workers), same model and data.

    .venv/bin/python bench/distributed_bench.py --steps=200 --rows=40000

Clusters run as real processes on loopback inside a private network namespace (TensorFlow's gRPC
servers bind 0.0.0.0; see docs/distributed.md). Prints and saves bench/results/distributed.json:
wall seconds of each whole run (process start-up included) and of the training itself. On one
2-core host the distributed runs are *slower* than one process: they measure the overhead of
the machinery, not the scaling you get from more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import crocodile_tf  # noqa: E402,F401
from crocodile_tf import config as config_lib  # noqa: E402
from crocodile_tf.models import ModelConfig  # noqa: E402
from crocodile_tf.pipelines.planted import planted_problem  # noqa: E402
from crocodile_tf.train import train  # noqa: E402
from tests.distribute import cluster  # noqa: E402
from tests.helpers import write_planted_tfrecords  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rows", type=int, default=40000)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "distributed.json"))
    args = parser.parse_args()
    if cluster.netns_prefix() is None:
        sys.exit("needs `unshare --net --map-root-user` (or CROCODILE_ALLOW_HOST_NETWORK=1).")
    work = tempfile.mkdtemp(prefix="dist_bench_")
    data = write_planted_tfrecords(planted_problem(args.rows, num_domains=3, seed=0), os.path.join(work, "data"))
    config = config_lib.TrainConfig(model_config=ModelConfig(expert_units=(64, 32), tower_units=(16,)),
                                    batch_size=args.batch_size, epochs=1, steps_per_epoch=args.steps,
                                    checkpoint_every=args.steps, log_every=args.steps)
    results = {"steps": args.steps, "batch_size": args.batch_size, "rows": args.rows, "runs": {}}

    start = time.time()
    train(config, data, os.path.join(work, "default"), verbose=0)
    results["runs"]["default"] = {"wall_secs": round(time.time() - start, 1)}

    chief = [sys.executable, "-m", "crocodile_tf.train", f"--data_dir={data}", "--model=crocodile",
             f"--params_override={json.dumps(config.to_dict())}"]
    start = time.time()
    cluster.run_cluster({"ps": 2, "worker": 2, "chief": 1}, [
        {"name": "servers", "task": ["ps", 0], "cmd": cluster.server_cmd("ps:0,ps:1,worker:0,worker:1", 1800)},
        {"name": "chief", "task": ["chief", 0], "wait": True,
         "cmd": chief + [f"--model_dir={work}/ps", "--strategy=parameter_server"]}],
        os.path.join(work, "ps_logs"), timeout=1800)
    results["runs"]["parameter_server_2ps_2workers"] = {"wall_secs": round(time.time() - start, 1)}

    start = time.time()
    cluster.run_cluster({"worker": 2}, [
        {"name": f"worker{i}", "task": ["worker", i], "wait": True,
         "cmd": chief + [f"--model_dir={work}/mw", "--strategy=multi_worker"]} for i in range(2)],
        os.path.join(work, "mw_logs"), timeout=1800)
    results["runs"]["multi_worker_2workers"] = {"wall_secs": round(time.time() - start, 1)}
    for run in results["runs"].values():
        run["steps_per_sec_incl_startup"] = round(args.steps / run["wall_secs"], 2)
    print(json.dumps(results, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
