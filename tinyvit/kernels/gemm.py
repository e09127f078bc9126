"""A cache-blocked, parallel GEMM: the loop nest that BLAS runs, written out in Numba.

C (M, N) = op(A) (M, K) @ op(B) (K, N), where op transposes or not, in the structure of
Goto & van de Geijn ("Anatomy of high-performance matrix multiplication", 2008):

    pack all of B into column panels of NR       (once per call, shared by the threads)
    for each block of MC rows of A, in parallel (kernels/threads.py):
        for each slice of KC along K:
            for each column panel of B:          (its KC x NR slice stays in L1)
                for each row panel of A:         (the MC x KC block stays in L2)
                    6 x 16 register tile          (kernels/microkernel.py)
                    (and prefetch one row of the next slice or block of A)

Packing copies B into the exact order the register tile reads it, so the hot loop walks it
forwards. A is read where it lies: the tile takes one value from each of its 6 rows per step,
every row forwards (tile_multiply_rows). BLAS packs A too; here that copy took 4-14 % of a
product's time on cifar-tiny's shapes, as it is also where A first comes from memory. Instead,
while the tiles run, each fetches one row of the block that comes next into the cache
(intrinsics.prefetch), so no tile waits for memory. Only a transposed A (trans_a), and the last,
ragged panel of rows, are packed. When a block of rows of C is finished, an epilogue runs on it
while it is still in L2: adding the bias, and the GELU of an MLP's first layer (saving a pass
over memory).

The weight gradient dW = X^T @ dY has another shape: K (the batch's rows, thousands) is far
larger than M and N (the layer's widths). Packing all of dY first would write, and then re-read,
a copy as large as dY, which took as long as the multiplication itself on cifar-tiny's qkv layer.
gemm_split_k instead splits K into a few parts per thread; each part packs one cache-sized slice
of both operands at a time, never the whole, into its own partial C, and the partials are summed
at the end, in part order: which thread ran which part never changes the result.
"""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError
from tinyvit.kernels.checks import FLOATS, check_float
from tinyvit.kernels.gelu import gelu_grad_span
from tinyvit.kernels.gelu_math import gelu_value
from tinyvit.kernels.intrinsics import prefetch, stack_array
from tinyvit.kernels.jit import kernel
from tinyvit.kernels.microkernel import MR, NR, store_tile, tile_multiply, tile_multiply_rows
from tinyvit.kernels.threads import num_threads, parallel_for, part_count

KC = 384   # a KC x NR slice of a B panel is 24 KB of float32: it stays in the 32 KB L1 cache
MC = 96    # an MC x KC block of A is 144 KB: it stays in the 1 MB L2 cache
NC = 768   # columns of B packed at once by gemm_split_k: a KC x NC slice is 1.2 MB, past L2 but
           # measured faster than three 256-wide ones (which re-pack the A block each time)

# What the epilogue does with a finished block of rows of C.
PLAIN = 0      # C = A @ B
BIAS = 1       # C = A @ B + bias
BIAS_GELU = 2  # pre = A @ B + bias is kept in `pre`, and C = gelu(pre)


