"""SavedModel export for TF Serving: raw-feature signatures, in-graph preprocessing, warmup.

`crocodile-export` (export.py) restores a trained model_dir and writes a TF Serving version whose
graph applies the converter's vocabularies and bucket boundaries (preprocess.py), with the
`serving_default`, `predict_examples` and `classify` signatures (signatures.py) and warmup
requests built from validation rows (warmup.py).
"""

from crocodile_tf.export.export import export_model, next_version
from crocodile_tf.export.preprocess import Preprocessor, converter_ids, raw_values_for_ids
from crocodile_tf.export.signatures import SIGNATURES, ServingModule

__all__ = ["Preprocessor", "SIGNATURES", "ServingModule", "converter_ids", "export_model",
           "next_version", "raw_values_for_ids"]
