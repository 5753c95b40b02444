"""Chief of the ParameterServerStrategy test cluster: `train()` under the strategy, then dumps
what the test checks (which variables are sharded where, predictions of the sharded model)."""

import json
import os
import sys

import crocodile_tf  # noqa: F401
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from crocodile_tf import config as config_lib
from crocodile_tf import distribute
from crocodile_tf.pipelines.input import make_dataset
from crocodile_tf.train import train


def main(data_dir, model_dir, out_dir, config_json, min_shard_bytes):
    logging.set_verbosity(logging.INFO)
    captured = {}
    original_fit = tf_keras.Model.fit

    def fit(self, *args, **kwargs):
        captured["model"] = self
        table = self.get_layer("multi_embedding").embeddings
        captured["initial_table"] = tf.convert_to_tensor(table).numpy()
        return original_fit(self, *args, **kwargs)

    tf_keras.Model.fit = fit
    strategy = distribute.make_strategy("parameter_server", min_shard_bytes=int(min_shard_bytes))
    config = config_lib.TrainConfig.from_dict(json.loads(config_json))
    result = train(config, data_dir, model_dir, verbose=0, strategy=strategy)
    model = captured["model"]
    features, _ = next(iter(make_dataset(data_dir, "test", 256, shuffle=False, deterministic=True)))
    np.save(os.path.join(out_dir, "sharded_predictions.npy"), model(features, training=False).numpy())
    np.savez(os.path.join(out_dir, "features.npz"), **{k: v.numpy() for k, v in features.items()})
    np.save(os.path.join(out_dir, "initial_table.npy"), captured["initial_table"])
    whole = {v.name: v.device for v in model.variables if "/part_" not in v.name}
    with open(os.path.join(out_dir, "chief.json"), "w") as f:
        json.dump({"sharded": distribute.sharded_variables(model), "whole": whole,
                   "steps_trained": result["steps_trained"], "metrics": result["metrics"]["overall"]}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
