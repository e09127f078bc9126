"""Training: AdamW with parameter groups, warmup + cosine, clipping, data parallelism, the loop, evaluation.

    from tinyvit.train import Trainer, TrainConfig
"""

from tinyvit.train.config import DataSpec, TrainConfig
from tinyvit.train.data_parallel import DataParallel, batch_gradients
from tinyvit.train.evaluate import EvalResult, evaluate
from tinyvit.train.loop import Trainer, TrainingDiverged
from tinyvit.train.optim import AdamW, clip_grad_norm, global_grad_norm, param_groups
from tinyvit.train.schedule import warmup_cosine

__all__ = [
    "AdamW",
    "DataParallel",
    "DataSpec",
    "EvalResult",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "batch_gradients",
    "clip_grad_norm",
    "evaluate",
    "global_grad_norm",
    "param_groups",
    "warmup_cosine",
]
