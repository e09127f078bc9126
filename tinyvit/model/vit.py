"""ViT: the whole Vision Transformer assembled from the operations, forward and backward."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from tinyvit.backend import get_ops
from tinyvit.config import ViTConfig
from tinyvit.errors import TinyViTError
from tinyvit.model import init
from tinyvit.model.cost import forward_flops
from tinyvit.model.layers import BlockCache, block_backward, block_forward
from tinyvit.ops import (
    DropoutCache,
    LayerNormCache,
    LinearCache,
    PatchifyCache,
    PoolCache,
    cls_prepend_backward,
    cls_prepend_forward,
    dropout_backward,
    dropout_forward,
    learned2d_backward,
    learned2d_forward,
    patchify_backward,
    patchify_forward,
    pool_backward,
    pool_forward,
    pos_add_backward,
    pos_add_forward,
    sincos2d_table,
)


@dataclass
class ViTCache:
    """Everything the last forward kept for the backward, by name, for a student to inspect."""

    patchify: PatchifyCache
    patch_embed: LinearCache
    drop: DropoutCache
    blocks: list[BlockCache] = field(default_factory=list)
    norm: LayerNormCache | None = None
    pool: PoolCache | None = None
    head: LinearCache | None = None


class ViT:
    """A Vision Transformer whose forward and backward passes are written by hand.

    >>> model = ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, dim=16, heads=2))
    >>> logits = model.forward(images)          # images (B, H, W, C) -> logits (B, classes)
    >>> dimages = model.backward(dlogits)       # fills model.grads, returns d loss / d images

    model.params and model.grads map the same hierarchical names ('blocks.0.attn.qkv.weight')
    to arrays of the same shapes. Parameters are updated in place by the optimiser, and
    backward overwrites model.grads (it never accumulates across calls).
    """

    def __init__(self, config: ViTConfig):
        if not isinstance(config, ViTConfig):
            raise TinyViTError(f"ViT expects a ViTConfig, got {type(config).__name__}.")
        config.validate()
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.ops = get_ops(config.backend)
        init_seed, dropout_seed = np.random.SeedSequence(config.seed).spawn(2)
        self.params: dict[str, np.ndarray] = self._init_params(np.random.default_rng(init_seed))
        self.param_shapes = {name: value.shape for name, value in self.params.items()}
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.rng = np.random.default_rng(dropout_seed)  # dropout masks; a checkpoint saves its state
        # sincos2d is fixed: a buffer, not a parameter, so it has no gradient.
        self.fixed_pos_table = (sincos2d_table(config.grid_size, config.dim, config.pool == "cls",
                                               self.dtype) if config.pos_embed == "sincos2d" else None)
        self.cache: ViTCache | None = None

    # ================================================================ parameters
    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Create every parameter in a fixed order, so one seed gives bit-identical models."""
        c = self.config
        D, M, N = c.dim, c.mlp_dim, c.num_tokens
        p: dict[str, np.ndarray] = {}
        p["patch_embed.weight"] = init.lecun_normal(rng, c.patch_dim, (c.patch_dim, D))  # (P*P*C, D)
        p["patch_embed.bias"] = np.zeros(D)
        if c.pool == "cls":
            p["cls_token"] = np.zeros(D)
        if c.pos_embed_placement != "every_layer":
            self._init_pos_tables(rng, p, "pos_embed")
        for i in range(c.depth):
            b = f"blocks.{i}."
            if c.pos_embed_placement == "every_layer":
                self._init_pos_tables(rng, p, b + "pos_embed")
            p[b + "norm1.weight"], p[b + "norm1.bias"] = np.ones(D), np.zeros(D)
            # q, k and v are three D x D maps stored side by side: initialise each on its own.
            p[b + "attn.qkv.weight"] = np.concatenate(
                [init.xavier_uniform(rng, D, D, (D, D)) for _ in range(3)], axis=1)     # (D, 3D)
            p[b + "attn.qkv.bias"] = np.zeros(3 * D)
            if c.pos_embed == "relative":
                p[b + "attn.rel_pos"] = init.normal(rng, 0.02, (2 * N - 1, D))          # (2N-1, D)
            p[b + "attn.proj.weight"] = init.xavier_uniform(rng, D, D, (D, D))
            p[b + "attn.proj.bias"] = np.zeros(D)
            p[b + "norm2.weight"], p[b + "norm2.bias"] = np.ones(D), np.zeros(D)
            p[b + "mlp.fc1.weight"] = init.xavier_uniform(rng, D, M, (D, M))
            p[b + "mlp.fc1.bias"] = np.zeros(M)
            p[b + "mlp.fc2.weight"] = init.xavier_uniform(rng, M, D, (M, D))
            p[b + "mlp.fc2.bias"] = np.zeros(D)
        p["norm.weight"], p["norm.bias"] = np.ones(D), np.zeros(D)
        # A zero head makes the untrained model predict uniformly (loss = log(classes)).
        p["head.weight"] = np.zeros((D, c.num_classes))
        p["head.bias"] = np.zeros(c.num_classes)
        return {k: v.astype(self.dtype) for k, v in p.items()}

    def _init_pos_tables(self, rng: np.random.Generator, p: dict, prefix: str) -> None:
        c = self.config
        if c.pos_embed == "learned":
            p[prefix + ".table"] = init.normal(rng, 0.02, (c.num_tokens, c.dim))       # (N, D)
        elif c.pos_embed == "learned2d":
            p[prefix + ".x"] = init.normal(rng, 0.02, (c.grid_size, c.dim // 2))      # (gw, D/2)
            p[prefix + ".y"] = init.normal(rng, 0.02, (c.grid_size, c.dim // 2))      # (gh, D/2)
            if c.pool == "cls":
                p[prefix + ".cls"] = init.normal(rng, 0.02, (c.dim,))

    def _pos_table(self, prefix: str) -> np.ndarray | None:
        """The (N, D) table added to the tokens, built from the parameters under `prefix`."""
        kind, p = self.config.pos_embed, self.params
        if kind == "learned":
            return p[prefix + ".table"]
        if kind == "learned2d":
            return learned2d_forward(p[prefix + ".x"], p[prefix + ".y"], p.get(prefix + ".cls"))
        if kind == "sincos2d":
            return self.fixed_pos_table
        return None  # 'none', or 'relative' which lives inside attention

    def _pos_table_backward(self, prefix: str, dtable: np.ndarray, grads: dict) -> None:
        """Add the gradient of the (N, D) table to the parameters it was built from."""
        kind, g = self.config.pos_embed, self.config.grid_size
        if kind == "learned":
            grads[prefix + ".table"] += dtable
        elif kind == "learned2d":
            dx, dy, dcls = learned2d_backward(dtable, g, g, self.config.pool == "cls")
            grads[prefix + ".x"] += dx
            grads[prefix + ".y"] += dy
            if dcls is not None:
                grads[prefix + ".cls"] += dcls

    def _adds_table(self) -> bool:
        """Whether a position table is added to the tokens ('relative' biases attention instead)."""
        return self.config.pos_embed in ("learned", "learned2d", "sincos2d")

    def _stem_pos_prefix(self) -> str | None:
        """Where the table added once after the patch embedding lives, if there is one."""
        placement = self.config.pos_embed_placement
        return "pos_embed" if self._adds_table() and placement == "stem" else None

    def _block_pos_prefix(self, i: int) -> str | None:
        """Where the table added at block i's input lives, if there is one."""
        placement = self.config.pos_embed_placement
        if not self._adds_table():
            return None
        if placement == "every_layer":
            return f"blocks.{i}.pos_embed"
        if placement == "every_layer_shared":
            return "pos_embed"
        return None

    def _block_params(self, i: int) -> dict[str, np.ndarray]:
        prefix = f"blocks.{i}."
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}

    # ================================================================ forward
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Images x (B, H, W, C) -> logits (B, num_classes). train=True turns dropout on.

        Keeps in model.cache what the backward needs (see attention_maps() for a look)."""
        x = self._check_images(x)
        self._check_params()
        self.cache = None  # free the last forward's activations now, not after building the new ones
        logits, self.cache = self._forward(x, train)
        return logits

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Images x (B, H, W, C) -> logits (B, num_classes) for inference: dropout off, and nothing
        kept for a backward (like PyTorch's torch.no_grad()). The same logits as forward(x), bit
        for bit. On the numba backend each thread runs the whole forward pass on its own share
        of the batch: the threads meet once, not at each of the pass's hundred-odd kernels."""
        x = self._check_images(x)
        self._check_params()
        self.cache = None  # a backward after predict() has nothing to work from, and says so
        if self.ops.name != "numba":
            return self._forward(x, train=False)[0]
        from tinyvit.kernels.threads import map_shares

        shares = map_shares(lambda share, start, stop: self._forward(x[start:stop], train=False)[0], len(x))
        return shares[0] if len(shares) == 1 else np.concatenate(shares)

    def _forward(self, x: np.ndarray, train: bool) -> tuple[np.ndarray, ViTCache]:
        c, p, ops = self.config, self.params, self.ops
        patches, patchify = patchify_forward(x, c.patch_size)                       # (B, Np, P*P*C)
        tokens, patch_embed = ops.linear_forward(
            patches, p["patch_embed.weight"], p["patch_embed.bias"])                 # (B, Np, D)
        if c.pool == "cls":
            tokens = cls_prepend_forward(tokens, p["cls_token"])                     # (B, N, D)
        stem = self._stem_pos_prefix()
        if stem is not None:
            tokens = pos_add_forward(tokens, self._pos_table(stem))                  # (B, N, D)
        tokens, drop = dropout_forward(tokens, c.dropout, self.rng, train)
        cache = ViTCache(patchify=patchify, patch_embed=patch_embed, drop=drop)
        for i in range(c.depth):
            prefix = self._block_pos_prefix(i)
            tokens, block = block_forward(
                ops, tokens, self._block_params(i), heads=c.heads, gelu=c.gelu,
                eps=c.layernorm_eps, dropout=c.dropout, rng=self.rng, train=train,
                pos_table=None if prefix is None else self._pos_table(prefix))          # (B, N, D)
            cache.blocks.append(block)
        tokens, cache.norm = ops.layernorm_forward(
            tokens, p["norm.weight"], p["norm.bias"], c.layernorm_eps)                # (B, N, D)
        pooled, cache.pool = pool_forward(tokens, c.pool)                            # (B, D)
        logits, cache.head = ops.linear_forward(pooled, p["head.weight"], p["head.bias"])  # (B, K)
        return logits, cache

    # ================================================================ backward
    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """dlogits (B, K) -> d loss / d images (B, H, W, C); fills (overwrites) self.grads."""
        if self.cache is None:
            raise TinyViTError("ViT.backward() needs a forward() first: there is nothing to differentiate.")
        c, cache, ops = self.config, self.cache, self.ops
        B = cache.head.x.shape[0]
        dlogits = np.asarray(dlogits)
        if dlogits.shape != (B, c.num_classes):
            raise TinyViTError(f"dlogits has shape {dlogits.shape}, expected {(B, c.num_classes)} "
                               "(the shape of the last forward's logits).")
        if dlogits.dtype.kind not in "fiu":   # complex would be cut to its real part, objects fail deep inside
            raise TinyViTError(f"dlogits must hold real numbers, got dtype {dlogits.dtype}.")
        g: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in self.params.items()}
        dlogits = dlogits.astype(self.dtype, copy=False)
        dpooled, g["head.weight"], g["head.bias"] = ops.linear_backward(dlogits, cache.head)
        dtokens = pool_backward(dpooled, cache.pool)                                 # (B, N, D)
        dtokens, g["norm.weight"], g["norm.bias"] = ops.layernorm_backward(dtokens, cache.norm)
        for i in reversed(range(c.depth)):
            prefix = self._block_pos_prefix(i)
            dtokens, gb = block_backward(ops, dtokens, cache.blocks[i], has_pos_table=prefix is not None)
            if prefix is not None:
                self._pos_table_backward(prefix, gb.pop("pos_table"), g)
            for name, grad in gb.items():
                g[f"blocks.{i}.{name}"] = grad
        dtokens = dropout_backward(dtokens, cache.drop)
        stem = self._stem_pos_prefix()
        if stem is not None:
            dtokens, dtable = pos_add_backward(dtokens)
            self._pos_table_backward(stem, dtable, g)
        if c.pool == "cls":
            dtokens, g["cls_token"] = cls_prepend_backward(dtokens)                  # (B, Np, D)
        dpatches, g["patch_embed.weight"], g["patch_embed.bias"] = ops.linear_backward(
            dtokens, cache.patch_embed)                                              # (B, Np, P*P*C)
        dx = patchify_backward(dpatches, cache.patchify)                             # (B, H, W, C)
        for name, grad in g.items():
            self.grads[name][...] = grad  # in place: an optimiser may hold references
        return dx

    # ================================================================ data parallelism
    def replica(self, seed: int) -> ViT:
        """A model that shares this one's parameters (the same arrays: an optimiser step moves
        both) but keeps its own cache, gradients and dropout generator, default_rng(seed). Each
        thread of a data-parallel training step runs one (tinyvit/train/data_parallel.py)."""
        twin = copy.copy(self)
        twin.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        twin.rng = np.random.default_rng(seed)
        twin.cache = None
        return twin

    # ================================================================ inspection
    def attention_maps(self) -> list[np.ndarray]:
        """The attention probabilities of every block from the last forward, each (B, H, N, N)."""
        if self.cache is None:
            raise TinyViTError("attention_maps() needs a forward() first.")
        return [block.attn.attn.att for block in self.cache.blocks]

    def num_params(self) -> int:
        """The number of trainable scalars (the fixed sin-cos table is not counted)."""
        return int(sum(v.size for v in self.params.values()))

    def flops_per_image(self) -> int:
        """Forward FLOPs for one image (matmuls and attention); see tinyvit/model/cost.py."""
        return forward_flops(self.config)

    # ================================================================ checks
    def _check_params(self) -> None:
        """model.params must still hold every parameter as an array of the shape and dtype it was
        made with. The fast kernels trust those shapes: a smaller array would be read past its end."""
        for name, shape in self.param_shapes.items():
            value = self.params.get(name)
            if value is None:
                raise TinyViTError(f"model.params has no '{name}', which this model's config needs.")
            if not isinstance(value, np.ndarray):
                raise TinyViTError(f"model.params['{name}'] is a {type(value).__name__}, not a NumPy array "
                                   f"of shape {shape}.")
            if value.shape != shape or value.dtype != self.dtype:
                raise TinyViTError(f"model.params['{name}'] has shape {value.shape} and dtype {value.dtype}, but "
                                   f"this model needs shape {shape} and dtype {self.dtype} (assign in place, "
                                   f"model.params[name][...] = value, to keep both).")

    def _check_images(self, x) -> np.ndarray:
        c = self.config
        expected = f"(B, {c.image_size}, {c.image_size}, {c.in_channels})"
        if not isinstance(x, np.ndarray):
            raise TinyViTError(f"images must be a NumPy array of shape {expected}, got {type(x).__name__}.")
        if x.ndim != 4:
            raise TinyViTError(f"images must have shape {expected} (batch, height, width, channels), "
                               f"got shape {x.shape}.")
        if x.shape[0] == 0:
            raise TinyViTError(f"images is an empty batch: shape {expected} needs B >= 1, got {x.shape}.")
        if x.shape[3] != c.in_channels:
            channels_first = x.shape[1] == c.in_channels and x.shape[2:] == (c.image_size, c.image_size)
            raise TinyViTError(f"images have {x.shape[3]} channel(s), but the model expects "
                               f"in_channels={c.in_channels}: shape {expected}, got {x.shape}"
                               + (" (channels first? use x.transpose(0, 2, 3, 1))." if channels_first else "."))
        if x.shape[1:3] != (c.image_size, c.image_size):
            raise TinyViTError(f"images are {x.shape[1]}x{x.shape[2]}, but the model expects "
                               f"{c.image_size}x{c.image_size}: shape {expected}, got {x.shape}.")
        if x.dtype.kind != "f":
            raise TinyViTError(f"images must be floating point (e.g. float32 scaled to [0, 1]), "
                               f"got dtype {x.dtype}.")
        return x.astype(self.dtype, copy=False)