@kernel
def _pack_b_rows(start, stop, b, trans_b, panels):
    """Rows start:stop of b into the panels: panels[p, k, j] = op(B)[k, p * NR + j].

    b is read row by row, forwards, whether its rows are op(B)'s rows or (trans_b) its columns.
    """
    K, N = panels.shape[1], (b.shape[0] if trans_b else b.shape[1])
    if trans_b:                                    # row r of b is column r of op(B)
        for r in range(start, stop):
            for k in range(K):
                panels[r // NR, k, r % NR] = b[r, k]
    else:                                          # row r of b is row r of op(B)
        # One panel at a time, so memory is read in one stream and written in one stream
        # (row by row would write to every panel at once, far apart in memory).
        for p in range(N // NR):
            for r in range(start, stop):
                for j in range(NR):                # a 16-wide vector copy
                    panels[p, r, j] = b[r, p * NR + j]
        for r in range(start, stop):
            for j in range(N // NR * NR, N):       # the ragged last panel
                panels[j // NR, r, j % NR] = b[r, j]


def pack_b(b: np.ndarray, trans_b: bool) -> np.ndarray:
    """op(B) (K, N) -> panels (ceil(N / NR), K, NR), zero-padded on the right."""
    K, N = (b.shape[1], b.shape[0]) if trans_b else b.shape
    panels = np.empty(((N + NR - 1) // NR, K, NR), dtype=b.dtype)
    if N == 0:
        return panels
    panels[-1, :, N % NR or NR:] = 0              # the padding columns of the last panel
    parallel_for(_pack_b_rows, b.shape[0], b, trans_b, panels, work=2 * b.size)
    return panels


@kernel(inline=True)
def _pack_a(a, trans_a, i0, rows, k0, depth, block):
    """Rows i0:i0+rows, columns k0:k0+depth of op(A) -> block[panel, k, i] (MR rows per panel).

    Rows past `rows` are zero, so the last panel's tile is whole and computes zeros there.
    Whole panels are copied by loops with no test inside (they compile to straight moves);
    only the ragged last panel checks each row.
    """
    whole = rows // MR
    for p in range(whole):
        r0 = i0 + p * MR
        if trans_a:
            for k in range(depth):
                for i in range(MR):
                    block[p, k, i] = a[k0 + k, r0 + i]
        else:
            for k in range(depth):
                for i in range(MR):
                    block[p, k, i] = a[r0 + i, k0 + k]
    if whole * MR < rows:
        p = whole
        for k in range(depth):
            for i in range(MR):
                r = p * MR + i
                block[p, k, i] = 0 if r >= rows else (a[k0 + k, i0 + r] if trans_a else a[i0 + r, k0 + k])


@kernel
def _store_edge(tile, out, r0, c0, rows, cols, accumulate):
    """out[r0:r0+rows, c0:c0+cols] (+)= tile[:rows, :cols]: a ragged tile at the edge of C,
    copied out of the registers into the small array `tile` first."""
    for i in range(rows):
        for j in range(cols):
            out[r0 + i, c0 + j] = tile[i, j] + out[r0 + i, c0 + j] if accumulate else tile[i, j]


@kernel(inline=True)
def _epilogue(out, r0, rows, epilogue, bias, pre, tanh_approx):
    """Bias (and GELU) on rows r0:r0+rows of C, just finished and still in L2."""
    T = out.dtype.type
    single = out.itemsize == 4
    N = out.shape[1]
    for i in range(r0, r0 + rows):
        if epilogue == BIAS:
            for j in range(N):
                out[i, j] += bias[j]
        elif epilogue == BIAS_GELU:
            for j in range(N):
                h = out[i, j] + bias[j]
                pre[i, j] = h
                out[i, j] = gelu_value(h, tanh_approx, single, T)


@kernel
def _macro_kernel(block, rows, panels, k0, depth, cols, c, i0, j0, accumulate):
    """c[i0:i0+rows, j0:j0+cols] (+)= a packed block of A @ rows k0:k0+depth of packed B panels.

    The two loops around the register tile. A compiled function of its own, not pasted into
    its callers: inside the larger loop nest of _split_k_parts, LLVM no longer kept the tile
    in registers (15x slower).
    """
    acc = stack_array(MR, NR, c)
    edge = np.empty((MR, NR), dtype=c.dtype)
    for p in range((cols + NR - 1) // NR):
        b_panel = panels[p, k0:k0 + depth]            # one view per panel, not one per tile
        for q in range((rows + MR - 1) // MR):
            tile_multiply(block[q], 0, b_panel, 0, depth, acc)
            if rows - q * MR >= MR and cols - p * NR >= NR:
                store_tile(acc, c, i0 + q * MR, j0 + p * NR, accumulate)
            else:                                     # a ragged tile at the bottom or right edge
                for i in range(MR):
                    for j in range(NR):
                        edge[i, j] = acc[i, j]
                _store_edge(edge, c, i0 + q * MR, j0 + p * NR, min(MR, rows - q * MR), min(NR, cols - p * NR),
                            accumulate)


@kernel(inline=True)
def _prefetch_row(a, r, k0, depth):
    """Fetch a[r, k0:k0+depth] into the cache: one prefetch per 64-byte line."""
    for k in range(k0, k0 + depth, 64 // a.itemsize):
        prefetch(a, r, k)
    prefetch(a, r, k0 + depth - 1)                    # the last line, when the row starts mid-line


@kernel
def _macro_kernel_rows(a, i0, rows, panels, k0, depth, cols, c, accumulate, ahead, ahead_rows, ahead_k0,
                       ahead_depth):
    """c[i0:i0+rows, :cols] (+)= a[i0:i0+rows, k0:k0+depth] @ rows k0:k0+depth of packed B panels.

    As _macro_kernel, with A read in place (rows: whole MR panels). Tile number t < ahead_rows also
    prefetches row ahead + t of `a`, columns ahead_k0:ahead_k0+ahead_depth: the next slice or block
    of A is in the cache by the time it is multiplied.
    """
    acc = stack_array(MR, NR, c)
    edge = np.empty((MR, NR), dtype=c.dtype)
    a_block = a[i0:i0 + rows, k0:k0 + depth]
    panels_of_rows = rows // MR
    for p in range((cols + NR - 1) // NR):
        b_panel = panels[p, k0:k0 + depth]
        for q in range(panels_of_rows):
            t = p * panels_of_rows + q
            if t < ahead_rows:
                _prefetch_row(a, ahead + t, ahead_k0, ahead_depth)
            tile_multiply_rows(a_block, q * MR, b_panel, 0, depth, acc)
            if cols - p * NR >= NR:
                store_tile(acc, c, i0 + q * MR, p * NR, accumulate)
            else:                                     # a ragged tile at the right edge
                for i in range(MR):
                    for j in range(NR):
                        edge[i, j] = acc[i, j]
                _store_edge(edge, c, i0 + q * MR, p * NR, MR, cols - p * NR, accumulate)


@kernel
def _multiply_blocks(start, stop, a, trans_a, panels, out, mc, epilogue, bias, pre, tanh_approx):
    """Row blocks start:stop (of mc rows each) of out = op(A) @ B: the work of one thread."""
    M, N = out.shape
    K = panels.shape[1]
    block = np.empty((mc // MR, KC, MR), dtype=out.dtype)
    slices = (K + KC - 1) // KC                 # equal slices of at most KC: 576 = 2 x 288, not 384 + 192
    for blk in range(start, stop):
        i0 = blk * mc
        rows = min(mc, M - i0)
        for s in range(slices):
            k0 = K * s // slices
            depth = K * (s + 1) // slices - k0
            if trans_a:                         # op(A)'s rows are a's columns: pack them
                _pack_a(a, True, i0, rows, k0, depth, block)
                _macro_kernel(block, rows, panels, k0, depth, N, out, i0, 0, k0 > 0)
                continue
            # Prefetch what this thread multiplies next: the next slice of these rows, or the first
            # slice of its next block (none after its last).
            next_blk, next_s = (blk, s + 1) if s + 1 < slices else (blk + 1, 0)
            ahead, ahead_k0 = next_blk * mc, K * next_s // slices
            ahead_rows = min(mc, M - ahead) if next_blk < stop else 0
            ahead_depth = K * (next_s + 1) // slices - ahead_k0
            whole = rows // MR * MR
            _macro_kernel_rows(a, i0, whole, panels, k0, depth, N, out, k0 > 0,
                               ahead, ahead_rows, ahead_k0, ahead_depth)
            if whole < rows:                    # the last rows of A, padded to a whole panel
                _pack_a(a, False, i0 + whole, rows - whole, k0, depth, block)
                _macro_kernel(block, rows - whole, panels, k0, depth, N, out, i0 + whole, 0, k0 > 0)
        if epilogue != PLAIN:
            _epilogue(out, i0, rows, epilogue, bias, pre, tanh_approx)


def gemm(a: np.ndarray, trans_a: bool, panels: np.ndarray, out: np.ndarray, epilogue: int = PLAIN,
         bias: np.ndarray | None = None, pre: np.ndarray | None = None, tanh_approx: bool = False) -> np.ndarray:
    """out (M, N) = op(A) @ B, with B packed by pack_b, then the epilogue; see the module docstring.

    `bias` (N,) and `pre` (M, N) are only used by the epilogues that need them.
    """
    _check_gemm(a, trans_a, panels, out, epilogue, bias, pre)
    if out.size == 0:
        return out
    M = out.shape[0]
    threads = num_threads()
    # Blocks of at most MC rows, at least two per thread, in whole MR panels.
    mc = min(MC, ((M + 2 * threads - 1) // (2 * threads) + MR - 1) // MR * MR)
    empty = np.empty((0, 0), dtype=out.dtype)
    bias = empty.reshape(0) if bias is None else bias
    pre = empty if pre is None else pre
    parallel_for(_multiply_blocks, (M + mc - 1) // mc, a, trans_a, panels, out, mc, epilogue, bias, pre,
                 tanh_approx, work=M * out.shape[1] * panels.shape[1])      # multiply-adds: M N K
    return out


def _check_gemm(a, trans_a, panels, out, epilogue, bias, pre) -> None:
    """The kernels index every array by out's and panels' sizes: refuse arrays that disagree."""
    inputs = [a, panels] + ([bias] if epilogue != PLAIN else []) + ([pre] if epilogue == BIAS_GELU else [])
    check_float("gemm", "out", out)
    if any(not isinstance(t, np.ndarray) or t.dtype != out.dtype or not t.flags.c_contiguous for t in [*inputs, out]):
        raise TinyViTError(f"gemm: a, panels, out (and bias, pre) must be C-contiguous arrays of one dtype, "
                           f"got {[getattr(t, 'dtype', type(t).__name__) for t in [*inputs, out]]}.")
    if a.ndim != 2 or panels.ndim != 3 or out.ndim != 2:
        raise TinyViTError(f"gemm: a and out must be 2-D and the panels 3-D, got {a.ndim}, {out.ndim} and "
                           f"{panels.ndim} dimensions.")
    M, N = out.shape
    K = panels.shape[1]
    op_a = a.T.shape if trans_a else a.shape
    if op_a != (M, K) or panels.shape[2] != NR or panels.shape[0] != (N + NR - 1) // NR:
        raise TinyViTError(f"gemm: op(a) {op_a} @ B (packed as {panels.shape}) cannot fill out {out.shape}.")
    if K == 0 and M * N:
        raise TinyViTError(f"gemm: op(a) {op_a} has no columns to multiply.")
    if any(np.may_share_memory(out, t) for t in inputs):   # out is written while they are read
        raise TinyViTError("gemm: out must not overlap a, the panels, bias or pre.")
    if (epilogue != PLAIN and bias.shape != (N,)) or (epilogue == BIAS_GELU and pre.shape != (M, N)):
        raise TinyViTError(f"gemm: bias must be ({N},) and pre {(M, N)}, got {bias.shape} and "
                           f"{None if pre is None else pre.shape}.")


@kernel(inline=True)
def _pack_b_slice(b, k0, depth, j0, cols, panels, colsum, gelu, pre, dpre, tanh_approx):
    """b[k0:k0+depth, j0:j0+cols] -> panels[p, k, j] (NR columns per panel), adding its column
    sums to colsum[j0:j0+cols].

    With `gelu`, b is the gradient at a GELU's output and pre its input (the backward of fc1):
    each row is first turned into dpre = b * gelu'(pre), the gradient at the GELU's input, written
    out for the next product, and that is what gets packed. Done here, while the rows pass through
    L1, it saves a whole pass over two large arrays (ops/fused.py does it as a separate step).
    """
    whole = cols // NR
    vals = stack_array(1, NR, panels)
    for k in range(depth):
        row = b[k0 + k]
        if gelu:                                           # gelu_backward: dpre = b * gelu'(pre)
            gelu_grad_span(pre[k0 + k], row, dpre[k0 + k], j0, j0 + cols, tanh_approx)
            row = dpre[k0 + k]
        for p in range(whole):                             # whole 16-wide panels: vector copies
            j1 = j0 + p * NR
            src, dst, sums = row[j1:j1 + NR], panels[p, k], colsum[j1:j1 + NR]
            # Through a stack copy: in one loop, `dst[j] = src[j]; sums[j] += src[j]`, LLVM
            # must assume dst may overlap sums and src, and copied one float at a time (6 % of
            # the weight gradient's time). A stack array overlaps nothing: three vector loops.
            for j in range(NR):
                vals[0, j] = src[j]
            for j in range(NR):
                dst[j] = vals[0, j]
            for j in range(NR):
                sums[j] += vals[0, j]
        for j in range(whole * NR, cols):                  # the ragged last panel ...
            v = row[j0 + j]
            panels[whole, k, j - whole * NR] = v
            colsum[j0 + j] += v
        if cols % NR:
            for j in range(cols - whole * NR, NR):         # ... padded with zeros
                panels[whole, k, j] = 0


@kernel
def _split_k_parts(start, stop, a, b, parts, colsum_parts, gelu, pre, dpre, tanh_approx):
    """Parts start:stop of out = a^T @ b: part t multiplies rows K*t/T : K*(t+1)/T of a and b
    (T = len(parts)) into parts[t], and sums those rows of b into colsum_parts[t]. With `gelu`,
    b's rows first become dpre's (see _pack_b_slice).
    """
    K, M = a.shape
    N = b.shape[1]
    T = parts.shape[0]
    a_block = np.empty((MC // MR, KC, MR), dtype=a.dtype)
    col_chunks = (N + NC - 1) // NC                          # equal chunks of at most NC columns
    widest = (N + col_chunks - 1) // col_chunks
    # One spare row per panel. The L1 cache picks a line's set from its address modulo 4 KB, and
    # panels of KC rows would lie 24 KB = 6 x 4 KB apart: row k of every panel, all written in one
    # step of the packing, would share one set of 8 lines and evict each other (2.5-3x slower).
    b_slice = np.empty(((widest + NR - 1) // NR, KC + 1, NR), dtype=a.dtype)
    for t in range(start, stop):
        c, colsum = parts[t], colsum_parts[t]
        colsum[:] = 0
        lo, hi = K * t // T, K * (t + 1) // T
        # Equal slices of at most KC rows of a and b (800 = 2 x 400, not 384 + 384 + 32); at least
        # one, even of no rows: the first slice stores into c, which is not zeroed beforehand.
        slices = max(1, (hi - lo + KC - 1) // KC)
        for s in range(slices):
            k0 = lo + (hi - lo) * s // slices
            depth = lo + (hi - lo) * (s + 1) // slices - k0
            for chunk in range(col_chunks):                  # a chunk of b's columns at a time
                j0 = N * chunk // col_chunks
                cols = N * (chunk + 1) // col_chunks - j0
                _pack_b_slice(b, k0, depth, j0, cols, b_slice, colsum, gelu, pre, dpre, tanh_approx)
                for i0 in range(0, M, MC):                   # MC columns of a = MC rows of C
                    rows = min(MC, M - i0)
                    _pack_a(a, True, i0, rows, k0, depth, a_block)
                    _macro_kernel(a_block, rows, b_slice, 0, depth, cols, c, i0, j0, s > 0)


@kernel
def _sum_parts(start, stop, parts, out):
    """Rows start:stop of out = parts[0] + parts[1] + ..., added in that order (as parts.sum(axis=0))."""
    for i in range(start, stop):
        dst = out[i]
        first = parts[0, i]
        for j in range(dst.shape[0]):
            dst[j] = first[j]
        for t in range(1, parts.shape[0]):
            src = parts[t, i]
            for j in range(dst.shape[0]):
                dst[j] += src[j]


def gemm_split_k(a: np.ndarray, b: np.ndarray, gelu_pre: np.ndarray | None = None,
                 tanh_approx: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """a (K, M), b (K, N) -> a^T @ b (M, N), b's column sums (N,), None; for K much larger than M, N.

    For the weight gradient: x^T @ dy is dW, and the column sums of dy are the bias gradient.
    Given `gelu_pre` (K, N), the input of a GELU whose output gradient is b, b is first replaced by
    dpre = b * gelu'(gelu_pre) (see _pack_b_slice): returns a^T @ dpre, dpre's column sums, and dpre.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0] or a.dtype != b.dtype or a.dtype not in FLOATS or (
            gelu_pre is not None and (gelu_pre.shape != b.shape or gelu_pre.dtype != b.dtype)):
        raise TinyViTError(f"gemm_split_k: a (K, M) and b (K, N) (and gelu_pre like b) must share K and the dtype, "
                           f"got {a.shape} {a.dtype}, {b.shape} {b.dtype}"
                           f"{'' if gelu_pre is None else f', {gelu_pre.shape} {gelu_pre.dtype}'}.")
    K, M = a.shape
    N = b.shape[1]
    parts_count = part_count(max(1, K // KC), work=M * K * N)   # each part >= one KC slice
    parts = np.empty((parts_count, M, N), dtype=a.dtype)
    colsum_parts = np.empty((parts_count, N), dtype=a.dtype)
    gelu = gelu_pre is not None
    pre = gelu_pre if gelu else np.empty((0, 0), dtype=a.dtype)
    dpre = np.empty_like(b) if gelu else np.empty((0, 0), dtype=a.dtype)
    parallel_for(_split_k_parts, parts_count, a, b, parts, colsum_parts, gelu, pre, dpre, tanh_approx,
                 work=M * K * N)
    out = np.empty((M, N), dtype=a.dtype)
    parallel_for(_sum_parts, M, parts, out, work=parts.size)
    return out, colsum_parts.sum(axis=0), (dpre if gelu else None)
