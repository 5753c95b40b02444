r"""`crocodile-export`: a trained model_dir -> a SavedModel version for TF Serving.

    crocodile-export --model_dir=runs/crocodile --export_dir=exports \
        --data_dir=data/kuairand [--model_name=crocodile] [--version=N] [--checkpoint=best]

Writes `export_dir/<model_name>/<version>/` (TF Serving's layout; version = 1 + the largest
numeric version already there unless --version is given) holding:

* the SavedModel: signatures `serving_default`, `predict_examples`, `classify` (see
  `signatures.py`), the converter's vocabularies as assets (`assets/<field>.txt`);
* `assets.extra/tf_serving_warmup_requests`: PredictionLogs for every signature, built from
  validation rows of --data_dir;
* `assets.extra/export.json`: provenance (model, checkpoint, config, parity check), and the
  training `config.json` + `schema.json`.

`export_dir/models.config` is (re)written as a sample TF Serving model config listing every
model in export_dir. The version is written to a temporary directory and renamed into place
only after the reloaded SavedModel passed the parity check, so TF Serving, which watches the
directory, never sees a partial or unverified version.
"""

from __future__ import annotations

import json
import os
import re
import time

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from crocodile_tf import config as config_lib
from crocodile_tf.export import signatures as sig
from crocodile_tf.export import warmup as warmup_lib
from crocodile_tf.export.preprocess import converter_ids, raw_values_for_ids
from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import build_model
from crocodile_tf.train import restore_model

EXPORT_INFO = "export.json"
MODELS_CONFIG = "models.config"
PARITY_ATOL = 1e-6


class ExportError(RuntimeError):
    pass


def next_version(model_path: str) -> int:
    """1 + the largest integer-named subdirectory of `model_path` (1 when there is none)."""
    versions = [int(d) for d in (tf.io.gfile.listdir(model_path) if tf.io.gfile.isdir(model_path)
                                 else []) if re.fullmatch(r"\d+", d.rstrip("/"))]
    return max(versions, default=0) + 1


def load_weights(model_dir: str, checkpoint: str = "best"):
    """(model, config, schema) with the weights of `checkpoint`: "best", "latest" (the newest
    step backup) or the path/prefix of a checkpoint written by crocodile-train."""
    if checkpoint in ("best", "latest"):
        return restore_model(model_dir, "best" if checkpoint == "best" else "latest")
    config = config_lib.TrainConfig.load(model_dir)
    schema = FeatureSchema.load(model_dir)
    model = build_model(config.model, schema, config.model_config)
    prefix = tf.train.latest_checkpoint(checkpoint) if tf.io.gfile.isdir(checkpoint) else checkpoint
    if not prefix or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(f"--checkpoint={checkpoint}: no checkpoint there (expected a "
                                "checkpoint prefix with a .index file, 'best' or 'latest').")
    try:  # crocodile-train's step backups: tf.train.Checkpoint(model=...)
        tf.train.Checkpoint(model=model).read(prefix).assert_existing_objects_matched()
    except (AssertionError, ValueError):  # Keras weights (best/weights)
        model.load_weights(prefix).expect_partial()
    return model, config, schema


def warmup_ids(schema: FeatureSchema, data_dir: str | None, rows: int) -> tuple[dict, str]:
    """Ids of the first `rows` validation rows of `data_dir` (else of its train split), or rows
    made from the schema when no data is given; returns (ids, provenance)."""
    if data_dir:
        from crocodile_tf.pipelines.input import make_dataset
        data_schema = FeatureSchema.load(data_dir)
        if (data_schema.field_names, data_schema.vocab_sizes, data_schema.domains) != \
                (schema.field_names, schema.vocab_sizes, schema.domains):
            raise ExportError(f"--data_dir={data_dir}: its schema.json differs from the model's; "
                              "give the data the model was trained on.")
        for split in ("val", "train"):
            try:
                ds = make_dataset(data_dir, split, rows, shuffle=False, deterministic=True,
                                  schema=schema)
            except FileNotFoundError:
                continue
            for features, _ in ds.take(1):
                return {k: v.numpy() for k, v in features.items()}, f"{data_dir} ({split} split)"
    logging.warning("no --data_dir: warmup requests use ids enumerated from the schema, not real "
                    "validation rows.")
    return ({f.name: np.arange(rows, dtype=np.int64) % f.vocab_size for f in schema.fields},
            "ids enumerated from the schema")


