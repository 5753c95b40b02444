"""The paper's analysis figures as PNG files (matplotlib, Agg backend: no display needed).

Each function takes plain numbers (computed by `report`) and a path, so the figures can be
redrawn from report.json without a model.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

DPI = 120


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_spectra(spectra: dict[str, dict[str, dict]], fields: Sequence[str], path: str) -> str:
    """Fig. 5: log singular values of id embeddings, one panel per field, one line per model.

    Args:
      spectra: model label -> field -> {"mean": log sigma averaged over the model's tables,
        optionally "owned": {"label": str, "values": log sigma} (a domain-owned table, dashed)}.
      fields: the fields to draw, one panel each (e.g. user id, item id).
    """
    fig, axes = plt.subplots(1, len(fields), figsize=(6 * len(fields), 4.2), squeeze=False)
    for ax, field in zip(axes[0], fields):
        for i, (model, per_field) in enumerate(spectra.items()):
            entry = per_field.get(field)
            if not entry:
                continue
            color = f"C{i % 10}"
            values = np.asarray(entry["mean"])
            ax.plot(np.arange(1, len(values) + 1), values, "-o", ms=3, color=color,
                    label=f"{model} (mean over tables)")
            owned = entry.get("owned")
            if owned:
                owned_values = np.asarray(owned["values"])
                ax.plot(np.arange(1, len(owned_values) + 1), owned_values, "--", color=color,
                        label=f"{model}: {owned['label']}")
        ax.set_title(f"Singular value spectrum of {field} embeddings")
        ax.set_xlabel("singular value index (descending)")
        ax.set_ylabel("log(σ)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_di_pairs(di_pairs: dict[str, list[tuple[str, float]]], path: str, reference: str,
                  reference_label: str | None = None) -> str:
    """Fig. 6: DI of every domain pair, sorted descending, one line per model."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (model, pairs) in enumerate(di_pairs.items()):
        values = [v for _, v in pairs]
        mean = float(np.mean(values)) if values else math.nan
        extra = ", reference: 1 by construction" if model == reference_label else ""
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=4, color=f"C{i % 10}",
                ls=":" if model == reference_label else "-", label=f"{model} (DI = {mean:.3f}{extra})")
    ax.set_title(f"Diversity Index per domain pair, sorted (reference: {reference})")
    ax.set_xlabel("domain pair (i, j), ranked by DI")
    ax.set_ylabel("DI(i, j)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_covariance(panels: Sequence[dict], path: str, note: str | None = None) -> str:
    """Fig. 7: expert-pair CovLoss heatmap (left) and dimension-level |covariance| (right).

    Args:
      panels: one row per model, each {"title", "pair": [K, K], "dimension": [K*d, K*d], "dim": d}.
        Colour scales are shared down each column so the rows compare directly.
      note: a line written under the figure (e.g. why a panel is missing).
    """
    rows = len(panels)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4.6 * rows + (0.4 if note else 0)), squeeze=False)
    pair_off = [np.asarray(p["pair"], float) for p in panels]
    masked = []
    for m in pair_off:
        m = m.copy()
        np.fill_diagonal(m, np.nan)
        masked.append(m)
    finite = np.concatenate([m[np.isfinite(m)] for m in masked] or [np.zeros(1)])
    pair_max = float(finite.max()) if finite.size else 1.0
    dims = [np.abs(np.asarray(p["dimension"], float)) for p in panels]
    dim_max = float(max(np.percentile(d, 99) for d in dims)) or 1.0
    for row, (panel, pair, dim) in enumerate(zip(panels, masked, dims)):
        ax = axes[row, 0]
        image = ax.imshow(pair, cmap="Reds", vmin=0.0, vmax=pair_max or 1.0)
        k = pair.shape[0]
        for i in range(k):
            for j in range(k):
                if i != j:
                    ax.text(j, i, f"{pair[i, j]:.2e}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(k), [f"E{j}" for j in range(k)])
        ax.set_yticks(range(k), [f"E{i}" for i in range(k)])
        ax.set_xlabel("expert q")
        ax.set_ylabel("expert p")
        ax.set_title(f"{panel['title']}\nCovLoss ||C_pq||₁/(N d²) per expert pair (diagonal masked)",
                     fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="CovLoss of the pair")
        ax = axes[row, 1]
        image = ax.imshow(dim, cmap="viridis", vmin=0.0, vmax=dim_max)
        d = int(panel["dim"])
        for b in range(1, dim.shape[0] // d):
            ax.axhline(b * d - 0.5, color="white", lw=0.6)
            ax.axvline(b * d - 0.5, color="white", lw=0.6)
        ax.set_xlabel("output dimension (expert-major)")
        ax.set_ylabel("output dimension (expert-major)")
        ax.set_title(f"{panel['title']}\n|covariance| of all expert dimensions (white: expert blocks)",
                     fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="|cov| (clipped at 99th pct)")
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, style="italic")
    return _save(fig, path)


def plot_ia_dynamics(logs: dict[str, dict], path: str, domain_rows: Sequence[int] | None = None,
                     item_field: str | None = None) -> str:
    """Fig. 2: IA over training of (a) experts and (b) item-id embeddings by exposure group.

    (a) per model: the mean IA over its experts (solid); for models with domain-owned experts
    also the experts of the largest (dashed) and smallest (dotted) domain, each on its own
    domain's rows, as in the paper's S1 vs S6 comparison. (b) per model: IA of the most (solid)
    and least (dashed) exposed quintile of item ids, mean over tables.

    Args:
      logs: model label -> IA log (`InformationAbundanceLogger` JSON).
      domain_rows: training rows per domain (to pick the largest / smallest domain).
      item_field: the embedding field of panel (b) (default: the first one logged).
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, (model, log) in enumerate(logs.items()):
        color = f"C{i % 10}"
        records = {r["step"]: r["values"] for r in log.get("records", [])}
        steps = sorted(records)
        domains = log.get("domains", [])
        owners = log.get("expert_owners")

        def series(key):
            return [records[s].get(key, math.nan) for s in steps]

        keys = sorted({k for v in records.values() for k in v})
        overall = sorted({k for k in keys if k.startswith("experts/") and k.endswith("/overall")})
        if overall:
            mean = np.nanmean(np.array([series(k) for k in overall], float), axis=0)
            axes[0].plot(steps, mean, "-", color=color, label=f"{model}: mean over experts")
        if owners and any(o is not None for o in owners) and domain_rows is not None:
            sizes = np.asarray(domain_rows)
            for domain, style, word in ((int(np.argmax(sizes)), "--", "largest"),
                                        (int(np.argmin(sizes)), ":", "smallest")):
                owned = [e for e, o in enumerate(owners) if o == domain]
                if owned:
                    axes[0].plot(steps, series(f"experts/e{owned[0]}/{domains[domain]}"), style,
                                 color=color, label=f"{model}: {domains[domain]}-specific expert ({word} domain)")
        fields = sorted({k.split("/")[1] for k in keys if k.startswith("embedding/")})
        field = item_field if item_field in fields else (fields[0] if fields else None)
        for group, style in (("top", "-"), ("bottom", "--")):
            key = f"embedding/{field}/mean/{group}"
            if field and key in keys:
                axes[1].plot(steps, series(key), style, color=color, label=f"{model}: {group} quintile")
    axes[0].set_title("(a) IA of expert outputs during training")
    axes[1].set_title(f"(b) IA of {item_field or 'item'} embeddings: most / least exposed quintile")
    for ax in axes:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
        ax.set_xlabel("training step")
        ax.set_ylabel("IA (log scale)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_dilemma(points: dict[str, dict], path: str, ia_label: str) -> str:
    """Fig. 1a: Diversity Index vs Information Abundance, one point per model.

    Args:
      points: model -> {"di", "ia", optional "di_std", "ia_std", "gauc"}.
      ia_label: what the IA axis measures (e.g. "IA of item-id embeddings").
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (model, p) in enumerate(points.items()):
        if p.get("di") is None or p.get("ia") is None or math.isnan(p["di"]) or math.isnan(p["ia"]):
            continue
        label = model + (f" (gAUC {p['gauc']:.4f})" if p.get("gauc") is not None else "")
        ax.errorbar(p["di"], p["ia"], xerr=p.get("di_std") or None, yerr=p.get("ia_std") or None,
                    fmt="o", ms=8, color=f"C{i % 10}", capsize=3, label=label)
        ax.annotate(model, (p["di"], p["ia"]), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_title("Dilemma: domain distinctiveness (DI) vs sufficient learning (IA)")
    ax.set_xlabel("Diversity Index (DI)")
    ax.set_ylabel(ia_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
