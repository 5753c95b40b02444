"""DI and IA columns for `crocodile-experiment --analyze`, and the dilemma plot (Fig. 1a).

Per (model, seed) run: DI against the reference model's run *with the same seed* (default
reference: sdem, when it is among the experiment's models; otherwise DI is n/a with a note),
IA of the item-id embeddings (mean over tables, ids seen in training), and the mean IA of the
expert outputs. Means and stds over seeds go next to the table's overall AUC / gAUC in
`analysis.md` (appended to table.md) and `analysis.json`; `dilemma.png` plots DI against IA.
"""

from __future__ import annotations

import json
import math
import os
from typing import Mapping

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from crocodile_tf.analysis import figures
from crocodile_tf.analysis.diversity import DEFAULT_QUANTILES
from crocodile_tf.analysis.report import (Context, clean, di_stats, embedding_stats, expert_data,
                                          expert_stats, load_run, reference_norms)

METRICS = ("di", "ia_item_embedding", "ia_experts")


def _mean_std(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values), "values": values}


def analyze_experiment(data_dir: str, out_dir: str, run_dirs: Mapping[str, Mapping[int, str]],
                       table: dict | None = None, reference_model: str = "sdem", split: str = "test",
                       max_rows: int = 20000, quantiles=DEFAULT_QUANTILES) -> dict:
    """DI / IA of every run of an experiment; writes analysis.{md,json} and dilemma.png.

    Args:
      data_dir: the experiment's converted data.
      out_dir: the experiment's out_dir.
      run_dirs: model -> seed -> model_dir of a finished run.
      table: the experiment's table (`tables.build_table`), for the AUC / gAUC columns.
      reference_model: model whose runs define DI's sample sets (needs domain-bound experts).
    """
    ctx = None
    per_run: dict[str, dict[int, dict]] = {m: {} for m in run_dirs}
    note = None
    references = run_dirs.get(reference_model, {})
    if not references:
        note = (f"DI n/a: the reference model {reference_model!r} (domain-bound experts) is not among "
                f"the experiment's models; add it to --models.")
    for model, seeds in run_dirs.items():
        for seed, path in seeds.items():
            tf_keras.backend.clear_session()
            run = load_run(path)
            ctx = ctx or Context(data_dir, run.schema, split, max_rows)
            data = expert_data(run, ctx)
            emb = embedding_stats(run, ctx).get(run.schema.item_field)
            result = {"ia_item_embedding": emb["mean"]["all"] if emb else None,
                      "ia_experts": expert_stats(data, ctx)["ia_mean"] if data is not None else None,
                      "di": None}
            if seed in references:
                ref_run = run if model == reference_model else load_run(references[seed])
                ref_data = data if model == reference_model else expert_data(ref_run, ctx)
                result["di"] = di_stats(data, reference_norms(ref_data, ctx), ctx,
                                        quantiles=quantiles).get("di")
            elif references:
                result["di_note"] = f"no {reference_model} run with seed {seed}"
            per_run[model][seed] = result
            logging.info("analysis: %s seed %d: %s", model, seed,
                         {k: v for k, v in result.items() if k in METRICS})
    summary = {model: {key: _mean_std([r[key] for r in runs.values()]) for key in METRICS}
               for model, runs in per_run.items()}
    analysis = {"reference_model": reference_model, "split": split, "max_rows": max_rows,
                "note": note, "runs": per_run, "summary": summary}
    if table is not None:
        for model in summary:
            row = table["rows"].get(model, {})
            for metric in ("auc", "gauc"):
                summary[model][f"overall_{metric}"] = row.get(f"overall/{metric}", {}).get("mean")
    points = {m: {"di": s["di"]["mean"], "di_std": s["di"]["std"], "ia": s["ia_item_embedding"]["mean"],
                  "ia_std": s["ia_item_embedding"]["std"], "gauc": s.get("overall_gauc")}
              for m, s in summary.items() if s["di"]["mean"] is not None and s["ia_item_embedding"]["mean"] is not None}
    tf.io.gfile.makedirs(out_dir)
    if points:
        analysis["dilemma_png"] = figures.plot_dilemma(points, os.path.join(out_dir, "dilemma.png"),
                                                       "IA of item-id embeddings")
    analysis = clean(analysis)
    with tf.io.gfile.GFile(os.path.join(out_dir, "analysis.json"), "w") as f:
        f.write(json.dumps(analysis, indent=2) + "\n")
    with tf.io.gfile.GFile(os.path.join(out_dir, "analysis.md"), "w") as f:
        f.write(to_markdown(analysis))
    return analysis


def _cell(entry) -> str:
    if not entry or entry.get("mean") is None:
        return "n/a"
    return f"{entry['mean']:.3f}" + (f" ± {entry['std']:.3f}" if entry["n"] > 1 else "")


def to_markdown(analysis: dict) -> str:
    """The DI / IA table: model, overall AUC / gAUC (from the main table), DI, IA columns."""
    lines = ["## Domain distinctiveness (DI) and sufficient learning (IA)", "",
             "| Model | Overall AUC | Overall gAUC | DI | IA item-id emb | IA experts |",
             "| --- | --- | --- | --- | --- | --- |"]
    for model, s in analysis["summary"].items():
        auc, gauc = s.get("overall_auc"), s.get("overall_gauc")
        lines.append(f"| {model} | {'n/a' if auc is None else f'{auc:.4f}'} | "
                     f"{'n/a' if gauc is None else f'{gauc:.4f}'} | {_cell(s['di'])} | "
                     f"{_cell(s['ia_item_embedding'])} | {_cell(s['ia_experts'])} |")
    lines += ["", f"DI against {analysis['reference_model']} runs of the same seed on the first "
              f"{analysis['max_rows']} {analysis['split']} rows (per-model quantile thresholds); IA = "
              "||σ||₁/||σ||∞, mean over tables / experts. Mean ± std over seeds."]
    if analysis.get("note"):
        lines += ["", f"_{analysis['note']}_"]
    if analysis.get("dilemma_png"):
        lines += ["", "![DI vs IA](dilemma.png)"]
    return "\n".join(lines) + "\n"
