"""LazyAdam against Adam, and the split optimizer's variable assignment."""

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.models import ModelConfig, build_model
from crocodile_tf.optimizers import LazyAdam, dense_variables, embedding_variables, make_optimizer
from crocodile_tf.pipelines.planted import planted_problem


def sparse(values, indices):
    return tf.IndexedSlices(tf.constant(values, tf.float32), tf.constant(indices), tf.constant([4, 2]))


class LazyAdamTest(tf.test.TestCase):

    def test_equals_adam_on_rows_present_and_leaves_absent_rows_alone(self):
        lazy = tf.Variable(np.ones((4, 2), np.float32))
        dense = tf.Variable(np.ones((4, 2), np.float32))
        a, b = LazyAdam(0.1), tf_keras.optimizers.legacy.Adam(0.1)
        # Step 1 touches rows 0 (twice: duplicates are summed) and 2; both optimizers agree.
        g = sparse([[1, 2], [3, 4], [1, 1]], [0, 2, 0])
        a.apply_gradients([(g, lazy)])
        b.apply_gradients([(tf.convert_to_tensor(g), dense)])
        self.assertAllClose(lazy, dense, atol=1e-6)
        self.assertAllEqual(lazy[1], [1, 1])
        # Step 2 touches only row 0: Adam's momentum still moves row 2, LazyAdam's does not.
        row2 = lazy[2].numpy()
        g = sparse([[1, 1]], [0])
        a.apply_gradients([(g, lazy)])
        b.apply_gradients([(tf.convert_to_tensor(g), dense)])
        self.assertAllClose(lazy[0], dense[0], atol=1e-6)
        self.assertAllEqual(lazy[2], row2)
        self.assertNotAllClose(dense[2], row2)

    def test_split_optimizer_assigns_tables_to_the_sparse_optimizer(self):
        problem = planted_problem(64, seed=0)
        model = build_model("crocodile", problem.schema, ModelConfig(expert_units=(8,), tower_units=(4,)))
        names = {v.name for v in embedding_variables(model)}
        self.assertEqual(names, {"multi_embedding/embeddings:0", "prior_embedding/embeddings:0"})
        self.assertEqual(len(names) + len(dense_variables(model)), len(model.trainable_variables))
        optimizer = make_optimizer("split", model, 1e-3, 1e-3, "lazy_adam")
        self.assertIsInstance(optimizer._optimizers_and_vars[0][0], LazyAdam)
        with self.assertRaisesRegex(ValueError, "embedding optimizer 'sgd'"):
            make_optimizer("split", model, 1e-3, 1e-3, "sgd")
        with self.assertRaisesRegex(ValueError, "optimizer 'rmsprop'"):
            make_optimizer("rmsprop", model, 1e-3, 1e-3)
