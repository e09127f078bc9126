"""Numba kernels for the hot loops; each has a NumPy twin in tinyvit.ops that tests hold it equal to.

KERNELS maps an operation name of tinyvit.backend.SWAPPABLE to its fast implementation.
"""

KERNELS: dict = {}
