r"""Fault-tolerant multi-domain training: the paper's "False Tolerance" (end of §4.7).

    crocodile-online-train --data_dir=data/kuairand --make_feeds          # split train/ by domain
    crocodile-online-train --data_dir=data/kuairand --model_dir=runs/online --rounds=100 \
        --steps_per_round=200 --label_rate_band=0.01,0.9 --max_feed_age_secs=3600

Paper: "if the training samples from the auxiliary domains become unavailable or have some
issues, we simply roll back the model to the latest valid checkpoint and keep it trained and
updated based on only the main domain until the auxiliary one is recovered. If the main domain's
data pipeline has any problems, we roll back the model and keep it fixed."

Layout: each domain has its own feed, `<feeds_dir>/<domain>/train/part-*.tfrecord.gz` (default
feeds_dir: `<data_dir>/feeds`; records in the converter's format, `schema.json` in data_dir);
`write_domain_feeds` splits a converted split into feeds. Training runs in rounds of
`steps_per_round` steps:

1. `FeedChecker` checks every feed: missing (no directory / no shard / fewer than `min_shards`),
   late (newest shard older than `max_age_secs`), empty (a shard with fewer than `min_rows`
   records), unreadable (corrupt gzip / TFRecord framing), schema violations (parse errors, a
   record of another domain, ids outside the field's vocabulary, labels other than 0/1), label
   rate outside `label_rate_band`. Shard results are cached by (size, mtime), so a round
   re-reads only new or changed shards.
2. `Controller.decide`: main feed unhealthy -> "frozen" (no updates); else an auxiliary feed
   unhealthy -> "main_only"; else "all". Entering a more degraded mode (all -> main_only,
   all/main_only -> frozen), or standing on an invalid checkpoint, rolls the model (weights and
   optimizer state) back to the latest checkpoint marked valid. Recovery needs no rollback.
3. Train the round on the active feeds' shards (none when frozen).
4. Re-check the feeds trained on; a failure, or a shard that changed or vanished while it was
   being read, or a read error, marks the round's checkpoint invalid (so the next round rolls
   back past it).
5. Write the round's checkpoint, and `ft/state.json` (atomically: round, mode, counters and
   every checkpoint with its validity and reason).

Every decision is logged with its reasons (absl log + `ft/decisions.jsonl`) and counted
(`counters` in state.json). A killed trainer rerun with the same command resumes from the last
checkpoint listed in state.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Sequence

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from crocodile_tf import config as config_lib
from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import build_model
from crocodile_tf.optimizers import make_optimizer

ALL, MAIN_ONLY, FROZEN = "all", "main_only", "frozen"
_DEGRADATION = {ALL: 0, MAIN_ONLY: 1, FROZEN: 2}
STATE_DIR = "ft"
SHARD_PATTERN = "part-*.tfrecord.gz"


def feed_dir(feeds_dir: str, domain: str, split: str = "train") -> str:
    return os.path.join(feeds_dir, str(domain), split)


def write_domain_feeds(data_dir: str, feeds_dir: str | None = None, split: str = "train",
                       shards: int = 2) -> dict[str, list[str]]:
    """Splits a converted split into one feed per domain (records copied byte for byte)."""
    schema = FeatureSchema.load(data_dir)
    feeds_dir = feeds_dir or os.path.join(data_dir, "feeds")
    files = sorted(tf.io.gfile.glob(os.path.join(data_dir, split, SHARD_PATTERN)))
    if not files:
        raise FileNotFoundError(f"No shards match {os.path.join(data_dir, split, SHARD_PATTERN)}.")
    out, writers, counts = {}, {}, {}
    for d, name in enumerate(schema.domains):
        tf.io.gfile.makedirs(feed_dir(feeds_dir, name, split))
        out[name] = [os.path.join(feed_dir(feeds_dir, name, split), f"part-{i:05d}.tfrecord.gz")
                     for i in range(shards)]
        writers[d] = [tf.io.TFRecordWriter(p, options="GZIP") for p in out[name]]
        counts[d] = 0
    spec = schema.feature_spec()
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    for serialized in ds:
        features, _ = schema.unpack(tf.io.parse_example(serialized, spec))
        for record, d in zip(serialized.numpy(), features[schema.domain_field].numpy()):
            writers[d][counts[d] % shards].write(record)
            counts[d] += 1
    for ws in writers.values():
        for w in ws:
            w.close()
    return out


# --- feed health ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FeedPolicy:
    """What a healthy feed looks like.

    Attributes:
      label_rate_band: (lo, hi): the feed's positive rate must lie in [lo, hi].
      max_age_secs: the newest shard must be at most this old (None: no lateness check).
      min_shards: fewer shards than this = missing.
      min_rows: a shard with fewer records than this = empty.
    """

    label_rate_band: tuple[float, float] = (0.0, 1.0)
    max_age_secs: float | None = None
    min_shards: int = 1
    min_rows: int = 1

    def __post_init__(self):
        lo, hi = self.label_rate_band
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("FeedPolicy: label_rate_band must satisfy 0 <= lo <= hi <= 1, got "
                             f"{self.label_rate_band}.")
        if self.max_age_secs is not None and self.max_age_secs <= 0:
            raise ValueError(f"FeedPolicy: max_age_secs must be > 0, got {self.max_age_secs}.")
        if self.min_shards < 1 or self.min_rows < 1:
            raise ValueError("FeedPolicy: min_shards and min_rows must be >= 1, got "
                             f"{self.min_shards}, {self.min_rows}.")


@dataclasses.dataclass(frozen=True)
class ShardReport:
    path: str
    signature: tuple[int, int]  # (size, mtime ns)
    rows: int = 0
    positives: int = 0
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class FeedHealth:
    domain: str
    reasons: tuple[str, ...]
    shards: tuple[ShardReport, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def files(self) -> list[str]:
        return [s.path for s in self.shards]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


class FeedChecker:
    """Checks the per-domain feeds under `feeds_dir` against a `FeedPolicy` (module docstring)."""

    def __init__(self, feeds_dir: str, schema: FeatureSchema, policy: FeedPolicy = FeedPolicy(),
                 split: str = "train", clock: Callable[[], float] = time.time):
        self.feeds_dir = feeds_dir
        self.schema = schema
        self.policy = policy
        self.split = split
        self.clock = clock
        self._spec = schema.feature_spec()
        self._vocab = np.array(schema.vocab_sizes, dtype=np.int64)
        self._cache: dict[str, ShardReport] = {}

    def check_shard(self, path: str, domain_id: int) -> ShardReport:
        signature = _signature(path)
        if signature is None:
            return ShardReport(path, (0, 0), error="shard vanished")
        cached = self._cache.get(path)
        if cached is not None and cached.signature == signature:
            return cached
        rows = positives = 0
        error = None
        try:
            for serialized in tf.data.TFRecordDataset(path, compression_type="GZIP").batch(4096):
                features, labels = self.schema.unpack(tf.io.parse_example(serialized, self._spec))
                ids = np.stack([features[n].numpy() for n in self.schema.field_names], axis=1)
                y = labels.numpy()
                bad = (ids < 0) | (ids >= self._vocab[None, :])
                if bad.any():
                    row, col = np.argwhere(bad)[0]
                    error = (f"schema: record {rows + row} field {self.schema.field_names[col]!r} id "
                             f"{ids[row, col]} outside [0, {self._vocab[col]})")
                    break
                other = features[self.schema.domain_field].numpy() != domain_id
                if other.any():
                    error = (f"schema: record {rows + int(np.argmax(other))} belongs to domain "
                             f"{features[self.schema.domain_field].numpy()[np.argmax(other)]}, not {domain_id}")
                    break
                if not np.isin(y, (0.0, 1.0)).all():
                    error = f"schema: label {y[~np.isin(y, (0.0, 1.0))][0]} is not 0 or 1"
                    break
                rows += len(y)
                positives += int(y.sum())
        except tf.errors.DataLossError as e:
            error = f"unreadable: {e.message.splitlines()[0]}"
        except (tf.errors.InvalidArgumentError, ValueError) as e:
            message = e.message if isinstance(e, tf.errors.OpError) else str(e)
            error = f"schema: {message.splitlines()[0]}"
        if error is None and rows < self.policy.min_rows:
            error = f"empty: {rows} records (< {self.policy.min_rows})"
        report = ShardReport(path, signature, rows, positives, error)
        self._cache[path] = report
        return report

    def check(self, domain: str) -> FeedHealth:
        directory = feed_dir(self.feeds_dir, domain, self.split)
        if not tf.io.gfile.isdir(directory):
            return FeedHealth(domain, (f"missing: no feed directory {directory}",))
        files = sorted(tf.io.gfile.glob(os.path.join(directory, SHARD_PATTERN)))
        if len(files) < self.policy.min_shards:
            return FeedHealth(domain, (f"missing: {len(files)} shards in {directory} "
                                       f"(< {self.policy.min_shards})",))
        domain_id = self.schema.domains.index(domain)
        shards = tuple(self.check_shard(f, domain_id) for f in files)
        reasons = [f"{os.path.basename(s.path)}: {s.error}" for s in shards if s.error]
        if self.policy.max_age_secs is not None:
            age = self.clock() - max(s.signature[1] for s in shards) / 1e9
            if age > self.policy.max_age_secs:
                reasons.append(f"late: newest shard is {age:.0f} s old (> {self.policy.max_age_secs:g} s)")
        rows = sum(s.rows for s in shards)
        if not reasons and rows:
            rate = sum(s.positives for s in shards) / rows
            lo, hi = self.policy.label_rate_band
            if not lo <= rate <= hi:
                reasons.append(f"label rate {rate:.4f} outside [{lo:g}, {hi:g}]")
        return FeedHealth(domain, tuple(reasons), shards)

    def check_all(self) -> dict[str, FeedHealth]:
        return {d: self.check(d) for d in self.schema.domains}


# --- decisions -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Decision:
    mode: str
    domains: tuple[str, ...]
    rollback: bool
    reasons: dict[str, tuple[str, ...]]


class Controller:
    """The paper's policy: aux failure -> rollback + main only; main failure -> rollback + frozen."""

    def __init__(self, domains: Sequence[str], main_domain: str):
        if main_domain not in domains:
            raise ValueError(f"main domain {main_domain!r} is not one of the domains {list(domains)}.")
        self.domains = tuple(domains)
        self.main_domain = main_domain

    def decide(self, health: dict[str, FeedHealth], previous_mode: str, current_valid: bool) -> Decision:
        reasons = {d: h.reasons for d, h in health.items() if not h.ok}
        if self.main_domain in reasons:
            mode, domains = FROZEN, ()
        elif reasons:
            mode, domains = MAIN_ONLY, (self.main_domain,)
        else:
            mode, domains = ALL, self.domains
        rollback = _DEGRADATION[mode] > _DEGRADATION[previous_mode] or not current_valid
        return Decision(mode, domains, rollback, reasons)


