"""tf.distribute training on real servers (subprocesses on loopback, see cluster.py):
ParameterServerStrategy with embedding tables sharded over 2 parameter servers, and
MultiWorkerMirroredStrategy with 2 workers; plus the strategy/partitioner/server units."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from crocodile_tf import config as config_lib
from crocodile_tf import distribute, server
from crocodile_tf.models import ModelConfig
from crocodile_tf.pipelines.planted import planted_problem
from crocodile_tf.train import restore_model
from tests.distribute import cluster
from tests.helpers import write_planted_tfrecords

HERE = os.path.dirname(os.path.abspath(__file__))
# A safety bound, not a target: the cluster runs took 25-56 s on a shared 2-core machine at load ~7.
CLUSTER_TIMEOUT = 100
TINY = ModelConfig(expert_units=(16, 8), tower_units=(8,), num_embeddings=2)


def tiny_config(**changes):
    return config_lib.TrainConfig(model_config=TINY, batch_size=128, epochs=1, steps_per_epoch=8,
                                  checkpoint_every=4, log_every=4, eval_batch_size=1024).replace(**changes)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    problem = planted_problem(3000, num_domains=3, num_users=50, num_items=80, seed=5)
    return write_planted_tfrecords(problem, str(tmp_path_factory.mktemp("data")))


def test_embedding_partitioner_shards_only_embedding_tables():
    p = distribute.EmbeddingPartitioner(min_shard_bytes=1024, max_shards=2)
    shape = tf.TensorShape([1000, 16])
    with p.naming("embeddings"):
        assert p(shape, tf.float32) == [2, 1]
    with p.naming("m/embeddings"):                      # an optimizer slot of a table
        assert p(shape, tf.float32) == [2, 1]
    with p.naming("kernel"):
        assert p(shape, tf.float32) == [1, 1]
    with p.naming("embeddings"):                        # below the threshold: whole
        assert distribute.EmbeddingPartitioner(1 << 20, 2)(shape, tf.float32) == [1, 1]
    assert p(shape, tf.float32) == [1, 1]               # unnamed
    with pytest.raises(ValueError, match="min_shard_bytes"):
        distribute.EmbeddingPartitioner(0)


def test_strategies_need_a_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.strategy_name(distribute.make_strategy("default")) == "default"
    assert distribute.is_chief()
    for name in ("multi_worker", "parameter_server"):
        with pytest.raises(ValueError, match=f"--strategy={name} needs TF_CONFIG"):
            distribute.make_strategy(name)
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        distribute.make_strategy("tpu")
    cluster_spec = {"chief": ["localhost:1"], "worker": ["localhost:2"], "ps": ["localhost:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster_spec, "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_chief()
    with pytest.raises(ValueError, match="runs crocodile-train on the chief only"):
        distribute.make_strategy("parameter_server")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.tf_config()


def test_server_flags(monkeypatch):
    assert server.parse_tasks("ps:0, worker:1") == [("ps", 0), ("worker", 1)]
    with pytest.raises(ValueError, match="job:index"):
        server.parse_tasks("chief:0")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"ps": ["localhost:1"]}}))
    with pytest.raises(ValueError, match="task worker:0 is not in the TF_CONFIG cluster"):
        server.make_server("worker", 0, start=False)


@pytest.mark.slow
@pytest.mark.xdist_group("distribute")
def test_parameter_server_training_shards_embeddings_and_restores_unsharded(data_dir, tmp_path):
    cluster.require_loopback_cluster()
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "out")
    os.makedirs(out)
    config = tiny_config()  # optimizer "split" (Adagrad tables + Adam dense) under PS
    processes = [
        {"name": "servers", "task": ["ps", 0], "cmd": cluster.server_cmd("ps:0,ps:1,worker:0,worker:1", CLUSTER_TIMEOUT + 30)},
        {"name": "chief", "task": ["chief", 0], "wait": True,
         "cmd": cluster.python_cmd(os.path.join(HERE, "ps_chief.py"), data_dir, model_dir, out,
                                   json.dumps(config.to_dict()), "1024")},
    ]
    cluster.run_cluster({"ps": 2, "worker": 2, "chief": 1}, processes, str(tmp_path / "logs"),
                        timeout=CLUSTER_TIMEOUT)
    with open(os.path.join(out, "chief.json")) as f:
        chief = json.load(f)
    # Both embedding tables are ShardedVariables with one shard on each parameter server.
    ps = ["/job:ps/replica:0/task:0/device:CPU:0", "/job:ps/replica:0/task:1/device:CPU:0"]
    assert sorted(chief["sharded"]) == ["multi_embedding/ShardedVariable", "prior_embedding/ShardedVariable"]
    assert all(devices == ps for devices in chief["sharded"].values())
    assert chief["whole"] and all("/part_" not in n and d.startswith("/job:ps/") for n, d in chief["whole"].items())
    assert chief["steps_trained"] == 8

    # The chief's checkpoint restores into an ordinary, unsharded model: same predictions.
    model, _, _ = restore_model(model_dir)
    table = model.get_layer("multi_embedding").embeddings
    assert isinstance(table, tf.Variable) and table.shape[0] == sum(model.get_layer("multi_embedding").vocab_sizes)
    assert not np.allclose(table.numpy(), np.load(os.path.join(out, "initial_table.npy")))  # trained
    features = dict(np.load(os.path.join(out, "features.npz")))
    np.testing.assert_allclose(model(features, training=False).numpy(),
                               np.load(os.path.join(out, "sharded_predictions.npy")), atol=1e-6, rtol=0)
    assert os.path.exists(os.path.join(model_dir, "metrics.json"))


@pytest.mark.slow
@pytest.mark.xdist_group("distribute")
def test_multi_worker_mirrored_workers_end_with_identical_weights(data_dir, tmp_path):
    cluster.require_loopback_cluster()
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "out")
    os.makedirs(out)
    config = tiny_config(steps_per_epoch=4)
    processes = [{"name": f"worker{i}", "task": ["worker", i], "wait": True,
                  "cmd": cluster.python_cmd(os.path.join(HERE, "mwms_worker.py"), data_dir, model_dir, out,
                                            json.dumps(config.to_dict()))} for i in range(2)]
    cluster.run_cluster({"worker": 2}, processes, str(tmp_path / "logs"), timeout=CLUSTER_TIMEOUT)
    reports = [json.load(open(os.path.join(out, f"worker-{i}.json"))) for i in range(2)]
    assert [r["replicas"] for r in reports] == [2, 2]
    assert [r["steps_trained"] for r in reports] == [4, 4]
    assert [r["chief"] for r in reports] == [True, False]
    assert [r["has_metrics"] for r in reports] == [True, False]  # only the chief evaluates
    w0, w1 = (np.load(os.path.join(out, f"weights-{i}.npz")) for i in range(2))
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    model, _, _ = restore_model(model_dir)  # the chief's checkpoint holds the agreed weights
    for saved, restored in zip((w0[f"w{i}"] for i in range(len(w0.files))), model.get_weights()):
        np.testing.assert_allclose(saved, restored, atol=1e-6, rtol=0)
