"""IA against a numpy SVD reference and by hand; DI on hand-built expert norms (both formulas)."""

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from crocodile_tf.analysis import (cross_covariance_total, dimension_covariance,
                                   diversity_index_from_norms, domain_norms,
                                   expert_ia_by_domain, expert_pair_covariance, frequency_groups,
                                   ia_by_frequency, information_abundance, quantile_thresholds,
                                   shared_expert_hits)
from crocodile_tf.losses import covariance_matrix


class InformationAbundanceTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters((50, 8), (8, 50), (16, 16))
    def test_matches_numpy_svd(self, rows, cols):
        matrix = np.random.default_rng(rows * cols).normal(size=(rows, cols))
        sigma = np.linalg.svd(matrix, compute_uv=False)
        self.assertAllClose(information_abundance(matrix), sigma.sum() / sigma.max())
        self.assertAllClose(information_abundance(tf.constant(matrix, tf.float32)),
                            sigma.sum() / sigma.max(), rtol=1e-5)

    def test_rank_one_is_one_and_orthogonal_is_d(self):
        rng = np.random.default_rng(0)
        self.assertAllClose(information_abundance(np.outer(rng.normal(size=30), rng.normal(size=6))), 1.0)
        q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
        self.assertAllClose(information_abundance(q), 7.0)
        self.assertAllClose(information_abundance(3.0 * np.eye(4)), 4.0)
        self.assertEqual(information_abundance(np.zeros((5, 3))), 0.0)
        self.assertAllClose(information_abundance(sigma=[4.0, 2.0, 2.0]), 2.0)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, "2-D"):
            information_abundance(np.ones(3))
        with self.assertRaisesRegex(ValueError, "exactly one"):
            information_abundance()

    def test_frequency_groups_by_exposure(self):
        counts = np.array([0, 9, 1, 5, 7, 3, 0, 2, 8, 4, 6])    # id 0 and 6 never seen
        groups = frequency_groups(counts, 3)
        self.assertEqual([g.tolist() for g in groups], [[1, 8, 4], [10, 3, 9], [5, 7, 2]])
        table = np.zeros((11, 2))
        table[[1, 8, 4], 0] = 1.0                              # top group: rank one
        table[[5, 7, 2]] = [[1, 0], [0, 1], [0, 0]]            # bottom group: IA 2
        result = ia_by_frequency(table, counts, 3)
        self.assertAllClose([result["top"], result["bottom"]], [1.0, 2.0])