def write_models_config(export_dir: str, base_path: str = "/models") -> str:
    """A sample TF Serving --model_config_file for every model in export_dir, as mounted at
    `base_path` in the serving container."""
    names = sorted(d.rstrip("/") for d in tf.io.gfile.listdir(export_dir)
                   if tf.io.gfile.isdir(os.path.join(export_dir, d))
                   and any(re.fullmatch(r"\d+", v.rstrip("/"))
                           for v in tf.io.gfile.listdir(os.path.join(export_dir, d))))
    entries = "".join(
        f"  config {{\n    name: \"{n}\"\n    base_path: \"{base_path}/{n}\"\n"
        f"    model_platform: \"tensorflow\"\n  }}\n" for n in names)
    path = os.path.join(export_dir, MODELS_CONFIG)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(f"model_config_list {{\n{entries}}}\n")
    return path


def export_model(model_dir: str, export_dir: str, *, model_name: str | None = None,
                 version: int | None = None, checkpoint: str = "best", data_dir: str | None = None,
                 warmup_rows: int = 64, verify: bool = True) -> str:
    """Exports a trained model_dir; returns the path of the written version directory."""
    started = time.time()
    model, config, schema = load_weights(model_dir, checkpoint)
    model_name = model_name or config.model
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", model_name):
        raise ExportError(f"--model_name={model_name!r}: use letters, digits, '_', '.', '-'.")
    model_path = os.path.join(export_dir, model_name)
    if version is None:
        version = next_version(model_path)
    elif version < 1:
        raise ExportError(f"--version={version}: TF Serving versions are integers >= 1.")
    final = os.path.join(model_path, str(version))
    if tf.io.gfile.exists(final):
        raise ExportError(f"{final} exists; TF Serving versions are immutable: pick another "
                          "--version or leave it out (next free version).")
    tmp = os.path.join(model_path, f".tmp-{version}-{os.getpid()}")
    if tf.io.gfile.exists(tmp):
        tf.io.gfile.rmtree(tmp)
    tf.io.gfile.makedirs(model_path)

    module = sig.ServingModule(model, schema, model_dir)
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    sig.set_classify_method(tmp)

    # Warmup rows: real validation rows, turned back into raw values; the stored responses are
    # the export's own outputs.
    ids, provenance = warmup_ids(schema, data_dir, warmup_rows)
    raw = raw_values_for_ids(schema, model_dir, ids)
    own = {sig.SERVING_DEFAULT: lambda **kw: module.serve(kw),
           sig.PREDICT_EXAMPLES: lambda **kw: module.predict_examples(kw[sig.EXAMPLES_INPUT]),
           sig.CLASSIFY: lambda **kw: module.classify(kw[sig.CLASSIFY_INPUT])}
    logs = warmup_lib.build_warmup_logs(
        schema, raw, model_name, lambda name, request: warmup_lib.run_request(own, name, request))
    extra = os.path.join(tmp, "assets.extra")
    warmup_lib.write_warmup(os.path.join(extra, warmup_lib.WARMUP_FILE), logs)

    parity = None
    if verify:
        loaded = tf.saved_model.load(tmp)
        parity = check_parity(model, schema, model_dir, loaded, raw, ids)
        parity["warmup_replay_max_abs_diff"] = warmup_lib.replay(loaded.signatures, logs)
        del loaded
        worst = max(parity["max_abs_diff"], parity["warmup_replay_max_abs_diff"])
        if worst > PARITY_ATOL:
            tf.io.gfile.rmtree(tmp)
            raise ExportError(f"parity check failed: the reloaded SavedModel differs from the "
                              f"Keras model by {worst:.3g} (> {PARITY_ATOL}) on the warmup rows: "
                              f"{parity}")

    for name in ("config.json", "schema.json"):
        tf.io.gfile.copy(os.path.join(model_dir, name), os.path.join(extra, name), overwrite=True)
    info = {
        "model_name": model_name, "version": version, "model": config.model,
        "model_dir": os.path.abspath(model_dir), "checkpoint": checkpoint,
        "signatures": {s: describe_signature(module, s) for s in sig.SIGNATURES},
        "warmup": {"records": len(logs), "rows_from": provenance,
                   "batch_sizes": sorted({min(b, warmup_rows)
                                          for b in warmup_lib.WARMUP_BATCH_SIZES})},
        "parity": parity, "tensorflow": tf.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": None,
    }
    info["seconds"] = round(time.time() - started, 2)
    with tf.io.gfile.GFile(os.path.join(extra, EXPORT_INFO), "w") as f:
        f.write(json.dumps(info, indent=2) + "\n")
    tf.io.gfile.rename(tmp, final)
    write_models_config(export_dir)
    logging.info("exported %s version %d to %s in %.1fs", model_name, version, final,
                 info["seconds"])
    return final


