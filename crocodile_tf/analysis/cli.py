r"""`crocodile-analyze`: DI, IA, spectra and covariance heatmaps of trained runs, as figures.

    crocodile-analyze --data_dir=data/kuairand --out_dir=runs/analysis \
        --model_dir=runs/crocodile --model_dir=runs/me_mmoe --model_dir=runs/sdem \
        --reference_model_dir=runs/sdem --compare_model_dir=runs/crocodile_nocov

Writes to out_dir: spectra.png (Fig. 5), di_pairs.png (Fig. 6) and dilemma.png (Fig. 1a) when a
reference is given, covariance.png (Fig. 7), ia_dynamics.png (Fig. 2) when the runs were trained
with the IA logger, and report.md (figures + numbers) / report.json. `--model_dir` may be
repeated or comma-separated.
"""

from __future__ import annotations

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
from absl import app, flags, logging

from crocodile_tf.analysis.diversity import DEFAULT_QUANTILES

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_multi_string("model_dir", None, "Trained model_dir(s); repeat or comma-separate. "
                              "The first one is the main model of the covariance figure.")
    flags.DEFINE_string("data_dir", None, "Converted data the runs were trained on.")
    flags.DEFINE_string("out_dir", None, "Where figures and report.{md,json} go.")
    flags.DEFINE_string("reference_model_dir", None, "Run with domain-bound experts (e.g. sdem) that "
                        "defines DI's sample sets; without it DI is skipped.")
    flags.DEFINE_string("compare_model_dir", None, "Second run for the with/without CovLoss heatmaps.")
    flags.DEFINE_string("split", "test", "Split the expert statistics and DI are computed on.")
    flags.DEFINE_integer("max_rows", 20000, "Rows of the split used.")
    flags.DEFINE_integer("count_rows", 500_000, "Training rows counted for the exposure groups.")
    flags.DEFINE_float("tau_t", None, "Absolute top norm threshold (default: per-model quantile).")
    flags.DEFINE_float("tau_b", None, "Absolute bottom norm threshold (default: per-model quantile).")
    flags.DEFINE_list("di_quantiles", [str(q) for q in DEFAULT_QUANTILES],
                      "Top,bottom quantiles of each model's expert norms used as tau_t,tau_b.")


def model_dirs(values) -> list[str]:
    return [d.strip() for v in values or [] for d in v.split(",") if d.strip()]


def main(argv) -> None:
    del argv
    logging.set_verbosity(logging.INFO)
    dirs = model_dirs(FLAGS.model_dir)
    if not dirs:
        raise app.UsageError("--model_dir is required (repeat it to compare models).")
    for name in ("data_dir", "out_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required.")
    if (FLAGS.tau_t is None) != (FLAGS.tau_b is None):
        raise app.UsageError("--tau_t and --tau_b go together (or neither, for quantiles).")
    try:
        quantiles = tuple(float(q) for q in FLAGS.di_quantiles)
        if len(quantiles) != 2:
            raise ValueError
    except ValueError:
        raise app.UsageError(f"--di_quantiles={','.join(FLAGS.di_quantiles)}: give two numbers, "
                             "top,bottom (e.g. 0.8,0.2).") from None
    from crocodile_tf.analysis.report import analyze
    try:
        report = analyze(dirs, FLAGS.data_dir, FLAGS.out_dir, FLAGS.reference_model_dir,
                         FLAGS.compare_model_dir, split=FLAGS.split, max_rows=FLAGS.max_rows,
                         count_rows=FLAGS.count_rows, tau_t=FLAGS.tau_t, tau_b=FLAGS.tau_b,
                         quantiles=quantiles)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    for name, path in report["figures"].items():
        print(f"{name}: {path}")
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"report: {FLAGS.out_dir}/report.md (.json)")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
