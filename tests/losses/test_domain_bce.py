"""Per-domain mean BCE summed over domains (SPEC §4), by hand."""

import math

import numpy as np
import tensorflow as tf

import crocodile_tf  # noqa: F401
from crocodile_tf.losses import DomainBCE, domain_bce


def bce(y, p):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


class DomainBCETest(tf.test.TestCase):

    def test_hand_computed(self):
        labels = [1, 0, 1, 0]
        probs = [0.8, 0.4, 0.5, 0.1]
        domain = [0, 0, 1, 2]
        expected = ((bce(1, 0.8) + bce(0, 0.4)) / 2) + bce(1, 0.5) + bce(0, 0.1)
        self.assertAllClose(domain_bce(labels, probs, domain, num_domains=3), expected)

    def test_absent_domain_contributes_nothing(self):
        labels = [1, 0, 0]
        probs = [[0.9], [0.2], [0.3]]  # [B, 1] like the models' output
        domain = [2, 2, 0]
        expected = (bce(1, 0.9) + bce(0, 0.2)) / 2 + bce(0, 0.3)  # domain 1 absent
        self.assertAllClose(domain_bce(labels, probs, domain, num_domains=3), expected)

    def test_not_a_global_mean(self):
        labels = [1, 1, 1, 0]
        probs = [0.9, 0.9, 0.9, 0.3]
        domain = [0, 0, 0, 1]
        global_mean = np.mean([bce(1, 0.9)] * 3 + [bce(0, 0.3)])
        per_domain = bce(1, 0.9) + bce(0, 0.3)
        value = float(domain_bce(labels, probs, domain, num_domains=2))
        self.assertAllClose(value, per_domain)
        self.assertNotAllClose(value, global_mean)

    def test_layer_and_bad_arguments(self):
        layer = DomainBCE(num_domains=2)
        self.assertAllClose(layer([[1.0], [0.7], [1]]), bce(1, 0.7))
        self.assertEqual(DomainBCE.from_config(layer.get_config()).num_domains, 2)
        with self.assertRaisesRegex(ValueError, "num_domains"):
            DomainBCE(num_domains=0)
