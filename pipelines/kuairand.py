"""KuaiRand-1K raw files -> TFRecords (SPEC §8).

Reads the two standard logs, joins `user_features_1k.csv` on user_id and
`video_features_basic_1k.csv` + `video_features_statistic_1k.csv` on video_id, keeps the 5 largest
`tab` values of the training split by default, label `is_click`, chronological split by `date`.

The join is done on ids, not on rows: the user and video tables are mapped to ids once (fitted
with each key's training impression count as weight, which equals fitting on the joined rows) and
gathered per row, so the joined columns cost one lookup per table per row.

Leakage: the log's post-click outcomes (`is_like`, `is_follow`, `is_comment`, `is_forward`,
`is_hate`, `long_view`, `play_time_ms`, `profile_stay_time`, `comment_stay_time`,
`is_profile_enter`) are observed after the click and would leak the label, so they are never
features; `time_ms` and `date` only drive the split. The video statistic table aggregates the
whole period; only a documented subset of it is used by default (`--kuairand_statistic_columns=all`
takes all 51 columns, at about twice the bytes per example).
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from crocodile_tf.pipelines import reader
from crocodile_tf.pipelines.conversion import Chunk, SideTable, Source
from crocodile_tf.pipelines.vocab import ColumnSpec, categorical, numeric

LOG_FILES = ("log_standard_4_08_to_4_21_1k.csv", "log_standard_4_22_to_5_08_1k.csv")
USER_FILE = "user_features_1k.csv"
VIDEO_BASIC_FILE = "video_features_basic_1k.csv"
VIDEO_STATISTIC_FILE = "video_features_statistic_1k.csv"

LOG_COLUMNS = ("user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like",
               "is_follow", "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms",
               "duration_ms", "profile_stay_time", "comment_stay_time", "is_profile_enter",
               "is_rand", "tab")
USER_COLUMNS = ("user_id", "user_active_degree", "is_lowactive_period", "is_live_streamer",
                "is_video_author", "follow_user_num", "follow_user_num_range", "fans_user_num",
                "fans_user_num_range", "friend_user_num", "friend_user_num_range",
                "register_days", "register_days_range") + tuple(f"onehot_feat{i}" for i in range(18))
VIDEO_BASIC_COLUMNS = ("video_id", "author_id", "video_type", "upload_dt", "upload_type",
                       "visible_status", "video_duration", "server_width", "server_height",
                       "music_id", "music_type", "tag")
VIDEO_STATISTIC_COLUMNS = (
    "video_id", "counts", "show_cnt", "show_user_num", "play_cnt", "play_user_num",
    "play_duration", "complete_play_cnt", "complete_play_user_num", "valid_play_cnt",
    "valid_play_user_num", "long_time_play_cnt", "long_time_play_user_num", "short_time_play_cnt",
    "short_time_play_user_num", "play_progress", "comment_stay_duration", "like_cnt",
    "like_user_num", "click_like_cnt", "double_click_cnt", "cancel_like_cnt",
    "cancel_like_user_num", "comment_cnt", "comment_user_num", "direct_comment_cnt",
    "reply_comment_cnt", "delete_comment_cnt", "delete_comment_user_num", "comment_like_cnt",
    "comment_like_user_num", "follow_cnt", "follow_user_num", "cancel_follow_cnt",
    "cancel_follow_user_num", "share_cnt", "share_user_num", "download_cnt", "download_user_num",
    "report_cnt", "report_user_num", "reduce_similar_cnt", "reduce_similar_user_num",
    "collect_cnt", "collect_user_num", "cancel_collect_cnt", "cancel_collect_user_num",
    "direct_comment_user_num", "reply_comment_user_num", "share_all_cnt", "share_all_user_num",
    "outsite_share_all_cnt")
# Default statistic subset: exposure, consumption and each engagement kind once (the *_user_num
# twins and cancel/delete counts are near-duplicates of these).
DEFAULT_STATISTIC_COLUMNS = ("show_cnt", "play_cnt", "complete_play_cnt", "play_progress",
                             "like_cnt", "comment_cnt", "follow_cnt", "share_cnt")

LOG_FEATURES = categorical("user_id", "video_id", "hourmin") + numeric("duration_ms")
USER_FEATURES = (
    categorical("user_active_degree", "follow_user_num_range", "fans_user_num_range",
                "friend_user_num_range", "register_days_range", raw_dtype="string")
    + categorical("is_lowactive_period", "is_live_streamer", "is_video_author",
                  *[f"onehot_feat{i}" for i in range(18)])
    + numeric("follow_user_num", "fans_user_num", "friend_user_num", "register_days"))
VIDEO_BASIC_FEATURES = (
    categorical("video_type", "upload_dt", "upload_type", "tag", raw_dtype="string")
    + categorical("author_id", "visible_status", "server_width", "server_height", "music_id",
                  "music_type")
    + numeric("video_duration"))
# Both the user and the statistic tables have a follow_user_num column: the video one is renamed.
VIDEO_STAT_PREFIX = "video_"


def _read_side_table(path: str, key: str, expected: Sequence[str],
                     columns: Sequence[ColumnSpec], rename: dict | None = None) -> pd.DataFrame:
    header = reader.read_header(path)
    reader.check_columns(path, header, [key] + [c for c in expected if c != key])
    wanted = [key] + [(c.name if not rename else {v: k for k, v in rename.items()}.get(c.name, c.name))
                      for c in columns]
    dtypes = {c: str for c in wanted}
    table = pd.read_csv(path, usecols=wanted, dtype=dtypes, keep_default_na=False,
                        na_values=[""])
    if rename:
        table = table.rename(columns=rename)
    keys = pd.to_numeric(table[key], errors="coerce")
    bad = keys.isna() | (keys != np.floor(keys.fillna(0)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: line {i + 2}: column {key!r} needs an integer id, got "
                         f"{table[key].iloc[i]!r}.")
    table.index = pd.Index(keys.astype(np.int64), name=key)
    table = table[~table.index.duplicated(keep="first")]
    for c in columns:
        values = table[c.name]
        if c.raw_dtype == "string":
            continue
        num = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & num.isna()
        if c.raw_dtype == "int64":
            bad |= num.notna() & (num != np.floor(num.fillna(0)))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{path}: row {i + 1} (key {table.index[i]}): column {c.name!r} "
                             f"needs a {'number' if c.kind == 'numeric' else 'integer'}, got "
                             f"{values.iloc[i]!r}.")
        table[c.name] = num
    return table.drop(columns=[key], errors="ignore")


class KuaiRandSource(Source):
    """KuaiRand-1K raw files in `input_dir`."""

    dataset = "kuairand1k"
    label = "is_click"
    domain_column = "tab"
    user_field = "user_id"
    item_field = "video_id"
    time_column = "date"
    default_split = "chrono:2,2"
    max_domains = 5

    def __init__(self, input_dir: str, domains: Sequence[str] | None = None,
                 statistic_columns: Sequence[str] | str | None = None):
        self.input_dir = input_dir
        self.domains = tuple(str(d) for d in domains) if domains else None
        if statistic_columns in (None, "default"):
            stats = DEFAULT_STATISTIC_COLUMNS
        elif statistic_columns == "all":
            stats = VIDEO_STATISTIC_COLUMNS[1:]
        else:
            stats = tuple(statistic_columns)
            unknown = [c for c in stats if c not in VIDEO_STATISTIC_COLUMNS[1:]]
            if unknown:
                raise ValueError(f"Unknown video statistic columns {unknown}; the file has "
                                 f"{list(VIDEO_STATISTIC_COLUMNS[1:])}.")
        self._statistic_columns = stats
        self.main_columns = list(LOG_FEATURES)
        self._logs = [os.path.join(input_dir, f) for f in LOG_FILES]
        for path in self._logs + [os.path.join(input_dir, f) for f in
                                  (USER_FILE, VIDEO_BASIC_FILE, VIDEO_STATISTIC_FILE)]:
            reader.check_file(path)
        for path in self._logs:
            reader.check_columns(path, reader.read_header(path), LOG_COLUMNS)
        self._side = None

    def input_files(self) -> list[str]:
        return self._logs + [os.path.join(self.input_dir, f)
                             for f in (USER_FILE, VIDEO_BASIC_FILE, VIDEO_STATISTIC_FILE)]

    def side_tables(self) -> list[SideTable]:
        if self._side is None:
            d = self.input_dir
            users = _read_side_table(os.path.join(d, USER_FILE), "user_id", USER_COLUMNS,
                                     USER_FEATURES)
            basic = _read_side_table(os.path.join(d, VIDEO_BASIC_FILE), "video_id",
                                     VIDEO_BASIC_COLUMNS, VIDEO_BASIC_FEATURES)
            stat_specs = numeric(*[VIDEO_STAT_PREFIX + c for c in self._statistic_columns])
            stats = _read_side_table(
                os.path.join(d, VIDEO_STATISTIC_FILE), "video_id", VIDEO_STATISTIC_COLUMNS,
                stat_specs, rename={c: VIDEO_STAT_PREFIX + c for c in self._statistic_columns})
            videos = basic.join(stats, how="outer")
            self._side = [
                SideTable(USER_FILE, "user_id", users, list(USER_FEATURES)),
                SideTable(f"{VIDEO_BASIC_FILE}+{VIDEO_STATISTIC_FILE}", "video_id", videos,
                          list(VIDEO_BASIC_FEATURES) + stat_specs),
            ]
        return self._side

    def chunks(self, columns: Sequence[str]) -> Iterator[Chunk]:
        kinds = {"user_id": "int64", "video_id": "int64", "hourmin": "int64",
                 "duration_ms": "float", "is_click": "label", "tab": "int64", "date": "float"}
        for index, path in enumerate(self._logs):
            for block in reader.read_csv(path, kinds):
                yield Chunk(block.frame, path, index, block.lines, block.rows_read, block.rejects)
