"""Packaging: Keras 2 guard, and pipelines/ + export/ installing as crocodile_tf subpackages."""

import os
import subprocess
import sys
import zipfile

import pytest
import tensorflow as tf

import crocodile_tf
from tests.helpers import REPO


def run_python(code, cwd, env=None):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


class PackageTest(tf.test.TestCase):

    def test_tf_keras_is_keras_2(self):
        import tf_keras
        self.assertIs(tf.keras.Model, tf_keras.Model)
        self.assertTrue(tf_keras.__version__.startswith("2."))
        self.assertEqual(os.environ["TF_USE_LEGACY_KERAS"], "1")

    def test_tensorflow_imported_first_without_legacy_keras_fails_clearly(self):
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        result = run_python("import tensorflow as tf; tf.keras.Sequential; import crocodile_tf",
                            cwd=self.get_temp_dir(), env=env)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("crocodile_tf needs Keras 2", result.stderr)

    def test_editable_install_maps_top_level_folders(self):
        import crocodile_tf.export
        import crocodile_tf.pipelines
        self.assertEqual(os.path.dirname(crocodile_tf.pipelines.__file__), os.path.join(REPO, "pipelines"))
        self.assertEqual(os.path.dirname(crocodile_tf.export.__file__), os.path.join(REPO, "export"))
        self.assertEqual(os.path.dirname(crocodile_tf.__file__), os.path.join(REPO, "crocodile_tf"))


@pytest.mark.slow
class WheelInstallTest(tf.test.TestCase):

    def test_regular_install_contains_and_imports_subpackages(self):
        tmp = self.get_temp_dir()
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                "-q", "-w", os.path.join(tmp, "dist"), REPO],
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(build.returncode, 0, build.stderr)
        wheel = [f for f in os.listdir(os.path.join(tmp, "dist")) if f.endswith(".whl")][0]
        names = zipfile.ZipFile(os.path.join(tmp, "dist", wheel)).namelist()
        self.assertIn("crocodile_tf/pipelines/planted.py", names)
        self.assertIn("crocodile_tf/export/__init__.py", names)
        self.assertNotIn("pipelines/planted.py", names)
        target = os.path.join(tmp, "site")
        install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                                  target, os.path.join(tmp, "dist", wheel)],
                                 capture_output=True, text=True, timeout=300)
        self.assertEqual(install.returncode, 0, install.stderr)
        env = {**os.environ, "PYTHONPATH": target, "PYTHONNOUSERSITE": "1"}
        result = run_python(
            "import sys; sys.meta_path = [f for f in sys.meta_path if 'Editable' not in type(f).__name__]\n"
            "import crocodile_tf.pipelines.planted as p, crocodile_tf.export as e\n"
            "print(p.__file__); print(e.__file__)", cwd=tmp, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        for line in result.stdout.split():
            self.assertTrue(line.startswith(target), line)
