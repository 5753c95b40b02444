"""The conversion engine shared by all converters: splits, domain selection, fitting on the
training split, id mapping, TFRecord writing and the report.

A converter only describes its data as a `Source` (which files, which columns, how rows are read
and joined); `convert` runs three streaming passes over it:

0. scan: domain counts of the training rows (and the dates for a chronological split), to
   choose the domains (e.g. the 5 largest KuaiRand tabs);
1. fit: vocabularies (min_count filter) and bucket boundaries on training rows of the kept
   domains only. Columns of joined side tables are fitted with the training impression counts
   of their keys as weights;
2. write: map every row to ids, encode, write the shards, count everything.

No statistic is fitted on val/test rows: the split is decided per row before fitting (from the
row's date, its file, or a seeded hash of its position).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import os
import time
from collections import Counter
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from crocodile_tf.features import FeatureSchema
from crocodile_tf.pipelines import vocab as vocab_lib
from crocodile_tf.pipelines import writer as writer_lib
from crocodile_tf.pipelines.reader import file_sha256
from crocodile_tf.pipelines.vocab import ColumnSpec

TRAIN, VAL, TEST = 0, 1, 2
DEFAULT_MAX_REJECT_FRACTION = 0.001


# --- splits --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """How rows are split.

    * `chrono:V,T`: by the time column (KuaiRand `date`): the last T distinct dates are test,
      the V dates before them val.
    * `random:V,T`: fractions V and T of the rows, by a seeded hash of each row's position.
    * `given` or `given:V`: the data set's own files (e.g. Ali-CCP train/test); with V, a
      fraction V of the train file's rows becomes val.
    """

    kind: str
    val: float = 0.0
    test: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "SplitSpec":
        kind, _, args = text.partition(":")
        try:
            nums = [float(a) for a in args.split(",")] if args else []
        except ValueError:
            raise ValueError(f"--split={text!r}: the arguments after ':' must be numbers.") from None
        if kind == "chrono":
            val, test = nums if nums else (2, 2)
            if len(nums) not in (0, 2) or val < 0 or test < 1 or val != int(val) or test != int(test):
                raise ValueError(f"--split={text!r}: expected chrono:VAL_DAYS,TEST_DAYS "
                                 "(integers, TEST_DAYS >= 1).")
            return cls("chrono", val, test)
        if kind == "random":
            val, test = nums if nums else (0.1, 0.1)
            if len(nums) not in (0, 2) or val < 0 or test < 0 or val + test >= 1:
                raise ValueError(f"--split={text!r}: expected random:VAL_FRACTION,TEST_FRACTION "
                                 "with fractions >= 0 summing below 1.")
            return cls("random", val, test)
        if kind == "given":
            if len(nums) > 1 or (nums and not 0 <= nums[0] < 1):
                raise ValueError(f"--split={text!r}: expected given or given:VAL_FRACTION.")
            return cls("given", nums[0] if nums else 0.0)
        raise ValueError(f"--split={text!r}: unknown split; use chrono:V,T, random:V,T or given[:V].")

    def __str__(self) -> str:
        if self.kind == "given":
            return f"given:{self.val:g}" if self.val else "given"
        return f"{self.kind}:{self.val:g},{self.test:g}"


def hash_uniform(keys: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of (key, seed) -> uniform [0, 1): a row's split does not depend on chunking."""
    with np.errstate(over="ignore"):
        z = np.asarray(keys, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


# --- sources -------------------------------------------------------------------------------

@dataclasses.dataclass
class SideTable:
    """Features joined to the main rows by a key (KuaiRand user/video features, Ali-CCP common
    features). `table` is indexed by the key (unique); rows without a match get id 0."""

    name: str
    key: str
    table: pd.DataFrame
    columns: list[ColumnSpec]


@dataclasses.dataclass
class Chunk:
    """Validated main rows of a piece of one input file."""

    frame: pd.DataFrame
    file: str
    file_index: int
    lines: np.ndarray
    rows_read: int
    rejects: list
    given_split: int | None = None       # split code of the whole file (given splits)

    @property
    def row_keys(self) -> np.ndarray:
        return (np.int64(self.file_index) << np.int64(40)) + self.lines


class Source:
    """What a converter describes. Subclasses set the attributes and implement `chunks`."""

    dataset: str = "custom"
    label: str
    domain_column: str
    user_field: str
    item_field: str
    prior_fields: tuple[str, ...] = ()
    main_columns: list[ColumnSpec]        # per-row feature columns (user and item first)
    time_column: str | None = None
    default_split: str = "random:0.1,0.1"
    max_domains: int | None = None        # keep the N largest domains of the train split
    domains: tuple[str, ...] | None = None

    def input_files(self) -> list[str]:
        raise NotImplementedError

    def side_tables(self) -> list[SideTable]:
        return []

    def chunks(self, columns: Sequence[str]) -> Iterator[Chunk]:
        """Validated chunks holding at least `columns` (main columns, label, domain, time)."""
        raise NotImplementedError

    def row_columns(self) -> list[str]:
        cols = [c.name for c in self.main_columns] + [self.label, self.domain_column]
        if self.time_column:
            cols.append(self.time_column)
        for t in self.side_tables():
            cols.append(t.key)
        return list(dict.fromkeys(cols))


# --- the engine ----------------------------------------------------------------------------

@dataclasses.dataclass
class ConvertOptions:
    output_dir: str
    split: str | None = None
    min_count: int = vocab_lib.DEFAULT_MIN_COUNT
    num_buckets: int = vocab_lib.DEFAULT_NUM_BUCKETS
    shards: int = 4
    seed: int = 0
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION
    progress: bool = True


class _NullProgress:
    def update(self, rows):
        pass

    def close(self):
        return 0.0


def _progress(label, enabled):
    return writer_lib.Progress(label) if enabled else _NullProgress()


def _split_codes(chunk: Chunk, spec: SplitSpec, seed: int, date_cuts) -> np.ndarray:
    n = len(chunk.frame)
    if spec.kind == "chrono":
        dates = chunk.frame[date_cuts[0]].to_numpy()
        val_start, test_start = date_cuts[1], date_cuts[2]
        codes = np.where(dates >= test_start, TEST, np.where(dates >= val_start, VAL, TRAIN))
        return codes.astype(np.int8)
    if spec.kind == "random":
        u = hash_uniform(chunk.row_keys, seed)
        return np.where(u < spec.val, VAL, np.where(u < spec.val + spec.test, TEST, TRAIN)).astype(np.int8)
    if chunk.given_split is None:
        raise ValueError("--split=given needs a data set with its own split files.")
    codes = np.full(n, chunk.given_split, dtype=np.int8)
    if spec.val and chunk.given_split == TRAIN:
        codes[hash_uniform(chunk.row_keys, seed) < spec.val] = VAL
    return codes


def _time_values(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def convert(source: Source, options: ConvertOptions) -> dict:
    """Runs the conversion; returns the stats dict (also written to stats.json)."""
    started = time.time()
    spec = SplitSpec.parse(options.split or source.default_split)
    if spec.kind == "chrono" and not source.time_column:
        raise ValueError(f"--split={spec}: data set {source.dataset!r} has no time column; use "
                         "random:V,T or name a time column in the schema.")
    out = options.output_dir
    os.makedirs(out, exist_ok=True)
    for split in writer_lib.SPLITS:
        for old in glob.glob(os.path.join(out, split, "part-*.tfrecord.gz")):
            os.remove(old)

    # Pass 0: domain counts on the training rows (and the dates of a chronological split).
    date_cuts = None
    domains = tuple(source.domains) if source.domains else None
    need_scan = spec.kind == "chrono" or domains is None
    if need_scan:
        scan_cols = [source.domain_column] + ([source.time_column] if spec.kind == "chrono" else [])
        counts: Counter = Counter()
        progress = _progress("scan ", options.progress)
        for chunk in source.chunks(scan_cols):
            dom = vocab_lib.canonical_domain_values(chunk.frame[source.domain_column])
            if spec.kind == "chrono":
                keys = _time_values(chunk.frame[source.time_column]).to_numpy()
            else:
                keys = _split_codes(chunk, spec, options.seed, None)
            pairs = pd.Series(np.ones(len(dom))).groupby([keys, dom]).sum()
            for (k, d), c in pairs.items():
                counts[(k, d)] += int(c)
            progress.update(chunk.rows_read)
        progress.close()
        if spec.kind == "chrono":
            dates = sorted({k for k, _ in counts if k == k})
            if len(dates) < spec.val + spec.test + 1:
                raise ValueError(f"--split={spec}: the data has {len(dates)} distinct "
                                 f"{source.time_column!r} values, too few for it.")
            test_start = dates[-int(spec.test)]
            val_start = dates[-int(spec.test + spec.val)]
            date_cuts = (source.time_column, val_start, test_start)
            train_counts = Counter()
            for (k, d), c in counts.items():
                if k < val_start:
                    train_counts[d] += c
        else:
            train_counts = Counter({d: c for (k, d), c in counts.items() if k == TRAIN})
        if domains is None:
            ranked = sorted(train_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ranked = [d for d, _ in ranked if d != ""]
            if source.max_domains:
                ranked = ranked[: source.max_domains]
            if not ranked:
                raise ValueError(f"No training rows with a {source.domain_column!r} value.")
            domains = tuple(sorted(ranked, key=_domain_sort_key))
    domain_map = vocab_lib.DomainMapper(domains)

    # Pass 1: fit on training rows of the kept domains.
    side_tables = source.side_tables()
    side_columns = [c for t in side_tables for c in t.columns]
    fitter = vocab_lib.FeatureFitter(source.main_columns + side_columns,
                                     min_count=options.min_count,
                                     num_buckets=options.num_buckets, seed=options.seed)
    key_counts: dict[str, pd.Series] = {}
    progress = _progress("fit  ", options.progress)
    fit_cols = [c.name for c in source.main_columns] + [source.domain_column] + \
        ([source.time_column] if source.time_column else []) + [t.key for t in side_tables]
    for chunk in source.chunks(list(dict.fromkeys(fit_cols))):
        codes = _split_codes(chunk, spec, options.seed, date_cuts)
        dom = domain_map.transform(vocab_lib.canonical_domain_values(chunk.frame[source.domain_column]))
        train = chunk.frame[(codes == TRAIN) & (dom >= 0)]
        fitter.update(train)
        for t in side_tables:
            vc = train[t.key].value_counts()
            key_counts[t.key] = vc if t.key not in key_counts else key_counts[t.key].add(vc, fill_value=0)
        progress.update(chunk.rows_read)
    progress.close()
    fitted = fitter.finalize([c.name for c in source.main_columns])
    side_ids = []        # (table, key index, id matrix with a last all-zero row for misses)
    for t in side_tables:
        counts = key_counts.get(t.key, pd.Series(dtype=np.float64))
        weights = counts.reindex(t.table.index).fillna(0).to_numpy()
        fitted_t = fitter.update_weighted(t.table, weights)
        fitted.update(fitted_t)
        matrix = np.zeros((len(t.table) + 1, len(t.columns)), dtype=np.int64)
        for j, c in enumerate(t.columns):
            matrix[:-1, j] = fitted_t[c.name].transform(t.table[c.name])
        side_ids.append((t, pd.Index(t.table.index), matrix))

    fields = [fitted[c.name].field() for c in source.main_columns + side_columns]
    fields.append(domain_map.field(source.domain_column))
    for c in source.main_columns + side_columns:
        if c.kind == "categorical":
            fitted[c.name].write_vocabulary(out)
    schema = FeatureSchema(
        fields=tuple(fields), label=source.label, domain_field=source.domain_column,
        domains=domains, user_field=source.user_field, item_field=source.item_field,
        prior_fields=tuple(source.prior_fields),
        metadata={"dataset": source.dataset, "split": str(spec), "min_count": options.min_count,
                  "num_buckets": options.num_buckets, "seed": options.seed})
    schema.save(os.path.join(out, "schema.json"))

    # Pass 2: map, encode, write.
    encoder = writer_lib.ExampleEncoder(schema.field_names, schema.vocab_sizes, schema.label)
    report = writer_lib.Report(out, domains)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    writers = {s: writer_lib.ShardedWriter(os.path.join(out, s), options.shards, pool, encoder)
               for s in writer_lib.SPLITS}
    main_names = [c.name for c in source.main_columns]
    # Checksums of the inputs, computed in a thread while the write pass runs (hashlib releases
    # the GIL on large buffers).
    checksums = pool.submit(lambda: {p: file_sha256(p) for p in source.input_files()})
    progress = _progress("write", options.progress)
    write_started = time.time()
    try:
        for chunk in source.chunks(source.row_columns()):
            report.rows_read += chunk.rows_read
            for line, reason, text in chunk.rejects:
                report.reject(chunk.file, line, reason, text)
            frame = chunk.frame
            dom = domain_map.transform(vocab_lib.canonical_domain_values(frame[source.domain_column]))
            unknown = dom < 0
            if unknown.any():
                report.filter("domain not in the domain list",
                              vocab_lib.canonical_domain_values(frame[source.domain_column])[unknown])
            codes = _split_codes(chunk, spec, options.seed, date_cuts)
            keep = ~unknown
            frame, dom, codes = frame[keep], dom[keep], codes[keep]
            ids = np.empty((len(frame), len(fields)), dtype=np.int64)
            for j, name in enumerate(main_names):
                ids[:, j] = fitted[name].transform(frame[name])
            j = len(main_names)
            for t, index, matrix in side_ids:
                rows = index.get_indexer(frame[t.key])
                missing = rows < 0
                if missing.any():
                    report.join_missing[t.name] += int(missing.sum())
                rows[missing] = len(matrix) - 1
                ids[:, j:j + matrix.shape[1]] = matrix[rows]
                j += matrix.shape[1]
            ids[:, j] = dom
            labels = frame[source.label].to_numpy(dtype=np.float32)
            for code, split in enumerate(writer_lib.SPLITS):
                sel = codes == code
                if sel.any():
                    writers[split].write(ids[sel], labels[sel])
                    report.add_written(split, dom[sel], labels[sel])
            progress.update(chunk.rows_read)
    finally:
        for w in writers.values():
            w.close()
        report.checksums = checksums.result()
        pool.shutdown()
        report.close()
    progress.close()
    seconds = time.time() - write_started
    stats_extra = {
        "dataset": source.dataset, "split": str(spec), "domains": list(domains),
        "min_count": options.min_count, "num_buckets": options.num_buckets,
        "shards": options.shards, "seed": options.seed,
        "seconds_total": round(time.time() - started, 3), "seconds_write_pass": round(seconds, 3),
    }
    report.save(out, stats_extra)
    line = report.check_invariant()
    print(line)
    stats = report.stats()
    if stats["rows_read"] and stats["rows_rejected"] > options.max_reject_fraction * stats["rows_read"]:
        raise writer_lib.ConversionError(
            f"{stats['rows_rejected']:,} of {stats['rows_read']:,} rows were rejected, more than "
            f"--max_reject_fraction={options.max_reject_fraction}; see "
            f"{os.path.join(out, writer_lib.REJECTS_FILE)} for each row's file, line and reason.")
    return {**stats, **stats_extra}


def _domain_sort_key(d: str):
    try:
        return (0, float(d), d)
    except ValueError:
        return (1, 0.0, d)
