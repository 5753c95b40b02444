"""Fault-tolerant multi-domain training (paper §4.7): feed health, rollback, freeze, resume."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from crocodile_tf import config as config_lib
from crocodile_tf import fault_tolerance as ft
from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import ModelConfig
from crocodile_tf.pipelines.planted import planted_problem
from tests.helpers import REPO, write_planted_tfrecords

TINY = ModelConfig(expert_units=(16, 8), tower_units=(8,), num_embeddings=2)
CONFIG = config_lib.TrainConfig(model_config=TINY, batch_size=64, epochs=1, optimizer="adam", seed=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    problem = planted_problem(3000, num_domains=3, num_users=40, num_items=60, seed=3,
                              domain_proportions=(3.0, 1.5, 1.0))
    data = write_planted_tfrecords(problem, str(tmp_path_factory.mktemp("source")))
    ft.write_domain_feeds(data)
    return data


@pytest.fixture
def data_dir(source, tmp_path):
    """A fresh copy of the data + feeds per test (tests break feeds)."""
    return shutil.copytree(source, str(tmp_path / "data"))


def shards(data_dir, domain):
    return sorted(tf.io.gfile.glob(os.path.join(ft.feed_dir(os.path.join(data_dir, "feeds"), domain),
                                                "part-*.tfrecord.gz")))


def write_records(path, records):
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for r in records:
            w.write(r)


def example(ids, label, schema):
    feature = {"ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
               schema.label: tf.train.Feature(float_list=tf.train.FloatList(value=[label]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_feed_checker_reports_each_failure_kind(data_dir):
    schema = FeatureSchema.load(data_dir)
    feeds = os.path.join(data_dir, "feeds")
    now = [time.time()]
    checker = ft.FeedChecker(feeds, schema, ft.FeedPolicy(label_rate_band=(0.05, 0.95), max_age_secs=60),
                             clock=lambda: now[0])
    assert all(h.ok for h in checker.check_all().values()), checker.check_all()
    d0, d1, d2 = schema.domains
    # Corrupt gzip bytes in the middle of a shard.
    path = shards(data_dir, d0)[0]
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2:len(raw) // 2 + 64] = b"\0" * 64
    open(path, "wb").write(bytes(raw))
    # An empty shard, a record of another domain, an id outside its vocabulary.
    write_records(shards(data_dir, d1)[0], [])
    other = [0] * len(schema.field_names)
    other[schema.field_names.index(schema.domain_field)] = 0  # domain 0 inside feed of domain 2
    write_records(shards(data_dir, d2)[0], [example(other, 1.0, schema)])
    health = checker.check_all()
    assert "unreadable" in " ".join(health[d0].reasons) or "schema" in " ".join(health[d0].reasons)
    assert any("empty" in r for r in health[d1].reasons)
    assert any("belongs to domain 0" in r for r in health[d2].reasons)
    too_big = [0] * len(schema.field_names)
    too_big[schema.field_names.index(schema.domain_field)] = 2
    too_big[0] = schema.vocab_sizes[0]
    write_records(shards(data_dir, d2)[0], [example(too_big, 1.0, schema)])
    assert any("outside [0, " in r for r in checker.check(d2).reasons)
    # Missing feed, late feed, label rate out of band.
    shutil.rmtree(os.path.join(feeds, d1))
    assert any(r.startswith("missing") for r in checker.check(d1).reasons)
    now[0] += 3600
    assert any(r.startswith("late") for r in checker.check(d2).reasons)
    ones = [0] * len(schema.field_names)
    ones[schema.field_names.index(schema.domain_field)] = 2
    for p in shards(data_dir, d2):
        write_records(p, [example(ones, 1.0, schema)] * 10)
    now[0] = time.time()
    assert any(r.startswith("label rate 1.0000 outside") for r in checker.check(d2).reasons)


def test_controller_policy():
    c = ft.Controller(["a", "b", "c"], "a")
    bad = ft.FeedHealth("b", ("late: x",))
    good = {d: ft.FeedHealth(d, ()) for d in "abc"}
    d = c.decide(good, ft.ALL, True)
    assert (d.mode, d.domains, d.rollback) == (ft.ALL, ("a", "b", "c"), False)
    d = c.decide({**good, "b": bad}, ft.ALL, True)
    assert (d.mode, d.domains, d.rollback) == (ft.MAIN_ONLY, ("a",), True)
    d = c.decide({**good, "b": bad}, ft.MAIN_ONLY, True)
    assert (d.mode, d.rollback) == (ft.MAIN_ONLY, False)
    d = c.decide({**good, "a": ft.FeedHealth("a", ("missing",))}, ft.MAIN_ONLY, True)
    assert (d.mode, d.domains, d.rollback) == (ft.FROZEN, (), True)
    d = c.decide(good, ft.FROZEN, True)
    assert (d.mode, d.rollback) == (ft.ALL, False)
    assert c.decide(good, ft.ALL, False).rollback  # standing on an invalid checkpoint
    with pytest.raises(ValueError, match="main domain 'z'"):
        ft.Controller(["a"], "z")


def weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.xdist_group("distribute")
def test_aux_failure_rolls_back_trains_main_only_and_recovers(data_dir, tmp_path):
    schema = FeatureSchema.load(data_dir)
    aux_shard = shards(data_dir, schema.domains[1])[0]
    saved = open(aux_shard, "rb").read()

    def corrupt_mid_round(trainer, r, step):
        if r == 3 and step == 2:  # the aux feed breaks while round 3 is training
            open(aux_shard, "wb").write(gzip.compress(b"not a tfrecord"))

    trainer = ft.FaultTolerantTrainer(CONFIG, data_dir, str(tmp_path / "run"), steps_per_round=4,
                                      step_hook=corrupt_mid_round)
    assert trainer.controller.main_domain == schema.domains[0]  # the largest feed
    main, aux = schema.domains[0], schema.domains[1]
    seen = {}
    rollback = trainer.rollback

    def recording_rollback(reason):
        path = rollback(reason)
        seen["after_rollback"] = trainer.model.get_weights()
        seen["iterations_after_rollback"] = trainer.iterations
        return path

    trainer.rollback = recording_rollback
    events = [trainer.run_round(), trainer.run_round()]
    after_round_2 = trainer.model.get_weights()
    events.append(trainer.run_round())
    after_round_3 = trainer.model.get_weights()
    assert [e["mode"] for e in events] == [ft.ALL] * 3 and aux in events[0]["samples"]
    assert events[2]["valid"] is False           # the round that read the breaking feed
    assert trainer.iterations == 12

    events.append(trainer.run_round())           # round 4: aux unhealthy -> rollback + main only
    assert events[3]["mode"] == ft.MAIN_ONLY and events[3]["rolled_back_to"].endswith("round-000002")
    assert weights_equal(seen["after_rollback"], after_round_2)
    assert not weights_equal(seen["after_rollback"], after_round_3)
    assert seen["iterations_after_rollback"] == 8 and trainer.iterations == 12
    aux_samples = trainer.counters[f"samples/{aux}"]
    events.append(trainer.run_round())
    assert events[4]["mode"] == ft.MAIN_ONLY and set(events[4]["samples"]) == {main}
    assert trainer.counters[f"samples/{aux}"] == aux_samples  # nothing of aux trained on

    open(aux_shard, "wb").write(saved)           # the feed recovers
    events.append(trainer.run_round())
    assert events[5]["mode"] == ft.ALL and "rolled_back_to" not in events[5]
    assert trainer.counters[f"samples/{aux}"] > aux_samples
    counters = trainer.counters
    assert counters["rollbacks"] == 1 and counters["recoveries"] == 1 and counters["invalid_rounds"] == 1
    assert counters["rounds/main_only"] == 2 and counters[f"feed_failures/{aux}/unreadable"] == 2
    state = json.load(open(trainer.state_path))
    assert [c["valid"] for c in state["checkpoints"] if c["round"] == 3] == [False]
    with open(os.path.join(trainer.state_dir, "decisions.jsonl")) as f:
        assert [json.loads(line)["mode"] for line in f] == [e["mode"] for e in events]


@pytest.mark.slow
@pytest.mark.xdist_group("distribute")
def test_main_feed_failure_rolls_back_and_freezes(data_dir, tmp_path):
    schema = FeatureSchema.load(data_dir)
    trainer = ft.FaultTolerantTrainer(CONFIG, data_dir, str(tmp_path / "run"), steps_per_round=4,
                                      main_domain=schema.domains[0])
    trainer.run(2)
    main_feed = os.path.join(data_dir, "feeds", schema.domains[0])
    shutil.move(main_feed, main_feed + ".away")  # the main pipeline breaks
    before = trainer.model.get_weights()
    for _ in range(2):
        event = trainer.run_round()
        assert event["mode"] == ft.FROZEN and event["samples"] == {}
        assert trainer.iterations == 8 and weights_equal(trainer.model.get_weights(), before)
    assert trainer.counters["rollbacks"] == 1 and trainer.counters["rounds/frozen"] == 2
    assert trainer.counters[f"feed_failures/{schema.domains[0]}/missing"] == 2
    shutil.move(main_feed + ".away", main_feed)
    event = trainer.run_round()
    assert event["mode"] == ft.ALL and trainer.iterations == 12
    assert not weights_equal(trainer.model.get_weights(), before)


@pytest.mark.slow
@pytest.mark.xdist_group("distribute")
def test_kill_9_then_rerun_resumes_from_last_checkpoint(data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    override = json.dumps({"model_config": {"expert_units": [16, 8], "tower_units": [8],
                                            "num_embeddings": 2}, "batch_size": 64, "optimizer": "adam"})

    def command(rounds):
        return [sys.executable, "-m", "crocodile_tf.fault_tolerance", f"--data_dir={data_dir}",
                f"--model_dir={model_dir}", f"--rounds={rounds}", "--steps_per_round=3",
                "--round_interval_secs=0.5", f"--params_override={override}"]

    env = dict(os.environ, PYTHONPATH=REPO)
    state_path = os.path.join(model_dir, ft.STATE_DIR, "state.json")
    proc = subprocess.Popen(command(1000), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 45
        while time.time() < deadline:
            if os.path.exists(state_path) and json.load(open(state_path))["round"] >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the trainer wrote no round-2 checkpoint within 45 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    killed = json.load(open(state_path))
    last = killed["checkpoints"][-1]
    assert last["round"] == killed["round"] >= 2 and last["step"] == 3 * killed["round"]

    result = subprocess.run(command(killed["round"] + 1), env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {last['path']}" in result.stderr
    final = json.load(open(state_path))
    assert final["round"] == killed["round"] + 1
    assert final["checkpoints"][-1]["step"] == last["step"] + 3  # continued, not restarted
    assert final["counters"]["resumes"] == 1