def check_parity(model, schema: FeatureSchema, model_dir: str, loaded, raw, ids) -> dict:
    """Reloaded SavedModel on raw values vs the Keras model on the converter's ids.

    serving_default gets the raw values; the Example signatures carry numbers as float32, so
    their reference is the Keras model on the converter's ids of the float32-rounded values."""
    keras = model({k: tf.constant(v) for k, v in ids.items()}, training=False).numpy().reshape(-1)
    rounded = {k: (v.astype(np.float32).astype(np.float64) if v.dtype == np.float64 else v)
               for k, v in raw.items()}
    ids32 = converter_ids(schema, model_dir, rounded)
    keras32 = model({k: tf.constant(v) for k, v in ids32.items()},
                    training=False).numpy().reshape(-1)
    out = {"rows": int(len(keras))}
    worst = 0.0
    for name, reference in ((sig.SERVING_DEFAULT, keras), (sig.PREDICT_EXAMPLES, keras32),
                            (sig.CLASSIFY, keras32)):
        request = (warmup_lib.classify_request(schema, raw, "parity") if name == sig.CLASSIFY
                   else warmup_lib.predict_request(schema, raw, "parity", name))
        got = warmup_lib.run_request(loaded.signatures, name, request)
        diff = float(np.max(np.abs(got - reference)))
        out[name] = diff
        worst = max(worst, diff)
    out["max_abs_diff"] = worst
    return out


def describe_signature(module: sig.ServingModule, name: str) -> dict:
    fn = module.signatures()[name]
    inputs = {spec.name: spec.dtype.name for spec in tf.nest.flatten(fn.structured_input_signature)}
    outputs = {k: v.dtype.name for k, v in fn.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


# ---------------------------------------------------------------------------------------------
FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model_dir", None, "A crocodile-train model_dir.")
    flags.DEFINE_string("export_dir", None, "TF Serving model base directory; the export goes to "
                        "<export_dir>/<model_name>/<version>/.")
    flags.DEFINE_integer("version", None, "Version number (default: 1 + the largest existing one).")
    flags.DEFINE_string("model_name", None, "Model name in TF Serving (default: the registry name "
                        "of the trained model).")
    flags.DEFINE_string("checkpoint", "best", "'best' (best validation AUC), 'latest' (newest step "
                        "backup) or a checkpoint path.")
    flags.DEFINE_string("data_dir", None, "Converted data the model was trained on: the warmup "
                        "requests are built from its validation rows.")
    flags.DEFINE_integer("warmup_rows", 64, "Validation rows in the warmup requests.")
    flags.DEFINE_boolean("verify", True, "Reload the SavedModel and check it against the Keras "
                         "model before publishing the version.")


def main(argv) -> None:
    del argv
    logging.set_verbosity(logging.INFO)
    for name in ("model_dir", "export_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required.")
    if FLAGS.warmup_rows < 1:
        raise app.UsageError(f"--warmup_rows must be >= 1, got {FLAGS.warmup_rows}.")
    try:
        path = export_model(FLAGS.model_dir, FLAGS.export_dir, model_name=FLAGS.model_name,
                            version=FLAGS.version, checkpoint=FLAGS.checkpoint,
                            data_dir=FLAGS.data_dir, warmup_rows=FLAGS.warmup_rows,
                            verify=FLAGS.verify)
    except (ExportError, FileNotFoundError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    print(f"exported: {path}")
    print(f"TF Serving model config: {os.path.join(FLAGS.export_dir, MODELS_CONFIG)}")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
