"""One worker of the MultiWorkerMirroredStrategy test cluster: `train()` under the strategy, then
saves this worker's final weights (the test checks that the workers agree)."""

import json
import os
import sys

import crocodile_tf  # noqa: F401
import numpy as np
import tf_keras
from absl import logging

from crocodile_tf import config as config_lib
from crocodile_tf import distribute
from crocodile_tf.train import train


def main(data_dir, model_dir, out_dir, config_json):
    logging.set_verbosity(logging.INFO)
    captured = {}
    original_fit = tf_keras.Model.fit

    def fit(self, *args, **kwargs):
        captured["model"] = self
        return original_fit(self, *args, **kwargs)

    tf_keras.Model.fit = fit
    strategy = distribute.make_strategy("multi_worker")
    config = config_lib.TrainConfig.from_dict(json.loads(config_json))
    result = train(config, data_dir, model_dir, verbose=0, strategy=strategy)
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    model = captured["model"]
    np.savez(os.path.join(out_dir, f"weights-{index}.npz"),
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    with open(os.path.join(out_dir, f"worker-{index}.json"), "w") as f:
        json.dump({"steps_trained": result["steps_trained"], "chief": distribute.is_chief(),
                   "replicas": strategy.num_replicas_in_sync, "has_metrics": "metrics" in result}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
