"""Fitting of vocabularies and bucket boundaries on the training split, and raw value -> id mapping.

Shared by every converter (one definition of the id conventions of `crocodile_tf.features`):

* categorical: id 0 is the default id (missing, unseen, or seen fewer than `min_count` times in
  the training rows, SPEC §8); ids 1.. follow the kept raw values in ascending order and are
  written to `vocab/<field>.txt` (line i = raw value of id i, line 0 a placeholder);
* numeric: quantile boundaries fitted on training rows only; id 0 = missing/NaN, else
  `searchsorted(boundaries, v, side="right") + 1`;
* domain: ids 0 .. S-1 = index in the domain list.

Fitting is streaming: `FeatureFitter.update` is called once per chunk of training rows, so memory
is bounded by the number of distinct values (categorical) and the reservoir size (numeric), not by
the number of rows. Columns of joined side tables (user or item features) are fitted exactly with
the number of training impressions of each key as weights, which equals fitting on the joined rows.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from crocodile_tf.features import CATEGORICAL, NUMERIC, Field

DEFAULT_MIN_COUNT = 10
DEFAULT_NUM_BUCKETS = 20
DEFAULT_RESERVOIR = 1_000_000
VOCAB_DIR = "vocab"
PLACEHOLDER = "<default>"


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """A raw input column that becomes one model field.

    Attributes:
      name: column name in the raw data = field name in the schema.
      kind: "categorical" or "numeric".
      raw_dtype: "int64" or "string" for categorical columns, "float" for numeric ones.
    """

    name: str
    kind: str = CATEGORICAL
    raw_dtype: str = "int64"

    def __post_init__(self):
        if self.kind == NUMERIC and self.raw_dtype != "float":
            object.__setattr__(self, "raw_dtype", "float")
        if self.kind == CATEGORICAL and self.raw_dtype not in ("int64", "string"):
            raise ValueError(f"Column {self.name!r}: categorical raw_dtype must be 'int64' or "
                             f"'string', got {self.raw_dtype!r}.")
        if self.kind not in (CATEGORICAL, NUMERIC):
            raise ValueError(f"Column {self.name!r}: kind must be categorical or numeric, "
                             f"got {self.kind!r}.")


def categorical(*names: str, raw_dtype: str = "int64") -> list[ColumnSpec]:
    return [ColumnSpec(n, CATEGORICAL, raw_dtype) for n in names]


def numeric(*names: str) -> list[ColumnSpec]:
    return [ColumnSpec(n, NUMERIC, "float") for n in names]


# --- raw value normalization ---------------------------------------------------------------

def normalize(values, raw_dtype: str) -> pd.Series:
    """Raw values as the canonical dtype of `raw_dtype` (nullable: missing stays missing).

    int64 columns may arrive as floats (a CSV column with missing values); integral floats are
    the same raw value as the int. Callers validate values before (see `reader.py`).
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if raw_dtype == "int64":
        if s.dtype.kind in "iu":
            return s.astype(np.int64)
        if s.dtype.kind == "f":
            return s.astype("Int64")
        return pd.to_numeric(s, errors="coerce").astype("Float64").astype("Int64")
    if raw_dtype == "string":
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            return s.astype(object).where(s.notna(), None)
        out = s.astype(object).map(_canonical_str)
        return out.where(s.notna(), None)
    return pd.to_numeric(s, errors="coerce").astype(np.float64)


