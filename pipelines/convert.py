"""`crocodile-convert`: raw data -> sharded GZIP TFRecords + schema.json + stats.json.

    crocodile-convert --dataset=kuairand1k --input_dir=KuaiRand-1K/data --output_dir=data/kuairand
    crocodile-convert --dataset=aliccp --input_dir=aliccp_raw --output_dir=data/aliccp
    crocodile-convert --dataset=aliccp_csv --input_dir=../shared/data/aliccp --output_dir=out
    crocodile-convert --dataset=generic --input=logs.parquet --schema=my_schema.json \
        --output_dir=out

Also `python -m crocodile_tf.pipelines.convert`.
"""

from __future__ import annotations

import sys

from crocodile_tf.pipelines import conversion
from crocodile_tf.pipelines.vocab import DEFAULT_MIN_COUNT, DEFAULT_NUM_BUCKETS

DATASETS = ("kuairand1k", "aliccp", "aliccp_csv", "generic")


def make_source(dataset: str, *, input_dir: str | None = None, inputs=None, schema: str | None = None,
                domains=None, kuairand_statistic_columns: str | None = None):
    """The `Source` of a data set (see `conversion.Source`)."""
    from crocodile_tf.pipelines import aliccp, generic, kuairand
    if dataset in ("kuairand1k", "aliccp", "aliccp_csv") and not input_dir:
        raise ValueError(f"--dataset={dataset} needs --input_dir (the directory of its files).")
    if dataset == "kuairand1k":
        stats = kuairand_statistic_columns
        if stats not in (None, "default", "all"):
            stats = [c.strip() for c in stats.split(",") if c.strip()]
        return kuairand.KuaiRandSource(input_dir, domains=domains, statistic_columns=stats)
    if dataset == "aliccp":
        return aliccp.AliCCPRawSource(input_dir, domains=domains)
    if dataset == "aliccp_csv":
        return aliccp.aliccp_csv_source(input_dir, domains=domains)
    if dataset == "generic":
        if not schema:
            raise ValueError("--dataset=generic needs --schema (a JSON or YAML file naming the "
                             "label, domain, user, item, categorical and numeric columns).")
        return generic.GenericSource(generic.load_schema_file(schema), inputs=inputs,
                                     domains=domains)
    raise ValueError(f"--dataset must be one of {DATASETS}, got {dataset!r}.")


def _define_flags():
    from absl import flags
    flags.DEFINE_enum("dataset", None, list(DATASETS), "Input format.")
    flags.DEFINE_string("input_dir", None, "Directory of the raw files (kuairand1k, aliccp, "
                        "aliccp_csv).")
    flags.DEFINE_list("input", None, "Input CSV/Parquet file(s) of --dataset=generic "
                      "(comma-separated).")
    flags.DEFINE_string("schema", None, "Generic schema file (JSON, or YAML with pyyaml).")
    flags.DEFINE_string("output_dir", None, "Output directory.")
    flags.DEFINE_list("domains", None, "Domain values to keep (default: kuairand1k the 5 largest "
                      "tabs of train; others every domain of train).")
    flags.DEFINE_integer("min_count", DEFAULT_MIN_COUNT, "Categorical values seen fewer times in "
                         "the train split map to the default id 0.")
    flags.DEFINE_integer("num_buckets", DEFAULT_NUM_BUCKETS, "Quantile buckets per numeric column.")
    flags.DEFINE_string("split", None, "chrono:VAL_DAYS,TEST_DAYS | random:VAL_FRAC,TEST_FRAC | "
                        "given[:VAL_FRAC]. Default: kuairand1k chrono:2,2; aliccp given:0.1; "
                        "aliccp_csv given; generic chrono:2,2 with a time column, else "
                        "random:0.1,0.1.")
    flags.DEFINE_integer("seed", 0, "Seed of random splits and of the numeric reservoir sample.")
    flags.DEFINE_integer("shards", 4, "TFRecord files per split.")
    flags.DEFINE_float("max_reject_fraction", conversion.DEFAULT_MAX_REJECT_FRACTION,
                       "Fail when more than this fraction of the rows is malformed.")
    flags.DEFINE_string("kuairand_statistic_columns", "default", "kuairand1k: video statistic "
                        "columns to join: default (8 columns), all (51), or a comma list.")
    flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")
    flags.mark_flags_as_required(["dataset", "output_dir"])


def main(argv):
    from absl import flags
    del argv
    FLAGS = flags.FLAGS
    try:
        source = make_source(FLAGS.dataset, input_dir=FLAGS.input_dir, inputs=FLAGS.input,
                             schema=FLAGS.schema, domains=FLAGS.domains,
                             kuairand_statistic_columns=FLAGS.kuairand_statistic_columns)
        stats = conversion.convert(source, conversion.ConvertOptions(
            output_dir=FLAGS.output_dir, split=FLAGS.split, min_count=FLAGS.min_count,
            num_buckets=FLAGS.num_buckets, shards=FLAGS.shards, seed=FLAGS.seed,
            max_reject_fraction=FLAGS.max_reject_fraction, progress=FLAGS.progress))
    except (ValueError, FileNotFoundError, ImportError, conversion.writer_lib.ConversionError) as e:
        print(f"crocodile-convert: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {stats['rows_written']:,} rows to {FLAGS.output_dir} "
          f"(train {stats['written']['train']['rows']:,}, val {stats['written']['val']['rows']:,}, "
          f"test {stats['written']['test']['rows']:,}; domains {stats['domains']}) in "
          f"{stats['seconds_total']:.1f} s")
    return 0


def run():
    from absl import app
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
