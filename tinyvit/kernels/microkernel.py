"""The register tile: a 6 x 16 block of C computed, and stored, with every partial sum held in a CPU register."""

from __future__ import annotations

from tinyvit.kernels.jit import kernel

# An AVX2 core has 16 vector registers of 8 float32. A 6 x 16 tile of C is 12 of them; two more
# hold the current row of B and one the broadcast element of A: 15 of 16, no spills. Each step
# of k then does 12 fused multiply-adds from 8 loads, which keeps both FMA units busy.
MR = 6    # rows of the tile (broadcast from A)
NR = 16   # columns of the tile (two vectors of B)


@kernel(inline=True)
def tile_multiply(a, a_col, b, b_col, depth, acc):
    """acc (MR, NR) = a[:depth, a_col:a_col+MR]^T @ b[:depth, b_col:b_col+NR].

    Both operands are "k-major": row k of `a` holds the MR values of A's column k that this
    tile needs, and row k of `b` the NR values of B's row k. That is the layout packing
    produces (kernels/gemm.py), so the loop reads both with unit stride. `acc` must be a
    stack array (intrinsics.stack_array): it is what LLVM keeps in registers.
    """
    for i in range(MR):
        for j in range(NR):
            acc[i, j] = 0
    for k in range(depth):
        for i in range(MR):
            aik = a[k, a_col + i]
            for j in range(NR):
                acc[i, j] += aik * b[k, b_col + j]


@kernel(inline=True)
def tile_multiply_rows(a, a_row, b, b_col, depth, acc):
    """acc (MR, NR) = a[a_row:a_row+MR, :depth] @ b[:depth, b_col:b_col+NR]: A read row by row.

    The same tile as tile_multiply, with A in its natural row-major layout: each step of k
    broadcasts one value from each of MR rows, each row read forwards. It saves copying A into
    tile order: attention's per-head buffers stay in L1, and the GEMM's rows of A are fetched
    into the cache ahead of the tiles that read them (kernels/gemm.py).
    """
    for i in range(MR):
        for j in range(NR):
            acc[i, j] = 0
    for k in range(depth):
        for i in range(MR):
            aik = a[a_row + i, k]
            for j in range(NR):
                acc[i, j] += aik * b[k, b_col + j]


@kernel(inline=True)
def store_tile(acc, c, r0, c0, accumulate):
    """c[r0:r0+MR, c0:c0+NR] (+)= acc: a whole tile, straight from the registers.

    A row of C at a time through a slice, so each row is two vector moves (indexing
    c[r0 + i, c0 + j] directly compiled to 16 scalar moves, each with its own index arithmetic).
    Keep this function free of anything else: no early return, no ragged-edge case, no array
    besides c. Numba counts references to the arrays an inlined function receives, and only when
    the function is this simple can it prove the counts cancel out; otherwise every tile paid for
    atomic increments and decrements (function calls around which the 12 accumulators were saved
    to memory and reloaded): 10-25 % of the GEMM's time. A bias added here brought it back too.
    """
    if accumulate:
        for i in range(MR):
            dst = c[r0 + i, c0:c0 + NR]
            for j in range(NR):
                dst[j] += acc[i, j]
    else:
        for i in range(MR):
            dst = c[r0 + i, c0:c0 + NR]
            for j in range(NR):
                dst[j] = acc[i, j]