# --- the trainer ---------------------------------------------------------------------------------
class FaultTolerantTrainer:
    """Round-based training over per-domain feeds with the rollback/freeze policy.

    Args:
      config: the training config (model, optimizer, batch size, seed).
      data_dir: holds schema.json (and, by default, the feeds under feeds/).
      model_dir: checkpoints and `ft/state.json`, `ft/decisions.jsonl`.
      feeds_dir: per-domain feeds (default `<data_dir>/feeds`).
      main_domain: the main domain (default: the domain with most rows in its feed at the first
        start; kept in state.json across restarts).
      policy: feed health policy.
      steps_per_round: training steps per round.
      keep_checkpoints: recent checkpoints kept (the latest valid one is always kept).
      round_interval_secs: pause after each round (a production trainer waits for new shards).
      step_hook: called as step_hook(trainer, round, step) after each training step (tests).
    """

    def __init__(self, config: config_lib.TrainConfig, data_dir: str, model_dir: str, *,
                 feeds_dir: str | None = None, main_domain: str | None = None,
                 policy: FeedPolicy = FeedPolicy(), steps_per_round: int = 100,
                 keep_checkpoints: int = 5, round_interval_secs: float = 0.0,
                 step_hook: Callable | None = None):
        from crocodile_tf.train import copy_schema, set_determinism
        if steps_per_round < 1 or keep_checkpoints < 1:
            raise ValueError(f"steps_per_round and keep_checkpoints must be >= 1, got "
                             f"{steps_per_round}, {keep_checkpoints}.")
        set_determinism(config.seed, config.deterministic)
        self.config = config
        self.schema = copy_schema(data_dir, model_dir)
        config.save(model_dir)
        self.feeds_dir = feeds_dir or os.path.join(data_dir, "feeds")
        self.state_dir = os.path.join(model_dir, STATE_DIR)
        tf.io.gfile.makedirs(self.state_dir)
        self.checker = FeedChecker(self.feeds_dir, self.schema, policy)
        self.steps_per_round = steps_per_round
        self.keep_checkpoints = keep_checkpoints
        self.round_interval_secs = round_interval_secs
        self.step_hook = step_hook

        self.model = build_model(config.model, self.schema, config.model_config)
        self.model.compile(optimizer=make_optimizer(config.optimizer, self.model, config.learning_rate,
                                                    config.embedding_learning_rate))
        self.checkpoint = tf.train.Checkpoint(model=self.model)
        self._step = tf.function(self.model.train_step, reduce_retracing=True)
        self._input_key = None
        self._iterator = None

        state = self._load_state()
        if state is None:
            main_domain = main_domain or self._largest_domain()
            state = {"round": 0, "mode": ALL, "main_domain": main_domain, "current_valid": True,
                     "checkpoints": [], "counters": {}, "steps_trained": 0}
        elif main_domain and main_domain != state["main_domain"]:
            raise ValueError(f"main_domain={main_domain!r} but {self.state_path} was trained with "
                             f"main domain {state['main_domain']!r}; use a new model_dir.")
        self.state = state
        self.controller = Controller(self.schema.domains, state["main_domain"])
        if state["checkpoints"]:
            last = state["checkpoints"][-1]
            self.checkpoint.read(last["path"]).expect_partial()
            logging.info("resumed from %s (round %d, step %d, valid=%s)", last["path"], last["round"],
                         last["step"], last["valid"])
            self._count("resumes")
        else:
            # Round 0: the initial weights, valid by definition (nothing trained on yet).
            self._save_checkpoint(0, valid=True, reason="initial weights", domains=())
            self._write_state()

    # -- public ------------------------------------------------------------------------------------
    @property
    def state_path(self) -> str:
        return os.path.join(self.state_dir, "state.json")

    @property
    def round(self) -> int:
        return self.state["round"]

    @property
    def mode(self) -> str:
        return self.state["mode"]

    @property
    def counters(self) -> dict[str, int]:
        return self.state["counters"]

    @property
    def iterations(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def run(self, rounds: int) -> dict:
        """Runs rounds until `rounds` rounds (in all, across restarts) are done; returns the state."""
        while self.round < rounds:
            self.run_round()
            if self.round_interval_secs:
                time.sleep(self.round_interval_secs)
        return self.state

    def run_round(self) -> dict:
        """One round: check feeds, decide, maybe roll back, train, re-check, checkpoint."""
        r = self.round + 1
        health = self.checker.check_all()
        decision = self.controller.decide(health, self.mode, self.state["current_valid"])
        event = {"round": r, "mode": decision.mode, "domains": list(decision.domains),
                 "reasons": {d: list(v) for d, v in decision.reasons.items()}}
        for domain, reasons in decision.reasons.items():
            for reason in reasons:
                self._count(f"feed_failures/{domain}/{_category(reason)}")
        if decision.mode != self.mode:
            self._count("recoveries" if _DEGRADATION[decision.mode] < _DEGRADATION[self.mode] else "degradations")
            logging.warning("round %d: %s -> %s (%s)", r, self.mode, decision.mode,
                            _reason_text(decision.reasons) or "all feeds healthy")
        if decision.rollback:
            why = ("current checkpoint invalid" if not self.state["current_valid"]
                   else f"{self.mode} -> {decision.mode}")
            event["rolled_back_to"] = self.rollback(f"{why}: {_reason_text(decision.reasons)}")
        self._count(f"rounds/{decision.mode}")
        counts = {}
        if decision.mode == FROZEN:
            logging.warning("round %d: frozen, no updates (main domain %r feed: %s)", r,
                            self.controller.main_domain, _reason_text(decision.reasons))
            self.state.update(round=r, mode=decision.mode)
        else:
            files = [s for d in decision.domains for s in health[d].shards]
            counts, failures = self._train_round(r, files)
            post = {d: self.checker.check(d) for d in decision.domains}
            failures.update({d: list(h.reasons) for d, h in post.items() if not h.ok})
            for shard in files:
                if _signature(shard.path) != shard.signature:
                    failures.setdefault("changed", []).append(
                        f"{os.path.basename(shard.path)} changed or vanished during the round")
            valid = not failures
            if not valid:
                self._count("invalid_rounds")
                logging.warning("round %d: checkpoint marked invalid: %s", r, failures)
            self.state.update(round=r, mode=decision.mode)
            self._save_checkpoint(r, valid=valid, reason="ok" if valid else json.dumps(failures),
                                  domains=decision.domains)
            event.update(valid=valid, invalid_reasons=failures)
            for d, n in counts.items():
                self._count(f"samples/{d}", n)
        event.update(step=self.iterations, samples=counts, time=time.time())
        self._log_event(event)
        self._write_state()
        return event

    def rollback(self, reason: str) -> str:
        """Restores the latest valid checkpoint (weights + optimizer); returns its path."""
        valid = [c for c in self.state["checkpoints"] if c["valid"]]
        target = valid[-1]
        self.checkpoint.read(target["path"]).expect_partial()
        self.state["current_valid"] = True
        self._count("rollbacks")
        logging.warning("rollback to %s (round %d, step %d): %s", target["path"], target["round"],
                        target["step"], reason)
        return target["path"]

    # -- internals ---------------------------------------------------------------------------------
    def _largest_domain(self) -> str:
        rows = {d: h.rows for d, h in self.checker.check_all().items()}
        if not any(rows.values()):
            raise ValueError(f"No readable feed under {self.feeds_dir} to pick the main domain from; "
                             "pass main_domain (--main_domain).")
        return max(rows, key=rows.get)

    def _dataset(self, files: list[str]):
        schema, spec = self.schema, self.schema.feature_spec()
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=self.config.seed)
        ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                           cycle_length=min(len(files), 8), block_length=64)
        ds = ds.shuffle(10_000, seed=self.config.seed).repeat().batch(self.config.batch_size)
        return ds.map(lambda s: schema.unpack(tf.io.parse_example(s, spec))).prefetch(2)

    def _train_round(self, r: int, shards: list[ShardReport]):
        key = tuple((s.path, s.signature) for s in shards)
        if key != self._input_key:  # keep reading where the last round stopped if nothing changed
            self._iterator = iter(self._dataset([s.path for s in shards]))
            self._input_key = key
        counts = np.zeros(self.schema.num_domains, np.int64)
        failures = {}
        for step in range(self.steps_per_round):
            try:
                x, y = next(self._iterator)
            except tf.errors.OpError as e:
                failures["read"] = [f"{type(e).__name__}: {e.message.splitlines()[0]}"]
                self._input_key = None
                break
            self._step((x, y))
            counts += np.bincount(x[self.schema.domain_field].numpy(), minlength=self.schema.num_domains)
            if self.step_hook:
                self.step_hook(self, r, step + 1)
        self.state["steps_trained"] += step + 1
        return {d: int(counts[i]) for i, d in enumerate(self.schema.domains) if counts[i]}, failures

    def _save_checkpoint(self, r: int, valid: bool, reason: str, domains) -> None:
        path = self.checkpoint.write(os.path.join(self.state_dir, f"round-{r:06d}"))
        entries = [c for c in self.state["checkpoints"] if c["round"] != r]
        entries.append({"round": r, "path": path, "step": self.iterations, "valid": bool(valid),
                        "reason": reason, "domains": list(domains)})
        latest_valid = max((c["round"] for c in entries if c["valid"]), default=None)
        keep = entries[-self.keep_checkpoints:]
        for c in entries[:-self.keep_checkpoints]:
            if c["round"] == latest_valid:
                keep.insert(0, c)
            else:
                for f in tf.io.gfile.glob(c["path"] + ".*"):
                    tf.io.gfile.remove(f)
        self.state["checkpoints"] = keep
        self.state["current_valid"] = bool(valid)

    def _load_state(self) -> dict | None:
        if not tf.io.gfile.exists(self.state_path):
            return None
        with tf.io.gfile.GFile(self.state_path) as f:
            return json.load(f)

    def _write_state(self) -> None:
        tmp = self.state_path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            f.write(json.dumps(self.state, indent=1) + "\n")
        tf.io.gfile.rename(tmp, self.state_path, overwrite=True)

    def _count(self, name: str, n: int = 1) -> None:
        self.state["counters"][name] = self.state["counters"].get(name, 0) + int(n)

    def _log_event(self, event: dict) -> None:
        logging.info("round %d: mode=%s domains=%s step=%d samples=%s%s", event["round"], event["mode"],
                     event["domains"], event["step"], event.get("samples"),
                     f" reasons={event['reasons']}" if event["reasons"] else "")
        with tf.io.gfile.GFile(os.path.join(self.state_dir, "decisions.jsonl"), "a") as f:
            f.write(json.dumps(event) + "\n")


