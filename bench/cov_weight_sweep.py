"""Validation sweep of CovLoss's weight alpha for Crocodile on the demo data (SPEC §9: "tune on
validation"). Picks the alpha with the best validation AUC; test AUC is reported, not used.

Usage: python bench/cov_weight_sweep.py --data_dir demo_out/data [--weights 1e-4,1e-3,1e-2,1e-1]
       [--seed 0] [--out bench/results/cov_weight_sweep.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import crocodile_tf  # noqa: F401
import tf_keras

from crocodile_tf import config as config_lib
from crocodile_tf.train import BEST_STATE, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--weights", default="1e-4,1e-3,1e-2,1e-1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cov_weight_sweep.json"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cov_sweep_")
    results = {}
    for weight in (float(w) for w in args.weights.split(",")):
        tf_keras.backend.clear_session()
        base = config_lib.preset("demo")
        config = base.replace(seed=args.seed, model_config=base.model_config.replace(cov_weight=weight))
        model_dir = os.path.join(workdir, f"cov_{weight:g}")
        result = train(config, args.data_dir, model_dir, verbose=0)
        with open(os.path.join(model_dir, BEST_STATE)) as f:
            val_auc = json.load(f)["val_auc"]
        results[f"{weight:g}"] = {"val_auc": val_auc, "test_auc": result["metrics"]["overall"]["auc"]}
        print(f"cov_weight {weight:g}: val AUC {val_auc:.4f}, test AUC {results[f'{weight:g}']['test_auc']:.4f}",
              flush=True)
    best = max(results, key=lambda w: results[w]["val_auc"])
    print(f"best on validation: cov_weight {best}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"seed": args.seed, "data_dir": os.path.abspath(args.data_dir), "results": results,
                   "best_on_validation": best}, f, indent=2)


if __name__ == "__main__":
    main()
