"""Ali-CCP -> TFRecords (SPEC §8), from the raw files or the common preprocessed CSV form.

Raw form (`--dataset=aliccp`): `sample_skeleton_{train,test}.csv` rows are
`sample_id,click,conversion,common_feature_index,feature_num,feature_list` (no header), where
`feature_list` joins `field\\x02feature_id\\x03value` items with `\\x01`; `common_features_*.csv`
rows are `common_feature_index,feature_num,feature_list` with the user-side fields shared by many
samples. Both are streamed in byte blocks, so memory stays bounded whatever the file size: the
skeleton is never held in memory, and of the common features only the kept fields of each
common_feature_index are (one int64/float per field; the raw file is dominated by long behaviour
lists that are dropped while parsing). The output has the same fields as the preprocessed form:
categorical fields named by their field id (the feature id is the raw value; a field with several
items keeps the first) and numeric `D<field>` columns holding the item value of the weighted
fields. Domain = field 301, label = click. Split: the data set's own train/test files, with a
fraction of train carved out as val (`given:0.1` by default).

Preprocessed form (`--dataset=aliccp_csv`): the `*train*.csv`, `*val*.csv`, `*test*.csv` files of
`../shared/data/aliccp/` (columns click, purchase, 101 ... 301 ..., D*), converted by the generic
converter with a built-in schema.
"""

from __future__ import annotations

import glob
import os
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crocodile_tf.pipelines import reader
from crocodile_tf.pipelines.conversion import TEST, TRAIN, Chunk, SideTable, Source
from crocodile_tf.pipelines.generic import GenericSource
from crocodile_tf.pipelines.vocab import categorical, numeric

SKELETON_FILES = {TRAIN: "sample_skeleton_train.csv", TEST: "sample_skeleton_test.csv"}
COMMON_FILES = {TRAIN: "common_features_train.csv", TEST: "common_features_test.csv"}
SKELETON_NAMES = ("sample_id", "click", "conversion", "common_feature_index", "feature_num",
                  "feature_list")
COMMON_NAMES = ("common_feature_index", "feature_num", "feature_list")

DOMAIN_FIELD = "301"
USER_FIELD = "101"
ITEM_FIELD = "205"
# Fields of each file in the common preprocessing (user side in the common features, ad and
# context side in the skeleton); `_14` fields carry a weight kept as the numeric D<field>.
SKELETON_FIELDS = ("205", "206", "207", "210", "216", "508", "509", "702", "853", "301")
COMMON_FIELDS = ("101", "121", "122", "124", "125", "126", "127", "128", "129", "109_14",
                 "110_14", "127_14", "150_14")
SKELETON_VALUE_FIELDS = ("508", "509", "702", "853")
COMMON_VALUE_FIELDS = ("109_14", "110_14", "127_14", "150_14")

_ITEM = r"^(?P<field>[^\x02]*)\x02(?P<id>[^\x03]*)\x03(?P<value>.*)$"


