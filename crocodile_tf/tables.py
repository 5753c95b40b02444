"""The paper's results table (Tables 2-5 layout): rows = models, columns = per-domain AUC and
gAUC plus Overall, mean over seeds (and std); best in bold, second underlined, `*` on the best
where Welch's t-test of best vs second best gives p < 0.05; a lift column against a base model.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Sequence

import numpy as np
from scipy import stats

METRICS = ("auc", "gauc")


def columns(domains: Sequence[str]) -> list[tuple[str, str]]:
    """(group, metric) columns: each domain then overall, AUC and gAUC each."""
    return [(group, metric) for group in [*domains, "overall"] for metric in METRICS]


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value; NaN with fewer than 2 values on a side or no variance."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def build_table(runs: dict[str, list[dict]], domains: Sequence[str], base_model: str | None = None) -> dict:
    """Aggregates per-run metrics into the table.

    Args:
      runs: model -> list of `domain_metrics` dicts, one per seed.
      domains: domain names in column order.
      base_model: model the lift column is relative to (None: no lift).

    Returns a JSON-able dict: columns, rows (model -> column -> mean/std/n/values), the best and
    second model per column with Welch's p, and lift per model (overall AUC / gAUC, percent).
    """
    cols = columns(domains)
    rows = {}
    for model, seeds in runs.items():
        row = {}
        for group, metric in cols:
            values = [m[group][metric] for m in seeds if not math.isnan(m[group][metric])]
            row[f"{group}/{metric}"] = {
                "mean": float(np.mean(values)) if values else math.nan,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "n": len(values), "values": values}
        rows[model] = row
    ranking = {}
    for group, metric in cols:
        key = f"{group}/{metric}"
        ordered = sorted((m for m in rows if not math.isnan(rows[m][key]["mean"])),
                         key=lambda m: rows[m][key]["mean"], reverse=True)
        best = ordered[0] if ordered else None
        second = ordered[1] if len(ordered) > 1 else None
        p = welch_p(rows[best][key]["values"], rows[second][key]["values"]) if second else math.nan
        ranking[key] = {"best": best, "second": second, "p_value": p,
                        "significant": bool(p < 0.05) if not math.isnan(p) else False}
    lift = {}
    if base_model is not None:
        if base_model not in rows:
            raise ValueError(f"base model {base_model!r} is not among the models {sorted(rows)}.")
        for model in rows:
            lift[model] = {metric: 100.0 * (rows[model][f"overall/{metric}"]["mean"]
                                            / rows[base_model][f"overall/{metric}"]["mean"] - 1.0)
                           for metric in METRICS}
    return {"domains": list(domains), "columns": [f"{g}/{m}" for g, m in cols], "rows": rows,
            "ranking": ranking, "base_model": base_model, "lift": lift}


def _cell(table: dict, model: str, key: str, with_std: bool) -> str:
    entry = table["rows"][model][key]
    if math.isnan(entry["mean"]):
        return "n/a"
    text = f"{entry['mean']:.4f}"
    if with_std and entry["n"] > 1:
        text += f" ± {entry['std']:.4f}"
    rank = table["ranking"][key]
    if rank["best"] == model:
        text = f"**{text}**" + ("*" if rank["significant"] else "")
    elif rank["second"] == model:
        text = f"<u>{text}</u>"
    return text


def _header(table: dict) -> list[str]:
    names = {"auc": "AUC", "gauc": "gAUC"}
    header = ["Model"] + [f"{g if g != 'overall' else 'Overall'} {names[m]}"
                          for g, m in (c.split("/") for c in table["columns"])]
    if table["lift"]:
        header += [f"Lift AUC vs {table['base_model']}", f"Lift gAUC vs {table['base_model']}"]
    return header


def to_markdown(table: dict, with_std: bool = True) -> str:
    header = _header(table)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model in table["rows"]:
        cells = [model] + [_cell(table, model, key, with_std) for key in table["columns"]]
        if table["lift"]:
            cells += [f"{table['lift'][model][m]:+.2f}%" for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({r["n"] for row in table["rows"].values() for r in row.values()})
    lines.append("")
    lines.append(f"Mean ± std over {'/'.join(map(str, seeds))} seeds. **Best**, <u>second</u>; `*`: "
                 "Welch's t-test of best vs second best, p < 0.05.")
    return "\n".join(lines) + "\n"


def to_csv(table: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model"] + [f"{c}_{s}" for c in table["columns"] for s in ("mean", "std")]
                    + (["lift_auc_pct", "lift_gauc_pct"] if table["lift"] else []))
    for model, row in table["rows"].items():
        values = [f"{row[c][s]:.6f}" for c in table["columns"] for s in ("mean", "std")]
        if table["lift"]:
            values += [f"{table['lift'][model][m]:.4f}" for m in METRICS]
        writer.writerow([model] + values)
    return out.getvalue()


def to_json(table: dict) -> str:
    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(table), indent=2) + "\n"
