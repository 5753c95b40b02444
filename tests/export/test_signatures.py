"""The exported signatures: saved_model_cli listing, warmup replay, TF Serving request protos,
documented behaviour on bad input, and what must not be in the export."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from crocodile_tf.export import signatures as sig
from crocodile_tf.export import warmup
from crocodile_tf.export.preprocess import converter_ids
from crocodile_tf.features import FeatureSchema
from crocodile_tf.train import restore_model
from tests.export import common
from tests.helpers import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crocodile")]


@pytest.fixture(scope="module")
def exported(crocodile_export, flat):
    model_dir, path = crocodile_export
    schema = FeatureSchema.load(os.path.join(path, "assets.extra", "schema.json"))
    raw = common.raw_from_csv(schema, flat["val_csv"])
    rows = {k: v[:32] for k, v in raw.items()}
    keras_model, _, _ = restore_model(model_dir)
    return {"path": path, "model_dir": model_dir, "schema": schema, "rows": rows,
            "loaded": tf.saved_model.load(path), "keras": keras_model}


def serve(exported, rows):
    fn = exported["loaded"].signatures[sig.SERVING_DEFAULT]
    arrays = warmup.serving_arrays(exported["schema"], rows)
    return fn(**{k: tf.constant(v) for k, v in arrays.items()})[sig.OUTPUT].numpy().reshape(-1)


def keras_on_raw(exported, rows):
    ids = converter_ids(exported["schema"], exported["model_dir"], rows)
    return exported["keras"]({k: tf.constant(v) for k, v in ids.items()},
                             training=False).numpy().reshape(-1)


def test_saved_model_cli_lists_the_three_signatures(exported):
    # The module behind the `saved_model_cli` console script of the TensorFlow wheel.
    result = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli",
                             "show", "--all", "--dir", exported["path"]],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for name in sig.SIGNATURES:
        assert f"signature_def['{name}']" in out
    assert "Method name is: tensorflow/serving/classify" in out
    assert "inputs['inputs']" in out and "outputs['scores']" in out and "outputs['classes']" in out
    assert "outputs['ctr']" in out and "inputs['examples']" in out
    for field in exported["schema"].field_names:
        assert f"inputs['{field}']" in out


def test_warmup_records_cover_every_signature_and_replay(exported):
    logs = warmup.read_warmup(os.path.join(exported["path"], "assets.extra", warmup.WARMUP_FILE))
    names = {(log.classify_log.request.model_spec.signature_name if log.HasField("classify_log")
              else log.predict_log.request.model_spec.signature_name) for log in logs}
    assert names == set(sig.SIGNATURES)
    assert len(logs) == 3 * 3            # batch sizes 1, 8, 16 (= --warmup_rows) x signatures
    assert warmup.replay(exported["loaded"].signatures, logs) <= 1e-6


def test_predict_request_matches_serving_default_inputs_exactly(exported):
    request = warmup.predict_request(exported["schema"], exported["rows"], "crocodile")
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())   # wire format
    fn = exported["loaded"].signatures[sig.SERVING_DEFAULT]
    _, specs = fn.structured_input_signature
    assert set(request.inputs) == set(specs)
    for name, spec in specs.items():
        assert request.inputs[name].dtype == spec.dtype.as_datatype_enum, name
        assert [d.size for d in request.inputs[name].tensor_shape.dim] == [32]
        assert spec.shape.as_list() == [None]
    got = warmup.run_request(exported["loaded"].signatures, sig.SERVING_DEFAULT, request)
    np.testing.assert_allclose(got, keras_on_raw(exported, exported["rows"]), atol=1e-6, rtol=0)
    assert set(fn.structured_outputs) == {sig.OUTPUT}


def test_wrong_dtypes_are_rejected_by_the_signature(exported):
    fn = exported["loaded"].signatures[sig.SERVING_DEFAULT]
    arrays = {k: tf.constant(v) for k, v in
              warmup.serving_arrays(exported["schema"], exported["rows"]).items()}
    for name, bad in (("user_id", tf.constant(np.ones(32, np.float32))),
                      ("duration_ms", tf.constant(np.ones(32, np.int64))),
                      ("tab", tf.constant(np.zeros(32, np.int64)))):
        with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
            fn(**{**arrays, name: bad})


def test_unseen_ids_and_strings_map_to_the_default_id(exported):
    rows = exported["rows"]
    ids = converter_ids(exported["schema"], exported["model_dir"], rows)
    base = serve(exported, rows)
    changed = {**rows, "user_id": np.full(32, 10**15, np.int64),
               "tag": np.full(32, "a tag nobody used", object),
               "upload_type": np.full(32, "", object)}
    as_default = {k: tf.constant(v) for k, v in ids.items()}
    for name in ("user_id", "tag", "upload_type"):
        as_default[name] = tf.zeros(32, tf.int64)
    want = exported["keras"](as_default, training=False).numpy().reshape(-1)
    np.testing.assert_allclose(serve(exported, changed), want, atol=1e-6, rtol=0)
    negative = {**changed, "user_id": np.full(32, -7, np.int64)}
    np.testing.assert_allclose(serve(exported, negative), want, atol=1e-6, rtol=0)
    assert not np.allclose(base, want)


def test_domain_spellings_and_out_of_range_domain(exported):
    rows = exported["rows"]
    spelled = {**rows, "tab": np.asarray([f" {d}.0 " for d in
                                          common.canonical(rows["tab"])], object)}
    np.testing.assert_allclose(serve(exported, spelled), serve(exported, rows), atol=0, rtol=0)
    bad = {**rows, "tab": np.asarray(["9"] + list(rows["tab"][1:]), object)}
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"allowed values are \[0, 1, 2, 3, 4, 5, 6\][\s\S]*Got:[\s\S]*9"):
        serve(exported, bad)
    # The Example signatures fail the same way, and a missing domain is an error too.
    examples = warmup.make_examples(exported["schema"], bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="allowed values"):
        exported["loaded"].signatures[sig.PREDICT_EXAMPLES](
            examples=tf.constant([e.SerializeToString() for e in examples]))
    del examples[0].features.feature["tab"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="allowed values"):
        exported["loaded"].signatures[sig.CLASSIFY](
            inputs=tf.constant([examples[0].SerializeToString()]))


def test_examples_missing_features_get_the_default_id(exported):
    rows = {k: v[:1] for k, v in exported["rows"].items()}
    example = warmup.make_examples(exported["schema"], rows)[0]
    for name in ("user_id", "tag", "duration_ms"):
        del example.features.feature[name]
    fn = exported["loaded"].signatures[sig.PREDICT_EXAMPLES]
    got = fn(examples=tf.constant([example.SerializeToString()]))[sig.OUTPUT].numpy().reshape(-1)
    ids = converter_ids(exported["schema"], exported["model_dir"], rows)
    ids = {k: tf.constant(v) for k, v in ids.items()}
    for name in ("user_id", "tag", "duration_ms"):
        ids[name] = tf.zeros(1, tf.int64)
    want = exported["keras"](ids, training=False).numpy().reshape(-1)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    example.features.feature["hourmin"].int64_list.value.append(5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="hourmin must hold at most one"):
        fn(examples=tf.constant([example.SerializeToString()]))


def test_no_optimizer_state_and_no_training_only_ops(exported):
    reader = tf.train.load_checkpoint(os.path.join(exported["path"], "variables", "variables"))
    keys = list(reader.get_variable_to_shape_map())
    assert not [k for k in keys if "optimizer" in k.lower() or "/m/" in k or "iter" in k.lower()]
    n_weights = sum(int(np.prod(s)) for k, s in reader.get_variable_to_shape_map().items()
                    if k.startswith("model_variables"))
    assert n_weights == sum(int(np.prod(v.shape)) for v in exported["keras"].variables)
    from tensorflow.core.protobuf import saved_model_pb2
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(exported["path"], "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    ops = [(node.name, node.op) for fn in saved.meta_graphs[0].graph_def.library.function
           for node in fn.node_def]
    cov = [n for n, op in ops if "covariance" in n.lower() and op not in ("Identity", "NoOp")]
    assert not cov, cov[:5]
    # No device pinning in the serving functions (TF's own saver functions pin the CPU).
    devices = {node.device for fn in saved.meta_graphs[0].graph_def.library.function
               if "_traced_save" not in fn.signature.name
               and "_traced_restore" not in fn.signature.name
               for node in fn.node_def if node.device}
    assert not devices, devices
