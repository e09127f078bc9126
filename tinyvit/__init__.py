"""tinyvit: a Vision Transformer written from scratch in NumPy, every gradient by hand.

    from tinyvit import ViTConfig, ViT
"""

from tinyvit.config import ViTConfig
from tinyvit.errors import TinyViTError
from tinyvit.model import ViT

__version__ = "0.1.0"
__all__ = ["ViT", "ViTConfig", "TinyViTError", "__version__"]
