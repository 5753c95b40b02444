"""crocodile-experiment: table markers and resumption; the table builder on fixed numbers."""

import math

import pytest

from crocodile_tf import config as config_lib
from crocodile_tf import tables
from crocodile_tf.experiment import run_experiment
from crocodile_tf.models import ModelConfig
from crocodile_tf.pipelines.planted import planted_problem
from tests.helpers import write_planted_tfrecords


def metrics(value):
    entry = {"auc": value, "gauc": value - 0.01}
    return {"a": entry, "b": entry, "overall": entry}


def test_table_markers_by_hand():
    runs = {"m1": [metrics(v) for v in (0.70, 0.71, 0.72)],
            "m2": [metrics(v) for v in (0.80, 0.81, 0.82)],
            "m3": [metrics(v) for v in (0.60, 0.75, 0.90)]}
    table = tables.build_table(runs, ["a", "b"], base_model="m1")
    rank = table["ranking"]["overall/auc"]
    assert (rank["best"], rank["second"]) == ("m2", "m3")   # means 0.81 vs 0.75
    # Welch: m2 (sd 0.01) vs m3 (sd 0.15) -> not significant.
    assert rank["p_value"] > 0.05 and not rank["significant"]
    assert table["lift"]["m2"]["auc"] == pytest.approx(100 * (0.81 / 0.71 - 1))
    md = tables.to_markdown(table)
    assert "**0.8100 ± 0.0100**" in md and "<u>0.7500 ± 0.1500</u>" in md
    assert "+14.08%" in md
    # Without the noisy model, m2 vs m1 is significant: the star appears.
    table = tables.build_table({k: runs[k] for k in ("m1", "m2")}, ["a", "b"])
    assert table["ranking"]["a/auc"]["significant"]
    assert "**0.8100 ± 0.0100***" in tables.to_markdown(table)
    assert tables.to_csv(table).splitlines()[0].startswith("model,a/auc_mean,a/auc_std")


def test_welch_needs_two_values():
    assert math.isnan(tables.welch_p([0.7], [0.8, 0.9]))


@pytest.mark.slow
def test_two_models_two_seeds_table_and_resume(tmp_path, monkeypatch):
    problem = planted_problem(4000, num_domains=2, num_users=40, num_items=60, seed=2)
    data_dir = write_planted_tfrecords(problem, str(tmp_path / "data"))
    base = config_lib.TrainConfig(model_config=ModelConfig(expert_units=(8,), tower_units=(4,),
                                                           num_embeddings=2),
                                  batch_size=128, epochs=1, steps_per_epoch=15, eval_batch_size=1024)
    out = str(tmp_path / "exp")
    # Two configurations of one architecture stand for two models (the zoo adds real ones).
    table = run_experiment(data_dir, out, ["crocodile"], [0, 1], base)
    assert set(table["rows"]) == {"crocodile"}
    assert table["rows"]["crocodile"]["overall/auc"]["n"] == 2
    for name in ("table.md", "table.csv", "table.json"):
        assert (tmp_path / "exp" / name).exists()

    import crocodile_tf.experiment as experiment
    trained = []
    monkeypatch.setattr(experiment, "train", lambda *a, **k: trained.append(a) or pytest.fail("retrained"))
    again = run_experiment(data_dir, out, ["crocodile"], [0, 1], base)
    assert trained == []
    assert again["rows"]["crocodile"]["overall/auc"]["values"] == table["rows"]["crocodile"]["overall/auc"]["values"]
