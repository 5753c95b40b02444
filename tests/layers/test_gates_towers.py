"""Gates (MMoE, pg, PeG), expert bank and domain towers against numpy (SPEC §2, §5)."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import crocodile_tf  # noqa: F401
from crocodile_tf.layers import (MLP, DomainTowers, ExpertBank, MMoEGate, PriorElementwiseGate,
                                 PriorGate)

B, K, D, S, L = 6, 3, 4, 2, 5


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    prior = rng.normal(size=(B, L)).astype(np.float32)
    experts = rng.normal(size=(B, K, D)).astype(np.float32)
    domain = np.array([0, 1, 1, 0, 1, 0], dtype=np.int64)
    return prior, experts, domain


class GateTest(tf.test.TestCase, parameterized.TestCase):

    def test_peg_matches_numpy_and_weights_sum_to_one_per_element(self):
        prior, experts, domain = inputs()
        gate = PriorElementwiseGate(K, S, return_weights=True)
        mixture, weights = gate([prior, experts, domain])
        w = gate.kernel.numpy().reshape(L, S, K, D)
        b = gate.bias.numpy().reshape(S, K, D)
        for k in range(B):
            s = domain[k]
            g = softmax(prior[k] @ w[:, s].reshape(L, K * D) + b[s].reshape(-1), axis=0)
            g = softmax((prior[k] @ w[:, s].reshape(L, K * D) + b[s].reshape(-1)).reshape(K, D), axis=0)
            self.assertAllClose(weights[k], g, atol=1e-6)
            self.assertAllClose(mixture[k], (g * experts[k]).sum(axis=0), atol=1e-5)
        self.assertAllClose(tf.reduce_sum(weights, axis=1), np.ones((B, D)), atol=1e-6)

    @parameterized.parameters(MMoEGate, PriorGate)
    def test_scalar_gates_match_numpy(self, gate_class):
        prior, experts, domain = inputs(1)
        gate = gate_class(K, S, return_weights=True)
        mixture, weights = gate([prior, experts, domain])
        w = gate.kernel.numpy().reshape(L, S, K)
        b = gate.bias.numpy().reshape(S, K)
        for k in range(B):
            g = softmax(prior[k] @ w[:, domain[k]] + b[domain[k]], axis=0)
            self.assertAllClose(weights[k], g, atol=1e-6)
            self.assertAllClose(mixture[k], g @ experts[k], atol=1e-5)

    def test_pg_is_constant_across_elements_peg_is_not(self):
        prior, _, domain = inputs(2)
        pg, peg = PriorGate(K, S), PriorElementwiseGate(K, S)
        # Give PeG's kernel element-dependent values (its init already is; made explicit).
        for p in range(K):
            # Only expert p is non-zero, with value 1 in every element: the mixture's element j
            # is then exactly expert p's gate weight at element j.
            experts = np.zeros((B, K, D), np.float32)
            experts[:, p, :] = 1.0
            m_pg = pg([prior, experts, domain]).numpy()
            m_peg = peg([prior, experts, domain]).numpy()
            self.assertAllClose(m_pg, np.repeat(m_pg[:, :1], D, axis=1), atol=1e-7)
            self.assertGreater(np.abs(m_peg - m_peg[:, :1]).max(), 1e-4)

    def test_gate_shape_validation_and_config(self):
        prior, experts, domain = inputs()
        with self.assertRaisesRegex(ValueError, "experts must be"):
            PriorElementwiseGate(K + 1, S)([prior, experts, domain])
        with self.assertRaisesRegex(ValueError, "num_domains"):
            MMoEGate(K, 0)
        gate = PriorElementwiseGate(K, S, return_weights=True)
        self.assertEqual(PriorElementwiseGate.from_config(gate.get_config()).get_config(),
                         gate.get_config())


class ExpertBankTest(tf.test.TestCase):

    def test_each_expert_reads_its_slice_with_its_own_weights(self):
        x = np.random.default_rng(3).normal(size=(B, K, 7)).astype(np.float32)
        bank = ExpertBank(K, (5, D))
        out = bank(x).numpy()
        for p in range(K):
            h = np.maximum(x[:, p] @ bank.kernels[0].numpy()[p] + bank.biases[0].numpy()[p], 0)
            o = np.maximum(h @ bank.kernels[1].numpy()[p] + bank.biases[1].numpy()[p], 0)
            self.assertAllClose(out[:, p], o, atol=1e-5)
        # A list of K inputs is the same as the stacked tensor.
        self.assertAllClose(bank(list(np.moveaxis(x, 1, 0))), out)

    def test_shared_input(self):
        x = np.random.default_rng(4).normal(size=(B, 7)).astype(np.float32)
        bank = ExpertBank(K, (D,))
        out = bank(x).numpy()
        for p in range(K):
            self.assertAllClose(out[:, p], np.maximum(x @ bank.kernels[0].numpy()[p]
                                                      + bank.biases[0].numpy()[p], 0), atol=1e-5)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "num_experts"):
            ExpertBank(0, (4,))
        with self.assertRaisesRegex(ValueError, "units"):
            ExpertBank(2, ())
        with self.assertRaisesRegex(ValueError, "slices"):
            ExpertBank(2, (4,))(np.zeros((2, 3, 5), np.float32))
        with self.assertRaisesRegex(ValueError, "dropout"):
            MLP((4,), dropout=1.5)


class DomainTowersTest(tf.test.TestCase, parameterized.TestCase):

    def test_matches_numpy_own_tower(self):
        _, experts, domain = inputs(5)
        x = experts[:, 0]  # [B, D]
        towers = DomainTowers(S, (3,))
        out = towers([x, domain]).numpy()
        for k in range(B):
            s = domain[k]
            h = np.maximum(x[k] @ towers.kernels[0].numpy()[s] + towers.biases[0].numpy()[s], 0)
            logit = h @ towers.kernels[1].numpy()[s] + towers.biases[1].numpy()[s]
            self.assertAllClose(out[k], 1 / (1 + np.exp(-logit)), atol=1e-6)

    @parameterized.parameters(0, 1)
    def test_prediction_changes_only_with_own_towers_weights(self, changed):
        _, experts, domain = inputs(6)
        x = experts.reshape(B, -1)
        towers = DomainTowers(S, (4,))
        before = towers([x, domain]).numpy()
        for kernel in towers.kernels:
            kernel.assign(tf.tensor_scatter_nd_add(kernel, [[changed]], [tf.ones(kernel.shape[1:])]))
        after = towers([x, domain]).numpy()
        own = domain == changed
        self.assertTrue(np.all(np.abs(after[own] - before[own]) > 1e-6))
        self.assertAllEqual(after[~own], before[~own])

    def test_per_domain_inputs(self):
        rng = np.random.default_rng(7)
        per_domain = rng.normal(size=(B, S, 5)).astype(np.float32)
        domain = inputs()[2]
        towers = DomainTowers(S, (3,), output_logits=True)
        out = towers([per_domain, domain]).numpy()
        # Sample k is scored by tower s on slice s only.
        own_slice = per_domain[np.arange(B), domain]
        shared = DomainTowers(S, (3,), output_logits=True)
        shared([own_slice, domain])
        shared.set_weights(towers.get_weights())
        self.assertAllClose(out, shared([own_slice, domain]), atol=1e-6)
        self.assertEqual(DomainTowers.from_config(towers.get_config()).get_config(), towers.get_config())
