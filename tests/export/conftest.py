"""Session fixtures of the export tests (one data set and one Crocodile export per worker)."""

import pytest

from tests.export import common


@pytest.fixture(scope="session")
def flat(tmp_path_factory):
    return common.build_flat_data(str(tmp_path_factory.mktemp("export_data")))


@pytest.fixture(scope="session")
def crocodile_export(flat, tmp_path_factory):
    return common.train_and_export(flat, "crocodile", str(tmp_path_factory.mktemp("crocodile")))
