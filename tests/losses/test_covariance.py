"""CovLoss against an independent numpy reference and a hand-computed case (SPEC §3)."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import crocodile_tf  # noqa: F401
from crocodile_tf.layers import CrossExpertCovariance, ExpertBank
from crocodile_tf.losses import covariance_matrix, cross_expert_covariance
from crocodile_tf.losses.covariance import subsample_rows


def numpy_cov_loss(experts: np.ndarray, normalize=None) -> float:
    """Literal transcription of eq. 7 with p > q, loops and all."""
    n, k, d = experts.shape
    total = 0.0
    for p in range(k):
        for q in range(p):
            a = experts[:, p, :] - experts[:, p, :].mean(axis=0)
            b = experts[:, q, :] - experts[:, q, :].mean(axis=0)
            c = np.zeros((d, d))
            for row in range(n):
                c += np.outer(a[row], b[row])
            total += np.abs(c).sum()
    total /= d * d
    return total / n if normalize == "batch" else total


class CovarianceTest(tf.test.TestCase, parameterized.TestCase):

    def test_two_experts_by_hand(self):
        # N = 2 rows, K = 2 experts, d = 2.
        # Expert 0 rows (1, 2), (3, 6): mean (2, 4), centered (-1, -2), (1, 2).
        # Expert 1 rows (0, 1), (2, 1): mean (1, 1), centered (-1, 0), (1, 0).
        # C_10 = sum_n b_n a_n^T (p=1, q=0): rows -> [[1, 2], [0, 0]] + [[1, 2], [0, 0]]
        #      = [[2, 4], [0, 0]];  ||C||_1 = 6;  L = 6 / d^2 = 1.5;  normalized: 1.5 / 2 = 0.75.
        experts = np.array([[[1, 2], [0, 1]], [[3, 6], [2, 1]]], dtype=np.float32)
        self.assertAllClose(cross_expert_covariance(tf.constant(experts)), 1.5)
        self.assertAllClose(cross_expert_covariance(tf.constant(experts), normalize="batch"), 0.75)
        self.assertAllClose(numpy_cov_loss(experts), 1.5)

    @parameterized.parameters((None,), ("batch",))
    def test_matches_numpy_reference(self, normalize):
        experts = np.random.default_rng(0).normal(size=(16, 4, 5)).astype(np.float32)
        self.assertAllClose(cross_expert_covariance(tf.constant(experts), normalize),
                            numpy_cov_loss(experts, normalize), rtol=1e-5)

    def test_single_expert_has_no_cross_term(self):
        experts = np.random.default_rng(1).normal(size=(8, 1, 3)).astype(np.float32)
        self.assertEqual(float(cross_expert_covariance(tf.constant(experts))), 0.0)

    def test_identical_experts_are_penalised_independent_ones_less(self):
        rng = np.random.default_rng(2)
        base = rng.normal(size=(256, 1, 4))
        copies = np.concatenate([base, base], axis=1).astype(np.float32)
        independent = rng.normal(size=(256, 2, 4)).astype(np.float32)
        self.assertGreater(float(cross_expert_covariance(tf.constant(copies))),
                           3 * float(cross_expert_covariance(tf.constant(independent))))

    def test_subsample_is_a_subset_of_distinct_rows_and_loss_matches_it(self):
        # Row i of expert 0 carries the value i, so the chosen rows can be read back.
        rng = np.random.default_rng(3)
        experts = rng.normal(size=(64, 3, 4)).astype(np.float32)
        experts[:, 0, 0] = np.arange(64)
        sub = subsample_rows(tf.constant(experts), 16, seed=7).numpy()
        rows = sub[:, 0, 0].astype(int)
        self.assertLen(set(rows.tolist()), 16)
        self.assertAllClose(sub, experts[rows])
        self.assertAllClose(cross_expert_covariance(tf.constant(sub)), numpy_cov_loss(experts[rows]),
                            rtol=1e-5)
        # A sample as large as the batch is the full batch.
        full = subsample_rows(tf.constant(experts), 64, seed=1).numpy()
        self.assertAllClose(cross_expert_covariance(tf.constant(full)), numpy_cov_loss(experts),
                            rtol=1e-5)

    def test_layer_sub_sampled_loss_equals_reference_on_its_rows(self):
        experts = np.random.default_rng(4).normal(size=(40, 3, 4)).astype(np.float32)
        experts[:, 0, 0] = np.arange(40)
        layer = CrossExpertCovariance(weight=1.0, sample_size=8, seed=11)
        tf.random.set_seed(5)
        value = layer.penalty(tf.constant(experts))
        tf.random.set_seed(5)
        rows = subsample_rows(tf.constant(experts), 8, seed=11).numpy()[:, 0, 0].astype(int)
        self.assertAllClose(value, numpy_cov_loss(experts[rows]), rtol=1e-5)

    def test_layer_adds_weighted_loss_in_training_only(self):
        experts = tf.constant(np.random.default_rng(5).normal(size=(32, 3, 4)).astype(np.float32))
        layer = CrossExpertCovariance(weight=0.5)
        out = layer(experts, training=True)
        self.assertAllClose(out, experts)
        self.assertLen(layer.losses, 1)
        self.assertAllClose(layer.losses[0], 0.5 * numpy_cov_loss(experts.numpy()), rtol=1e-5)
        layer(experts, training=False)
        self.assertEmpty(layer.losses)

    def test_gradient_is_finite_and_reaches_every_expert(self):
        rng = np.random.default_rng(6)
        x = tf.constant(rng.normal(size=(32, 3, 10)).astype(np.float32))
        bank = ExpertBank(3, (8, 4), activation="tanh")  # tanh: no dead ReLU units in 1 step
        with tf.GradientTape() as tape:
            loss = cross_expert_covariance(bank(x))
        grads = tape.gradient(loss, bank.trainable_variables)
        for var, grad in zip(bank.trainable_variables, grads):
            self.assertTrue(np.all(np.isfinite(grad.numpy())), var.name)
            per_expert = np.abs(grad.numpy()).reshape(3, -1).sum(axis=1)
            self.assertTrue(np.all(per_expert > 0), f"{var.name}: {per_expert}")

    def test_covariance_matrix_off_diagonal_sums_to_loss(self):
        experts = np.random.default_rng(7).normal(size=(20, 4, 3)).astype(np.float32)
        matrix = covariance_matrix(tf.constant(experts), normalize=None).numpy()
        self.assertAllClose(matrix, matrix.T)
        self.assertAllClose(np.tril(matrix, -1).sum(), numpy_cov_loss(experts), rtol=1e-5)

    @parameterized.parameters(
        (dict(weight=-1.0), "weight"),
        (dict(normalize="rows"), "normalize"),
        (dict(sample_size=1), "sample_size"),
    )
    def test_bad_arguments(self, kwargs, word):
        with self.assertRaisesRegex(ValueError, word):
            CrossExpertCovariance(**kwargs)

    def test_config_round_trip(self):
        layer = CrossExpertCovariance(weight=2e-5, normalize="batch", sample_size=32, seed=3)
        clone = CrossExpertCovariance.from_config(layer.get_config())
        self.assertEqual(clone.get_config(), layer.get_config())
