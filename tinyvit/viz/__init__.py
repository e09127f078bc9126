"""Looking inside a ViT: the analyses of the paper's Figs. 6 and 7 (analysis.py) and their plots (plots.py)."""

from tinyvit.viz.analysis import (
                                  attention_rollout,
                                  mean_attention_distance,
                                  patch_filter_components,
                                  position_similarity,
)

__all__ = ["attention_rollout", "mean_attention_distance", "patch_filter_components", "position_similarity"]
