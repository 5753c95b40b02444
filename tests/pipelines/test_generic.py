"""Generic CSV/Parquet converter, bad input handling, and the shared real samples."""

import json
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import tensorflow as tf
from absl.testing import parameterized

import crocodile_tf  # noqa: F401
from crocodile_tf.features import FeatureSchema
from crocodile_tf.pipelines import ConversionError, conversion, make_dataset
from crocodile_tf.pipelines.convert import make_source

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
SAMPLE_SCHEMA = os.path.join(REPO, "pipelines", "schemas", "kuairand_preprocessed.json")


def tempdir(test):
    path = tempfile.mkdtemp()
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def read_all(out, split, **kwargs):
    parts = []
    for features, label in make_dataset(out, split, 256, shuffle=False, deterministic=True, **kwargs):
        frame = pd.DataFrame({k: v.numpy() for k, v in features.items()})
        frame["__label"] = label.numpy()
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def decode(out, frame, schema):
    """Ids -> raw values through the written vocabularies (categorical) / bucket ids (numeric)."""
    decoded = {}
    for f in schema.fields:
        if f.name == schema.domain_field:
            decoded[f.name] = [schema.domains[i] for i in frame[f.name]]
        elif f.kind == "categorical":
            lines = open(os.path.join(out, f.vocabulary_file)).read().splitlines()
            decoded[f.name] = [lines[i] for i in frame[f.name]]
        else:
            decoded[f.name] = list(frame[f.name])
    decoded[schema.label] = list(frame["__label"])
    return pd.DataFrame(decoded)


def write_schema(d, **overrides):
    config = {"label": "click", "domain": "scene", "user": "uid", "item": "iid",
              "categorical": ["uid", "iid", {"name": "city", "dtype": "string"}],
              "numeric": ["price"]}
    config.update(overrides)
    path = os.path.join(d, "schema.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def source_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "uid": rng.integers(0, 20, n), "iid": rng.integers(100, 130, n),
        "city": rng.choice(["paris", "rome", "oslo"], n),
        "price": np.round(rng.uniform(0, 100, n), 2),
        "scene": rng.choice(["a", "b"], n, p=[0.7, 0.3]),
        "click": rng.integers(0, 2, n)})


class GenericConverterTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters("csv", "parquet")
    def test_round_trip_equals_source(self, fmt):
        d = tempdir(self)
        src = source_frame()
        path = os.path.join(d, f"log.{fmt}")
        src.to_csv(path, index=False) if fmt == "csv" else src.to_parquet(path, index=False)
        out = os.path.join(d, "out")
        stats = conversion.convert(
            make_source("generic", inputs=[path], schema=write_schema(d)),
            conversion.ConvertOptions(out, split="random:0.2,0.2", min_count=1, shards=3,
                                      progress=False))
        schema = FeatureSchema.load(out)
        self.assertEqual(schema.field_names, ("uid", "iid", "city", "price", "scene"))
        self.assertEqual(schema.field("uid").raw_dtype, "int64")
        self.assertEqual(schema.domains, ("a", "b"))
        got = pd.concat([decode(out, read_all(out, s), schema) for s in ("train", "val", "test")])
        self.assertEqual(len(got), len(src))
        self.assertEqual(stats["rows_read"], stats["rows_written"])
        expected = src.copy()
        expected["uid"] = expected["uid"].astype(str)
        expected["iid"] = expected["iid"].astype(str)
        expected["price"] = np.searchsorted(schema.field("price").boundaries, src["price"],
                                            side="right") + 1
        expected["click"] = expected["click"].astype(np.float32)
        cols = list(schema.field_names) + ["click"]
        key = lambda f: f[cols].astype(str).sort_values(cols).reset_index(drop=True)  # noqa: E731
        pd.testing.assert_frame_equal(key(got), key(expected))

    def test_malformed_rows_go_to_rejects_with_line_numbers(self):
        d = tempdir(self)
        path = os.path.join(d, "log.csv")
        lines = ["uid,iid,city,price,scene,click"]
        lines += [f"{i % 3},{100 + i % 2},paris,{i}.5,a,{i % 2}" for i in range(30)]
        lines[4] = "1,100,paris,2.0,a"                # line 5: wrong field count
        lines[7] = "1,100,paris,abc,a,1"              # line 8: non-numeric price
        lines[10] = "1,100,paris,3.0,a,2"             # line 11: bad label
        lines[12] = "1,100,paris,3.0,zz,1"            # line 13: unknown domain -> filtered
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        out = os.path.join(d, "out")
        schema_path = write_schema(d, domains=["a"])
        stats = conversion.convert(
            make_source("generic", inputs=[path], schema=schema_path),
            conversion.ConvertOptions(out, min_count=1, progress=False, max_reject_fraction=0.2))
        rejects = pd.read_csv(os.path.join(out, "rejects.csv"))
        self.assertEqual(list(rejects["line"]), [5, 8, 11])
        self.assertEqual(set(rejects["file"]), {path})
        self.assertRegex(rejects["reason"][0], "wrong field count: expected 6 fields, got 5")
        self.assertRegex(rejects["reason"][1], "non-numeric value: column 'price'")
        self.assertRegex(rejects["reason"][2], "bad label: column 'click' must be 0 or 1")
        self.assertEqual(stats["rows_read"], 30)
        self.assertEqual(stats["rows_rejected"], 3)
        self.assertEqual(stats["rows_filtered"], 1)
        self.assertEqual(stats["rows_written"], 26)
        self.assertEqual(stats["rejected_by_reason"]["bad label"], 1)
        with self.assertRaisesRegex(ConversionError, "3 of 30 rows were rejected.*rejects.csv"):
            conversion.convert(make_source("generic", inputs=[path], schema=schema_path),
                               conversion.ConvertOptions(out, progress=False))

    def test_missing_file_and_column(self):
        d = tempdir(self)
        with self.assertRaisesRegex(FileNotFoundError, "nope.csv: no such file"):
            make_source("generic", inputs=[os.path.join(d, "nope.csv")], schema=write_schema(d))
        path = os.path.join(d, "log.csv")
        source_frame().drop(columns=["price"]).to_csv(path, index=False)
        with self.assertRaisesRegex(ValueError, "log.csv: missing column 'price'"):
            conversion.convert(make_source("generic", inputs=[path], schema=write_schema(d)),
                               conversion.ConvertOptions(os.path.join(d, "o"), progress=False))
        with self.assertRaisesRegex(ValueError, "unknown schema keys"):
            make_source("generic", inputs=[path], schema=write_schema(d, colour=1))
        with self.assertRaisesRegex(ValueError, "--split=chrono:1,1: .*no time column"):
            conversion.convert(make_source("generic", inputs=[path], schema=write_schema(d)),
                               conversion.ConvertOptions(os.path.join(d, "o"), split="chrono:1,1",
                                                         progress=False))

    def test_domain_filter_in_make_dataset(self):
        d = tempdir(self)
        path = os.path.join(d, "log.csv")
        src = source_frame(500)
        src.to_csv(path, index=False)
        out = os.path.join(d, "out")
        stats = conversion.convert(make_source("generic", inputs=[path], schema=write_schema(d)),
                                   conversion.ConvertOptions(out, progress=False, shards=2))
        b = read_all(out, "train", domains=["b"])
        self.assertLen(b, stats["written"]["train"]["per_domain"]["b"])
        self.assertAllEqual(b["scene"], np.ones(len(b)))
        both = read_all(out, "train", domains=[0, 1])
        self.assertLen(both, stats["written"]["train"]["rows"])
        with self.assertRaisesRegex(ValueError, "Unknown domain 'c'"):
            make_dataset(out, "train", 8, domains=["c"])
        # Two input pipelines split the records between them, no overlap, no loss.
        seen = 0
        for pid in range(2):
            ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid,
                                             num_replicas_in_sync=2)
            for _, y in make_dataset(out, "train", 64, ctx, shuffle=False):
                self.assertLessEqual(len(y), 32)
                seen += len(y)
        self.assertEqual(seen, stats["written"]["train"]["rows"])


class SharedSamplesTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        if not os.path.isdir(SHARED):
            self.skipTest(f"shared data samples not found at {SHARED} (../shared is absent)")

    def test_aliccp_preprocessed_sample(self):
        out = tempdir(self)
        stats = conversion.convert(
            make_source("aliccp_csv", input_dir=os.path.join(SHARED, "aliccp")),
            conversion.ConvertOptions(out, min_count=1, progress=False, shards=1))
        self.assertEqual(stats["domains"], ["1", "2", "3"])
        self.assertEqual(stats["written"]["train"]["per_domain"], {"1": 69, "2": 19, "3": 12})
        self.assertEqual(stats["written"]["val"]["rows"], 50)
        self.assertEqual(stats["written"]["test"]["rows"], 50)
        schema = FeatureSchema.load(out)
        self.assertEqual((schema.label, schema.domain_field, schema.user_field, schema.item_field),
                         ("click", "301", "101", "205"))
        src = pd.read_csv(os.path.join(SHARED, "aliccp", "ali_ccp_test_sample.csv"))
        got = decode(out, read_all(out, "test"), schema)
        self.assertEqual(sorted(got["click"]), sorted(src["click"].astype(float)))
        known = set(open(os.path.join(out, "vocab", "206.txt")).read().splitlines()[1:])
        expected_206 = sorted(str(v) if str(v) in known else "<default>" for v in src["206"])
        self.assertEqual(sorted(got["206"]), expected_206)

    def test_kuairand_preprocessed_sample_with_generic_schema(self):
        out = tempdir(self)
        stats = conversion.convert(
            make_source("generic", inputs=[os.path.join(SHARED, "kuairand", "kuairand_sample.csv")],
                        schema=SAMPLE_SCHEMA),
            conversion.ConvertOptions(out, min_count=1, progress=False, shards=1))
        self.assertEqual(stats["rows_read"], 200)
        self.assertEqual(stats["rows_written"], 200)
        self.assertEqual(stats["domains"], ["1"])
        schema = FeatureSchema.load(out)
        self.assertNotIn("play_time_ms", schema.field_names)
        n = sum(len(y) for s in ("train", "val", "test")
                for _, y in make_dataset(out, s, 64, shuffle=False))
        self.assertEqual(n, 200)
