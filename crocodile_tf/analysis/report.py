"""`analyze`: every analysis of trained runs, as figures + report.md + report.json.

Reads trained `crocodile-train` model_dirs and a converted data dir; see `cli` for the binary.
All numbers are computed on the first `max_rows` rows of one split (default test, in file order,
so every model sees the same rows); embedding statistics use the ids seen in the first
`count_rows` training rows (rows of never-seen ids keep their random initialisation and would
inflate IA).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from crocodile_tf.analysis import figures
from crocodile_tf.analysis.callback import load_ia_log
from crocodile_tf.analysis.diversity import (DEFAULT_QUANTILES, diversity_index_from_norms,
                                             domain_norms, expert_norms)
from crocodile_tf.analysis.experts import (cross_covariance_total, dimension_covariance,
                                           expert_ia_by_domain, expert_pair_covariance)
from crocodile_tf.analysis.probe import collect, embedding_tables, expert_probe, id_counts
from crocodile_tf.analysis.spectrum import ia_by_frequency, log_spectrum
from crocodile_tf.features import FeatureSchema


@dataclasses.dataclass
class Run:
    """A restored model_dir."""

    label: str
    model_dir: str
    model: tf_keras.Model
    config: object           # TrainConfig
    schema: FeatureSchema

    @property
    def model_config(self):
        return self.config.model_config

    @property
    def has_covloss(self) -> bool:
        # Read the built model, not the config: baselines (e.g. me_mmoe) ignore config.loss.
        from crocodile_tf.losses import CrossExpertCovariance
        return any(isinstance(layer, CrossExpertCovariance) and layer.weight > 0
                   for layer in self.model.layers)


def load_run(model_dir: str, label: str | None = None) -> Run:
    from crocodile_tf.train import restore_model
    model, config, schema = restore_model(model_dir)
    return Run(label or config.model, model_dir, model, config, schema)


def _labels(model_dirs: Sequence[str], models: Sequence[str]) -> list[str]:
    """Registry names, made unique with the directory name where two runs share a model."""
    labels = []
    for path, model in zip(model_dirs, models):
        label = model if models.count(model) == 1 else f"{model} ({os.path.basename(os.path.normpath(path))})"
        labels.append(label)
    return labels


def clean(value):
    """JSON-safe: NaN -> None, numpy -> Python, tuple keys -> strings."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class Context:
    """The data every run is analysed on: eval rows, exposure counts, domain sizes."""

    def __init__(self, data_dir: str, schema: FeatureSchema, split: str = "test",
                 max_rows: int = 20000, count_rows: int = 500_000, batch_size: int = 4096):
        from crocodile_tf.pipelines.input import make_dataset
        self.schema = schema
        self.split = split
        self.max_rows = max_rows
        self.dataset = make_dataset(data_dir, split, batch_size, shuffle=False, deterministic=True,
                                    schema=schema)
        train = make_dataset(data_dir, "train", 8192, shuffle=False, deterministic=True, schema=schema)
        self.fields = (schema.user_field, schema.item_field)
        # field -> (exposures [vocab], per-domain exposures [S, vocab]); a domain-owned table is
        # judged on the ids its own domain exposed (its other rows were never trained).
        self.counts = {f: id_counts(train, f, schema.field(f).vocab_size, schema.domain_field,
                                    schema.num_domains, max_rows=count_rows) for f in self.fields}
        self.domain_rows, _ = id_counts(train, schema.domain_field, schema.num_domains,
                                        max_rows=count_rows)
        self.smallest_domain = int(np.argmin(np.where(self.domain_rows > 0, self.domain_rows,
                                                      np.iinfo(np.int64).max)))


def embedding_stats(run: Run, ctx: Context) -> dict:
    """Per field: IA by exposure group of every table, their mean, and the spectra."""
    out = {}
    for field in ctx.fields:
        tables = embedding_tables(run.model, field, run.model_config)
        if not tables:
            continue
        total, per_domain = ctx.counts[field]
        per_table, spectra = [], []
        for table in tables:
            counts = total if table.owner is None else per_domain[table.owner]
            seen = counts > 0
            groups = ia_by_frequency(table.matrix, counts)
            per_table.append({"table": table.label, "owner": None if table.owner is None
                              else ctx.schema.domains[table.owner],
                              "all": groups["all"], "top": groups["top"], "bottom": groups["bottom"]})
            spectra.append(log_spectrum(table.matrix[seen]))
        width = min(len(s) for s in spectra)
        entry = {"tables": per_table,
                 "mean": {k: float(np.nanmean([t[k] for t in per_table])) for k in ("all", "top", "bottom")},
                 "spectrum_mean": np.mean([s[:width] for s in spectra], axis=0)}
        owned = [i for i, t in enumerate(tables) if t.owner == ctx.smallest_domain]
        if owned:
            entry["spectrum_owned"] = {
                "label": f"{ctx.schema.domains[ctx.smallest_domain]}-specific table (smallest domain)",
                "values": spectra[owned[0]]}
        out[field] = entry
    return out


