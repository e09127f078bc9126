"""Multi-head attention fused per image: scores, bias, softmax and weighted sum in one pass.

Twin: ops/attention.py. For each image one thread splits the heads' q, k, v out of the fused
qkv rows into small cache-resident buffers, runs every head's products on the same 6 x 16
register tile as the big GEMM (kernels/microkernel.py), and writes the result straight into the
merged-heads layout, so split_heads / merge_heads never copy whole tensors. Threads share the
work by images: a batch of one image runs on one thread.

The probabilities `att` are kept for the backward rather than recomputed: students inspect
them (ViT.attention_maps), and at these sequence lengths (N <= 65) they cost less memory than
the qkv activations they come from. q, k and v are kept as views of those activations, never
copied: each kernel scales the query where it reads it.
"""

from __future__ import annotations

import math

import numpy as np

from tinyvit.errors import TinyViTError
from tinyvit.kernels.checks import check_cache, check_float, check_gradient
from tinyvit.kernels.intrinsics import stack_array
from tinyvit.kernels.jit import kernel
from tinyvit.kernels.microkernel import MR, NR, store_tile, tile_multiply, tile_multiply_rows
from tinyvit.kernels.threads import parallel_for
from tinyvit.kernels.vec import exp32, lane_dot
from tinyvit.ops.attention import AttentionCache, merge_heads, split_heads
from tinyvit.ops.posembed import relative_offsets


