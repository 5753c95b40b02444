"""Ali-CCP raw converter on synthetic raw files."""

import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import tensorflow as tf

import crocodile_tf  # noqa: F401
from crocodile_tf.features import FeatureSchema
from crocodile_tf.pipelines import aliccp, conversion, make_dataset, synthetic
from crocodile_tf.pipelines.convert import make_source


class AliCCPRawTest(tf.test.TestCase):

    def test_parse_feature_lists(self):
        import pyarrow as pa
        lists = pa.array(["205\x0211\x031.0\x01301\x029\x031\x01508\x025\x030.5\x01508\x026\x030.7",
                          "205\x0212\x031.0", "garbage"])
        cols, n = aliccp.parse_feature_lists(lists, ("205", "301", "508"), ("508",))
        self.assertAllEqual(n, [4, 1, -1])
        self.assertAllEqual(cols["205"][:2], [11, 12])
        self.assertAllEqual(cols["508"][:1], [5])            # the first item of the field
        self.assertAllClose(cols["D508"][:1], [0.5])
        self.assertTrue(np.isnan(cols["301"][1]))

    def test_synthetic_raw_round_trip_with_a_bad_row(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        summary = synthetic.synth_aliccp(d, 5000, seed=1)
        path = os.path.join(d, aliccp.SKELETON_FILES[aliccp.TRAIN])
        with open(path, "a") as f:
            f.write("999999,1,0,deadbeef,3,205\x021\x031.0\n")   # feature_num says 3, has 1
        out = os.path.join(d, "out")
        stats = conversion.convert(make_source("aliccp", input_dir=d),
                                   conversion.ConvertOptions(out, progress=False, shards=2,
                                                             max_reject_fraction=0.01))
        self.assertEqual(stats["rows_read"], 5001)
        self.assertEqual(stats["rows_rejected"], 1)
        rejects = pd.read_csv(os.path.join(out, "rejects.csv"))
        self.assertRegex(rejects["reason"][0], "feature_num says 3, feature_list has 1")
        train_lines = sum(1 for _ in open(path))
        self.assertEqual(rejects["line"][0], train_lines)
        self.assertEqual(stats["domains"], sorted(summary["rows_per_domain"]))
        schema = FeatureSchema.load(out)
        self.assertEqual(schema.domain_field, "301")
        self.assertIn("D109_14", schema.field_names)
        self.assertIn("101", schema.field_names)
        # Every user of the skeleton joins its common features: the user id is never missing
        # for rows of users seen >= 10 times.
        batch, _ = next(iter(make_dataset(out, "train", 4096, shuffle=False)))
        self.assertGreater(np.mean(batch["101"].numpy() > 0), 0.5)
        self.assertGreater(stats["written"]["val"]["rows"], 0)
        self.assertEqual(stats["rows_without_join_match"], {})