def parse_feature_lists(feature_lists: pa.Array, fields: Sequence[str],
                        value_fields: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Vectorized parse of `field\\x02id\\x03value` lists joined by `\\x01`.

    Returns ({field: float64 ids (NaN if absent), "D"+field: values}, number of items per row);
    items that do not match the pattern count as -1 items for their row (a malformed row).
    """
    n = len(feature_lists)
    feature_lists = pc.fill_null(feature_lists.cast(pa.string()), "")
    items = pc.split_pattern(feature_lists, "\x01")
    flat = pc.list_flatten(items)
    parents = pc.list_parent_indices(items).to_numpy()
    parsed = pc.extract_regex(flat, _ITEM)
    valid = parsed.is_valid().to_numpy(zero_copy_only=False)
    num_items = np.bincount(parents, minlength=n).astype(np.int64)
    bad_rows = np.unique(parents[~valid])
    num_items[bad_rows] = -1
    field_col = pc.struct_field(parsed, [0])
    keep = pc.and_(parsed.is_valid(), pc.is_in(field_col, value_set=pa.array(list(fields))))
    field_col = pc.filter(field_col, keep).to_numpy(zero_copy_only=False).astype(str)
    ids = pc.filter(pc.struct_field(parsed, [1]), keep)
    vals = pc.filter(pc.struct_field(parsed, [2]), keep)
    ids = pd.to_numeric(pd.Series(ids.to_numpy(zero_copy_only=False)), errors="coerce").to_numpy()
    vals = pd.to_numeric(pd.Series(vals.to_numpy(zero_copy_only=False)), errors="coerce").to_numpy()
    rows = parents[pc.filter(pa.array(np.arange(len(flat))), keep).to_numpy()] if len(flat) else \
        np.zeros(0, np.int64)
    out = {}
    for f in fields:
        sel = np.flatnonzero(field_col == f)
        r, first = np.unique(rows[sel], return_index=True)    # the first item of the field
        col = np.full(n, np.nan)
        col[r] = ids[sel[first]]
        out[f] = col
        if f in value_fields:
            v = np.full(n, np.nan)
            v[r] = vals[sel[first]]
            out["D" + f] = v
    return out, num_items


class AliCCPRawSource(Source):
    """The raw Ali-CCP files in `input_dir`."""

    dataset = "aliccp"
    label = "click"
    domain_column = DOMAIN_FIELD
    user_field = USER_FIELD
    item_field = ITEM_FIELD
    default_split = "given:0.1"

    def __init__(self, input_dir: str, domains: Sequence[str] | None = None,
                 block_bytes: int = reader.DEFAULT_BLOCK_BYTES):
        self.input_dir = input_dir
        self.domains = tuple(str(d) for d in domains) if domains else None
        self._block_bytes = block_bytes
        self._skeletons = [(os.path.join(input_dir, SKELETON_FILES[s]), s) for s in (TRAIN, TEST)]
        self._commons = [os.path.join(input_dir, COMMON_FILES[s]) for s in (TRAIN, TEST)]
        for path in [p for p, _ in self._skeletons] + self._commons:
            reader.check_file(path)
        skeleton_cats = [f for f in SKELETON_FIELDS if f != DOMAIN_FIELD]
        self.main_columns = categorical(*skeleton_cats) + numeric(
            *["D" + f for f in SKELETON_VALUE_FIELDS])
        self._side_columns = categorical(*COMMON_FIELDS) + numeric(
            *["D" + f for f in COMMON_VALUE_FIELDS])
        self._side = None

    def input_files(self) -> list[str]:
        return [p for p, _ in self._skeletons] + self._commons

    def side_tables(self) -> list[SideTable]:
        if self._side is None:
            parts = []
            for path in self._commons:
                for block in reader.read_csv(path, {"common_feature_index": "string",
                                                    "feature_list": "string"},
                                             names=COMMON_NAMES, block_bytes=self._block_bytes):
                    if block.rejects:
                        line, reason, _ = block.rejects[0]
                        raise ValueError(f"{path}: line {line}: {reason}.")
                    cols, num_items = parse_feature_lists(
                        pa.array(block.frame["feature_list"], pa.string()), COMMON_FIELDS,
                        COMMON_VALUE_FIELDS)
                    if (num_items < 0).any():
                        i = int(np.flatnonzero(num_items < 0)[0])
                        raise ValueError(f"{path}: line {block.lines[i]}: malformed feature_list "
                                         "(items must be field\\x02id\\x03value).")
                    part = pd.DataFrame(cols)
                    part.index = pd.Index(block.frame["common_feature_index"].astype(str))
                    parts.append(part)
            table = pd.concat(parts) if parts else pd.DataFrame(
                columns=[c.name for c in self._side_columns])
            table = table[~table.index.duplicated(keep="first")]
            table.index.name = "common_feature_index"
            self._side = [SideTable("common_features", "common_feature_index", table,
                                    list(self._side_columns))]
        return self._side

    def chunks(self, columns: Sequence[str]) -> Iterator[Chunk]:
        kinds = {"click": "label", "common_feature_index": "string", "feature_num": "int64",
                 "feature_list": "string"}
        for index, (path, split) in enumerate(self._skeletons):
            for block in reader.read_csv(path, kinds, names=SKELETON_NAMES,
                                         block_bytes=self._block_bytes):
                cols, num_items = parse_feature_lists(
                    pa.array(block.frame["feature_list"], pa.string()), SKELETON_FIELDS,
                    SKELETON_VALUE_FIELDS)
                declared = block.frame["feature_num"].to_numpy(dtype=np.float64, na_value=np.nan)
                bad = (num_items < 0) | (num_items != declared)
                rejects = list(block.rejects)
                for i in np.flatnonzero(bad):
                    reason = ("malformed feature_list: items must be field\\x02id\\x03value"
                              if num_items[i] < 0 else
                              f"wrong feature count: feature_num says {declared[i]:g}, "
                              f"feature_list has {num_items[i]}")
                    rejects.append((int(block.lines[i]), reason, ""))
                good = ~bad
                frame = pd.DataFrame({k: v[good] for k, v in cols.items()})
                dom = cols[DOMAIN_FIELD][good]
                missing = np.isnan(dom)
                dom = np.where(missing, 0, dom).astype(np.int64).astype(str).astype(object)
                dom[missing] = ""
                frame[DOMAIN_FIELD] = dom
                frame["click"] = block.frame["click"].to_numpy()[good]
                frame["common_feature_index"] = block.frame["common_feature_index"].to_numpy()[good]
                yield Chunk(frame, path, index, block.lines[good], block.rows_read,
                            sorted(rejects), given_split=split)


ALICCP_CSV_CATEGORICAL = ("101", "121", "122", "124", "125", "126", "127", "128", "129", "205",
                          "206", "207", "210", "216", "508", "509", "702", "853", "109_14",
                          "110_14", "127_14", "150_14")
ALICCP_CSV_NUMERIC = ("D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853")


def aliccp_csv_source(input_dir: str, domains: Sequence[str] | None = None) -> GenericSource:
    """The preprocessed Ali-CCP CSV form: one *train*, *val* and *test* CSV in `input_dir`."""
    files = {}
    for split in ("train", "val", "test"):
        matches = sorted(glob.glob(os.path.join(input_dir, f"*{split}*.csv")))
        if len(matches) != 1:
            raise FileNotFoundError(f"{input_dir}: expected one *{split}*.csv file of the "
                                    f"preprocessed Ali-CCP form, found {matches or 'none'}.")
        files[split] = matches[0]
    config = {
        "dataset": "aliccp_csv", "label": "click", "domain": DOMAIN_FIELD,
        "user": USER_FIELD, "item": ITEM_FIELD,
        "categorical": [{"name": c, "dtype": "int64"} for c in ALICCP_CSV_CATEGORICAL],
        "numeric": list(ALICCP_CSV_NUMERIC), "files": files,
        "_path": os.path.join(input_dir, "(aliccp_csv schema)"),
    }
    return GenericSource(config, domains=domains or None)
