"""`Preprocessor`: the converter's raw value -> id mapping, inside the serving graph.

The exported model takes the raw values the converter reads and maps them to ids with the
converter's own fitted statistics, so training and serving cannot preprocess differently
(`crocodile_tf.pipelines.vocab` is the reference; each rule below restates one of its rules):

* categorical fields: the converter's `vocab/<field>.txt` (line i = raw value of id i) is a
  SavedModel asset read by a `StaticHashTable` (whole line -> line number). A value that is not
  in the vocabulary (unseen, below the converter's `min_count`, missing) gets the default id 0.
  int64 raw values are looked up by their decimal text (`str(int)`, the vocabulary's spelling);
  string values by their exact bytes (the converter keeps strings verbatim, never trimmed).
* numeric fields: id 0 for NaN (missing), else `1 + #(boundaries <= v)` computed in float64 with
  the converter's boundaries (`searchsorted(side="right")`), so a value equal to a boundary goes
  to the upper bucket exactly as in the converter.
* the domain field: the raw value is canonicalized like `canonical_domain_values` (surrounding
  whitespace stripped; a number with an integral value written as that integer, "1.0" -> "1")
  and mapped to its index in `schema.domains`. A value outside the trained domains is an error
  (InvalidArgument naming the allowed values): there is no default domain to fall back to.

Missing values (the tf.Example signatures, where a feature may be absent) get id 0 like the
converter's missing cells; the domain must always be present.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import tensorflow as tf

from crocodile_tf.features import CATEGORICAL, NUMERIC, FeatureSchema, Field
from crocodile_tf.pipelines import vocab as vocab_lib

# Serving dtype of each raw dtype. Numbers are float64: the converter bucketizes float64 values,
# and a float32 value can fall on the other side of a boundary that lies within its rounding.
SERVING_DTYPES = {"int64": tf.int64, "float": tf.float64, "string": tf.string}
# tf.Example has no float64 list: the Example signatures read float_list (float32) values, which
# are then bucketized exactly as the converter bucketizes that (float32-representable) number.
EXAMPLE_DTYPES = {"int64": tf.int64, "float": tf.float32, "string": tf.string}

# Numbers pandas' to_numeric reads, restricted to what a domain column holds (decimal notation,
# optional exponent); anything else is compared as the stripped string.
_NUMBER_RE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"


def serving_dtype(field: Field, schema: FeatureSchema) -> tf.DType:
    if field.name == schema.domain_field:
        return tf.string
    return SERVING_DTYPES[field.raw_dtype]


def example_dtype(field: Field, schema: FeatureSchema) -> tf.DType:
    if field.name == schema.domain_field:
        return tf.string
    return EXAMPLE_DTYPES[field.raw_dtype]


def vocabulary_path(schema: FeatureSchema, field: Field, schema_dir: str) -> str:
    if not field.vocabulary_file:
        raise ValueError(f"Field {field.name!r} is categorical but the schema names no "
                         "vocabulary_file; re-convert the data with crocodile-convert.")
    return os.path.join(schema_dir, field.vocabulary_file)


def read_vocabulary(path: str, field: Field) -> list[str]:
    """The vocabulary lines, checked against the schema and against the lookup's assumptions."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Field {field.name!r}: vocabulary file {path} is missing (the "
                                "model_dir should hold the converter's vocab/ directory).")
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if len(lines) != field.vocab_size:
        raise ValueError(f"{path}: {len(lines)} lines but field {field.name!r} has vocab_size "
                         f"{field.vocab_size} in the schema.")
    values = lines[1:]
    if len(set(values)) != len(values):
        raise ValueError(f"{path}: duplicate vocabulary entries; a whole-line lookup needs "
                         "distinct values.")
    if vocab_lib.PLACEHOLDER in values or "" in values:
        bad = vocab_lib.PLACEHOLDER if vocab_lib.PLACEHOLDER in values else ""
        raise ValueError(f"{path}: the raw value {bad!r} is a vocabulary entry, but the lookup "
                         f"reserves it for the default id 0 (line 0 is {vocab_lib.PLACEHOLDER!r}, "
                         "and empty cells are missing values for the converter).")
    if any(v.endswith("\r") for v in lines):
        raise ValueError(f"{path}: a line ends with a carriage return; the lookup reads lines "
                         "without it.")
    if field.raw_dtype == "int64":
        try:
            for v in values:
                if str(int(v)) != v:
                    raise ValueError(v)
        except ValueError as e:
            raise ValueError(f"{path}: int64 field {field.name!r} has the non-canonical entry "
                             f"{e.args[0]!r}.") from None
    return lines


