"""Things plain Numba cannot say: a small array on the stack, a float32 built from its bits,
loads and stores that really reach memory each time (for threads that signal through a flag), and
a hint to fetch memory into the cache before it is needed."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _stack_array_py(rows, cols, like):
    return np.empty((rows, cols), dtype=like.dtype)


def _float32_from_bits_py(bits):
    return np.array(bits, dtype=np.int32).view(np.float32)[()]


@intrinsic
def _stack_array(typingctx, rows, cols, like):
    # An LLVM alloca instead of a heap allocation. LLVM knows that nothing else can point at
    # it, so a tile of accumulators indexed by constants lives in registers, never in memory.
    if not (isinstance(rows, types.IntegerLiteral) and isinstance(cols, types.IntegerLiteral)):
        return None
    r, c = rows.literal_value, cols.literal_value
    arrty = types.Array(like.dtype, 2, "C")

    def codegen(context, builder, sig, args):
        lty = context.get_data_type(like.dtype)
        size = context.get_abi_sizeof(lty)
        data = cgutils.alloca_once(builder, lty, size=r * c)
        ary = make_array(arrty)(context, builder)
        intp = lambda v: context.get_constant(types.intp, v)  # noqa: E731
        populate_array(ary, data=data, shape=[intp(r), intp(c)], strides=[intp(c * size), intp(size)],
                       itemsize=intp(size), meminfo=None)
        return ary._getvalue()

    return arrty(rows, cols, like), codegen


@intrinsic
def _float32_from_bits(typingctx, bits):
    # Reinterpret an int32 as float32 (what C does with a union): the way to build 2**n
    # from the exponent field in a vectorisable exp (kernels/vec.py).
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i32 = builder.trunc(args[0], context.get_value_type(types.int32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(i32, context.get_value_type(types.float32))

    return types.float32(bits), codegen


def _load_acquire_py(flags, i):
    return flags[i]


@intrinsic
def _load_acquire(typingctx, flags, i):
    # An atomic (acquire) load of flags[i]. A plain load in a polling loop may be hoisted out of
    # the loop by LLVM, which cannot see another thread writing: the loop would never end.
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        arrty = sig.args[0]
        ary = make_array(arrty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [args[1]])
        return builder.load_atomic(ptr, ordering="acquire", align=8)

    return types.int64(flags, i), codegen


def _store_release_py(flags, i, value):
    flags[i] = value


@intrinsic
def _store_release(typingctx, flags, i, value):
    # An atomic (release) store of flags[i], the other half of load_acquire: another thread that
    # sees the new value also sees every write made before it.
    if not (isinstance(flags, types.Array) and flags.dtype == types.int64 and isinstance(i, types.Integer)
            and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        arrty = sig.args[0]
        ary = make_array(arrty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [args[1]])
        builder.store_atomic(context.cast(builder, args[2], sig.args[2], types.int64), ptr, ordering="release",
                             align=8)
        return context.get_dummy_value()

    return types.none(flags, i, value), codegen


def _prefetch_py(a, i, j):
    pass


@intrinsic
def _prefetch(typingctx, a, i, j):
    # Ask the CPU to bring the cache line holding a[i, j] into its caches, and go on at once
    # (llvm.prefetch: a read, kept in every level). Only a hint: it changes no value, and an
    # address past the array's end does not fault.
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        arrty = sig.args[0]
        ary = make_array(arrty)(context, builder, args[0])
        index = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:], strict=True)]
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, index)
        # Through an i8*, the intrinsic's type in older LLVMs; newer ones, whose pointers carry no
        # type, rename the call to llvm.prefetch.p0 as they read it.
        ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])   # read, highest locality, data cache
        return context.get_dummy_value()

    return types.none(a, i, j), codegen


# The Python twins run under NUMBA_DISABLE_JIT=1 (an intrinsic cannot run as Python).
stack_array = _stack_array_py if config.DISABLE_JIT else _stack_array
float32_from_bits = _float32_from_bits_py if config.DISABLE_JIT else _float32_from_bits
load_acquire = _load_acquire_py if config.DISABLE_JIT else _load_acquire
store_release = _store_release_py if config.DISABLE_JIT else _store_release
prefetch = _prefetch_py if config.DISABLE_JIT else _prefetch
