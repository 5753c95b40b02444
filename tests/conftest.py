"""Test session set-up: crocodile_tf must be imported before TensorFlow (it selects Keras 2)."""

import crocodile_tf  # noqa: F401  (first import of the session: sets TF_USE_LEGACY_KERAS=1)


def pytest_collection_modifyitems(items):
    # tf.test.TestCase inherits a `test_session` context manager that pytest mistakes for a test.
    items[:] = [item for item in items if item.name != "test_session"]
