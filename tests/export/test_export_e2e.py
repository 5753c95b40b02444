"""End to end: raw CSV -> converter -> train -> crocodile-export -> fresh-process SavedModel.

Parity is checked for Crocodile and every model of the registry: a new Python process loads the
SavedModel, reads the raw val.csv rows and sends them to the three signatures; the Keras model
restored from the same checkpoint scores the converter's val TFRecords (the same rows). The
tf.Example signatures carry numbers as float32, so their reference is the Keras model on the
converter's ids of the float32-rounded numbers.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from crocodile_tf.export import signatures as sig
from crocodile_tf.export.preprocess import Preprocessor, converter_ids
from crocodile_tf.models.registry import MODELS
from crocodile_tf.train import restore_model
from tests.export import common
from tests.helpers import REPO

pytestmark = pytest.mark.slow
# Two balanced halves of the zoo run on the two xdist workers (`--dist loadgroup`); the Crocodile
# run is shared by the half that holds it and by the other Crocodile tests.
ZOO = sorted(MODELS)
SHARDS = {"crocodile": [m for m in ZOO if m not in ZOO[0::2]], "zoo": ZOO[0::2]}
if "crocodile" not in SHARDS["crocodile"]:
    SHARDS = {"crocodile": SHARDS["zoo"], "zoo": SHARDS["crocodile"]}

_FRESH_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import crocodile_tf
    import tensorflow as tf
    from crocodile_tf.export import signatures as sig, warmup
    from crocodile_tf.features import FeatureSchema
    from tests.export.common import raw_from_csv

    csv_path, out = sys.argv[2:4]
    results = {}
    for i, export_path in enumerate(sys.argv[4:]):
        schema = FeatureSchema.load(export_path + "/assets.extra/schema.json")
        raw = raw_from_csv(schema, csv_path)
        loaded = tf.saved_model.load(export_path)
        for name in (sig.SERVING_DEFAULT, sig.PREDICT_EXAMPLES):
            request = warmup.predict_request(schema, raw, "m", name)
            results[f"{i}/{name}"] = warmup.run_request(loaded.signatures, name, request)
        request = warmup.classify_request(schema, raw, "m")
        results[f"{i}/{sig.CLASSIFY}"] = warmup.run_request(loaded.signatures, sig.CLASSIFY,
                                                            request)
    np.savez(out, **results)
""")


def fresh_process_outputs(export_paths: list[str], csv_path: str, workdir: str) -> list[dict]:
    """Outputs of the three signatures per export, computed in ONE new Python process."""
    out = os.path.join(workdir, "fresh.npz")
    result = subprocess.run([sys.executable, "-c", _FRESH_SCRIPT, REPO, csv_path, out,
                             *export_paths],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise AssertionError(f"fresh-process SavedModel run failed:\n{result.stderr[-4000:]}")
    data = np.load(out)
    return [{name: data[f"{i}/{name}"] for name in sig.SIGNATURES}
            for i in range(len(export_paths))]


def check_zoo_half(models, flat, request, tmp_path):
    runs = {}
    for model in models:
        if model == "crocodile":
            runs[model] = request.getfixturevalue("crocodile_export")
        else:
            runs[model] = common.train_and_export(flat, model, str(tmp_path), verify=False)
    outputs = fresh_process_outputs([path for _, path in runs.values()], flat["val_csv"],
                                    str(tmp_path))
    report, failed = [], []
    for (model, (model_dir, path)), got in zip(runs.items(), outputs):
        keras_model, _, schema = restore_model(model_dir)
        _, keras_probs = common.keras_val_predictions(keras_model, flat["data_dir"], schema)
        assert len(keras_probs) == flat["val_rows"]
        ids32 = converter_ids(schema, model_dir,
                              common.raw_from_csv(schema, flat["val_csv"], float32=True))
        keras32 = keras_model({k: tf.constant(v) for k, v in ids32.items()},
                              training=False).numpy().reshape(-1)
        diffs = {sig.SERVING_DEFAULT: np.max(np.abs(got[sig.SERVING_DEFAULT] - keras_probs)),
                 sig.PREDICT_EXAMPLES: np.max(np.abs(got[sig.PREDICT_EXAMPLES] - keras32)),
                 sig.CLASSIFY: np.max(np.abs(got[sig.CLASSIFY] - keras32))}
        report.append(f"{model}: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        if max(diffs.values()) > 1e-6 or np.std(keras_probs) == 0:
            failed.append(model)
    print("\n".join(report))
    assert not failed, f"parity failed for {failed}:\n" + "\n".join(report)


@pytest.mark.xdist_group("crocodile")
def test_fresh_process_parity_crocodile_half_of_zoo(flat, request, tmp_path):
    check_zoo_half(SHARDS["crocodile"], flat, request, tmp_path)


@pytest.mark.xdist_group("zoo")
def test_fresh_process_parity_other_half_of_zoo(flat, request, tmp_path):
    check_zoo_half(SHARDS["zoo"], flat, request, tmp_path)


@pytest.mark.xdist_group("crocodile")
def test_in_graph_ids_equal_converter_tfrecord_ids(flat, crocodile_export):
    """Bit-for-bit: the Preprocessor maps the raw CSV rows to exactly the converter's ids."""
    model_dir, path = crocodile_export
    with open(os.path.join(path, "assets.extra", "export.json")) as f:
        parity = json.load(f)["parity"]          # the export's own check on the warmup rows
    assert parity["max_abs_diff"] <= 1e-6 and parity["warmup_replay_max_abs_diff"] <= 1e-6
    keras_model, _, schema = restore_model(model_dir)
    tfrecord_ids, _ = common.keras_val_predictions(keras_model, flat["data_dir"], schema)
    raw = common.raw_from_csv(schema, flat["val_csv"])
    pre = Preprocessor(schema, model_dir)
    graph_ids = pre({k: tf.constant(v) for k, v in raw.items()})
    for name in schema.field_names:
        np.testing.assert_array_equal(graph_ids[name].numpy(), tfrecord_ids[name], err_msg=name)
    # The raw rows really exercise the defaults and the domain spellings.
    assert (tfrecord_ids["user_id"] == 0).any() and (tfrecord_ids["tag"] == 0).any()
    assert (tfrecord_ids["duration_ms"] == 0).any() and (tfrecord_ids["upload_type"] == 0).any()
    assert {"1.0", " 0 "} <= set(raw["tab"])


@pytest.mark.xdist_group("crocodile")
def test_cli_versions_and_models_config(flat, crocodile_export, tmp_path):
    model_dir, _ = crocodile_export
    export_dir = str(tmp_path / "exports")
    os.makedirs(os.path.join(export_dir, "ranker", "7"))     # an existing (older) version
    cmd = [sys.executable, "-m", "crocodile_tf.export.export", f"--model_dir={model_dir}",
           f"--export_dir={export_dir}", "--model_name=ranker", f"--data_dir={flat['data_dir']}",
           "--warmup_rows=8"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(os.path.join(export_dir, "ranker"))) == ["7", "8"]
    with open(os.path.join(export_dir, "models.config")) as f:
        text = f.read()
    assert 'name: "ranker"' in text and 'base_path: "/models/ranker"' in text
    # An explicit existing version is refused with a clear message.
    result = subprocess.run(cmd + ["--version=8"], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "exists" in result.stderr
