"""MultiEmbedding / PriorEmbedding against per-table numpy lookups."""

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

import crocodile_tf  # noqa: F401
from crocodile_tf.layers import MultiEmbedding, PriorEmbedding

FIELDS = ("user", "item", "domain")
VOCAB = (5, 7, 3)
IDS = {"user": np.array([0, 4, 2]), "item": np.array([6, 1, 1]), "domain": np.array([2, 0, 1])}


class MultiEmbeddingTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(1, 3)
    def test_each_table_is_a_concatenation_of_its_field_rows(self, num_tables):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=2, num_tables=num_tables)
        tables = layer(IDS)
        self.assertLen(tables, num_tables)
        for p in range(num_tables):
            expected = np.concatenate(
                [layer.table(p, f).numpy()[IDS[f]] for f in FIELDS], axis=1)
            self.assertAllClose(tables[p], expected)
            self.assertEqual(tables[p].shape, (3, len(FIELDS) * 2))

    def test_tables_are_independent(self):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=4, num_tables=2)
        layer(IDS)
        self.assertNotAllClose(layer.table(0), layer.table(1))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(IDS)[0])
        grad = tf.convert_to_tensor(tape.gradient(loss, layer.embeddings)).numpy()
        self.assertGreater(np.abs(grad[:, :4]).sum(), 0)   # table 0 gets gradient
        self.assertEqual(np.abs(grad[:, 4:]).sum(), 0)     # table 1 does not

    def test_stacked_output(self):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=2, num_tables=3, stacked=True)
        stacked = layer(IDS)
        self.assertEqual(stacked.shape, (3, 3, 6))
        layer.stacked = False
        for p, table in enumerate(layer(IDS)):
            self.assertAllClose(stacked[:, p], table)

    def test_accepts_column_ids_and_int32(self):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=2, num_tables=1)
        flat = layer(IDS)[0]
        column = layer({k: tf.constant(v[:, None], tf.int32) for k, v in IDS.items()})[0]
        self.assertAllClose(flat, column)

    def test_wrong_dtype_and_missing_field(self):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=2)
        with self.assertRaisesRegex(ValueError, "'item'.*float32"):
            layer({**IDS, "item": tf.constant([1.0, 2.0, 3.0])})
        with self.assertRaisesRegex(ValueError, "'domain' is missing"):
            layer({"user": IDS["user"], "item": IDS["item"]})

    @parameterized.parameters(
        (dict(field_names=(), vocab_sizes=()), "field_names"),
        (dict(field_names=("a",), vocab_sizes=(0,)), "vocab_size"),
        (dict(field_names=("a",), vocab_sizes=(3,), embedding_dim=0), "embedding_dim"),
        (dict(field_names=("a",), vocab_sizes=(3,), num_tables=0), "num_tables"),
        (dict(field_names=("a", "b"), vocab_sizes=(3,)), "vocab_sizes"),
    )
    def test_bad_arguments(self, kwargs, word):
        kwargs.setdefault("embedding_dim", 2)
        with self.assertRaisesRegex(ValueError, word):
            MultiEmbedding(**kwargs)

    def test_config_round_trip(self):
        layer = MultiEmbedding(FIELDS, VOCAB, embedding_dim=3, num_tables=2, stacked=True,
                               embeddings_regularizer="l2")
        clone = MultiEmbedding.from_config(layer.get_config())
        self.assertEqual(clone.get_config(), layer.get_config())
        self.assertIsInstance(tf_keras.layers.deserialize(tf_keras.layers.serialize(layer)),
                              MultiEmbedding)


class PriorEmbeddingTest(tf.test.TestCase):

    def test_concatenated_prior_embeddings(self):
        layer = PriorEmbedding(FIELDS, VOCAB, embedding_dim=4)
        r = layer(IDS)
        self.assertEqual(r.shape, (3, 12))
        expected = np.concatenate([layer.table(0, f).numpy()[IDS[f]] for f in FIELDS], axis=1)
        self.assertAllClose(r, expected)
        clone = PriorEmbedding.from_config(layer.get_config())
        self.assertEqual(clone.get_config(), layer.get_config())
