"""Preprocessor vs the converter's own mapping (pipelines.vocab), on hand-made vocabularies."""

import os

import numpy as np
import pytest
import tensorflow as tf

from crocodile_tf.export import next_version
from crocodile_tf.export.preprocess import (Preprocessor, bucket_representatives, canonical_domain,
                                            converter_ids, raw_values_for_ids, read_vocabulary)
from crocodile_tf.features import FeatureSchema, Field
from crocodile_tf.pipelines.vocab import canonical_domain_values


def make_schema(tmp_path, strings=("NA", "a b", " padded", "x,y", "é"), ints=(-3, 0, 7, 10**12)):
    vocab = tmp_path / "vocab"
    vocab.mkdir(exist_ok=True)
    (vocab / "city.txt").write_text("\n".join(["<default>", *strings]) + "\n", encoding="utf-8")
    (vocab / "user.txt").write_text("\n".join(["<default>", *map(str, ints)]) + "\n")
    fields = (Field("user", len(ints) + 1, vocabulary_file="vocab/user.txt"),
              Field("city", len(strings) + 1, raw_dtype="string", vocabulary_file="vocab/city.txt"),
              Field("price", 5, kind="numeric", raw_dtype="float", boundaries=(0.1, 1.0, 2.5)),
              Field("tab", 3, raw_dtype="string"))
    schema = FeatureSchema(fields=fields, label="y", domain_field="tab", domains=("1", "2", "x"),
                           user_field="user", item_field="city")
    schema.save(str(tmp_path / "schema.json"))
    return FeatureSchema.load(str(tmp_path))


def run(pre, raw):
    return {k: v.numpy() for k, v in pre({k: tf.constant(v) for k, v in raw.items()}).items()}


def test_ids_match_hand_values_and_the_converter(tmp_path):
    schema = make_schema(tmp_path)
    raw = {"user": np.array([-3, 0, 7, 10**12, 5, -1], np.int64),
           "city": np.array(["NA", "a b", " padded", "x,y", "é", "padded"], object),
           "price": np.array([0.1, 0.0999999, np.nan, 2.5, np.inf, -np.inf]),
           "tab": np.array(["1", " 2 ", "1.0", "x", "2e0", "+1"], object)}
    got = run(Preprocessor(schema, str(tmp_path)), raw)
    np.testing.assert_array_equal(got["user"], [1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(got["city"], [1, 2, 3, 4, 5, 0])
    np.testing.assert_array_equal(got["price"], [2, 1, 0, 4, 4, 1])
    np.testing.assert_array_equal(got["tab"], [0, 1, 0, 2, 1, 0])
    reference = converter_ids(schema, str(tmp_path), raw)
    for name in schema.field_names:
        np.testing.assert_array_equal(got[name], reference[name], err_msg=name)


@pytest.mark.parametrize("values", [
    ["1", "1.0", " 1 ", "01", "1.5", "1.50", "-2", "+3", "3e0", ".5", "abc", " x ", "", "1e3",
     "2.000", "0", "-0", "-0.0", "7."]])
def test_domain_canonicalization_matches_the_converter(values):
    got = [v.decode() for v in canonical_domain(tf.constant(values)).numpy()]
    assert got == list(canonical_domain_values(np.asarray(values, object)))


def test_out_of_range_domain_names_the_allowed_values(tmp_path):
    schema = make_schema(tmp_path)
    pre = Preprocessor(schema, str(tmp_path))
    raw = {"user": np.array([7], np.int64), "city": np.array(["NA"], object),
           "price": np.array([1.0]), "tab": np.array(["3"], object)}
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"allowed values are \[1, 2, x\]"):
        run(pre, raw)


def test_vocabulary_checks(tmp_path):
    schema = make_schema(tmp_path, strings=("a", "<default>"))
    with pytest.raises(ValueError, match="reserves it for the default id"):
        Preprocessor(schema, str(tmp_path))
    field = Field("user", 9, vocabulary_file="vocab/user.txt")
    with pytest.raises(ValueError, match="5 lines but field 'user' has vocab_size 9"):
        read_vocabulary(str(tmp_path / "vocab" / "user.txt"), field)
    os.remove(tmp_path / "vocab" / "user.txt")
    with pytest.raises(FileNotFoundError, match="vocabulary file .*user.txt is missing"):
        read_vocabulary(str(tmp_path / "vocab" / "user.txt"), field)


def test_raw_values_for_ids_round_trip(tmp_path):
    schema = make_schema(tmp_path)
    ids = {"user": np.array([0, 1, 4, 2]), "city": np.array([0, 5, 1, 3]),
           "price": np.array([0, 1, 2, 4]), "tab": np.array([0, 1, 2, 2])}
    raw = raw_values_for_ids(schema, str(tmp_path), ids)
    got = run(Preprocessor(schema, str(tmp_path)), raw)
    for name in schema.field_names:
        np.testing.assert_array_equal(got[name], ids[name], err_msg=name)
    reps = bucket_representatives(np.array([0.1, 1.0, 2.5]))
    assert np.isnan(reps[0]) and reps[1] < 0.1 and 0.1 <= reps[2] < 1.0 and reps[4] >= 2.5
    assert all(np.float32(r) == r for r in reps[1:])       # exact in float32 tf.Examples


def test_next_version(tmp_path):
    assert next_version(str(tmp_path / "missing")) == 1
    for d in ("1", "3", "tmp", ".tmp-9-1", "10x"):
        (tmp_path / d).mkdir()
    assert next_version(str(tmp_path)) == 4
