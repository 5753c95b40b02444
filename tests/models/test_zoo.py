"""Every registered model: builds from the schema, learns the planted problem, survives the config
round trip and a SavedModel reload in a fresh process. Parameterized over `registry.MODELS`, so a
new model is covered by adding its registry line. (`tests.helpers.assert_savedmodel_parity` reloads
one model per process; here one fresh process reloads half the zoo, paying TensorFlow's start-up
once rather than twelve times.)"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from crocodile_tf.models import MODELS, ModelConfig, MultiDomainModel, build_model
from crocodile_tf.pipelines.planted import planted_problem
from tests.helpers import auc_reference

SMALL = ModelConfig(expert_units=(32, 16), tower_units=(8,))
NAMES = [(name,) for name in sorted(MODELS)]


def problem(rows=4000, seed=0):
    return planted_problem(rows, num_domains=3, num_users=50, num_items=80, seed=seed)


class ZooBuildTest(tf.test.TestCase, parameterized.TestCase):

    def test_registry_holds_the_paper_models(self):
        self.assertCountEqual(MODELS, ["single_domain", "shared_bottom", "mmoe", "ple", "me_mmoe",
                                       "me_ple", "sdem", "star", "pepnet", "hinet", "adasparse",
                                       "crocodile"])

    @parameterized.parameters(NAMES)
    def test_builds_own_domain_probability_and_config_round_trip(self, name):
        data = problem(256)
        model = build_model(name, data.schema, SMALL)
        self.assertIsInstance(model, MultiDomainModel)
        self.assertEqual(model.name, name)
        self.assertCountEqual(model.input_names, data.schema.field_names)
        out = model.predict(data.features, batch_size=64, verbose=0)
        self.assertEqual(out.shape, (256, 1))
        self.assertTrue(np.all((out > 0) & (out < 1)))
        clone = MultiDomainModel.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        self.assertAllClose(clone.predict(data.features, batch_size=64, verbose=0), out, atol=0)

    @parameterized.parameters(NAMES)
    def test_prediction_does_not_depend_on_batch_composition(self, name):
        # A sample's score depends on its own features only (no cross-row leakage at inference).
        data = problem(64)
        model = build_model(name, data.schema, SMALL)
        full = model.predict(data.features, batch_size=64, verbose=0)
        rows = model.predict({k: v[:7] for k, v in data.features.items()}, batch_size=7, verbose=0)
        self.assertAllClose(full[:7], rows, atol=1e-6)


@pytest.mark.slow
class ZooTrainingTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(NAMES)
    def test_learns_planted_problem(self, name):
        data = problem()
        train, test = data.split(0.75)
        model = build_model(name, data.schema, SMALL)
        model.compile(tf_keras.optimizers.Adam(3e-3))
        model.fit(train.dataset(256, seed=1).repeat(), epochs=1, steps_per_epoch=200, verbose=0)
        auc = auc_reference(test.labels, model.predict(test.features, batch_size=4096, verbose=0))
        self.assertGreaterEqual(auc, 0.70, f"{name}: held-out AUC {auc:.3f} after 200 steps")


_RELOAD_ALL = textwrap.dedent("""
    import sys
    import numpy as np
    import crocodile_tf  # registers the serializable layers
    import tf_keras
    features = dict(np.load(sys.argv[1]))
    out = {}
    for path in sys.argv[3:]:
        model = tf_keras.models.load_model(path)
        out[path] = model.predict(features, batch_size=len(features["domain"]), verbose=0)
    np.savez(sys.argv[2], **{str(i): out[p] for i, p in enumerate(sys.argv[3:])})
""")


@pytest.mark.slow
class ZooSavedModelTest(tf.test.TestCase, parameterized.TestCase):

    # Two halves of the registry, so that the two test workers share the work.
    @parameterized.parameters((sorted(MODELS)[0::2],), (sorted(MODELS)[1::2],))
    def test_models_reload_in_a_fresh_process_with_identical_predictions(self, names):
        # One fresh process reloads all the models (one TensorFlow start-up instead of one per
        # model). Trainable weights are perturbed away from their initial values so that zero
        # biases or unit domain kernels cannot hide a weight that fails to reload.
        data = problem(512)
        workdir = self.get_temp_dir()
        rng = np.random.default_rng(0)
        paths, expected = [], []
        for name in names:
            model = build_model(name, data.schema, SMALL)
            model.predict({k: v[:2] for k, v in data.features.items()}, verbose=0)
            for weight in model.trainable_weights:
                weight.assign_add(0.1 * rng.standard_normal(weight.shape).astype(np.float32))
            paths.append(os.path.join(workdir, name))
            model.save(paths[-1], include_optimizer=False)
            expected.append(model.predict(data.features, batch_size=512, verbose=0))
        np.savez(os.path.join(workdir, "features.npz"), **data.features)
        result = subprocess.run([sys.executable, "-c", _RELOAD_ALL,
                                 os.path.join(workdir, "features.npz"),
                                 os.path.join(workdir, "predictions.npz"), *paths],
                                capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-4000:])
        reloaded = np.load(os.path.join(workdir, "predictions.npz"))
        for i, name in enumerate(names):
            with self.subTest(model=name):
                self.assertAllClose(expected[i], reloaded[str(i)], atol=1e-6, rtol=0,
                                    msg=f"{name}: SavedModel reload changed predictions")
