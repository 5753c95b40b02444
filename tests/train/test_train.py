"""crocodile-train end to end on small converted data: resume, determinism, evaluation, CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from crocodile_tf import config as config_lib
from crocodile_tf.models import ModelConfig
from crocodile_tf.pipelines.planted import planted_problem
from crocodile_tf.train import restore_model, train
from tests.helpers import write_planted_tfrecords

TINY = ModelConfig(expert_units=(16, 8), tower_units=(8,), num_embeddings=2)


def tiny_config(**changes):
    return config_lib.TrainConfig(model_config=TINY, batch_size=128, epochs=1, steps_per_epoch=30,
                                  checkpoint_every=10, log_every=10, eval_batch_size=1024).replace(**changes)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    problem = planted_problem(6000, num_domains=3, num_users=50, num_items=80, seed=5)
    return write_planted_tfrecords(problem, str(tmp_path_factory.mktemp("data")))


class Crash(tf_keras.callbacks.Callback):
    """Stops the process' training abruptly after `step` steps (an interrupted run)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.step:
            raise KeyboardInterrupt


def backup_step(model_dir):
    path = tf.train.latest_checkpoint(os.path.join(model_dir, "backup", "chief"))
    reader = tf.train.load_checkpoint(path)
    key = [k for k in reader.get_variable_to_shape_map() if k.startswith("model/optimizer/Optimizer0/iter")][0]
    return int(reader.get_tensor(key))


@pytest.mark.slow
def test_resume_continues_step_counter_and_optimizer_state(data_dir, tmp_path, monkeypatch):
    model_dir = str(tmp_path / "run")
    config = tiny_config(epochs=2)
    original_fit = tf_keras.Model.fit

    def crashing_fit(self, *args, callbacks=(), **kwargs):
        return original_fit(self, *args, callbacks=[*callbacks, Crash(25)], **kwargs)

    monkeypatch.setattr(tf_keras.Model, "fit", crashing_fit)
    with pytest.raises(KeyboardInterrupt):
        train(config, data_dir, model_dir, verbose=0)
    monkeypatch.setattr(tf_keras.Model, "fit", original_fit)
    assert backup_step(model_dir) == 20            # last checkpoint before the crash at step 25
    saved = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(model_dir, "backup", "chief")))
    # The embedding table's first moment in the sparse (LazyAdam) optimizer; read it now, the
    # checkpoint file is rotated by later saves.
    saved_moment = saved.get_tensor(
        "model/layer_with_weights-0/embeddings/.OPTIMIZER_SLOT/model/optimizer/Optimizer0/m/"
        ".ATTRIBUTES/VARIABLE_VALUE")

    seen = {}

    class FirstStep(tf_keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if not seen:
                seen["iterations"] = int(self.model.optimizer.iterations.numpy())
                seen["batch"] = batch
                sparse_optimizer = self.model.optimizer._optimizers_and_vars[0][0]
                table = self.model.get_layer("multi_embedding").embeddings
                seen["moment"] = sparse_optimizer.get_slot(table, "m").numpy()

    def observed_fit(self, *args, callbacks=(), **kwargs):
        return original_fit(self, *args, callbacks=[FirstStep(), *callbacks], **kwargs)

    monkeypatch.setattr(tf_keras.Model, "fit", observed_fit)
    result = train(config, data_dir, model_dir, verbose=0)
    assert seen["iterations"] == 20 and seen["batch"] == 20   # resumed mid-epoch at step 21
    assert np.abs(saved_moment).sum() > 0
    np.testing.assert_array_equal(seen["moment"], saved_moment)
    assert result["steps_trained"] == 60                     # 2 epochs x 30 steps, not 20 + 60
    # A finished run is not retrained.
    again = train(config, data_dir, model_dir, verbose=0)
    assert again["steps_trained"] == 60


@pytest.mark.slow
def test_deterministic_runs_give_identical_metrics(data_dir, tmp_path):
    config = tiny_config(deterministic=True, seed=3)
    first = train(config, data_dir, str(tmp_path / "a"), verbose=0)
    second = train(config, data_dir, str(tmp_path / "b"), verbose=0)
    assert first["metrics"] == second["metrics"]
    other = train(config.replace(seed=4), data_dir, str(tmp_path / "c"), verbose=0)
    assert other["metrics"] != first["metrics"]


@pytest.mark.slow
def test_run_writes_artifacts_and_best_weights_reload(data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    result = train(tiny_config(epochs=2, optimizer="adam"), data_dir, model_dir, verbose=0)
    for name in ("config.json", "schema.json", "metrics.json", "metrics.md", "best/best.json", "logs"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    metrics = result["metrics"]
    assert set(metrics) == {"overall", "0", "1", "2"}
    assert metrics["overall"]["auc"] > 0.6
    assert config_lib.TrainConfig.load(model_dir).optimizer == "adam"
    model, _, schema = restore_model(model_dir)
    assert model.count_params() > 0 and schema.num_domains == 3
    events = [f for _, _, files in os.walk(os.path.join(model_dir, "logs")) for f in files]
    assert any(f.startswith("events.out.tfevents") for f in events)


def test_config_resolution_and_bad_overrides():
    config = config_lib.merge(config_lib.preset("demo"),
                              {"batch_size": 64, "model_config": {"gate": "pg", "tower_units": [16]}})
    assert config.batch_size == 64 and config.model_config.gate == "pg"
    assert config.model_config.tower_units == (16,)
    assert config_lib.TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown key 'batchsize'"):
        config_lib.merge(config, {"batchsize": 3})
    with pytest.raises(ValueError, match="unknown model_config keys"):
        config_lib.merge(config, {"model_config": {"gates": "pg"}})
    with pytest.raises(ValueError, match="optimizer"):
        config.replace(optimizer="sgd")
    with pytest.raises(ValueError, match="Unknown preset 'fast'"):
        config_lib.preset("fast")
    with pytest.raises(ValueError, match="not valid JSON"):
        config_lib.parse_override("{batch_size: 3}")


@pytest.mark.slow
def test_cli_trains_and_rejects_bad_flags(data_dir, tmp_path):
    model_dir = str(tmp_path / "cli")
    base = [sys.executable, "-m", "crocodile_tf.train", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            "--steps_per_epoch=10", "--epochs=1", "--batch_size=128",
            '--params_override={"model_config": {"expert_units": [8], "tower_units": [4]}}']
    bad = subprocess.run(base + ["--model=crocodyle"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--model='crocodyle' is not registered" in bad.stderr
    bad = subprocess.run(base + ["--gate=moe"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "gate must be one of" in bad.stderr
    ok = subprocess.run(base + ["--gate=pg", "--cov_weight=1e-3"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "| overall |" in ok.stdout
    saved = config_lib.TrainConfig.load(model_dir)
    assert saved.model_config.gate == "pg" and saved.model_config.cov_weight == 1e-3
    assert saved.model_config.expert_units == (8,)