class DiversityIndexTest(tf.test.TestCase):
    # Reference (domain-bound) norms of domains 0 and 1; tau_t = 1, tau_b = 0.5.
    REF = np.array([[5.0, 0.1],     # in D_(0,1)
                    [5.0, 0.2],     # in D_(0,1)
                    [0.1, 5.0],     # in D_(1,0)
                    [5.0, 5.0],     # in no set
                    [0.1, 0.1]])    # in no set

    def test_shared_expert_formula_by_hand(self):
        norms = np.array([[2.0, 0.1, 1.5],    # strong and weak expert: counts
                          [2.0, 1.5, 0.8],    # no weak expert
                          [0.3, 0.2, 0.4],    # no strong expert
                          [2.0, 0.1, 0.1],
                          [0.0, 0.0, 0.0]])
        result = diversity_index_from_norms(self.REF, norms, domain_bound=False, tau_t=1.0, tau_b=0.5)
        self.assertEqual(result.pairs[(0, 1)], {"di": 0.5, "support": 2})   # 1 of 2 samples
        self.assertEqual(result.pairs[(1, 0)], {"di": 0.0, "support": 1})   # 0 of 1
        self.assertAlmostEqual(result.di, 0.25)
        self.assertEqual(result.formula, "shared")
        self.assertEqual(shared_expert_hits(norms, 1.0, 0.5).sum(), 2)      # rows 0 and 3

    def test_domain_bound_formula_by_hand(self):
        norms = np.array([[3.0, 0.2],    # (0,1): domain 0 strong, domain 1 weak: counts
                          [0.2, 3.0],    # (0,1): reversed: does not count
                          [0.1, 2.0],    # (1,0): domain 1 strong, domain 0 weak: counts
                          [9.0, 9.0],
                          [9.0, 0.0]])
        result = diversity_index_from_norms(self.REF, norms, domain_bound=True, tau_t=1.0, tau_b=0.5)
        self.assertEqual(result.pairs[(0, 1)]["di"], 0.5)
        self.assertEqual(result.pairs[(1, 0)]["di"], 1.0)
        self.assertAlmostEqual(result.di, 0.75)
        self.assertEqual(result.sorted_pairs(), [((1, 0), 1.0), ((0, 1), 0.5)])

    def test_reference_against_itself_is_one(self):
        result = diversity_index_from_norms(self.REF, self.REF, domain_bound=True, tau_t=1.0, tau_b=0.5)
        self.assertEqual(result.di, 1.0)

    def test_empty_pairs_are_skipped_and_thresholds_checked(self):
        ref = np.array([[5.0, 0.1, 3.0]])
        result = diversity_index_from_norms(ref, np.array([[2.0, 0.0]]), domain_bound=False,
                                            tau_t=1.0, tau_b=0.5)
        self.assertEqual(result.pairs[(0, 1)]["di"], 1.0)
        self.assertIsNone(result.pairs[(2, 0)]["di"])
        self.assertEqual(result.di, 1.0)
        with self.assertRaisesRegex(ValueError, "tau_t must be greater"):
            diversity_index_from_norms(ref, ref, domain_bound=True, tau_t=0.5, tau_b=0.5)
        with self.assertRaisesRegex(ValueError, "one norm per domain"):
            diversity_index_from_norms(ref, np.ones((1, 2)), domain_bound=True, tau_t=1.0, tau_b=0.5)

    def test_default_thresholds_are_per_model_quantiles(self):
        norms = np.arange(1.0, 11.0).reshape(5, 2)
        self.assertAllClose(quantile_thresholds(norms, (0.8, 0.2)),
                            (np.quantile(norms, 0.8), np.quantile(norms, 0.2)))
        # Scaling a model's norms does not change its DI under quantile thresholds.
        rng = np.random.default_rng(1)
        ref, model = rng.gamma(2.0, size=(400, 3)), rng.gamma(2.0, size=(400, 4))
        a = diversity_index_from_norms(ref, model, domain_bound=False)
        b = diversity_index_from_norms(ref, 100.0 * model, domain_bound=False)
        self.assertAlmostEqual(a.di, b.di)
        self.assertEqual(a.thresholds["mode"], "quantile")

    def test_domain_norms_average_owned_experts(self):
        norms = np.array([[1.0, 2.0, 4.0, 6.0]])
        self.assertAllClose(domain_norms(norms, [None, 0, 1, 1], 2), [[2.0, 5.0]])
        with self.assertRaisesRegex(ValueError, "domain 1 owns no expert"):
            domain_norms(norms, [None, 0, 0, 0], 2)


class ExpertStatisticsTest(tf.test.TestCase):

    def test_covariances_against_numpy(self):
        outputs = np.random.default_rng(2).normal(size=(64, 3, 4)).astype(np.float32)
        pair = expert_pair_covariance(outputs)
        self.assertAllClose(pair, covariance_matrix(tf.constant(outputs), normalize="batch"))
        dim = dimension_covariance(outputs)
        self.assertAllClose(dim, np.cov(outputs.reshape(64, 12), rowvar=False, bias=True), atol=1e-6)
        # Pair (p, q) of the CovLoss matrix is the l1 norm of dimension block (p, q) / d^2.
        self.assertAllClose(pair[2, 0], np.abs(dim[8:12, 0:4]).sum() / 16, rtol=1e-4)
        self.assertAllClose(cross_covariance_total(outputs), pair.sum() - np.trace(pair), rtol=1e-5)

    def test_expert_ia_by_domain(self):
        outputs = np.zeros((4, 2, 2), np.float32)
        outputs[:, 0] = [[1, 0], [0, 1], [1, 0], [2, 0]]   # domain 0 rows: 0, 1 -> IA 2
        outputs[:, 1] = [[1, 1], [2, 2], [0, 1], [0, 3]]   # domain 0 rows: rank one
        result = expert_ia_by_domain(outputs, np.array([0, 0, 1, 1]), 3, ["a", "b", "c"])
        self.assertAllClose(result["a"], [2.0, 1.0])
        self.assertAllClose(result["b"], [1.0, 1.0])
        self.assertTrue(np.all(np.isnan(result["c"])))
        self.assertEqual(len(result["overall"]), 2)


if __name__ == "__main__":
    pytest.main([__file__])
