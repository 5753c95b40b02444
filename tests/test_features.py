"""FeatureSchema: JSON round trip and clear errors on bad schemas."""

import json
import os

import tensorflow as tf
from absl.testing import parameterized

from crocodile_tf.features import Field, FeatureSchema, make_schema


def schema(**changes):
    base = dict(
        fields=(Field("user_id", 10), Field("item_id", 20), Field("tab", 3),
                Field("age", 5, kind="numeric", raw_dtype="float", boundaries=(1.0, 2.5, 7.0)),
                Field("city", 4, raw_dtype="string", vocabulary_file="vocab/city.txt")),
        label="is_click", domain_field="tab", domains=("0", "1", "4"),
        user_field="user_id", item_field="item_id", embedding_dim=8)
    base.update(changes)
    return FeatureSchema(**base)


class FeatureSchemaTest(tf.test.TestCase, parameterized.TestCase):

    def test_json_round_trip(self):
        original = schema(metadata={"dataset": "unit"})
        path = os.path.join(self.get_temp_dir(), "schema.json")
        original.save(path)
        loaded = FeatureSchema.load(self.get_temp_dir())
        self.assertEqual(loaded, original)
        self.assertEqual(loaded.metadata["dataset"], "unit")
        self.assertEqual(loaded.prior_fields, ("user_id", "item_id", "tab"))
        self.assertEqual(loaded.field("age").boundaries, (1.0, 2.5, 7.0))
        self.assertEqual(loaded.num_domains, 3)
        self.assertEqual(json.load(open(path))["fields"][3]["kind"], "numeric")

    def test_feature_spec_and_inputs(self):
        s = schema()
        spec = s.feature_spec()
        self.assertEqual(set(spec), {"ids", "is_click"})
        self.assertEqual(spec["ids"].shape, [5])
        self.assertEqual(spec["is_click"].dtype, tf.float32)
        features, label = s.unpack({"ids": tf.constant([[1, 2, 0, 3, 1]], tf.int64),
                                    "is_click": tf.constant([1.0])})
        self.assertEqual(list(features), list(s.field_names))
        self.assertAllEqual(features["age"], [3])
        self.assertAllEqual(label, [1.0])
        inputs = s.keras_inputs()
        self.assertEqual(inputs["tab"].dtype, tf.int64)

    @parameterized.parameters(
        (dict(prior_fields=("user_id", "gender")), "prior field 'gender'"),
        (dict(domains=()), "domains must not be empty"),
        (dict(domain_field="tabs"), "domain_field='tabs'"),
        (dict(domains=("0", "1")), "vocab_size 3 but 2 domains"),
        (dict(label="user_id"), "label 'user_id'"),
        (dict(embedding_dim=0), "embedding_dim"),
    )
    def test_bad_schema(self, changes, message):
        with self.assertRaisesRegex(ValueError, message):
            schema(**changes)

    @parameterized.parameters(
        (dict(name="x", vocab_size=0), "vocab_size"),
        (dict(name="x", vocab_size=3, kind="dense"), "kind"),
        (dict(name="x", vocab_size=3, raw_dtype="bytes"), "raw_dtype"),
        (dict(name="x", vocab_size=3, kind="numeric", boundaries=(2.0, 1.0)), "increasing"),
        (dict(name="x", vocab_size=3, kind="numeric", boundaries=(1.0, 2.0)), "vocab_size 4"),
    )
    def test_bad_field(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            Field(**kwargs)

    def test_bad_json_names_the_file(self):
        path = os.path.join(self.get_temp_dir(), "broken.json")
        with open(path, "w") as f:
            json.dump({"fields": [{"name": "a", "vocab_size": 2}], "label": "y"}, f)
        with self.assertRaisesRegex(ValueError, "broken.json.*missing keys"):
            FeatureSchema.load(path)
        with self.assertRaisesRegex(FileNotFoundError, "nowhere.json"):
            FeatureSchema.load(os.path.join(self.get_temp_dir(), "nowhere.json"))

    def test_make_schema_adds_domain_field(self):
        s = make_schema({"user_id": 5, "item_id": 6}, num_domains=2)
        self.assertEqual(s.field("domain").vocab_size, 2)
        self.assertEqual(s.domains, ("0", "1"))
        with self.assertRaisesRegex(ValueError, "num_domains"):
            make_schema({"user_id": 5, "item_id": 6})
