"""One test per distinctive mechanism of the zoo's models, on gradients or numpy references."""

import numpy as np
import tensorflow as tf

from crocodile_tf.layers import (EPNet, DomainAdaptiveMLP, PartitionedNormalization, PerDomainMLP,
                                 ScenarioAttention, SubsetGate)
from crocodile_tf.losses import domain_bce
from crocodile_tf.models import ModelConfig, build_model
from crocodile_tf.pipelines.planted import planted_problem

SMALL = ModelConfig(expert_units=(32, 16), tower_units=(8,))


def batch_of_domain(domain, rows=64, num_domains=3, seed=0):
    """Features and labels of `rows` samples, all of domain `domain`."""
    data = planted_problem(rows * num_domains * 3, num_domains=num_domains, num_users=50,
                           num_items=80, seed=seed)
    keep = np.flatnonzero(data.features["domain"] == domain)[:rows]
    features = {k: tf.constant(v[keep]) for k, v in data.features.items()}
    return data.schema, features, tf.constant(data.labels[keep])


def gradients(model, features, labels):
    """{variable name: dense gradient} of the per-domain BCE on this batch."""
    with tf.GradientTape() as tape:
        loss = domain_bce(labels, model(features, training=True), features["domain"], 3)
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.name: (tf.convert_to_tensor(g).numpy() if g is not None else np.zeros(v.shape))
            for v, g in zip(model.trainable_variables, grads)}


def find(grads, *parts):
    names = [n for n in grads if all(p in n for p in parts)]
    assert len(names) == 1, (parts, list(grads))
    return grads[names[0]]


def table_block(grad, table, dim):
    return grad[:, table * dim:(table + 1) * dim]


class SingleDomainTest(tf.test.TestCase):

    def test_a_domain_model_never_sees_other_domains_rows(self):
        schema, features, labels = batch_of_domain(domain=1)
        model = build_model("single_domain", schema, SMALL)
        grads = gradients(model, features, labels)
        dim = schema.embedding_dim
        table = find(grads, "domain_embeddings")
        for s in (0, 2):  # domains absent from the batch: embedding table and MLP untouched
            self.assertAllEqual(table_block(table, s, dim), np.zeros_like(table_block(table, s, dim)))
            for name, grad in grads.items():
                if "domain_models" in name:
                    self.assertAllEqual(grad[s], np.zeros_like(grad[s]), msg=name)
        self.assertGreater(np.abs(table_block(table, 1, dim)).sum(), 0)
        self.assertGreater(np.abs(find(grads, "domain_models", "kernel_0")[1]).sum(), 0)


class SdemTest(tf.test.TestCase):

    def test_other_domains_tables_get_no_gradient_but_their_experts_do(self):
        schema, features, labels = batch_of_domain(domain=1)
        model = build_model("sdem", schema, SMALL)
        grads = gradients(model, features, labels)
        dim = schema.embedding_dim
        tables = find(grads, "multi_embedding")           # table 0 shared, table 1+s domain s's
        self.assertGreater(np.abs(table_block(tables, 0, dim)).sum(), 0)
        self.assertGreater(np.abs(table_block(tables, 2, dim)).sum(), 0)   # domain 1's own table
        for other in (1, 3):                                              # domains 0 and 2
            self.assertAllEqual(table_block(tables, other, dim), np.zeros((tables.shape[0], dim)))
        # All Forward Gate: domain 2's expert (expert 3) still serves domain 1 and is trained by it.
        self.assertGreater(np.abs(find(grads, "experts", "kernel_0")[3]).sum(), 0)