def canonical_domain(values: tf.Tensor) -> tf.Tensor:
    """In-graph `vocab.canonical_domain_values` for string inputs."""
    stripped = tf.strings.strip(values)
    is_number = tf.strings.regex_full_match(stripped, _NUMBER_RE)
    number = tf.strings.to_number(tf.where(is_number, stripped, "0"), out_type=tf.float64)
    integral = is_number & tf.math.is_finite(number) & tf.equal(number, tf.floor(number)) & \
        (tf.abs(number) < 2.0 ** 63)
    as_int = tf.strings.as_string(tf.cast(tf.where(integral, number, 0.0), tf.int64))
    return tf.where(integral, as_int, stripped)


class Preprocessor(tf.Module):
    """Maps a dict of raw feature tensors [B] to the model's dict of int64 ids [B].

    Args:
      schema: the trained model's feature schema.
      schema_dir: the directory the schema's vocabulary files are relative to (the model_dir).
    """

    def __init__(self, schema: FeatureSchema, schema_dir: str, name: str = "preprocessor"):
        super().__init__(name=name)
        self._schema = schema
        self._fields = schema.fields
        self.tables = {}
        self.vocabularies = {}
        for field in schema.fields:
            if field.name == schema.domain_field or field.kind != CATEGORICAL:
                continue
            path = vocabulary_path(schema, field, schema_dir)
            read_vocabulary(path, field)
            asset = tf.saved_model.Asset(path)
            self.vocabularies[field.name] = asset
            init = tf.lookup.TextFileInitializer(
                asset, key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                vocab_size=field.vocab_size)
            self.tables[field.name] = tf.lookup.StaticHashTable(init, default_value=0)
        domains = list(schema.domains)
        self.domain_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(domains, tf.string),
                                                tf.range(len(domains), dtype=tf.int64)),
            default_value=-1)
        # No quotes in the message: TF's assertion text escapes them.
        self._domain_message = (
            f"Domain field {schema.domain_field}: value not among the trained domains; allowed "
            f"values are [{', '.join(domains)}] (numbers may be written as 1 or 1.0). Got:")

    def field_ids(self, field: Field, values: tf.Tensor) -> tf.Tensor:
        name = field.name
        if name == self._schema.domain_field:
            raw = canonical_domain(values)
            ids = self.domain_table.lookup(raw)
            check = tf.debugging.Assert(tf.reduce_all(ids >= 0),
                                        [self._domain_message, tf.boolean_mask(values, ids < 0)],
                                        summarize=10, name="check_domain")
            with tf.control_dependencies([check]):
                return tf.identity(ids)
        if field.kind == NUMERIC:
            values = tf.cast(values, tf.float64)
            boundaries = tf.constant(np.asarray(field.boundaries or (), np.float64), tf.float64)
            if boundaries.shape[0] == 0:
                bucket = tf.zeros_like(values, tf.int64)
            else:
                bucket = tf.searchsorted(boundaries, values, side="right", out_type=tf.int64)
            return tf.where(tf.math.is_nan(values), tf.zeros_like(bucket), bucket + 1)
        keys = tf.strings.as_string(values) if values.dtype == tf.int64 else values
        return self.tables[name].lookup(keys)

    def __call__(self, raw: Mapping[str, tf.Tensor],
                 present: Mapping[str, tf.Tensor] | None = None) -> dict[str, tf.Tensor]:
        """Raw values -> ids. `present` (optional bool [B] per field): False = missing -> id 0."""
        ids = {}
        for field in self._fields:
            with tf.name_scope(field.name):
                out = self.field_ids(field, raw[field.name])
                if present is not None and field.name in present and \
                        field.name != self._schema.domain_field:
                    out = tf.where(present[field.name], out, tf.zeros_like(out))
                ids[field.name] = out
        return ids