_CATEGORIES = ("missing", "late", "empty", "unreadable", "schema", "label rate", "vanished")


def _category(reason: str) -> str:
    """The failure kind of a FeedChecker reason (for counters)."""
    return next((c.replace(" ", "_") for c in _CATEGORIES if c in reason), "other")


def _reason_text(reasons: dict) -> str:
    return "; ".join(f"{d}: {', '.join(r)}" for d, r in reasons.items())


# --- CLI -----------------------------------------------------------------------------------------
FLAGS = flags.FLAGS


def define_flags() -> None:
    from crocodile_tf import train as train_lib
    train_lib.define_flags()
    flags.DEFINE_string("feeds_dir", None, "Per-domain feeds (default: <data_dir>/feeds).")
    flags.DEFINE_bool("make_feeds", False, "Split <data_dir>/train into per-domain feeds and exit.")
    flags.DEFINE_string("main_domain", None, "Main domain (default: the largest feed).")
    flags.DEFINE_integer("rounds", 10, "Total rounds to train (a rerun continues to this count).")
    flags.DEFINE_integer("steps_per_round", 100, "Training steps per round.")
    flags.DEFINE_list("label_rate_band", ["0", "1"], "lo,hi: healthy positive-rate band of a feed.")
    flags.DEFINE_float("max_feed_age_secs", None, "A feed whose newest shard is older is late.")
    flags.DEFINE_integer("keep_checkpoints", 5, "Recent round checkpoints kept (+ the latest valid).")
    flags.DEFINE_float("round_interval_secs", 0.0, "Pause between rounds.")