class PleTest(tf.test.TestCase):

    def test_last_level_domain_expert_gets_no_gradient_from_other_domains(self):
        schema, features, labels = batch_of_domain(domain=0)
        model = build_model("ple", schema, SMALL)
        grads = gradients(model, features, labels)
        last = find(grads, "experts_1", "kernel_0")       # [E, in, out]; expert 0 shared, 1+s domain s
        self.assertGreater(np.abs(last[0]).sum(), 0)
        self.assertGreater(np.abs(last[1]).sum(), 0)
        for other in (2, 3):
            self.assertAllEqual(last[other], np.zeros_like(last[other]))
        # Below the last level the shared gate mixes every expert (PLE's progressive extraction),
        # so domain 1's level-1 expert does learn from domain 0's rows.
        self.assertGreater(np.abs(find(grads, "experts_0", "kernel_0")[2]).sum(), 0)

    def test_me_ple_domain_tables_feed_only_their_domain(self):
        schema, features, labels = batch_of_domain(domain=0)
        model = build_model("me_ple", schema, SMALL.replace(expert_units=(16,)))   # one level
        grads = gradients(model, features, labels)
        dim = schema.embedding_dim
        tables = find(grads, "multi_embedding")           # one table per expert: 0 shared, 1+s
        self.assertGreater(np.abs(table_block(tables, 0, dim)).sum(), 0)
        self.assertGreater(np.abs(table_block(tables, 1, dim)).sum(), 0)
        for other in (2, 3):
            self.assertAllEqual(table_block(tables, other, dim), np.zeros((tables.shape[0], dim)))

    def test_subset_gate_mixes_only_its_experts(self):
        experts = tf.random.normal([5, 4, 3])
        gate = SubsetGate([[0, 2], [1, 3]])
        x = tf.random.normal([5, 6])
        with tf.GradientTape() as tape:
            tape.watch(experts)
            out = gate([x, experts])
            target = tf.reduce_sum(out[:, 0])
        grad = tape.gradient(target, experts).numpy()
        self.assertAllEqual(grad[:, 1], np.zeros((5, 3)))
        self.assertAllEqual(grad[:, 3], np.zeros((5, 3)))
        logits = np.einsum("bn,na->ba", x.numpy(), gate.kernel.numpy()[0])
        w = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        expected = w[:, :1] * experts.numpy()[:, 0] + w[:, 1:] * experts.numpy()[:, 2]
        self.assertAllClose(out[:, 0], expected, atol=1e-6)


class StarTest(tf.test.TestCase):

    def test_effective_weight_is_shared_times_specific(self):
        layer = PerDomainMLP(3, [4, 1], activate_output=False, star=True)
        x = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
        domain = np.array([0, 1, 2, 2, 1, 0, 0, 1, 2])
        layer([x, domain])
        for v in layer.kernels + layer.biases:  # move the domain weights away from ones/zeros
            v.assign(tf.random.normal(v.shape, seed=1))
        out = layer([x, domain]).numpy()
        effective = layer.effective_weights()
        for i, (kernel, bias) in enumerate(effective):
            self.assertAllClose(kernel, layer.kernels[i].numpy() * layer.shared_kernels[i].numpy()[None])
            self.assertAllClose(bias, layer.biases[i].numpy() + layer.shared_biases[i].numpy()[None])
        for k in range(len(x)):
            s = domain[k]
            w0, b0 = [t.numpy()[s] for t in effective[0]]
            w1, b1 = [t.numpy()[s] for t in effective[1]]
            expected = np.maximum(x[k] @ w0 + b0, 0) @ w1 + b1
            self.assertAllClose(out[k], expected, atol=1e-5)

    def test_partitioned_normalization_uses_each_domains_statistics(self):
        rng = np.random.default_rng(0)
        domain = np.array([0, 0, 0, 1, 1, 1, 1])
        x = (rng.normal(size=(7, 2)) + domain[:, None] * 10).astype(np.float32)
        layer = PartitionedNormalization(2, momentum=0.5, epsilon=1e-3)
        out = layer([x, domain], training=True).numpy()
        for s in (0, 1):
            rows = x[domain == s]
            expected = (rows - rows.mean(0)) / np.sqrt(rows.var(0) + 1e-3)
            self.assertAllClose(out[domain == s], expected, atol=1e-4)
            # moving averages start at 0 / 1 and move half way with momentum 0.5
            self.assertAllClose(layer.moving_mean.numpy()[s], 0.5 * rows.mean(0), atol=1e-5)
            self.assertAllClose(layer.moving_variance.numpy()[s], 0.5 + 0.5 * rows.var(0), atol=1e-4)
        layer.domain_gamma.assign([[2.0, 2.0], [1.0, 1.0]])
        inference = layer([x, domain], training=False).numpy()
        mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
        expected = (x - mean[domain]) / np.sqrt(var[domain] + 1e-3) * np.array([[2.0], [1.0]])[domain]
        self.assertAllClose(inference, expected, atol=1e-4)

    def test_star_model_has_pn_star_fcn_and_auxiliary_network(self):
        schema, features, labels = batch_of_domain(domain=2)
        model = build_model("star", schema, SMALL)
        names = {layer.name for layer in model.layers}
        self.assertContainsSubset({"partitioned_norm", "star_fcn", "auxiliary_network"}, names)
        self.assertTrue(model.get_layer("star_fcn").star)
        self.assertEqual(model.get_layer("star_fcn").units, (32, 16, 8, 1))


