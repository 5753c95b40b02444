"""`ServingModule`: the trained Keras model behind the `Preprocessor`, with three signatures.

* `serving_default` — one named raw tensor [B] per schema field (int64 / float64 / string per the
  field's raw dtype; the domain is a string), output `ctr`: own-domain click probability [B, 1].
* `predict_examples` — input `examples`: serialized tf.Example strings [B] holding the RAW
  values (int64_list / float_list / bytes_list per field; a missing feature is a missing value),
  output `ctr` [B, 1].
* `classify` — TF Serving's Classify API: input `inputs` (serialized tf.Example [B]), outputs
  `scores` float32 [B, 2] = (1 - ctr, ctr) and `classes` string [B, 2] = ("0", "1"). Its
  SignatureDef's method name is set to `tensorflow/serving/classify` after saving
  (`set_classify_method`), because `tf.saved_model.save` writes every signature as predict.

Only the weights are exported (the module tracks the Keras model's variables, not the Keras
object), so no optimizer slot, no Keras training state and no training-only layer output (CovLoss
is computed only with training=True) reaches the SavedModel. No op is pinned to a device: TF
Serving places the model on the GPU and the lookups on the CPU.
"""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.export.preprocess import Preprocessor, example_dtype, serving_dtype

SERVING_DEFAULT = "serving_default"
PREDICT_EXAMPLES = "predict_examples"
CLASSIFY = "classify"
SIGNATURES = (SERVING_DEFAULT, PREDICT_EXAMPLES, CLASSIFY)
OUTPUT = "ctr"
EXAMPLES_INPUT = "examples"
CLASSIFY_INPUT = "inputs"
CLASSIFY_METHOD = "tensorflow/serving/classify"


class ServingModule(tf.Module):
    """Raw features -> Preprocessor -> Keras model (inference mode) -> probability."""

    def __init__(self, model: tf_keras.Model, schema: FeatureSchema, schema_dir: str):
        super().__init__(name="crocodile_serving")
        self.preprocessor = Preprocessor(schema, schema_dir)
        # Track the weights only; the Keras object (and anything it holds) stays out of the export.
        self.model_variables = list(model.variables)
        self._schema = schema
        names = schema.field_names
        call_model = model.__call__

        def predict_ids(ids):
            return tf.cast(call_model({n: ids[n] for n in names}, training=False), tf.float32)

        # Traced once and called by the three signatures (one copy of the model graph).
        self._predict_ids = tf.function(predict_ids, autograph=False, input_signature=[
            {n: tf.TensorSpec([None], tf.int64, name=n) for n in names}])
        self.raw_specs = {f.name: tf.TensorSpec([None], serving_dtype(f, schema), name=f.name)
                          for f in schema.fields}
        self.example_spec = {
            f.name: tf.io.RaggedFeature(example_dtype(f, schema), row_splits_dtype=tf.int64)
            for f in schema.fields}

        self.serve = tf.function(self._serve, autograph=False, input_signature=[self.raw_specs])
        self.predict_examples = tf.function(
            self._predict_examples, autograph=False,
            input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
        self.classify = tf.function(
            self._classify, autograph=False,
            input_signature=[tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT)])

    # --- signature bodies ------------------------------------------------------------------
    def _serve(self, features):
        return {OUTPUT: self._predict_ids(self.preprocessor(features))}

    def _parse(self, serialized):
        parsed = tf.io.parse_example(serialized, self.example_spec)
        raw, present = {}, {}
        for field in self._schema.fields:
            ragged = parsed[field.name]
            lengths = ragged.row_lengths()
            check = tf.debugging.Assert(
                tf.reduce_all(lengths <= 1),
                [f"tf.Example feature {field.name} must hold at most one value per example."],
                name=f"check_{field.name}")
            dtype = example_dtype(field, self._schema)
            fill = {tf.int64: tf.constant(0, tf.int64), tf.float32: tf.constant(float("nan")),
                    tf.string: tf.constant("")}[dtype]
            with tf.control_dependencies([check]):
                dense = ragged.to_tensor(default_value=fill, shape=[None, 1])[:, 0]
            raw[field.name] = dense
            present[field.name] = lengths > 0
        return raw, present

    def _predict_examples(self, examples):
        raw, present = self._parse(examples)
        return {OUTPUT: self._predict_ids(self.preprocessor(raw, present))}

    def _classify(self, inputs):
        raw, present = self._parse(inputs)
        p = self._predict_ids(self.preprocessor(raw, present))
        scores = tf.concat([1.0 - p, p], axis=1)
        classes = tf.tile(tf.constant([["0", "1"]]), [tf.shape(p)[0], 1])
        return {"scores": scores, "classes": classes}

    def signatures(self) -> dict:
        return {
            SERVING_DEFAULT: self.serve.get_concrete_function(),
            PREDICT_EXAMPLES: self.predict_examples.get_concrete_function(),
            CLASSIFY: self.classify.get_concrete_function(),
        }


def set_classify_method(export_path: str, signature: str = CLASSIFY) -> None:
    """Marks `signature` as a Classify signature in saved_model.pb (TF Serving checks the method
    name in its Classify API; tf.saved_model.save only writes predict signatures)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_path, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved.ParseFromString(f.read())
    for meta in saved.meta_graphs:
        if signature in meta.signature_def:
            meta.signature_def[signature].method_name = CLASSIFY_METHOD
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved.SerializeToString())
