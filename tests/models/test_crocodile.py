"""Crocodile end to end: ablation switches, serialization, training on planted data."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from crocodile_tf.losses import cross_expert_covariance
from crocodile_tf.models import ModelConfig, MultiDomainModel, build_model
from crocodile_tf.pipelines.planted import planted_problem
from tests.helpers import assert_savedmodel_parity, auc_reference

SMALL = dict(expert_units=(32, 16), tower_units=(8,))


def small_problem(rows=2000, seed=0):
    return planted_problem(rows, num_domains=2, num_users=30, num_items=40, seed=seed)


def expert_outputs(model, features):
    """Expert outputs [N, K, d] of a Crocodile model (the layer named 'experts')."""
    probe = tf_keras.Model(model.inputs, model.get_layer("experts").output)
    return probe.predict(features, batch_size=4096, verbose=0)


class CrocodileBuildTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.product(gate=["mmoe", "pg", "peg"], loss=["bce", "bce+cov"], num_embeddings=[1, 3])
    def test_ablation_switches_build_and_predict(self, gate, loss, num_embeddings):
        problem = small_problem(64)
        model = build_model("crocodile", problem.schema,
                            ModelConfig(gate=gate, loss=loss, num_embeddings=num_embeddings, **SMALL))
        self.assertIsInstance(model, MultiDomainModel)
        out = model.predict(problem.features, verbose=0)
        self.assertEqual(out.shape, (64, 1))
        self.assertTrue(np.all((out > 0) & (out < 1)))
        self.assertEqual(model.get_layer("experts").num_experts, num_embeddings)
        self.assertEqual(model.get_layer("multi_embedding").num_tables, num_embeddings)
        layer_names = {layer.name for layer in model.layers}
        self.assertEqual("cov_loss" in layer_names, loss == "bce+cov")
        self.assertEqual("prior_embedding" in layer_names, gate != "mmoe")

    @parameterized.parameters(
        (dict(gate="moe"), "gate.*'moe'"),
        (dict(num_embeddings=0), "num_embeddings.*0"),
        (dict(loss="mse"), "loss.*'mse'"),
        (dict(loss="bce+nothing"), "disentangling loss 'nothing'"),
        (dict(cov_weight=-1.0), "cov_weight"),
        (dict(num_experts=2), "num_experts"),
    )
    def test_bad_config(self, changes, message):
        problem = small_problem(8)
        with self.assertRaisesRegex(ValueError, message):
            build_model("crocodile", problem.schema, ModelConfig(**{**SMALL, **changes}))

    def test_unknown_model(self):
        with self.assertRaisesRegex(ValueError, "Unknown model 'crocodyle'.*crocodile"):
            build_model("crocodyle", small_problem(8).schema)

    def test_wrong_id_dtype(self):
        problem = small_problem(8)
        model = build_model("crocodile", problem.schema, ModelConfig(**SMALL))
        features = {**problem.features, "item_id": problem.features["item_id"].astype(np.float32)}
        with self.assertRaisesRegex(ValueError, "item_id"):
            model(features)

    def test_get_config_round_trip(self):
        problem = small_problem(128)
        model = build_model("crocodile", problem.schema, ModelConfig(**SMALL))
        clone = MultiDomainModel.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        self.assertEqual(clone.domain_field, "domain")
        self.assertEqual(clone.num_domains, 2)
        self.assertAllClose(clone.predict(problem.features, verbose=0),
                            model.predict(problem.features, verbose=0), atol=0)

    def test_inference_does_not_depend_on_cov_weight(self):
        problem = small_problem(128)
        low = build_model("crocodile", problem.schema, ModelConfig(cov_weight=0.0, **SMALL))
        high = build_model("crocodile", problem.schema, ModelConfig(cov_weight=1e3, **SMALL))
        high.set_weights(low.get_weights())
        self.assertAllEqual(low.predict(problem.features, verbose=0),
                            high.predict(problem.features, verbose=0))

    def test_cov_loss_is_added_in_training_only(self):
        problem = small_problem(64)
        model = build_model("crocodile", problem.schema, ModelConfig(cov_weight=0.5, **SMALL))
        features = {k: tf.constant(v) for k, v in problem.features.items()}
        model(features, training=True)
        self.assertLen(model.losses, 1)
        expected = 0.5 * cross_expert_covariance(tf.constant(expert_outputs(model, problem.features)))
        self.assertAllClose(model.losses[0], expected, rtol=1e-4)
        model(features, training=False)
        self.assertEmpty(model.losses)


@pytest.mark.slow
class CrocodileSavedModelTest(tf.test.TestCase):

    def test_reload_parity_in_fresh_process_and_no_covariance_in_serving_graph(self):
        problem = small_problem(256)
        model = build_model("crocodile", problem.schema, ModelConfig(cov_weight=1.0, **SMALL))
        workdir = self.get_temp_dir()
        assert_savedmodel_parity(self, model, problem.features, workdir)
        loaded = tf.saved_model.load(f"{workdir}/saved_model")
        graph = loaded.signatures["serving_default"].graph
        op_types = {op.type for op in graph.get_operations()}
        for fn in graph._functions.values():  # the model's call is a nested function
            op_types |= {node.op for node in fn.definition.node_def}
        self.assertIn("MatMul", op_types | {"BatchMatMulV2", "Einsum"})
        # CovLoss is the model's only source of Abs and RandomShuffle ops.
        self.assertNotIn("Abs", op_types)
        self.assertNotIn("RandomShuffle", op_types)


@pytest.mark.slow
class CrocodileTrainingTest(tf.test.TestCase):

    def _train(self, problem, cov_weight):
        tf_keras.utils.set_random_seed(1)
        train, test = problem.split(0.8)
        model = build_model("crocodile", problem.schema,
                            ModelConfig(cov_weight=cov_weight, expert_units=(32, 16), tower_units=(8,)))
        model.compile(tf_keras.optimizers.Adam(3e-3))
        model.fit(train.dataset(128, seed=1), epochs=2, verbose=0)   # 2 x 125 = 250 steps
        predictions = model.predict(test.features, batch_size=4096, verbose=0)
        covariance = float(cross_expert_covariance(
            tf.constant(expert_outputs(model, test.features)), normalize="batch"))
        return auc_reference(test.labels, predictions), covariance

    def test_learns_planted_problem_and_covloss_lowers_covariance(self):
        problem = planted_problem(20_000, num_domains=2, seed=3)
        auc_cov, cov_with = self._train(problem, cov_weight=1e-3)
        auc_plain, cov_without = self._train(problem, cov_weight=0.0)
        self.assertGreaterEqual(auc_cov, 0.75)
        self.assertGreaterEqual(auc_plain, 0.70)
        self.assertLess(cov_with, cov_without)