def main(argv) -> None:
    del argv
    from crocodile_tf import train as train_lib
    logging.set_verbosity(logging.INFO)
    if not FLAGS.data_dir:
        raise app.UsageError("--data_dir is required.")
    if FLAGS.make_feeds:
        feeds = write_domain_feeds(FLAGS.data_dir, FLAGS.feeds_dir)
        print(json.dumps(feeds, indent=1))
        return
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required.")
    try:
        lo, hi = (float(v) for v in FLAGS.label_rate_band)
        policy = FeedPolicy((lo, hi), FLAGS.max_feed_age_secs)
    except ValueError as e:
        raise app.UsageError(f"--label_rate_band / --max_feed_age_secs: {e}") from None
    config = train_lib.resolve_config(FLAGS)
    trainer = FaultTolerantTrainer(config, FLAGS.data_dir, FLAGS.model_dir, feeds_dir=FLAGS.feeds_dir,
                                   main_domain=FLAGS.main_domain, policy=policy,
                                   steps_per_round=FLAGS.steps_per_round,
                                   keep_checkpoints=FLAGS.keep_checkpoints,
                                   round_interval_secs=FLAGS.round_interval_secs)
    state = trainer.run(FLAGS.rounds)
    print(json.dumps({"round": state["round"], "mode": state["mode"], "step": trainer.iterations,
                      "counters": state["counters"]}, indent=1))


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
