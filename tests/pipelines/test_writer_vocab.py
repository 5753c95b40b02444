"""The vectorized Example encoder and the shared fitting/id-mapping rules (pipelines.writer,
pipelines.vocab)."""

import numpy as np
import pandas as pd
import tensorflow as tf
from absl.testing import parameterized

import crocodile_tf  # noqa: F401
from crocodile_tf.pipelines import vocab, writer


class ExampleEncoderTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(1, 2, 200, 2**20, 2**40)
    def test_matches_tf_example(self, vocab_size):
        names = ["user_id", "a" * 150, "301", "domain"]      # a long name: multi-byte lengths
        sizes = [vocab_size, 5, 1000, 3]
        enc = writer.ExampleEncoder(names, sizes, "is_click")
        rng = np.random.default_rng(0)
        ids = np.stack([rng.integers(0, s, 50) for s in sizes], axis=1)
        ids[0] = [s - 1 for s in sizes]                      # the largest ids
        ids[1] = 0
        labels = rng.integers(0, 2, 50).astype(np.float32)
        rows = enc.encode(ids, labels)
        for r in (0, 1, 7):
            ex = tf.train.Example.FromString(rows[r].tobytes())
            self.assertEqual(list(ex.features.feature["ids"].int64_list.value), list(ids[r]))
            self.assertEqual(list(ex.features.feature["is_click"].float_list.value), [labels[r]])
        spec = {"ids": tf.io.FixedLenFeature([len(names)], tf.int64),
                "is_click": tf.io.FixedLenFeature([], tf.float32)}
        parsed = tf.io.parse_example(tf.constant([r.tobytes() for r in rows]), spec)
        self.assertAllEqual(parsed["ids"], ids)
        self.assertAllEqual(parsed["is_click"], labels)

    def test_rejects_out_of_range_ids(self):
        enc = writer.ExampleEncoder(["a"], [3], "y")
        with self.assertRaisesRegex(ValueError, "'a'.*outside"):
            enc.encode(np.array([[3]]), np.zeros(1))


class VocabTest(tf.test.TestCase):

    def test_min_count_boundary(self):
        # 'x' seen 10 times keeps its own id, 'y' seen 9 times maps to the default id 0.
        fitter = vocab.FeatureFitter(vocab.categorical("c", raw_dtype="string"), min_count=10)
        fitter.update(pd.DataFrame({"c": ["x"] * 6 + ["y"] * 5}))
        fitter.update(pd.DataFrame({"c": ["x"] * 4 + ["y"] * 4 + ["z"]}))
        fitted = fitter.finalize()["c"]
        self.assertEqual(list(fitted.vocabulary), ["x"])
        self.assertAllEqual(fitted.transform(pd.Series(["x", "y", "z", None, "new"])), [1, 0, 0, 0, 0])
        self.assertEqual(fitted.field().vocab_size, 2)

    def test_int_values_from_floats(self):
        fitter = vocab.FeatureFitter(vocab.categorical("c"), min_count=1)
        fitter.update(pd.DataFrame({"c": [5, 7, 7]}))
        fitted = fitter.finalize()["c"]
        self.assertAllEqual(fitted.transform(pd.Series([7.0, np.nan, 5.0, 6.0])), [2, 0, 1, 0])

    def test_bucketize_convention(self):
        b = np.array([1.0, 2.0, 5.0])
        # id 0 = missing, else 1 + number of boundaries <= v.
        self.assertAllEqual(vocab.bucketize(np.array([np.nan, 0.5, 1.0, 1.5, 2.0, 5.0, 9.0]), b),
                            [0, 1, 2, 2, 3, 4, 4])

    def test_quantile_boundaries(self):
        self.assertAllEqual(vocab.quantile_boundaries(np.arange(1, 101), 4), [25, 50, 75])
        # Weighted = repeated values.
        self.assertAllEqual(vocab.quantile_boundaries(np.array([1.0, 2.0]), 2, np.array([3, 1])),
                            vocab.quantile_boundaries(np.array([1.0, 1.0, 1.0, 2.0]), 2))
        self.assertAllEqual(vocab.quantile_boundaries(np.array([np.nan]), 4), [])

    def test_side_table_weights_equal_joined_rows(self):
        table = pd.DataFrame({"g": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]}, index=[10, 11, 12])
        weights = np.array([10, 9, 0])
        specs = vocab.categorical("g", raw_dtype="string") + vocab.numeric("v")
        fitted = vocab.FeatureFitter(specs, min_count=10, num_buckets=4).update_weighted(table, weights)
        joined = table.loc[np.repeat(table.index, weights)]
        streamed = vocab.FeatureFitter(specs, min_count=10, num_buckets=4)
        streamed.update(joined)
        ref = streamed.finalize()
        self.assertEqual(list(fitted["g"].vocabulary), list(ref["g"].vocabulary))
        self.assertAllEqual(fitted["v"].boundaries, ref["v"].boundaries)

    def test_domain_values_canonical(self):
        self.assertEqual(list(vocab.canonical_domain_values(pd.Series(["1", "1.0", " 2", "x"]))),
                         ["1", "1", "2", "x"])
        self.assertEqual(list(vocab.canonical_domain_values(pd.Series([1.0, np.nan]))), ["1", ""])
