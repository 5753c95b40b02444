"""Any multi-domain log in CSV or Parquet, described by a small JSON (or YAML) schema file.

This is how users bring their own data without code changes. Schema keys:

    {
      "label": "is_click",                 # 0/1 column
      "domain": "tab",                     # the domain column
      "user": "user_id",                   # user id column (gAUC grouping, prior)
      "item": "video_id",                  # item id column (prior)
      "categorical": ["user_id", "video_id", "city", {"name": "zip", "dtype": "string"}],
      "numeric": ["price", "age"],         # bucketized with quantile boundaries fitted on train
      "domains": ["1", "2"],               # optional: the kept domains (default: all in train)
      "max_domains": 5,                    # optional: keep the N largest domains of train
      "prior": ["user_id", "video_id", "tab"],   # optional: PeG prior fields
      "time": "date",                      # optional numeric time column: enables chrono:V,T
      "files": {"train": "a.csv", "val": "b.csv", "test": "c.csv"}   # optional: given split
    }

Categorical columns are int64 ids when every value in the file's first block is an integer,
else strings; `{"name": ..., "dtype": "int64"|"string"}` fixes it. File paths in "files" are
relative to the schema file. YAML needs the `pyyaml` package (JSON always works).
"""

from __future__ import annotations

import json
import os
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from crocodile_tf.pipelines import reader
from crocodile_tf.pipelines.conversion import TEST, TRAIN, VAL, Chunk, Source
from crocodile_tf.pipelines.vocab import ColumnSpec

_SPLIT_CODES = {"train": TRAIN, "val": VAL, "test": TEST}
_KEYS = {"label", "domain", "user", "item", "categorical", "numeric", "domains", "max_domains",
         "prior", "time", "files", "embedding_dim", "dataset"}


def load_schema_file(path: str) -> dict:
    """Reads a generic schema from JSON, or YAML (.yaml/.yml, needs pyyaml)."""
    reader.check_file(path)
    with open(path) as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ImportError(f"{path}: reading a YAML schema needs the pyyaml package "
                              "(pip install pyyaml), or write the schema as JSON.") from None
        config = yaml.safe_load(text)
    else:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the schema must be a mapping of keys to values.")
    config.setdefault("_base_dir", os.path.dirname(os.path.abspath(path)))
    config.setdefault("_path", path)
    return config


class GenericSource(Source):
    """A flat CSV/Parquet log described by a schema dict (see the module docstring)."""

    def __init__(self, config: dict, inputs: Sequence[str] | None = None,
                 domains: Sequence[str] | None = None, dataset: str = "generic"):
        where = config.get("_path", "schema")
        unknown = set(config) - _KEYS - {"_base_dir", "_path"}
        if unknown:
            raise ValueError(f"{where}: unknown schema keys {sorted(unknown)}; known keys are "
                             f"{sorted(_KEYS)}.")
        for key in ("label", "domain", "user", "item"):
            if not isinstance(config.get(key), str):
                raise ValueError(f"{where}: key {key!r} must name a column.")
        self.dataset = config.get("dataset", dataset)
        self.label = config["label"]
        self.domain_column = config["domain"]
        self.user_field, self.item_field = config["user"], config["item"]
        self.prior_fields = tuple(config.get("prior", ()))
        self.time_column = config.get("time")
        self.max_domains = config.get("max_domains")
        self.default_split = "chrono:2,2" if self.time_column else "random:0.1,0.1"
        dom = domains if domains else config.get("domains")
        self.domains = tuple(str(d) for d in dom) if dom else None

        files = config.get("files")
        base = config.get("_base_dir", "")
        if files:
            if inputs:
                raise ValueError(f"{where}: give input files either in the schema's 'files' or "
                                 "with --input, not both.")
            bad = set(files) - set(_SPLIT_CODES)
            if bad:
                raise ValueError(f"{where}: 'files' keys must be train/val/test, got {sorted(bad)}.")
            self._files = [(os.path.join(base, p), _SPLIT_CODES[s]) for s, p in files.items()]
            self.default_split = "given"
        else:
            if not inputs:
                raise ValueError(f"{where}: no input files: pass --input or list 'files' in the schema.")
            self._files = [(p, None) for p in inputs]
        for path, _ in self._files:
            reader.check_file(path)

        categorical = []
        for entry in config.get("categorical", []):
            if isinstance(entry, str):
                categorical.append((entry, None))
            elif isinstance(entry, dict) and "name" in entry:
                dtype = entry.get("dtype")
                if dtype not in (None, "int64", "string"):
                    raise ValueError(f"{where}: column {entry['name']!r}: dtype must be int64 or "
                                     f"string, got {dtype!r}.")
                categorical.append((entry["name"], dtype))
            else:
                raise ValueError(f"{where}: bad categorical entry {entry!r}.")
        numeric_cols = list(config.get("numeric", []))
        names = [n for n, _ in categorical] + numeric_cols
        for role in (self.user_field, self.item_field):
            if role not in names:
                raise ValueError(f"{where}: the {role!r} column must be listed as categorical.")
        for special in (self.label, self.domain_column):
            if special in names:
                raise ValueError(f"{where}: {special!r} is the label or domain column; do not "
                                 "list it as a feature.")
        inferred = self._infer_dtypes([n for n, d in categorical if d is None])
        cols = [ColumnSpec(n, "categorical", d or inferred[n]) for n, d in categorical]
        cols += [ColumnSpec(n, "numeric") for n in numeric_cols]
        # user and item first: the schema's field order.
        order = {self.user_field: 0, self.item_field: 1}
        self.main_columns = sorted(cols, key=lambda c: order.get(c.name, 2))

    def _infer_dtypes(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        path = self._files[0][0]
        block = next(reader.read_table(path, {n: "string" for n in names}), None)
        out = {}
        for n in names:
            values = block.frame[n].dropna() if block is not None else pd.Series(dtype=object)
            num = pd.to_numeric(values, errors="coerce")
            integral = num.notna().all() and bool(np.all(np.mod(num.to_numpy(np.float64), 1) == 0))
            out[n] = "int64" if integral else "string"
        return out

    def input_files(self) -> list[str]:
        return [p for p, _ in self._files]

    def _kinds(self, columns: Sequence[str]) -> dict[str, str]:
        specs = {c.name: c for c in self.main_columns}
        kinds = {}
        for c in columns:
            if c == self.label:
                kinds[c] = "label"
            elif c == self.domain_column:
                kinds[c] = "string"
            elif c == self.time_column:
                kinds[c] = "float"
            elif specs[c].kind == "numeric":
                kinds[c] = "float"
            else:
                kinds[c] = specs[c].raw_dtype
        # Every pass validates every row the same way, so rejects never depend on the pass.
        for c in self.row_columns():
            kinds.setdefault(c, "label" if c == self.label else
                             "string" if c == self.domain_column else
                             "float" if c == self.time_column or specs[c].kind == "numeric"
                             else specs[c].raw_dtype)
        return kinds

    def chunks(self, columns: Sequence[str]) -> Iterator[Chunk]:
        kinds = self._kinds(columns)
        for index, (path, split) in enumerate(self._files):
            for block in reader.read_table(path, kinds):
                yield Chunk(block.frame, path, index, block.lines, block.rows_read,
                            block.rejects, given_split=split)
