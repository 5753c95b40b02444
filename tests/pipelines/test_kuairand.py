"""KuaiRand-1K converter on small hand-written raw files, and on synthetic raw files."""

import json
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import tensorflow as tf

import crocodile_tf  # noqa: F401
from crocodile_tf.features import FeatureSchema
from crocodile_tf.pipelines import conversion, kuairand, make_dataset, synthetic
from crocodile_tf.pipelines.convert import make_source


def read_split(out, split):
    rows = []
    for features, label in make_dataset(out, split, 1000, shuffle=False, deterministic=True):
        frame = pd.DataFrame({k: v.numpy() for k, v in features.items()})
        frame["label"] = label.numpy()
        rows.append(frame)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def write_raw(d, log_rows):
    """Raw KuaiRand files: the given log rows (both log files), 3 users, 2 videos."""
    os.makedirs(d, exist_ok=True)
    log = pd.DataFrame(log_rows)
    for c in kuairand.LOG_COLUMNS:
        if c not in log:
            log[c] = 0
    log = log[list(kuairand.LOG_COLUMNS)]
    first = log["date"] < 20220422
    log[first].to_csv(os.path.join(d, kuairand.LOG_FILES[0]), index=False)
    log[~first].to_csv(os.path.join(d, kuairand.LOG_FILES[1]), index=False)
    users = pd.DataFrame({c: [0, 1, 0] for c in kuairand.USER_COLUMNS})
    users["user_id"] = [1, 2, 3]
    users["user_active_degree"] = ["high_active", "UNKNOWN", "high_active"]
    users.to_csv(os.path.join(d, kuairand.USER_FILE), index=False)
    basic = pd.DataFrame({c: [1, 2] for c in kuairand.VIDEO_BASIC_COLUMNS})
    basic["video_id"] = [100, 101]
    basic["tag"] = ["5,6", "7"]
    basic.to_csv(os.path.join(d, kuairand.VIDEO_BASIC_FILE), index=False)
    stats = pd.DataFrame({c: [3.0, 4.0] for c in kuairand.VIDEO_STATISTIC_COLUMNS})
    stats["video_id"] = [100, 101]
    stats.to_csv(os.path.join(d, kuairand.VIDEO_STATISTIC_FILE), index=False)


def tempdir(test):
    path = tempfile.mkdtemp()
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


class KuaiRandHandCheckedTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        self = cls
        rows = []
        train_dates = [20220408, 20220409, 20220410]
        # Train: user 1 seen 10 times, user 2 nine times, user 3 eleven times.
        for user, times in ((1, 10), (2, 9), (3, 11)):
            for k in range(times):
                rows.append(dict(user_id=user, video_id=100, date=train_dates[k % 3],
                                 duration_ms=float(k + 1), is_click=k % 2, tab=1 + (k % 2)))
        rows.append(dict(user_id=1, video_id=101, date=20220409, duration_ms=1.0, is_click=0, tab=9))
        # Val (20220411) and test (last date, 20220425, in the second log file): user 2 appears
        # 5 more times, with huge durations that must not move the boundaries.
        for k in range(3):
            rows.append(dict(user_id=1, video_id=100, date=20220411, duration_ms=2.0, is_click=1, tab=1))
        for k in range(5):
            rows.append(dict(user_id=2, video_id=101, date=20220425, duration_ms=1e9, is_click=0, tab=2))
        self.rows = rows
        self.raw = os.path.join(cls.tmp, "raw")
        write_raw(self.raw, rows)
        self.out = os.path.join(cls.tmp, "out")
        self.stats = conversion.convert(
            make_source("kuairand1k", input_dir=self.raw, domains=["1", "2"]),
            conversion.ConvertOptions(self.out, split="chrono:1,1", min_count=10, num_buckets=4,
                                      shards=2, progress=False))
        self.schema = FeatureSchema.load(self.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_min_count_nine_vs_ten(self):
        lines = open(os.path.join(self.out, "vocab", "user_id.txt")).read().splitlines()
        self.assertEqual(lines, ["<default>", "1", "3"])        # user 2 (9 train rows) dropped
        test = read_split(self.out, "test")
        self.assertAllEqual(test["user_id"], [0] * 5)           # user 2 -> default id
        train = read_split(self.out, "train")
        self.assertCountEqual(np.unique(train["user_id"]), [0, 1, 2])

    def test_buckets_fitted_on_train_only(self):
        b = self.schema.field("duration_ms").boundaries
        self.assertLessEqual(max(b), 11.0)                     # train durations are 1..11
        test = read_split(self.out, "test")
        self.assertAllEqual(test["duration_ms"], [len(b) + 1] * 5)   # the top bucket

    def test_chronological_split_and_counts(self):
        self.assertEqual(self.stats["written"]["test"]["rows"], 5)
        self.assertEqual(self.stats["written"]["val"]["rows"], 3)
        self.assertEqual(self.stats["written"]["train"]["rows"], 30)
        self.assertEqual(self.stats["rows_filtered"], 1)            # the tab 9 row
        self.assertEqual(self.stats["filtered_values"]["domain not in the domain list"], {"9": 1})
        self.assertEqual(self.stats["rows_read"], self.stats["rows_written"]
                         + self.stats["rows_rejected"] + self.stats["rows_filtered"])
        self.assertEqual(self.schema.domains, ("1", "2"))
        self.assertEqual(len(self.stats["input_checksums_sha256"]), 5)
        saved = json.load(open(os.path.join(self.out, "stats.json")))
        self.assertEqual(saved["rows_read"], len(self.rows))

    def test_schema_and_join(self):
        s = self.schema
        self.assertEqual(s.label, "is_click")
        self.assertEqual((s.user_field, s.item_field, s.domain_field), ("user_id", "video_id", "tab"))
        self.assertEqual(s.field_names[-1], "tab")
        for leak in ("play_time_ms", "is_like", "long_view", "profile_stay_time"):
            self.assertNotIn(leak, s.field_names)
        self.assertEqual(s.field("user_active_degree").raw_dtype, "string")
        train = read_split(self.out, "train")
        # Joined user feature: high_active for users 1 and 3 (seen 21 times), UNKNOWN for user 2
        # (9 times -> default id).
        deg = open(os.path.join(self.out, "vocab", "user_active_degree.txt")).read().splitlines()
        self.assertEqual(deg, ["<default>", "high_active"])
        self.assertAllEqual(train["user_active_degree"] == 1, train["user_id"] != 0)


class KuaiRandSyntheticTest(tf.test.TestCase):

    def test_synthetic_round_trip(self):
        raw = tempdir(self)
        summary = synthetic.synth_kuairand(raw, 20_000, seed=3)
        for name in kuairand.LOG_FILES + (kuairand.USER_FILE, kuairand.VIDEO_BASIC_FILE,
                                          kuairand.VIDEO_STATISTIC_FILE):
            self.assertTrue(os.path.exists(os.path.join(raw, name)), name)
        header = open(os.path.join(raw, kuairand.LOG_FILES[0])).readline().strip().split(",")
        self.assertEqual(tuple(header), kuairand.LOG_COLUMNS)
        per_tab = summary["rows_per_tab"]
        self.assertGreater(per_tab[1], 10 * per_tab[6])        # paper imbalance: S1 >> S6
        out = tempdir(self)
        stats = conversion.convert(make_source("kuairand1k", input_dir=raw),
                                   conversion.ConvertOptions(out, progress=False, shards=2))
        self.assertEqual(stats["domains"], ["0", "1", "2", "4", "6"])   # rare tabs 3, 5 filtered
        self.assertEqual(stats["rows_filtered"], per_tab[3] + per_tab[5])
        schema = FeatureSchema.load(out)
        n = 0
        for features, label in make_dataset(out, "test", 512, shuffle=False):
            self.assertEqual(sorted(features), sorted(schema.field_names))
            for f in schema.fields:
                self.assertAllInRange(features[f.name], 0, f.vocab_size - 1)
            n += len(label)
        self.assertEqual(n, stats["written"]["test"]["rows"])
        last_dates = sorted(pd.concat([pd.read_csv(os.path.join(raw, f), usecols=["date"])
                                       for f in kuairand.LOG_FILES])["date"].unique())[-2:]
        self.assertGreater(n, 0)
        self.assertEqual(last_dates[-1], 20220508)