@dataclasses.dataclass
class ExpertData:
    probe: object
    outputs: np.ndarray     # [N, K, d]
    domains: np.ndarray     # [N]


def expert_data(run: Run, ctx: Context) -> ExpertData | None:
    probe = expert_probe(run.model, run.model_config, run.config.model)
    if probe is None:
        return None
    outputs, domains, _ = collect(probe, ctx.dataset, ctx.schema.domain_field, ctx.max_rows)
    return ExpertData(probe, outputs, domains)


def expert_stats(data: ExpertData, ctx: Context) -> dict:
    pair = expert_pair_covariance(data.outputs)
    dim = dimension_covariance(data.outputs)
    k, d = data.outputs.shape[1], data.outputs.shape[2]
    blocks = np.abs(dim).reshape(k, d, k, d)
    own = np.mean([blocks[p, :, p, :].mean() for p in range(k)])
    cross = np.mean([blocks[p, :, q, :].mean() for p in range(k) for q in range(k) if p != q]) if k > 1 else math.nan
    ia = expert_ia_by_domain(data.outputs, data.domains, ctx.schema.num_domains, ctx.schema.domains)
    return {"num_experts": k, "dim": d, "rows": int(len(data.outputs)),
            "owners": [None if o is None else ctx.schema.domains[o] for o in data.probe.owners],
            "pair_covariance": pair, "cross_covariance_total": cross_covariance_total(data.outputs),
            "mean_abs_cov_within_expert": float(own), "mean_abs_cov_across_experts": float(cross),
            "ia_by_domain": ia, "ia_mean": float(np.nanmean(ia["overall"]))}


def reference_norms(data: ExpertData, ctx: Context) -> np.ndarray:
    if not data.probe.domain_bound:
        raise ValueError("the reference model has no domain-bound experts; DI needs e.g. an SDEM run.")
    return domain_norms(expert_norms(data.outputs), data.probe.owners, ctx.schema.num_domains)


def di_stats(data: ExpertData | None, ref: np.ndarray, ctx: Context, tau_t=None, tau_b=None,
             quantiles=DEFAULT_QUANTILES) -> dict:
    if data is None:
        return {"di": None, "skipped": "the model has no expert layer (DI is defined on experts)"}
    n = min(len(ref), len(data.outputs))
    norms = expert_norms(data.outputs[:n])
    if data.probe.domain_bound:
        norms = domain_norms(norms, data.probe.owners, ctx.schema.num_domains)
    result = diversity_index_from_norms(ref[:n], norms, domain_bound=data.probe.domain_bound,
                                        tau_t=tau_t, tau_b=tau_b, quantiles=quantiles)
    names = ctx.schema.domains
    out = result.to_dict(names)
    out["sorted"] = [(f"{names[i]}->{names[j]}", v) for (i, j), v in result.sorted_pairs()]
    return out


