"""The Table 4 disentangling terms against independent numpy references and hand-worked values,
and their layer contract (CovLoss's: identity at inference, add_loss + metric in training)."""

import itertools

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from crocodile_tf.losses import (DISENTANGLE_CHOICES, DISENTANGLE_LAYERS, ImportanceLoss,
                                 cosine_loss, distance_correlation_loss, dot_product_loss,
                                 importance_loss, loss_spec, make_disentangle_layer, ole_loss)
from crocodile_tf.models import ModelConfig, build_model
from crocodile_tf.pipelines.planted import planted_problem


# --- independent numpy references -------------------------------------------------------------
def np_dot(o):
    n, k, d = o.shape
    return sum(np.mean(np.abs(np.sum(o[:, p] * o[:, q], -1))) / d
               for p, q in itertools.combinations(range(k), 2))


def np_cos(o):
    total = 0.0
    for p, q in itertools.combinations(range(o.shape[1]), 2):
        a, b = o[:, p], o[:, q]
        total += np.mean(np.abs((a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))))
    return total


def np_dcor2(x, y):
    """Székely's squared distance correlation (V-statistic), written from its definition."""
    def centered(z):
        dist = np.array([[np.linalg.norm(z[i] - z[j]) for j in range(len(z))] for i in range(len(z))])
        return dist - dist.mean(0, keepdims=True) - dist.mean(1, keepdims=True) + dist.mean()
    a, b = centered(x), centered(y)
    dcov = (a * b).mean()
    return dcov / np.sqrt((a * a).mean() * (b * b).mean())


def np_dcorr(o):
    return sum(np_dcor2(o[:, p], o[:, q]) for p, q in itertools.combinations(range(o.shape[1]), 2))


def np_ole(o):
    nuclear = lambda m: np.linalg.svd(m, compute_uv=False).sum()  # noqa: E731
    stacked = np.concatenate([o[:, p] for p in range(o.shape[1])], axis=0)
    return sum(nuclear(o[:, p]) for p in range(o.shape[1])) - nuclear(stacked)


def np_importance(w):
    imp = w.reshape(w.shape[0], w.shape[1], -1).sum(axis=(0, 2))
    return imp.std() ** 2 / imp.mean() ** 2


EXPERTS = np.random.default_rng(0).normal(size=(12, 3, 5)).astype(np.float32)


class ReferenceTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("dot", dot_product_loss, np_dot),
        ("cos", cosine_loss, np_cos),
        ("dcorr", distance_correlation_loss, np_dcorr),
        ("ole", ole_loss, np_ole),
    )
    def test_matches_numpy_reference(self, fn, reference):
        self.assertAllClose(fn(tf.constant(EXPERTS)), reference(EXPERTS.astype(np.float64)),
                            rtol=1e-4, atol=1e-5)

    @parameterized.parameters((np.random.default_rng(1).dirichlet(np.ones(4), 10),),
                              (np.random.default_rng(2).dirichlet(np.ones(3), (10, 6)).transpose(0, 2, 1),))
    def test_importance_matches_numpy_reference(self, weights):
        weights = weights.astype(np.float32)
        self.assertAllClose(importance_loss(tf.constant(weights)), np_importance(weights), rtol=1e-5)

    def test_hand_worked_values(self):
        # Two experts, one row: a = (1, 0), b = (0, 2): orthogonal -> dot = cos = 0.
        orthogonal = tf.constant([[[1.0, 0.0], [0.0, 2.0]]])
        self.assertAllClose(dot_product_loss(orthogonal), 0.0)
        self.assertAllClose(cosine_loss(orthogonal), 0.0)
        # a = (1, 1), b = (2, 2): |<a, b>| / d = 4 / 2 = 2, cos = 1.
        parallel = tf.constant([[[1.0, 1.0], [2.0, 2.0]]])
        self.assertAllClose(dot_product_loss(parallel), 2.0)
        self.assertAllClose(cosine_loss(parallel), 1.0)
        # Expert 2 = 3 * expert 1 (a linear function): dCor^2 = 1.
        x = np.random.default_rng(3).normal(size=(8, 2)).astype(np.float32)
        self.assertAllClose(distance_correlation_loss(tf.constant(np.stack([x, 3 * x], 1))), 1.0,
                            atol=1e-5)
        # OLE: experts on orthogonal axes -> ||stack||_* = sum of the parts -> 0;
        # identical rank-1 experts u = (1, 0), (1, 0): 1 + 1 - ||[[1,0],[1,0]]||_* = 2 - sqrt(2).
        self.assertAllClose(ole_loss(orthogonal), 0.0, atol=1e-6)
        same = tf.constant([[[1.0, 0.0], [1.0, 0.0]]])
        self.assertAllClose(ole_loss(same), 2.0 - np.sqrt(2.0), atol=1e-6)
        # Importance: gate sums (3, 1) over two rows -> mean 2, std 1 -> CV^2 = 1/4; balanced -> 0.
        self.assertAllClose(importance_loss(tf.constant([[1.0, 0.0], [2.0, 1.0]])), 0.25)
        self.assertAllClose(importance_loss(tf.constant([[0.5, 0.5], [0.5, 0.5]])), 0.0)

    @parameterized.parameters("dot", "cos", "dcorr", "ole")
    def test_gradients_are_finite_with_dead_units_and_repeated_rows(self, term):
        experts = np.abs(EXPERTS).copy()
        experts[:, :, 0] = 0.0          # a dead ReLU unit in every expert
        experts[1] = experts[0]         # two identical rows: a zero pairwise distance
        x = tf.constant(experts)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = DISENTANGLE_LAYERS[term].penalty_fn(x)
        grad = tape.gradient(value, x)
        self.assertTrue(np.all(np.isfinite(grad.numpy())), term)

    def test_single_expert_is_zero(self):
        for term in ("dot", "cos", "dcorr", "ole"):
            self.assertEqual(float(DISENTANGLE_LAYERS[term].penalty_fn(tf.ones([4, 1, 3]))), 0.0)


class LayerContractTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters("dot", "cos", "dcorr", "ole", "importance")
    def test_identity_at_inference_loss_and_metric_in_training(self, term):
        layer = make_disentangle_layer(term, weight=0.5)
        inputs = tf_keras.Input((3, 5))
        model = tf_keras.Model(inputs, layer(inputs))
        x = tf.constant(np.abs(EXPERTS))
        self.assertAllEqual(model(x, training=False), x)
        self.assertEmpty(model.losses)
        self.assertAllEqual(model(x, training=True), x)
        self.assertLen(model.losses, 1)
        expected = 0.5 * DISENTANGLE_LAYERS[term].penalty_fn(x)
        self.assertAllClose(model.losses[0], expected, rtol=1e-5)
        self.assertEqual(layer.name, f"{term}_loss")
        self.assertTrue(layer.training_only_metric)

    @parameterized.parameters("dot", "cos", "dcorr", "ole", "importance")
    def test_config_round_trip(self, term):
        layer = make_disentangle_layer(term, weight=0.25, sample_size=32, seed=3)
        clone = type(layer).from_config(layer.get_config())
        self.assertEqual(clone.get_config(), layer.get_config())

    def test_normalize_is_covloss_only(self):
        with self.assertRaisesRegex(ValueError, "normalize='batch' applies to CovLoss only"):
            make_disentangle_layer("dot", weight=1.0, normalize="batch")

    def test_importance_passes_its_second_input_through(self):
        layer = ImportanceLoss(weight=1.0)
        weights = tf.constant([[1.0, 0.0], [2.0, 1.0]])
        passthrough = tf.random.normal([2, 7])
        self.assertAllEqual(layer([weights, passthrough], training=True), passthrough)
        self.assertAllClose(layer.losses[0], 0.25)

    def test_disentangle_flag_maps_to_model_loss(self):
        self.assertEqual(DISENTANGLE_CHOICES, ("none", "cov", "dot", "cos", "dcorr", "ole", "importance"))
        self.assertEqual(loss_spec("none"), "bce")
        self.assertEqual(loss_spec("ole"), "bce+ole")
        self.assertEqual(ModelConfig(loss=loss_spec("dcorr")).disentangle, "dcorr")
        with self.assertRaisesRegex(ValueError, "'covv'"):
            loss_spec("covv")


class CrocodileWithTermTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.product(term=["dot", "cos", "dcorr", "ole", "importance"], gate=["peg", "mmoe"])
    def test_each_term_plugs_into_crocodile(self, term, gate):
        data = planted_problem(64, num_domains=2, num_users=20, num_items=20)
        model = build_model("crocodile", data.schema, ModelConfig(
            expert_units=(8, 4), tower_units=(4,), gate=gate, loss=loss_spec(term), cov_weight=0.5))
        features = {k: tf.constant(v) for k, v in data.features.items()}
        inference = model(features, training=False)
        self.assertEmpty(model.losses)
        model(features, training=True)
        self.assertLen(model.losses, 1)
        self.assertIn(f"{term}_loss", {layer.name for layer in model.layers})
        if term == "importance":   # reads the gate's weights
            probe = tf_keras.Model(model.inputs, model.get_layer("gate").output[1])
            expected = 0.5 * importance_loss(probe(features))
        else:                      # reads the expert outputs
            probe = tf_keras.Model(model.inputs, model.get_layer("experts").output)
            expected = 0.5 * DISENTANGLE_LAYERS[term].penalty_fn(probe(features))
        self.assertAllClose(model.losses[0], expected, rtol=1e-4)
        self.assertAllEqual(model(features, training=False), inference)