@kernel(inline=True)
def _pad(n):
    """Room for n rows or columns of the register tile: whole MR and whole NR blocks."""
    return max((n + MR - 1) // MR * MR, (n + NR - 1) // NR * NR)


@kernel
def _tile_matmul(a, b, c, m, n, depth):
    """c[:m, :n] = a[:depth, :m]^T @ b[:depth, :n], whole tiles at a time (buffers are padded).

    Not inlined: the backward calls it six times, and six pasted copies of the unrolled tile
    doubled the compile time of the attention kernels for no measurable speed.
    """
    acc = stack_array(MR, NR, c)
    for i0 in range(0, m, MR):
        for j0 in range(0, n, NR):
            tile_multiply(a, i0, b, j0, depth, acc)
            store_tile(acc, c, i0, j0, False)


@kernel
def _tile_matmul_rows(a, b, c, m, n, depth):
    """c[:m, :n] = a[:m, :depth] @ b[:depth, :n]: as _tile_matmul, with `a` row-major.

    `a` needs whole tiles of rows (the padding rows may hold anything finite). Reading k and
    dout as they are split, with no transposed copy, made the forward 1.1-1.2x and the backward
    1.05-1.1x faster on digits and mnist; the per-head buffers are small enough for L1.
    """
    acc = stack_array(MR, NR, c)
    for i0 in range(0, m, MR):
        for j0 in range(0, n, NR):
            tile_multiply_rows(a, i0, b, j0, depth, acc)
            store_tile(acc, c, i0, j0, False)


@kernel
def _forward_images(start, stop, qkv, heads, rel_t, use_rel, out, att):
    """The forward of images start:stop, every head of each: one thread's share."""
    B, N, D3 = qkv.shape
    D = D3 // 3
    Dh = D // heads
    W = 2 * N - 1
    T = qkv.dtype.type
    single = qkv.itemsize == 4
    scale = T(1.0 / math.sqrt(Dh))
    L, Lw, Dp = _pad(N), _pad(W), _pad(Dh)
    dt = qkv.dtype
    q_t = np.zeros((heads, Dh, L), dtype=dt)   # "k-major": row d holds feature d of every token
    k = np.zeros((heads, L, Dh), dtype=dt)     # token-major, whole tiles of rows (the padding stays 0)
    v = np.zeros((heads, N, Dp), dtype=dt)
    o = np.zeros((heads, L, Dp), dtype=dt)
    s_t = np.zeros((L, L), dtype=dt)           # scores, transposed (row j = key j), then probabilities
    top = stack_array(1, NR, qkv)              # per query of a block of NR: the largest score ...
    total = stack_array(1, NR, qkv)            # ... and the sum of the exps (in registers)
    r = np.zeros((L, Lw), dtype=dt)            # query i against every relative-offset key
    for b in range(start, stop):
        # Split the heads: first k and v, whose layout stays, in one pass over the image's qkv
        # rows in memory order (reading one head's columns of every row instead was 10x slower:
        # a stride the prefetcher misses) ...
        for n in range(N):
            row = qkv[b, n]
            for h in range(heads):
                k_row, k_src = k[h, n], row[D + h * Dh:D + (h + 1) * Dh]
                v_row, v_src = v[h, n], row[2 * D + h * Dh:2 * D + (h + 1) * Dh]
                # One copy per loop: LLVM vectorises a loop only after checking at run time that
                # its arrays do not overlap, and gives up when there are many (the backward's
                # three copies in one loop ran one float at a time: 9 % of its time).
                for d in range(Dh):
                    k_row[d] = k_src[d]
                for d in range(Dh):
                    v_row[d] = v_src[d]
        # ... then q transposed, one output row at a time (written in order: 30-40 % faster
        # than scattering each token's values down a column).
        x_b = qkv[b]
        for h in range(heads):
            for d in range(Dh):
                q_col = q_t[h, d]
                for n in range(N):
                    q_col[n] = x_b[n, h * Dh + d] * scale   # scale the query, as ops/attention.py
        for h in range(heads):
            # The scores are computed transposed, s_t[j, i] = k_j . q_i (the same sums as q @ k^T),
            # so the softmax of query i runs down column i: the loops below take NR queries at
            # once, as vectors, with no sum across a vector and no scalar tail (the columns past
            # N hold finite junk that is never used). 30 % faster than softmax along rows, and
            # s_t is already the k-major A operand that att @ v needs.
            _tile_matmul_rows(k[h], q_t[h], s_t, N, N, Dh)      # scores^T = k @ q^T
            if use_rel:
                _tile_matmul(q_t[h], rel_t[h], r, N, W, Dh)     # q @ rel^T: every query vs every offset
                for j in range(N):
                    for i in range(N):
                        s_t[j, i] += r[i, i - j + N - 1]        # the logit of offset i - j
            for i0 in range(0, N, NR):                          # softmax down each column, NR at a time:
                first = s_t[0, i0:i0 + NR]                      # the largest score ...
                for i in range(NR):
                    top[0, i] = first[i]
                for j in range(1, N):
                    row = s_t[j, i0:i0 + NR]
                    for i in range(NR):
                        top[0, i] = max(top[0, i], row[i])
                for i in range(NR):
                    total[0, i] = 0
                for j in range(N):                              # ... exp(score - largest) ...
                    row = s_t[j, i0:i0 + NR]
                    for i in range(NR):
                        e = exp32(row[i] - top[0, i]) if single else math.exp(row[i] - top[0, i])
                        row[i] = e
                        total[0, i] += e
                for i in range(NR):
                    total[0, i] = T(1.0) / total[0, i]          # from here on: 1 / sum
                for j in range(N):                              # ... over their sum
                    row = s_t[j, i0:i0 + NR]
                    for i in range(NR):
                        row[i] *= total[0, i]
            for i in range(N):                                  # the cache keeps att[i, j]: row i = query i
                dst = att[b, h, i]
                for j in range(N):
                    dst[j] = s_t[j, i]
            _tile_matmul(s_t, v[h], o[h], N, Dh, N)             # out = att @ v
        for n in range(N):                                      # merge the heads, in memory order
            for h in range(heads):
                dst, src = out[b, n, h * Dh:(h + 1) * Dh], o[h, n]
                for d in range(Dh):
                    dst[d] = src[d]


@kernel
def _backward_images(start, stop, dout, qkv, heads, att, rel, use_rel, dqkv, drel_parts):
    """The backward of images start:stop; drel_parts[b, h] gets each (image, head)'s share of drel."""
    B, N, D3 = qkv.shape
    D = D3 // 3
    H = heads
    Dh = D // H
    W = 2 * N - 1
    T = qkv.dtype.type
    scale = T(1.0 / math.sqrt(Dh))
    L, Lw, Dp = _pad(N), _pad(W), _pad(Dh)
    dt = qkv.dtype
    do = np.zeros((H, L, Dp), dtype=dt)     # dout of each head, token-major (whole tiles of rows)
    v_t = np.zeros((H, Dh, L), dtype=dt)
    kk = np.zeros((H, N, Dp), dtype=dt)
    qs = np.zeros((H, N, Dp), dtype=dt)     # the scaled queries
    dqs = np.zeros((H, L, Dp), dtype=dt)    # d (scaled query)
    dk = np.zeros((H, L, Dp), dtype=dt)
    dv = np.zeros((H, L, Dp), dtype=dt)
    p = np.zeros((N, L), dtype=dt)
    ds = np.zeros((L, L), dtype=dt)         # d scores
    dp = np.zeros((L, L), dtype=dt)         # d probabilities
    dr = np.zeros((L, Lw), dtype=dt)        # d (query vs offset) logits
    relh = np.zeros((W, Dp), dtype=dt)
    tmp = np.zeros((Lw, Dp), dtype=dt)
    for b in range(start, stop):
        for n in range(N):                  # in-order copies: one pass over the rows of dout and qkv
            g_row, row = dout[b, n], qkv[b, n]
            for h in range(H):
                do_h, g_h = do[h, n], g_row[h * Dh:(h + 1) * Dh]
                qs_h, q_h = qs[h, n], row[h * Dh:(h + 1) * Dh]
                kk_h, k_h = kk[h, n], row[D + h * Dh:D + (h + 1) * Dh]
                for d in range(Dh):                  # one copy per loop, as in the forward
                    do_h[d] = g_h[d]
                for d in range(Dh):
                    qs_h[d] = q_h[d] * scale         # the scaled query, as the forward
                for d in range(Dh):
                    kk_h[d] = k_h[d]
        x_b = qkv[b]
        for h in range(H):                  # then v transposed, one output row at a time (as the forward)
            for d in range(Dh):
                v_col = v_t[h, d]
                for n in range(N):
                    v_col[n] = x_b[n, 2 * D + h * Dh + d]
        for h in range(H):
            for n in range(N):
                p_n, att_n = p[n], att[b, h, n]
                for j in range(N):
                    p_n[j] = att_n[j]
            _tile_matmul_rows(do[h], v_t[h], dp, N, N, Dh)  # out = att @ v -> datt = dout @ v^T
            _tile_matmul(p, do[h], dv[h], N, Dh, N)         #               -> dv = att^T @ dout
            for i in range(N):                              # softmax: ds = att * (datt - sum(datt * att))
                dot = lane_dot(dp[i], p[i], 0, N)
                for j in range(N):
                    ds[i, j] = p[i, j] * (dp[i, j] - dot)
            _tile_matmul(ds, qs[h], dk[h], N, Dh, N)        # scores = qs @ k^T -> dk = ds^T @ qs
            _tile_matmul_rows(ds, kk[h], dqs[h], N, Dh, N)  #                   -> dqs = ds @ k
            if use_rel:
                for i in range(N):                          # undo the gather: scatter ds by offset
                    for o in range(W):
                        dr[i, o] = 0
                    for j in range(N):
                        dr[i, i - j + N - 1] = ds[i, j]
                for o in range(W):
                    for d in range(Dh):
                        relh[o, d] = rel[h, o, d]
                _tile_matmul_rows(dr, relh, tmp, N, Dh, W)  # rel_logits = qs @ rel^T -> dqs += dr @ rel
                for n in range(N):
                    for d in range(Dh):
                        dqs[h, n, d] += tmp[n, d]
                _tile_matmul(dr, qs[h], tmp, W, Dh, N)      #                         -> drel = dr^T @ qs
                for o in range(W):
                    for d in range(Dh):
                        drel_parts[b, h, o, d] = tmp[o, d]
        for n in range(N):                                  # write dqkv's rows in memory order
            row = dqkv[b, n]
            for h in range(H):
                dqs_h, dk_h, dv_h = dqs[h, n], dk[h, n], dv[h, n]
                dq_dst, dk_dst = row[h * Dh:(h + 1) * Dh], row[D + h * Dh:D + (h + 1) * Dh]
                dv_dst = row[2 * D + h * Dh:2 * D + (h + 1) * Dh]
                for d in range(Dh):                          # one copy per loop, as in the forward
                    dq_dst[d] = dqs_h[d] * scale             # qs = q * scale -> dq = dqs * scale
                for d in range(Dh):
                    dk_dst[d] = dk_h[d]
                for d in range(Dh):
                    dv_dst[d] = dv_h[d]


def attention_forward(qkv: np.ndarray, heads: int,
                      rel_pos: np.ndarray | None = None) -> tuple[np.ndarray, AttentionCache]:
    """qkv (B, N, 3D), rel_pos (2N-1, D) or None -> out (B, N, D), as ops.attention.attention_forward."""
    check_float("attention", "qkv", qkv)
    qkv = np.ascontiguousarray(qkv)
    B, N, D3 = qkv.shape
    if heads < 1 or D3 % (3 * heads):
        raise TinyViTError(f"attention: qkv's last axis ({D3}) must hold q, k and v of {heads} equal heads.")
    D = D3 // 3
    Dh = D // heads
    dt = qkv.dtype
    rel = offsets = None
    rel_t = np.zeros((heads, Dh, _pad(2 * N - 1)), dtype=dt)  # the relative keys, k-major per head
    if rel_pos is not None:
        rel = rel_pos.reshape(2 * N - 1, heads, Dh).transpose(1, 0, 2)     # (H, 2N-1, Dh), a view
        rel_t[:, :, :2 * N - 1] = rel.transpose(0, 2, 1)
        offsets = relative_offsets(N)
    out = np.empty((B, N, D), dtype=dt)
    att = np.empty((B, heads, N, N), dtype=dt)
    parallel_for(_forward_images, B, qkv, heads, rel_t, rel_pos is not None, out, att,
                 work=B * (4 * N * N * D + 8 * heads * N * N))     # two products per head, and the softmax
    q = split_heads(qkv[..., 0 * D:1 * D], heads)                        # (B, H, N, Dh) views: no copies
    k = split_heads(qkv[..., 1 * D:2 * D], heads)
    v = split_heads(qkv[..., 2 * D:3 * D], heads)
    return out, AttentionCache(q=q, k=k, v=v, att=att, rel=rel, offsets=offsets)


def _qkv_of(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The (B, N, 3D) array that q, k, v (B, H, N, Dh) are views of, as attention_forward leaves them.

    The backward reads the queries, keys and values in qkv's row order, like the forward (reading
    them through the head-split views, whose strides the compiled code cannot know, was 3x slower).
    q, k and v made some other way are merged back into a new array.
    """
    B, H, N, Dh = q.shape
    D, size = H * Dh, q.itemsize
    strides = (N * 3 * D * size, Dh * size, 3 * D * size, size)   # of a split_heads view of qkv

    def split_view(t: np.ndarray, offset: int) -> bool:   # (an axis of length 1 may have any stride)
        return (t.dtype == q.dtype and t.ctypes.data == q.ctypes.data + offset * size
                and all(s == want for s, want, n in zip(t.strides, strides, t.shape, strict=True) if n > 1))

    views = split_view(q, 0) and split_view(k, D) and split_view(v, 2 * D)
    if views:
        return np.lib.stride_tricks.as_strided(q, shape=(B, N, 3 * D), strides=(N * 3 * D * size, 3 * D * size, size))
    return np.concatenate([merge_heads(t) for t in (q, k, v)], axis=-1)


def attention_backward(dout: np.ndarray, cache: AttentionCache) -> tuple[np.ndarray, np.ndarray | None]:
    """dout (B, N, D) -> dqkv (B, N, 3D), drel_pos (2N-1, D) or None, as ops.attention.attention_backward."""
    q, att = cache.q, cache.att
    check_float("attention backward", "cache.q", q)
    B, H, N, Dh = q.shape
    dt = q.dtype
    use_rel = cache.rel is not None
    W = 2 * N - 1
    check_cache("attention backward", {"k": (cache.k, q.shape), "v": (cache.v, q.shape), "att": (att, (B, H, N, N)),
                                       **({"rel": (cache.rel, (H, W, Dh))} if use_rel else {})}, dt)
    dout = check_gradient("attention backward", "dout", dout, (B, N, H * Dh), dt)
    rel = np.ascontiguousarray(cache.rel) if use_rel else np.zeros((H, W, Dh), dtype=dt)
    drel_parts = np.empty((B, H, W, Dh) if use_rel else (0, 0, 0, 0), dtype=dt)
    dqkv = np.empty((B, N, 3 * H * Dh), dtype=dt)
    parallel_for(_backward_images, B, dout, _qkv_of(q, cache.k, cache.v), H,
                 np.ascontiguousarray(att), rel, use_rel, dqkv, drel_parts,
                 work=B * (8 * N * N * H * Dh + 8 * H * N * N))  # four products per head, the softmax
    drel_pos = drel_parts.sum(axis=0).transpose(1, 0, 2).reshape(W, H * Dh) if use_rel else None
    return dqkv, drel_pos