def analyze(model_dirs: Sequence[str], data_dir: str, out_dir: str,
            reference_model_dir: str | None = None, compare_model_dir: str | None = None,
            split: str = "test", max_rows: int = 20000, count_rows: int = 500_000,
            tau_t: float | None = None, tau_b: float | None = None,
            quantiles: Sequence[float] = DEFAULT_QUANTILES) -> dict:
    """Analyses trained runs; writes figures, report.md and report.json to out_dir.

    Args:
      model_dirs: trained model_dirs (the first is the main model of the covariance figure).
      data_dir: converted data the runs were trained on.
      out_dir: where the PNGs and reports go.
      reference_model_dir: a run with domain-bound experts (SDEM) defining DI's D_(i,j);
        None skips DI (noted in the report).
      compare_model_dir: second model for the "with / without CovLoss" covariance pair.
      split / max_rows: rows the expert statistics and DI are computed on.
      count_rows: training rows counted for the exposure groups.
      tau_t, tau_b, quantiles: DI thresholds (see `diversity`).

    Returns the report dict (as written to report.json).
    """
    if not model_dirs:
        raise ValueError("give at least one model_dir.")
    tf.io.gfile.makedirs(out_dir)
    runs = [load_run(d) for d in model_dirs]
    for run, label in zip(runs, _labels(model_dirs, [r.config.model for r in runs])):
        run.label = label
    schema = runs[0].schema
    for run in runs[1:]:
        if run.schema.field_names != schema.field_names or run.schema.domains != schema.domains:
            raise ValueError(f"{run.model_dir} was trained on another schema than {runs[0].model_dir}.")
    ctx = Context(data_dir, schema, split, max_rows, count_rows)
    report = {"data_dir": data_dir, "split": split, "max_rows": max_rows, "domains": list(schema.domains),
              "domain_train_rows": ctx.domain_rows,
              "fields": {"user": schema.user_field, "item": schema.item_field}, "models": {}, "figures": {}, "skipped": {}}

    expert_cache: dict[str, ExpertData | None] = {}
    for run in runs:
        logging.info("analysis: %s (%s)", run.label, run.model_dir)
        data = expert_data(run, ctx)
        expert_cache[run.model_dir] = data
        entry = {"model": run.config.model, "model_dir": run.model_dir, "has_covloss": run.has_covloss,
                 "embeddings": embedding_stats(run, ctx),
                 "experts": expert_stats(data, ctx) if data is not None else None}
        if data is None:
            entry["experts_note"] = "no expert layer (probe protocol: crocodile_tf.analysis.probe)"
        report["models"][run.label] = entry

    # --- DI (Fig. 6) and the dilemma (Fig. 1a) --------------------------------------------
    if reference_model_dir:
        reference = load_run(reference_model_dir, label=None)
        ref_data = expert_data(reference, ctx)
        if ref_data is None:
            raise ValueError(f"--reference_model_dir={reference_model_dir}: {reference.config.model} "
                             "has no expert layer; DI needs a run with domain-bound experts (sdem).")
        ref = reference_norms(ref_data, ctx)
        report["reference"] = {"model": reference.config.model, "model_dir": reference_model_dir}
        for run in runs:
            report["models"][run.label]["di"] = di_stats(expert_cache[run.model_dir], ref, ctx,
                                                         tau_t, tau_b, quantiles)
        di_pairs = {label: [(p, v) for p, v in m["di"]["sorted"]]
                    for label, m in report["models"].items() if m["di"].get("di") is not None}
        if di_pairs:
            ref_label = next((label for label, m in report["models"].items()
                              if os.path.normpath(m["model_dir"]) == os.path.normpath(reference_model_dir)), None)
            report["reference"]["label"] = ref_label
            report["figures"]["di_pairs"] = figures.plot_di_pairs(
                di_pairs, os.path.join(out_dir, "di_pairs.png"), reference.config.model, ref_label)
            points = {label: {"di": m["di"]["di"],
                              "ia": m["embeddings"].get(schema.item_field, {}).get("mean", {}).get("all")}
                      for label, m in report["models"].items() if m["di"].get("di") is not None}
            report["figures"]["dilemma"] = figures.plot_dilemma(
                points, os.path.join(out_dir, "dilemma.png"), f"IA of {schema.item_field} embeddings")
        else:
            report["skipped"]["di_pairs"] = "no analysed model has experts"
    else:
        report["skipped"]["di_pairs"] = ("DI skipped: no --reference_model_dir (a run with "
                                         "domain-bound experts, e.g. sdem, defines the D_(i,j) sets)")
        report["skipped"]["dilemma"] = report["skipped"]["di_pairs"]

    # --- spectra (Fig. 5) -----------------------------------------------------------------
    spectra = {}
    for label, m in report["models"].items():
        spectra[label] = {f: {"mean": e["spectrum_mean"], "owned": e.get("spectrum_owned")}
                          for f, e in m["embeddings"].items()}
    if any(spectra.values()):
        report["figures"]["spectra"] = figures.plot_spectra(
            spectra, list(ctx.fields), os.path.join(out_dir, "spectra.png"))
    else:
        report["skipped"]["spectra"] = "no MultiEmbedding tables found"

    # --- covariance heatmaps (Fig. 7) -----------------------------------------------------
    main = next((r for r in runs if expert_cache[r.model_dir] is not None), None)
    if main is None:
        report["skipped"]["covariance"] = "no analysed model has an expert layer"
    else:
        panel_runs = [(main, expert_cache[main.model_dir])]
        note = None
        if compare_model_dir:
            other = next((r for r in runs if os.path.normpath(r.model_dir) == os.path.normpath(compare_model_dir)),
                         None) or load_run(compare_model_dir)
            other_data = expert_cache.get(other.model_dir) or expert_data(other, ctx)
            if other_data is None:
                note = f"{compare_model_dir}: no expert layer, only one panel drawn."
            else:
                panel_runs.append((other, other_data))
                if other.label not in report["models"]:
                    report["compare"] = {"model": other.config.model, "model_dir": compare_model_dir,
                                         "has_covloss": other.has_covloss,
                                         "experts": expert_stats(other_data, ctx)}
        else:
            note = ("Only one model: pass --compare_model_dir (e.g. the same model trained with "
                    "--disentangle=none) for the with / without CovLoss comparison.")
        panels = [{"title": f"{r.label} ({'with' if r.has_covloss else 'without'} CovLoss)",
                   "pair": expert_pair_covariance(d.outputs),
                   "dimension": dimension_covariance(d.outputs), "dim": d.outputs.shape[2]}
                  for r, d in panel_runs]
        report["figures"]["covariance"] = figures.plot_covariance(
            panels, os.path.join(out_dir, "covariance.png"), note)
        report["covariance_panels"] = [{"title": p["title"], "cross_covariance_total":
                                        float(np.nansum(p["pair"]) - np.trace(p["pair"]))}
                                       for p in panels]
        if note:
            report["skipped"]["covariance_compare"] = note

    # --- IA over training (Fig. 2) --------------------------------------------------------
    logs = {r.label: log for r in runs if (log := load_ia_log(r.model_dir))}
    if logs:
        report["figures"]["ia_dynamics"] = figures.plot_ia_dynamics(
            logs, os.path.join(out_dir, "ia_dynamics.png"), ctx.domain_rows, schema.item_field)
        report["ia_dynamics_final"] = {label: log["records"][-1] for label, log in logs.items()
                                       if log.get("records")}
    else:
        report["skipped"]["ia_dynamics"] = ("no model_dir has analysis/ia_log.json: train with the "
                                            "InformationAbundanceLogger callback to record IA over training")

    report = clean(report)
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.json"), "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    with tf.io.gfile.GFile(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(to_markdown(report, out_dir))
    return report


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and (abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3)):
        return f"{value:.3e}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def to_markdown(report: dict, out_dir: str) -> str:
    """report.md: each figure, the numbers behind it, and what was skipped and why."""
    figs = report["figures"]
    models = report["models"]
    lines = ["# Crocodile analysis report", "",
             f"Data: `{report['data_dir']}`, split `{report['split']}` (first {report['max_rows']} rows). "
             f"Domains: {', '.join(report['domains'])} (training rows: "
             f"{', '.join(str(n) for n in report['domain_train_rows'])}).", ""]

    lines += ["## Summary", "",
              "| Model | DI | IA item emb (all / top / bottom) | IA user emb (all) | mean expert IA | "
              "cross-expert CovLoss (sum, /N) |", "| --- | --- | --- | --- | --- | --- |"]
    for label, m in models.items():
        emb = m["embeddings"]
        item = emb.get(report["fields"]["item"], {}).get("mean")
        user = emb.get(report["fields"]["user"], {}).get("mean")
        di = m.get("di", {}).get("di") if m.get("di") else None
        experts = m.get("experts") or {}
        lines.append(f"| {label} | {_fmt(di)} | "
                     + (f"{_fmt(item['all'], 2)} / {_fmt(item['top'], 2)} / {_fmt(item['bottom'], 2)}" if item else "n/a")
                     + f" | {_fmt(user['all'], 2) if user else 'n/a'} | {_fmt(experts.get('ia_mean'), 2)} | "
                     f"{_fmt(experts.get('cross_covariance_total'))} |")
    lines += ["", "IA = ||σ||₁/||σ||∞ (1 = rank one, collapse; up to the width when balanced). "
              "Embedding IA is the mean over a model's tables; top/bottom = most/least exposed "
              "quintile of ids in the training rows.", ""]

    def figure(key, title, caption):
        nonlocal lines
        lines += [f"## {title}", ""]
        if key in figs:
            lines += [f"![{title}]({os.path.basename(figs[key])})", "", caption, ""]
        else:
            lines += [f"_Not drawn: {report['skipped'].get(key, 'n/a')}_", ""]

    figure("spectra", "Singular value spectra of id embeddings (Fig. 5)",
           "log σ of each model's id embeddings (mean over its tables; dashed: the smallest "
           "domain's own table, for models with domain-owned tables). Rows of ids seen in the "
           "training rows (for a domain-owned table: seen in its domain). A flat curve spreads "
           "information over all dimensions; a steep drop means dimensional collapse.")
    for label, m in models.items():
        for field, e in m["embeddings"].items():
            tables = "; ".join(f"{t['table']}{' (' + t['owner'] + ')' if t['owner'] else ''}: "
                               f"{_fmt(t['all'], 2)} / {_fmt(t['top'], 2)} / {_fmt(t['bottom'], 2)}"
                               for t in e["tables"])
            lines.append(f"- {label}, `{field}` IA all / top / bottom per table: {tables}")
    lines.append("")

    figure("di_pairs", "Diversity Index per domain pair (Fig. 6)",
           "DI(i, j): among samples where the reference's domain-i expert is strong and its domain-j "
           "expert weak (D_(i,j)), the fraction on which the model also has a strong and a weak "
           "expert (eq. 2; eq. 3 for domain-bound models).")
    if "reference" in report:
        lines.append(f"Reference: {report['reference']['model']} (`{report['reference']['model_dir']}`); "
                     "the reference itself scores DI = 1 by construction (its norms define D_(i,j)).")
        lines.append("")
        for label, m in models.items():
            di = m.get("di") or {}
            if di.get("di") is None:
                lines.append(f"- {label}: {di.get('skipped', 'n/a')}")
                continue
            th = di["thresholds"]
            lines.append(f"- {label}: DI = {_fmt(di['di'])} ({di['formula']} formula; tau_t/tau_b "
                         f"model {_fmt(th['model']['tau_t'])}/{_fmt(th['model']['tau_b'])}, reference "
                         f"{_fmt(th['reference']['tau_t'])}/{_fmt(th['reference']['tau_b'])}, {th['mode']}"
                         + (f" {th['quantiles']}" if th.get("quantiles") else "") + ")")
            lines.append("  - sorted pairs: " + ", ".join(f"{p} {_fmt(v)} (n={di['pairs'][p]['support']})"
                                                        for p, v in di["sorted"]))
        lines.append("")

    figure("dilemma", "Dilemma: DI vs IA (Fig. 1a)",
           "Each model's DI against the IA of its item-id embeddings: domain-specific components "
           "raise DI, but tables trained by few samples collapse (low IA).")

    figure("covariance", "Cross-expert covariance (Fig. 7)",
           "Left: CovLoss of each expert pair, ||C_pq||₁ / (N d²) (off-diagonal; the diagonal, an "
           "expert's own variance, is masked). Right: |covariance| of all output dimensions of all "
           "experts, expert-major; off-diagonal blocks are what CovLoss penalises.")
    for panel in report.get("covariance_panels", []):
        lines.append(f"- {panel['title']}: sum of off-diagonal pair CovLoss = {_fmt(panel['cross_covariance_total'])}")
    for label, m in list(models.items()) + ([("compare: " + report["compare"]["model"], report["compare"])]
                                           if "compare" in report else []):
        ex = m.get("experts")
        if ex:
            lines.append(f"- {label}: mean |cov| within an expert {_fmt(ex['mean_abs_cov_within_expert'])}, "
                         f"across experts {_fmt(ex['mean_abs_cov_across_experts'])} "
                         f"(K={ex['num_experts']}, d={ex['dim']}, {ex['rows']} rows)")
    lines.append("")

    figure("ia_dynamics", "Information Abundance over training (Fig. 2)",
           "(a) IA of each expert's outputs on a fixed validation batch (domain-owned experts on "
           "their domain's rows); (b) IA of the id embeddings' most and least exposed quintiles.")
    for label, record in report.get("ia_dynamics_final", {}).items():
        values = record["values"]
        shown = ", ".join(f"{k} {_fmt(v, 2)}" for k, v in sorted(values.items()) if "/mean/" in k or k.endswith("/overall"))
        lines.append(f"- {label} at step {record['step']}: {shown}")
    lines.append("")

    lines += ["## Expert IA per domain", "", "| Model | expert | owner | overall | "
              + " | ".join(report["domains"]) + " |", "|" + " --- |" * (4 + len(report["domains"]))]
    for label, m in models.items():
        ex = m.get("experts")
        if not ex:
            lines.append(f"| {label} | — | — | no experts |" + " |" * len(report["domains"]))
            continue
        for p in range(ex["num_experts"]):
            ia = ex["ia_by_domain"]
            lines.append(f"| {label} | E{p} | {ex['owners'][p] or 'shared'} | {_fmt(ia['overall'][p], 2)} | "
                         + " | ".join(_fmt(ia[d][p], 2) for d in report["domains"]) + " |")
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in report["skipped"].items()]
    return "\n".join(lines) + "\n"