# --- the inverse, for warmup requests and tests --------------------------------------------

def raw_values_for_ids(schema: FeatureSchema, schema_dir: str,
                       ids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw serving values that the converter (and the Preprocessor) map back to `ids`.

    Categorical id i > 0 -> its vocabulary value; id 0 -> a value outside the vocabulary (-1 or
    below the smallest int64 entry; "" for strings). Numeric id 0 -> NaN; id k >= 1 -> a value
    of bucket k that float32 represents exactly when one exists (so the tf.Example signatures,
    which carry float32, see the same bucket). Domain id s -> schema.domains[s].
    """
    out = {}
    for field in schema.fields:
        x = np.asarray(ids[field.name], np.int64)
        if field.name == schema.domain_field:
            out[field.name] = np.asarray(schema.domains, object)[x].astype(object)
        elif field.kind == NUMERIC:
            out[field.name] = bucket_representatives(np.asarray(field.boundaries or (),
                                                                np.float64))[x]
        else:
            lines = read_vocabulary(vocabulary_path(schema, field, schema_dir), field)
            if field.raw_dtype == "int64":
                entries = [int(v) for v in lines[1:]]
                missing = -1 if -1 not in set(entries) else min(entries) - 1
                table = np.asarray([missing] + entries, np.int64)
            else:
                table = np.asarray([""] + lines[1:], object)
            out[field.name] = table[x]
    return out


def bucket_representatives(boundaries: np.ndarray) -> np.ndarray:
    """Value per numeric id (index = id): NaN, then one value inside each bucket."""
    reps = [np.nan]
    edges = [-np.inf] + list(boundaries) + [np.inf]
    for lo, hi in zip(edges[:-1], edges[1:]):
        if np.isinf(lo) and np.isinf(hi):
            reps.append(0.0)
            continue
        if np.isinf(lo):
            start = np.float64(np.float32(hi))
            while start >= hi:
                start = np.float64(np.nextafter(np.float32(start), np.float32(-np.inf)))
            reps.append(start)
            continue
        value = np.float64(np.float32(lo))
        if value < lo:
            value = np.float64(np.nextafter(np.float32(value), np.float32(np.inf)))
        reps.append(value if value < hi else lo)
    return np.asarray(reps, np.float64)


def converter_ids(schema: FeatureSchema, schema_dir: str,
                  raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The converter's own mapping of raw values to ids (`pipelines.vocab`, run in numpy): the
    reference the in-graph Preprocessor is checked against. Domains outside the schema get -1."""
    ids = {}
    for field in schema.fields:
        values = raw[field.name]
        if field.name == schema.domain_field:
            canonical = vocab_lib.canonical_domain_values(
                np.asarray([v.decode() if isinstance(v, bytes) else v for v in values], object))
            ids[field.name] = vocab_lib.DomainMapper(schema.domains).transform(canonical)
            continue
        spec = vocab_lib.ColumnSpec(field.name, field.kind,
                                    "float" if field.kind == NUMERIC else field.raw_dtype)
        if field.kind == NUMERIC:
            column = vocab_lib.FittedColumn(spec, boundaries=np.asarray(field.boundaries or (),
                                                                        np.float64))
        else:
            lines = read_vocabulary(vocabulary_path(schema, field, schema_dir), field)[1:]
            vocabulary = (np.asarray([int(v) for v in lines], np.int64)
                          if field.raw_dtype == "int64" else np.asarray(lines, object))
            column = vocab_lib.FittedColumn(spec, vocabulary=vocabulary)
            if field.raw_dtype == "string":
                values = np.asarray([v.decode() if isinstance(v, bytes) else v for v in values],
                                    object)
                values = np.where(values == "", None, values)   # an empty cell is missing
        ids[field.name] = column.transform(values)
    return ids