class PepnetTest(tf.test.TestCase):

    def test_epnet_scales_embeddings_without_training_them_through_the_gate(self):
        layer = EPNet(8)
        emb = tf.random.normal([4, 6])
        prior = tf.random.normal([4, 3])
        with tf.GradientTape() as tape:
            tape.watch(emb)
            out = layer([emb, prior])
            total = tf.reduce_sum(out)
        gate = layer.gate(tf.concat([prior, emb], -1)).numpy()
        self.assertAllClose(out, gate * emb.numpy(), atol=1e-6)
        self.assertTrue(np.all((gate > 0) & (gate < 2)))
        # stop_gradient: d(sum O_ep)/dE is the gate itself, no term through the gate's input.
        self.assertAllClose(tape.gradient(total, emb), gate, atol=1e-6)

    def test_ppnet_gates_follow_the_user_item_prior(self):
        schema, features, _ = batch_of_domain(domain=0, rows=8)
        model = build_model("pepnet", schema, SMALL)
        ppnet = model.get_layer("ppnet")
        self.assertLen(ppnet.gates, len(SMALL.expert_units))
        base = model(features).numpy()
        # Changing only the user/item prior embeddings (not the shared ones) changes the scores:
        # they reach the output through PPNet's gates alone.
        table = model.get_layer("user_item_prior")
        table.embeddings.assign(table.embeddings + tf.random.normal(table.embeddings.shape))
        self.assertNotAllClose(model(features).numpy(), base)


class HinetTest(tf.test.TestCase):

    def test_scenario_attention_reads_only_other_scenarios(self):
        layer = ScenarioAttention(3)
        scenario = tf.random.normal([6, 4])
        specific = tf.random.normal([6, 3, 5])
        domain = tf.constant([0, 1, 2, 0, 1, 2])
        out = layer([scenario, specific, domain]).numpy()
        changed = specific.numpy().copy()
        changed[np.arange(6), domain.numpy()] += 100.0    # each row's own scenario representation
        self.assertAllClose(layer([scenario, tf.constant(changed), domain]), out, atol=1e-5)
        logits = layer.dense(scenario).numpy()
        for k in range(6):
            others = [j for j in range(3) if j != domain[k]]
            w = np.exp(logits[k, others]) / np.exp(logits[k, others]).sum()
            self.assertAllClose(out[k], w @ specific.numpy()[k, others], atol=1e-5)

    def test_hinet_concatenates_shared_specific_and_attentive_representations(self):
        schema, _, _ = batch_of_domain(domain=0, rows=4)
        model = build_model("hinet", schema, SMALL)
        self.assertEqual(model.get_layer("scenario_representation").output.shape[-1], 3 * 16)


class AdaSparseTest(tf.test.TestCase):

    def test_domain_adaptive_factors_weight_each_layers_neurons(self):
        layer = DomainAdaptiveMLP([4, 3])
        x = tf.random.normal([5, 6])
        domain_embedding = tf.random.normal([5, 2])
        out = layer([x, domain_embedding]).numpy()
        h = x.numpy()
        for pruner, dense in zip(layer.pruners, layer.dense_layers):
            p_kernel, p_bias = [w.numpy() for w in pruner.weights]
            z = np.concatenate([domain_embedding.numpy(), h], -1) @ p_kernel + p_bias
            factors = 2.0 / (1.0 + np.exp(-z))
            kernel, bias = [w.numpy() for w in dense.weights]
            h = np.maximum((factors * h) @ kernel + bias, 0)
        self.assertAllClose(out, h, atol=1e-5)


class MeMmoeTest(tf.test.TestCase):

    def test_me_mmoe_is_crocodile_with_mmoe_gate_and_bce(self):
        schema, features, _ = batch_of_domain(domain=0, rows=8)
        me_mmoe = build_model("me_mmoe", schema, SMALL)          # default config: peg + cov
        reference = build_model("crocodile", schema, SMALL.replace(gate="mmoe", loss="bce"))
        self.assertEqual([type(l).__name__ for l in me_mmoe.layers],
                         [type(l).__name__ for l in reference.layers])
        self.assertEqual(type(me_mmoe.get_layer("gate")).__name__, "MMoEGate")
        self.assertNotIn("cov_loss", {layer.name for layer in me_mmoe.layers})
        reference.set_weights(me_mmoe.get_weights())
        self.assertAllClose(me_mmoe(features), reference(features), atol=0)
