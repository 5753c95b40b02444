"""Data pipelines: raw KuaiRand-1K / Ali-CCP / any CSV or Parquet -> TFRecords, synthetic raw-format
generators, and tf.data input (installed as `crocodile_tf.pipelines`).

Layout (one concept per module): `reader` (chunked CSV/Parquet reading, row validation),
`vocab` (fitting vocabularies / min_count / boundaries and id mapping), `writer` (vectorized
Example encoding, sharded GZIP TFRecords, stats and rejects), `conversion` (the engine: splits,
domain selection, the fit and write passes), `kuairand` / `aliccp` / `generic` (the data sets),
`convert` (the crocodile-convert binary), `synthetic` (crocodile-synth), `planted` (the planted
problem), `input` (make_dataset).

The public names are loaded on first use: importing the package imports neither tensorflow_io
(only `input.py` does, where it registers the cloud file systems) nor the binaries' modules, so
`python -m crocodile_tf.pipelines.convert` runs cleanly.
"""

import importlib

_EXPORTS = {
    "AliCCPRawSource": "aliccp", "aliccp_csv_source": "aliccp",
    "ConvertOptions": "conversion", "SplitSpec": "conversion", "Source": "conversion",
    "convert": "conversion",
    "make_source": "convert",
    "GenericSource": "generic", "load_schema_file": "generic",
    "make_dataset": "input", "shard_files": "input",
    "KuaiRandSource": "kuairand",
    "PlantedProblem": "planted", "planted_problem": "planted",
    "synth_aliccp": "synthetic", "synth_kuairand": "synthetic",
    "ConversionError": "writer", "ExampleEncoder": "writer",
    "FeatureFitter": "vocab", "ColumnSpec": "vocab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
