"""AUC / gAUC against a scipy-rankdata reference and hand-made cases."""

import math

import numpy as np
import tensorflow as tf

from crocodile_tf.metrics import auc, domain_metrics, gauc, logloss
from tests.helpers import auc_reference


def gauc_reference(labels, scores, users):
    total, weight = 0.0, 0
    for u in sorted(set(users)):
        idx = [i for i, v in enumerate(users) if v == u]
        y = [labels[i] for i in idx]
        if 0 < sum(y) < len(y):
            total += len(idx) * auc_reference(y, [scores[i] for i in idx])
            weight += len(idx)
    return total / weight if weight else math.nan


class RankingTest(tf.test.TestCase):

    def test_auc_by_hand_with_ties(self):
        # Positives at 0.8 and 0.5, negatives at 0.5 and 0.2. Pairs: (0.8>0.5) 1, (0.8>0.2) 1,
        # (0.5=0.5) 0.5, (0.5>0.2) 1 -> 3.5 / 4 = 0.875.
        self.assertAlmostEqual(auc([1, 0, 1, 0], [0.8, 0.5, 0.5, 0.2]), 0.875)
        self.assertAlmostEqual(auc([1, 0], [0.3, 0.3]), 0.5)
        self.assertTrue(math.isnan(auc([1, 1], [0.2, 0.4])))

    def test_auc_matches_rankdata_reference(self):
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, 2000)
        scores = np.round(rng.random(2000), 2)  # many ties
        self.assertAlmostEqual(auc(labels, scores), auc_reference(labels, scores), places=12)

    def test_gauc_by_hand_skips_one_class_users(self):
        labels = [1, 0, 0, 1, 1, 0, 1]
        scores = [0.9, 0.1, 0.8, 0.2, 0.5, 0.5, 0.7]
        users = ["a", "a", "b", "b", "c", "c", "d"]
        # a: AUC 1 (n=2); b: AUC 0 (n=2); c: tie -> 0.5 (n=2); d: one class, skipped.
        self.assertAlmostEqual(gauc(labels, scores, users), (2 * 1 + 2 * 0 + 2 * 0.5) / 6)
        self.assertTrue(math.isnan(gauc([1, 1], [0.1, 0.2], ["x", "x"])))

    def test_gauc_matches_reference(self):
        rng = np.random.default_rng(1)
        users = rng.integers(0, 30, 600)
        labels = rng.integers(0, 2, 600)
        scores = np.round(rng.random(600), 1)
        self.assertAlmostEqual(gauc(labels, scores, users),
                               gauc_reference(list(labels), list(scores), list(users)), places=12)

    def test_domain_metrics_with_a_single_user_domain(self):
        labels = np.array([1, 0, 1, 0, 1, 0])
        scores = np.array([0.9, 0.2, 0.4, 0.6, 0.7, 0.3])
        domains = np.array([0, 0, 0, 0, 1, 1])
        users = np.array([1, 1, 2, 2, 3, 3])
        m = domain_metrics(labels, scores, domains, users, ["d0", "d1"])
        self.assertAlmostEqual(m["overall"]["auc"], auc_reference(labels, scores))
        self.assertAlmostEqual(m["d0"]["auc"], auc_reference(labels[:4], scores[:4]))
        self.assertAlmostEqual(m["d0"]["gauc"], (2 * 1.0 + 2 * 0.0) / 4)
        self.assertAlmostEqual(m["d1"]["gauc"], 1.0)  # one user: gAUC = that user's AUC
        self.assertEqual(m["d1"]["count"], 2)
        self.assertAlmostEqual(m["overall"]["logloss"], logloss(labels, scores))
