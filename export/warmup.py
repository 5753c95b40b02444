"""Warmup requests (`assets.extra/tf_serving_warmup_requests`) and request builders.

TF Serving replays the PredictionLog records of that file when it loads a version, so the first
real request does not pay for graph optimisation and table initialisation. The records are built
from real validation rows of the converted data: their ids are turned back into raw values that
map to the same ids (`raw_values_for_ids`), so the requests carry raw values like a client does.
Each record also stores the response the export computed, which lets tests (and users) replay the
file against a loaded model and compare.

The same builders make the client-side requests of the README (gRPC PredictRequest /
ClassificationRequest from raw values).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, input_pb2, model_pb2, predict_pb2,
                                     prediction_log_pb2)

from crocodile_tf.features import NUMERIC, FeatureSchema
from crocodile_tf.export import signatures as sig
from crocodile_tf.export.preprocess import serving_dtype

WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH_SIZES = (1, 8, 64)


def _rows(raw: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(raw.values())))


def _slice(raw: Mapping[str, np.ndarray], lo: int, hi: int) -> dict[str, np.ndarray]:
    return {k: v[lo:hi] for k, v in raw.items()}


def serving_arrays(schema: FeatureSchema, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw values as numpy arrays of the `serving_default` dtypes."""
    out = {}
    for field in schema.fields:
        dtype = serving_dtype(field, schema)
        values = np.asarray(raw[field.name])
        if dtype == tf.string:
            out[field.name] = np.asarray([v if isinstance(v, bytes) else str(v).encode("utf-8")
                                          for v in values], object)
        else:
            out[field.name] = values.astype(dtype.as_numpy_dtype)
    return out


def make_examples(schema: FeatureSchema, raw: Mapping[str, np.ndarray],
                  omit_missing: bool = True) -> list[tf.train.Example]:
    """One tf.Example of raw values per row (float values as float32 float_list). With
    `omit_missing`, NaN numbers are left out (a missing feature), as a client would send them."""
    arrays = serving_arrays(schema, raw)
    examples = []
    for i in range(_rows(raw)):
        feature = {}
        for field in schema.fields:
            v = arrays[field.name][i]
            if field.name == schema.domain_field or field.raw_dtype == "string":
                feature[field.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
            elif field.kind == NUMERIC or field.raw_dtype == "float":
                if omit_missing and np.isnan(v):
                    continue
                feature[field.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
            else:
                feature[field.name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(v)]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)))
    return examples


def predict_request(schema: FeatureSchema, raw: Mapping[str, np.ndarray], model_name: str,
                    signature_name: str = sig.SERVING_DEFAULT,
                    version: int | None = None) -> predict_pb2.PredictRequest:
    """A PredictRequest for `serving_default` (named raw tensors) or `predict_examples`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    if signature_name == sig.PREDICT_EXAMPLES:
        serialized = [e.SerializeToString() for e in make_examples(schema, raw)]
        request.inputs[sig.EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto(serialized, tf.string))
        return request
    for name, values in serving_arrays(schema, raw).items():
        dtype = serving_dtype(schema.field(name), schema)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype, shape=[len(values)]))
    return request


def classify_request(schema: FeatureSchema, raw: Mapping[str, np.ndarray], model_name: str,
                     version: int | None = None) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.CopyFrom(model_pb2.ModelSpec(name=model_name, signature_name=sig.CLASSIFY))
    if version is not None:
        request.model_spec.version.value = version
    request.input.CopyFrom(input_pb2.Input(example_list=input_pb2.ExampleList(
        examples=make_examples(schema, raw))))
    return request


def build_warmup_logs(schema: FeatureSchema, raw: Mapping[str, np.ndarray], model_name: str,
                      predict, batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES
                      ) -> list[prediction_log_pb2.PredictionLog]:
    """PredictionLogs for every signature and batch size.

    Args:
      predict: callable(signature_name, request) -> probabilities [B] (the export's own answer,
        stored as the record's response).
    """
    logs = []
    n = _rows(raw)
    for size in sorted({min(b, n) for b in batch_sizes if b >= 1}):
        part = _slice(raw, 0, size)
        for name in (sig.SERVING_DEFAULT, sig.PREDICT_EXAMPLES):
            request = predict_request(schema, part, model_name, name)
            p = np.asarray(predict(name, request), np.float32).reshape(-1, 1)
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            response.outputs[sig.OUTPUT].CopyFrom(tf.make_tensor_proto(p))
            logs.append(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request, response=response)))
        request = classify_request(schema, part, model_name)
        p = np.asarray(predict(sig.CLASSIFY, request), np.float32).reshape(-1)
        result = classification_pb2.ClassificationResult(classifications=[
            classification_pb2.Classifications(classes=[
                classification_pb2.Class(label="0", score=1.0 - q),
                classification_pb2.Class(label="1", score=q)]) for q in p])
        response = classification_pb2.ClassificationResponse(model_spec=request.model_spec,
                                                             result=result)
        logs.append(prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(request=request, response=response)))
    return logs


def write_warmup(path: str, logs: Sequence[prediction_log_pb2.PredictionLog]) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())


def read_warmup(path: str) -> list[prediction_log_pb2.PredictionLog]:
    out = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        out.append(log)
    return out


def run_request(signatures, signature_name: str, request) -> np.ndarray:
    """Runs a PredictRequest / ClassificationRequest on loaded signatures (what TF Serving does
    with it); returns the click probabilities [B]."""
    fn = signatures[signature_name]
    if isinstance(request, classification_pb2.ClassificationRequest):
        serialized = [e.SerializeToString() for e in request.input.example_list.examples]
        out = fn(**{sig.CLASSIFY_INPUT: tf.constant(serialized, tf.string)})
        return out["scores"].numpy()[:, 1]
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    return fn(**inputs)[sig.OUTPUT].numpy().reshape(-1)


def replay(signatures, logs: Sequence[prediction_log_pb2.PredictionLog]) -> float:
    """Replays warmup logs on loaded signatures; returns the max |output - stored response|."""
    worst = 0.0
    for log in logs:
        if log.HasField("classify_log"):
            request = log.classify_log.request
            want = np.asarray([c.classes[1].score
                               for c in log.classify_log.response.result.classifications])
        else:
            request = log.predict_log.request
            want = tf.make_ndarray(log.predict_log.response.outputs[sig.OUTPUT]).reshape(-1)
        got = run_request(signatures, request.model_spec.signature_name, request)
        worst = max(worst, float(np.max(np.abs(got - want))) if len(want) else 0.0)
    return worst
