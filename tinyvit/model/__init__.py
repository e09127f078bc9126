"""Model assembly: initialisation, the Transformer block and the ViT built from the operations."""

from tinyvit.model.vit import ViT, ViTCache

__all__ = ["ViT", "ViTCache"]
