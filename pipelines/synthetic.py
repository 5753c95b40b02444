"""Raw-format KuaiRand-1K and Ali-CCP files with planted multi-domain structure, at any scale.

The files have the real data sets' names and columns (SPEC §8), so the converters run on them
unchanged. The labels come from `planted.planted_problem`, the one definition of the planted
structure (imbalanced domains in the paper's proportions, shared plus domain-specific and partly
conflicting field effects, a domain-projected user x item interaction, per-domain base rates);
nothing here is tuned to favour a model. The side features (user and video attributes, common
features) are seeded per user/item attributes: they identify users and items but carry no signal
beyond the ids. Post-click columns (play time, likes, ...) are drawn from the click, as in real
logs, which is why the converters never use them as features.

Everything is vectorized numpy; CSVs are written with pyarrow (300k KuaiRand rows: ~1-2 s).

CLI: `crocodile-synth --dataset={kuairand1k,aliccp} --rows=N --output_dir=D [--seed=S]`.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from crocodile_tf.pipelines import aliccp as aliccp_lib
from crocodile_tf.pipelines import kuairand as kuairand_lib
from crocodile_tf.pipelines.planted import (ALICCP_PROPORTIONS, KUAIRAND_PROPORTIONS,
                                            planted_problem)

# KuaiRand tabs 0..6: the paper's five domains S0, S1, S2, S4, S6 in its proportions, plus two
# rare tabs (3, 5) that the default "5 largest tabs" selection filters out.
KUAIRAND_TAB_PROPORTIONS = (KUAIRAND_PROPORTIONS[0], KUAIRAND_PROPORTIONS[1],
                            KUAIRAND_PROPORTIONS[2], 0.05, KUAIRAND_PROPORTIONS[3], 0.05,
                            KUAIRAND_PROPORTIONS[4])
KUAIRAND_FIRST_DATE = np.datetime64("2022-04-08")
KUAIRAND_DAYS = 31                                   # 2022-04-08 .. 2022-05-08
KUAIRAND_SECOND_LOG_FROM_INT = 20220422             # first date of the second log file
# Raw Ali-CCP field 301 values are feature ids, not 1/2/3.
ALICCP_DOMAIN_FEATURE_IDS = (9351665, 9351666, 9351667)


def _write_csv(path: str, columns: dict, header: bool = True) -> None:
    table = pa.table(columns)
    with open(path, "wb") as f:
        if header:
            f.write((",".join(columns) + "\n").encode())
        pa_csv.write_csv(table, f, pa_csv.WriteOptions(include_header=False))


def _date_ints(days: np.ndarray) -> np.ndarray:
    dates = KUAIRAND_FIRST_DATE + days.astype("timedelta64[D]")
    s = dates.astype("datetime64[D]").astype(str)
    return np.char.replace(s, "-", "").astype(np.int64)


def synth_kuairand(output_dir: str, rows: int, seed: int = 0,
                   proportions: tuple[float, ...] = KUAIRAND_TAB_PROPORTIONS,
                   num_users: int = 1000, num_items: int | None = None) -> dict:
    """Writes the five raw KuaiRand-1K files into `output_dir`; returns a small summary."""
    os.makedirs(output_dir, exist_ok=True)
    if num_items is None:
        num_items = int(np.clip(rows // 20, 200, 100_000))
    problem = planted_problem(rows, domain_proportions=proportions, num_users=num_users,
                              num_items=num_items, context_vocab_sizes=(24,), seed=seed)
    rng = np.random.default_rng(seed + 1)
    f = problem.features
    user = f["user_id"] - 1
    video = f["item_id"] - 1
    tab = f["domain"]
    click = problem.labels.astype(np.int64)
    hour = f["c0"] - 1

    # Videos and users: seeded attributes.
    duration = np.round(rng.lognormal(10.5, 0.8, num_items)).astype(np.int64)
    popularity = np.bincount(video, minlength=num_items)
    day = rng.integers(0, KUAIRAND_DAYS, rows)
    order = np.lexsort((hour, day))
    minute = rng.integers(0, 60, rows)
    epoch_ms = ((KUAIRAND_FIRST_DATE - np.datetime64("1970-01-01")).astype(np.int64)
                * 86_400_000 - 8 * 3_600_000)
    time_ms = epoch_ms + day * 86_400_000 + hour * 3_600_000 + minute * 60_000 + \
        rng.integers(0, 60_000, rows)
    play_ratio = np.where(click == 1, rng.uniform(0.3, 1.5, rows), rng.uniform(0.0, 0.4, rows))
    dur_row = duration[video]
    log = {
        "user_id": user, "video_id": video, "date": _date_ints(day), "hourmin": hour * 100,
        "time_ms": time_ms, "is_click": click,
        "is_like": click * (rng.random(rows) < 0.08), "is_follow": click * (rng.random(rows) < 0.01),
        "is_comment": click * (rng.random(rows) < 0.02),
        "is_forward": click * (rng.random(rows) < 0.01), "is_hate": (rng.random(rows) < 0.001) * 1,
        "long_view": (play_ratio > 0.8).astype(np.int64),
        "play_time_ms": np.round(play_ratio * dur_row).astype(np.int64), "duration_ms": dur_row,
        "profile_stay_time": click * rng.integers(0, 30, rows),
        "comment_stay_time": click * rng.integers(0, 20, rows),
        "is_profile_enter": click * (rng.random(rows) < 0.05),
        "is_rand": np.zeros(rows, np.int64), "tab": tab,
    }
    assert tuple(log) == kuairand_lib.LOG_COLUMNS
    log = {k: np.asarray(v)[order] for k, v in log.items()}
    second = log["date"] >= KUAIRAND_SECOND_LOG_FROM_INT
    for name, sel in zip(kuairand_lib.LOG_FILES, (~second, second)):
        _write_csv(os.path.join(output_dir, name), {k: v[sel] for k, v in log.items()})

    u = num_users
    degree = np.array(["high_active", "full_active", "middle_active", "UNKNOWN"])
    ranges = np.array(["0", "(0,10]", "(10,50]", "(50,100]", "(100,150]", "(150,250]",
                       "(250,500]", "500+"])
    follow = rng.geometric(0.02, u)
    fans = rng.geometric(0.01, u)
    friend = rng.geometric(0.05, u)
    register = rng.integers(15, 2000, u)
    users = {
        "user_id": np.arange(u), "user_active_degree": degree[rng.integers(0, 4, u)],
        "is_lowactive_period": (rng.random(u) < 0.05) * 1,
        "is_live_streamer": (rng.random(u) < 0.1) * 1, "is_video_author": (rng.random(u) < 0.3) * 1,
        "follow_user_num": follow,
        "follow_user_num_range": ranges[np.searchsorted([1, 11, 51, 101, 151, 251, 501], follow,
                                                        side="right")],
        "fans_user_num": fans,
        "fans_user_num_range": ranges[np.searchsorted([1, 11, 51, 101, 151, 251, 501], fans,
                                                      side="right")],
        "friend_user_num": friend,
        "friend_user_num_range": ranges[np.searchsorted([1, 11, 51, 101, 151, 251, 501], friend,
                                                        side="right")],
        "register_days": register,
        "register_days_range": np.array(["15-30", "31-60", "61-90", "91-180", "181-365",
                                         "366-730", "730+"])[np.searchsorted(
                                             [31, 61, 91, 181, 366, 731], register, side="right")],
    }
    onehot_sizes = (2, 8, 30, 1000, 2, 3, 2, 50, 500, 10, 5, 3, 2, 2, 2, 2, 2, 2)
    for i, size in enumerate(onehot_sizes):
        users[f"onehot_feat{i}"] = rng.integers(0, size, u)
    assert tuple(users) == kuairand_lib.USER_COLUMNS
    _write_csv(os.path.join(output_dir, kuairand_lib.USER_FILE), users)

    n = num_items
    tags = rng.integers(0, 60, (n, 2))
    tag = np.where(rng.random(n) < 0.2,
                   np.char.add(np.char.add(tags[:, 0].astype(str), ","), tags[:, 1].astype(str)),
                   tags[:, 0].astype(str))
    upload_day = KUAIRAND_FIRST_DATE - rng.integers(0, 400, n).astype("timedelta64[D]")
    basic = {
        "video_id": np.arange(n), "author_id": rng.integers(0, max(10, n // 5), n),
        "video_type": np.where(rng.random(n) < 0.95, "NORMAL", "AD"),
        "upload_dt": upload_day.astype(str),
        "upload_type": np.array(["ShortImport", "LongImport", "Web", "Kmovie"])[
            rng.integers(0, 4, n)],
        "visible_status": rng.integers(0, 3, n).astype(np.float64),
        "video_duration": duration.astype(np.float64),
        "server_width": np.where(rng.random(n) < 0.8, 720.0, 1080.0),
        "server_height": np.where(rng.random(n) < 0.8, 1280.0, 1920.0),
        "music_id": rng.integers(0, max(10, n // 3), n), "music_type": rng.integers(0, 10, n) * 1.0,
        "tag": tag,
    }
    assert tuple(basic) == kuairand_lib.VIDEO_BASIC_COLUMNS
    _write_csv(os.path.join(output_dir, kuairand_lib.VIDEO_BASIC_FILE), basic)

    shows = popularity * 50 + rng.integers(0, 100, n)
    stats = {"video_id": np.arange(n)}
    for k, name in enumerate(kuairand_lib.VIDEO_STATISTIC_COLUMNS[1:]):
        if name == "play_progress":
            stats[name] = np.round(rng.uniform(0.1, 0.9, n), 4)
        else:
            rate = 10.0 ** -(k % 5)
            stats[name] = rng.binomial(shows, min(rate, 1.0))
    _write_csv(os.path.join(output_dir, kuairand_lib.VIDEO_STATISTIC_FILE), stats)
    return {"rows": rows, "users": u, "videos": n,
            "rows_per_tab": {int(t): int(c) for t, c in enumerate(np.bincount(tab))}}


def _feature_list(fields, ids, values) -> list[str]:
    """Per row `field\\x02id\\x03value` items joined by \\x01 (None ids are skipped)."""
    columns = []
    for field, col, val in zip(fields, ids, values):
        prefix = f"{field}\x02"
        columns.append([f"{prefix}{i}\x03{v:.5g}" for i, v in zip(col.tolist(), val.tolist())])
    return ["\x01".join(items) for items in zip(*columns)]


def synth_aliccp(output_dir: str, rows: int, seed: int = 0,
                 proportions: tuple[float, ...] = ALICCP_PROPORTIONS,
                 test_fraction: float = 0.2) -> dict:
    """Writes the four raw Ali-CCP files (skeleton + common features, train and test)."""
    os.makedirs(output_dir, exist_ok=True)
    num_users = int(np.clip(rows // 30, 100, 200_000))
    num_items = int(np.clip(rows // 20, 200, 500_000))
    # Context fields: 206 category, 207 shop, 210 intention, 216 brand (skeleton side).
    problem = planted_problem(rows, domain_proportions=proportions, num_users=num_users,
                              num_items=num_items, context_vocab_sizes=(100, 300, 50, 200),
                              seed=seed)
    rng = np.random.default_rng(seed + 1)
    f = problem.features
    click = problem.labels.astype(np.int64)
    conversion = click * (rng.random(rows) < 0.05)

    def fid(field: str, local: np.ndarray) -> np.ndarray:
        # Raw feature ids are unique across fields.
        return (int(field.split("_")[0]) * 100_000 + local).astype(np.int64)

    domain = np.asarray(ALICCP_DOMAIN_FEATURE_IDS)[f["domain"]]
    skeleton_ids = [fid("205", f["item_id"]), fid("206", f["c0"]), fid("207", f["c1"]),
                    fid("210", f["c2"]), fid("216", f["c3"])]
    skeleton_ids += [fid(x, rng.integers(1, 20, rows)) for x in ("508", "509", "702", "853")]
    skeleton_ids.append(domain)
    values = [np.ones(rows)] * 5 + [np.round(rng.random(rows), 4) for _ in range(4)] + [np.ones(rows)]
    lists = _feature_list(aliccp_lib.SKELETON_FIELDS, skeleton_ids, values)

    # Common features: one row per user (user-side fields are attributes of the user).
    users = np.arange(1, num_users + 1)
    common_ids = [fid("101", users)] + [fid(x, rng.integers(1, 30, num_users))
                                        for x in aliccp_lib.COMMON_FIELDS[1:]]
    common_vals = [np.ones(num_users)] * 9 + [np.round(rng.random(num_users), 4)
                                             for _ in range(4)]
    common_lists = _feature_list(aliccp_lib.COMMON_FIELDS, common_ids, common_vals)
    # A second item of a weighted field: the converter keeps the first.
    extra = [f"\x01150_14\x02{i}\x031.0" for i in rng.integers(1, 9, num_users)]
    common_lists = [a + b for a, b in zip(common_lists, extra)]
    counts = [len(aliccp_lib.COMMON_FIELDS) + 1] * num_users
    user_keys = np.array([f"{h:016x}" for h in rng.integers(0, 2**62, num_users)])

    test = rng.random(rows) < test_fraction
    sample_ids = np.arange(1, rows + 1)
    skeleton_num = len(aliccp_lib.SKELETON_FIELDS)
    for split, sel in ((aliccp_lib.TRAIN, ~test), (aliccp_lib.TEST, test)):
        idx = np.flatnonzero(sel)
        _write_csv(os.path.join(output_dir, aliccp_lib.SKELETON_FILES[split]), {
            "sample_id": sample_ids[idx], "click": click[idx], "conversion": conversion[idx],
            "common_feature_index": user_keys[f["user_id"][idx] - 1],
            "feature_num": np.full(len(idx), skeleton_num),
            "feature_list": [lists[i] for i in idx]}, header=False)
        used = np.unique(f["user_id"][idx] - 1)
        _write_csv(os.path.join(output_dir, aliccp_lib.COMMON_FILES[split]), {
            "common_feature_index": user_keys[used], "feature_num": np.asarray(counts)[used],
            "feature_list": [common_lists[i] for i in used]}, header=False)
    return {"rows": rows, "users": num_users, "items": num_items,
            "rows_per_domain": {str(d): int(c) for d, c in
                                zip(ALICCP_DOMAIN_FEATURE_IDS, np.bincount(f["domain"]))}}


# --- CLI -----------------------------------------------------------------------------------

def _define_flags():
    from absl import flags
    flags.DEFINE_enum("dataset", None, ["kuairand1k", "aliccp"], "Raw format to write.")
    flags.DEFINE_integer("rows", 300_000, "Number of interaction rows.")
    flags.DEFINE_string("output_dir", None, "Directory for the raw files.")
    flags.DEFINE_integer("seed", 0, "Everything is a function of the seed.")
    flags.mark_flags_as_required(["dataset", "output_dir"])


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    if FLAGS.rows < 1:
        raise SystemExit(f"--rows must be >= 1, got {FLAGS.rows}.")
    fn = synth_kuairand if FLAGS.dataset == "kuairand1k" else synth_aliccp
    summary = fn(FLAGS.output_dir, FLAGS.rows, seed=FLAGS.seed)
    print(f"wrote {FLAGS.dataset} raw files to {FLAGS.output_dir}: {summary}")


def run():
    from absl import app
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
