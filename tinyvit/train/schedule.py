"""The learning-rate schedule: linear warmup, then cosine decay (ViT, DeiT)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0,
                  min_lr: float = 0.0) -> float:
    """The learning rate of update number `step` (counting from 1) of `total_steps`.

    During warmup the rate grows linearly from base_lr / warmup_steps to base_lr, which
    keeps the first updates small while AdamW's second-moment estimates are still poor.
    Afterwards it follows half a cosine from base_lr down to min_lr at the last step.
    """
    if warmup_steps > 0 and step <= warmup_steps:
        return base_lr * step / warmup_steps
    # The first step after warmup runs at base_lr, the last one at min_lr.
    decay_steps = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, max(0.0, (step - warmup_steps - 1) / decay_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
