"""Shared set-up of the export tests: raw flat CSVs, their conversion, tiny trained runs.

The raw data is the synthetic KuaiRand-1K log joined with its user and video tables into one
flat CSV per split, converted with the generic converter (`--split=given`, one shard), so a raw
row is a CSV row and the val TFRecords hold the val.csv rows in file order. The val rows carry
the awkward raw values serving meets: blank cells (missing int / string / number), unseen ids
and strings, domains spelled "1.0" or " 2 ", decimals that float32 cannot hold, quoted strings
with commas.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from crocodile_tf import config as config_lib
from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import ModelConfig
from crocodile_tf.pipelines import kuairand as kuairand_lib

TINY = ModelConfig(embedding_dim=4, num_embeddings=2, expert_units=(8,), tower_units=(4,),
                   prior_dim=4)
CATEGORICAL = ["user_id", "video_id", "hourmin", "user_active_degree", "is_video_author", "tag",
               "upload_type", "music_type", "server_width"]
NUMERIC = ["duration_ms", "register_days", "play_progress", "fans_user_num"]
DOMAIN, LABEL = "tab", "is_click"
MISSING_INT = -1          # what a serving_default client sends for a missing int id (unseen)


def build_flat_data(root: str, rows: int = 20000, seed: int = 3) -> dict:
    """Writes raw/, flat CSVs (train/val/test) + a generic schema, converts them; returns paths."""
    from crocodile_tf.pipelines import generic
    from crocodile_tf.pipelines.conversion import ConvertOptions, convert
    from crocodile_tf.pipelines.synthetic import synth_kuairand

    raw_dir = os.path.join(root, "raw")
    synth_kuairand(raw_dir, rows, seed=seed, num_users=300)
    read = lambda name: pd.read_csv(os.path.join(raw_dir, name), dtype=str,  # noqa: E731
                                    keep_default_na=False)
    log = pd.concat([read(f) for f in kuairand_lib.LOG_FILES], ignore_index=True)
    flat = (log.merge(read(kuairand_lib.USER_FILE), on="user_id", how="left")
               .merge(read(kuairand_lib.VIDEO_BASIC_FILE), on="video_id", how="left")
               .merge(read(kuairand_lib.VIDEO_STATISTIC_FILE)[["video_id", "play_progress"]],
                      on="video_id", how="left"))
    flat = flat[CATEGORICAL + NUMERIC + [DOMAIN, LABEL, "date"]]
    dates = sorted(flat["date"].unique())
    split = np.where(flat["date"] >= dates[-2], "test",
                     np.where(flat["date"] >= dates[-4], "val", "train"))

    val = flat[split == "val"].copy().reset_index(drop=True)
    rng = np.random.default_rng(seed)
    n = len(val)

    def pick(frac):
        return rng.random(n) < frac

    val.loc[pick(0.05), "music_type"] = ""            # missing int
    val.loc[pick(0.05), "upload_type"] = ""           # missing string
    val.loc[pick(0.05), "duration_ms"] = ""           # missing number
    val.loc[pick(0.03), "user_id"] = "987654321"      # unseen id
    val.loc[pick(0.03), "tag"] = "never,seen"         # unseen string (quoted in the CSV)
    ones = (val[DOMAIN] == "1") & pick(0.5)
    val.loc[ones, DOMAIN] = "1.0"                      # same domain, float spelling
    twos = (val[DOMAIN] == "0") & pick(0.5)
    val.loc[twos, DOMAIN] = " 0 "                      # same domain, padded
    val["play_progress"] = val["play_progress"].where(~pick(0.3), "0.30000000000000004")

    data_csv = os.path.join(root, "csv")
    os.makedirs(data_csv, exist_ok=True)
    paths = {}
    for name, frame in (("train", flat[split == "train"]), ("val", val),
                        ("test", flat[split == "test"])):
        paths[name] = os.path.join(data_csv, f"{name}.csv")
        frame.drop(columns=["date"]).to_csv(paths[name], index=False)
    schema_path = os.path.join(data_csv, "schema.json")
    with open(schema_path, "w") as f:
        json.dump({"label": LABEL, "domain": DOMAIN, "user": "user_id", "item": "video_id",
                   "categorical": CATEGORICAL, "numeric": NUMERIC,
                   "files": {k: os.path.basename(v) for k, v in paths.items()}}, f)
    data_dir = os.path.join(root, "data")
    source = generic.GenericSource(generic.load_schema_file(schema_path))
    stats = convert(source, ConvertOptions(output_dir=data_dir, shards=1, min_count=3,
                                           progress=False))
    assert stats["written"]["val"]["rows"] == n, stats
    return {"root": root, "data_dir": data_dir, "val_csv": paths["val"], "val_rows": n}


def raw_from_csv(schema: FeatureSchema, path: str, float32: bool = False) -> dict:
    """A client's view of CSV rows: values of the serving dtypes (blank int -> MISSING_INT,
    blank number -> NaN, strings verbatim; the domain verbatim)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw = {}
    for field in schema.fields:
        column = frame[field.name]
        if field.name == schema.domain_field or field.raw_dtype == "string":
            raw[field.name] = column.to_numpy(object)
        elif field.raw_dtype == "int64":
            raw[field.name] = np.asarray([int(float(v)) if v != "" else MISSING_INT
                                          for v in column], np.int64)
        else:
            values = np.asarray([float(v) if v != "" else np.nan for v in column], np.float64)
            raw[field.name] = values.astype(np.float32).astype(np.float64) if float32 else values
    return raw


def train_and_export(flat, model: str, root: str, verify: bool = True) -> tuple[str, str]:
    """Trains `model` a few steps with crocodile_tf.train.train and exports it; returns
    (model_dir, export path)."""
    from crocodile_tf.export import export as export_lib
    from crocodile_tf.train import train

    model_dir = os.path.join(root, "runs", model)
    train(tiny_config(model), flat["data_dir"], model_dir, verbose=0)
    path = export_lib.export_model(model_dir, os.path.join(root, "exports"),
                                   data_dir=flat["data_dir"], warmup_rows=16, verify=verify)
    return model_dir, path


def tiny_config(model: str) -> config_lib.TrainConfig:
    return config_lib.TrainConfig(model=model, model_config=TINY, batch_size=256, epochs=1,
                                  steps_per_epoch=5, checkpoint_every=5, log_every=5,
                                  eval_batch_size=4096, seed=1)


def keras_val_predictions(model, data_dir: str, schema: FeatureSchema):
    """(ids, probabilities) of the Keras model on the converter's val TFRecords, in file order."""
    from crocodile_tf.pipelines.input import make_dataset

    ids, probs = {n: [] for n in schema.field_names}, []
    for features, _ in make_dataset(data_dir, "val", 4096, shuffle=False, deterministic=True,
                                    schema=schema):
        for n in schema.field_names:
            ids[n].append(features[n].numpy())
        probs.append(model(features, training=False).numpy().reshape(-1))
    return {n: np.concatenate(v) for n, v in ids.items()}, np.concatenate(probs)


def canonical(domains) -> list[str]:
    """The converter's canonical domain strings."""
    from crocodile_tf.pipelines.vocab import canonical_domain_values
    return list(canonical_domain_values(np.asarray(list(domains), object)))