def _canonical_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def canonical_domain_values(values) -> np.ndarray:
    """Domain values as strings, integral numbers without a trailing '.0' ("1.0" -> "1")."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if s.dtype.kind in "iu":
        return s.astype(str).to_numpy(object)
    if s.dtype.kind == "f":
        return s.map(lambda v: "" if v != v else _canonical_str(v)).to_numpy(object)
    s = s.astype(object).where(s.notna(), "")
    num = pd.to_numeric(s, errors="coerce")
    integral = num.notna() & (num == np.floor(num.fillna(0)))
    out = s.astype(str).str.strip()
    out[integral] = num[integral].astype(np.int64).astype(str)
    return out.to_numpy(object)


# --- fitting -------------------------------------------------------------------------------

def quantile_boundaries(values: np.ndarray, num_buckets: int,
                        weights: np.ndarray | None = None) -> np.ndarray:
    """Strictly increasing boundaries at the (weighted) quantiles i/num_buckets, i=1..B-1.

    Inverted-CDF definition: the boundary of quantile q is the smallest value whose cumulative
    weight reaches q. NaN values are ignored; ties collapse (fewer buckets for discrete columns).
    """
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(values) & (w > 0)
    values, w = values[keep], w[keep]
    if values.size == 0 or num_buckets < 2:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(w[order])
    qs = np.arange(1, num_buckets) / num_buckets * cum[-1]
    idx = np.minimum(np.searchsorted(cum, qs, side="left"), values.size - 1)
    return np.unique(values[idx])


class _Reservoir:
    """A uniform sample without replacement of at most `size` values of a stream."""

    def __init__(self, size: int, rng: np.random.Generator):
        self._size, self._rng = size, rng
        self._keys = np.zeros(0)
        self._values = np.zeros(0)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        keys = np.concatenate([self._keys, self._rng.random(values.size)])
        vals = np.concatenate([self._values, values])
        if keys.size > self._size:
            keep = np.argpartition(keys, self._size)[: self._size]
            keys, vals = keys[keep], vals[keep]
        self._keys, self._values = keys, vals

    @property
    def values(self) -> np.ndarray:
        return self._values


@dataclasses.dataclass
class FittedColumn:
    spec: ColumnSpec
    vocabulary: np.ndarray | None = None   # kept raw values, id i+1 <-> vocabulary[i]
    boundaries: np.ndarray | None = None
    _index: pd.Index | None = dataclasses.field(default=None, repr=False)

    def field(self) -> Field:
        if self.spec.kind == NUMERIC:
            b = tuple(float(x) for x in self.boundaries)
            return Field(self.spec.name, len(b) + 2, kind=NUMERIC, raw_dtype="float", boundaries=b)
        return Field(self.spec.name, len(self.vocabulary) + 1, kind=CATEGORICAL,
                     raw_dtype=self.spec.raw_dtype,
                     vocabulary_file=f"{VOCAB_DIR}/{self.spec.name}.txt")

    def transform(self, values) -> np.ndarray:
        """Raw values -> int64 ids (see the module docstring for the conventions)."""
        if self.spec.kind == NUMERIC:
            return bucketize(normalize(values, "float").to_numpy(), self.boundaries)
        if self._index is None:
            self._index = pd.Index(self.vocabulary)
        raw = normalize(values, self.spec.raw_dtype)
        if raw.dtype == "Int64":
            mask = raw.isna().to_numpy()
            raw = raw.fillna(0).astype(np.int64)
            ids = self._index.get_indexer(raw) + 1
            ids[mask] = 0
            return ids.astype(np.int64)
        return (self._index.get_indexer(raw) + 1).astype(np.int64)

    def write_vocabulary(self, output_dir: str) -> None:
        path = os.path.join(output_dir, VOCAB_DIR, f"{self.spec.name}.txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lines = [PLACEHOLDER] + [str(v) for v in self.vocabulary]
        bad = [v for v in lines if "\n" in v or "\r" in v]
        if bad:
            raise ValueError(f"Column {self.spec.name!r}: raw value {bad[0]!r} contains a line "
                             "break and cannot be written to a line-per-id vocabulary file.")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def bucketize(values: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    ids = np.searchsorted(boundaries, values, side="right").astype(np.int64) + 1
    ids[np.isnan(values)] = 0
    return ids


class FeatureFitter:
    """Streaming fit of the columns of the training rows."""

    def __init__(self, columns: Sequence[ColumnSpec], *, min_count: int = DEFAULT_MIN_COUNT,
                 num_buckets: int = DEFAULT_NUM_BUCKETS, reservoir_size: int = DEFAULT_RESERVOIR,
                 seed: int = 0):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}.")
        if num_buckets < 1:
            raise ValueError(f"num_buckets must be >= 1, got {num_buckets}.")
        self.columns = list(columns)
        self.min_count, self.num_buckets = min_count, num_buckets
        rng = np.random.default_rng(seed)
        self._counts: dict[str, pd.Series] = {}
        self._reservoirs = {c.name: _Reservoir(reservoir_size, rng)
                            for c in self.columns if c.kind == NUMERIC}

    def update(self, frame: pd.DataFrame) -> None:
        """Adds a chunk of training rows. Columns absent from `frame` (side-table columns,
        fitted by `update_weighted`) are skipped."""
        for c in self.columns:
            if c.name not in frame:
                continue
            if c.kind == NUMERIC:
                self._reservoirs[c.name].add(normalize(frame[c.name], "float").to_numpy())
            else:
                counts = normalize(frame[c.name], c.raw_dtype).value_counts(dropna=True)
                self._add_counts(c.name, counts)

    def update_weighted(self, table: pd.DataFrame, weights: np.ndarray) -> dict[str, FittedColumn]:
        """Fits the columns of a side table exactly: row r of `table` counts `weights[r]` times.

        Returns the fitted columns of this table (only columns present in `table`).
        """
        fitted = {}
        weights = np.asarray(weights, dtype=np.float64)
        for c in self.columns:
            if c.name not in table:
                continue
            if c.kind == NUMERIC:
                values = normalize(table[c.name], "float").to_numpy()
                fitted[c.name] = FittedColumn(c, boundaries=quantile_boundaries(
                    values, self.num_buckets, weights))
            else:
                raw = normalize(table[c.name], c.raw_dtype)
                counts = pd.Series(weights, index=raw.index).groupby(raw, dropna=True).sum()
                fitted[c.name] = FittedColumn(c, vocabulary=self._kept(counts, c.raw_dtype))
        return fitted

    def _add_counts(self, name: str, counts: pd.Series) -> None:
        old = self._counts.get(name)
        self._counts[name] = counts if old is None else old.add(counts, fill_value=0)

    def _kept(self, counts: pd.Series, raw_dtype: str) -> np.ndarray:
        kept = counts.index[counts.to_numpy() >= self.min_count]
        if raw_dtype == "int64":
            return np.sort(np.asarray(kept, dtype=np.int64))
        return np.sort(np.asarray([str(v) for v in kept], dtype=object))

    def finalize(self, names: Iterable[str] | None = None) -> dict[str, FittedColumn]:
        """Fitted columns of the streamed (non-side-table) columns."""
        names = set(names) if names is not None else {c.name for c in self.columns}
        out = {}
        for c in self.columns:
            if c.name not in names:
                continue
            if c.kind == NUMERIC:
                out[c.name] = FittedColumn(c, boundaries=quantile_boundaries(
                    self._reservoirs[c.name].values, self.num_buckets))
            else:
                counts = self._counts.get(c.name, pd.Series(dtype=np.float64))
                vocab = self._kept(counts, c.raw_dtype)
                out[c.name] = FittedColumn(c, vocabulary=vocab)
        return out


class DomainMapper:
    """Raw domain values (strings) -> domain ids 0..S-1; -1 for values outside the list."""

    def __init__(self, domains: Sequence[str]):
        self.domains = tuple(str(d) for d in domains)
        if not self.domains:
            raise ValueError("The domain list is empty.")
        self._index = pd.Index(self.domains)

    def transform(self, canonical_values: np.ndarray) -> np.ndarray:
        return self._index.get_indexer(canonical_values).astype(np.int64)

    def field(self, name: str) -> Field:
        return Field(name, len(self.domains), kind=CATEGORICAL, raw_dtype="string")
