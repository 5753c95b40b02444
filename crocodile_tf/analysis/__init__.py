"""Analysis of trained models (paper §2.1-2.2, §4.5-4.6; SPEC §7): Diversity Index, Information
Abundance, singular-value spectra, cross-expert covariance, and the figures of `crocodile-analyze`.

How experts and embedding tables are found in a model is documented in `probe`.
"""

from crocodile_tf.analysis.callback import InformationAbundanceLogger, load_ia_log
from crocodile_tf.analysis.diversity import (DEFAULT_QUANTILES, DiversityResult, diversity_index,
                                             diversity_index_from_norms, domain_bound_hits,
                                             domain_norms, expert_norms, pair_sets,
                                             quantile_thresholds, shared_expert_hits)
from crocodile_tf.analysis.experts import (cross_covariance_total, dimension_covariance,
                                           expert_ia_by_domain, expert_pair_covariance)
from crocodile_tf.analysis.probe import (ExpertProbe, embedding_tables, expert_probe,
                                         find_expert_layer)
from crocodile_tf.analysis.spectrum import (frequency_groups, ia_by_frequency,
                                            information_abundance, log_spectrum, singular_values)

__all__ = ["DEFAULT_QUANTILES", "DiversityResult", "ExpertProbe", "InformationAbundanceLogger",
           "cross_covariance_total", "dimension_covariance", "diversity_index",
           "diversity_index_from_norms", "domain_bound_hits", "domain_norms", "embedding_tables",
           "expert_ia_by_domain", "expert_norms", "expert_pair_covariance", "expert_probe",
           "find_expert_layer", "frequency_groups", "ia_by_frequency", "information_abundance",
           "load_ia_log", "log_spectrum", "pair_sets", "quantile_thresholds", "shared_expert_hits",
           "singular_values"]
