"""The backend switch: the 'numba' model equals the 'numpy' one, runs as plain Python, and caches its kernels."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tinyvit import ViT, ViTConfig
from tinyvit.backend import SWAPPABLE, get_ops
from tinyvit.gradcheck import rel_error
from tinyvit.kernels import KERNELS
from tinyvit.kernels.jit import without_avx512
from tinyvit.ops import cross_entropy_backward, cross_entropy_forward

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(backend: str, dtype: str = "float64", **kw) -> ViT:
    cfg = dict(image_size=8, patch_size=2, in_channels=2, num_classes=5, dim=12, depth=2, heads=3, mlp_dim=20)
    cfg.update(kw)
    return ViT(ViTConfig(backend=backend, dtype=dtype, **cfg))


def _step(model: ViT, x: np.ndarray, y: np.ndarray):
    logits = model.forward(x, train=True)
    _, cache = cross_entropy_forward(logits, y, 0.1)
    dx = model.backward(cross_entropy_backward(1.0, cache))
    return logits, dx, {k: v.copy() for k, v in model.grads.items()}


def test_numba_namespace_swaps_every_kernel():
    ops = get_ops("numba")
    assert set(KERNELS) <= set(SWAPPABLE)
    for name in SWAPPABLE:
        assert getattr(ops, name) is KERNELS[name]
    assert get_ops("numpy").linear_forward.__module__ == "tinyvit.ops.linear"


@pytest.mark.parametrize("pos_embed,placement", [("none", "stem"), ("learned", "stem"), ("learned2d", "stem"),
                                                 ("sincos2d", "stem"), ("relative", "stem"),
                                                 ("learned", "every_layer"), ("learned2d", "every_layer_shared")])
@pytest.mark.parametrize("pool", ["cls", "gap"])
def test_backends_agree_on_logits_and_every_gradient(pos_embed, placement, pool):
    kw = dict(pos_embed=pos_embed, pos_embed_placement=placement, pool=pool, dropout=0.1, gelu="erf")
    a, b = _tiny("numpy", **kw), _tiny("numba", **kw)
    rng = np.random.default_rng(0)
    for name in a.params:                       # random weights everywhere (the head starts at zero)
        a.params[name][...] += 0.05 * rng.standard_normal(a.params[name].shape)
        b.params[name][...] = a.params[name]
    x, y = rng.random((3, 8, 8, 2)), np.array([0, 3, 4])
    (la, dxa, ga), (lb, dxb, gb) = _step(a, x, y), _step(b, x, y)
    assert rel_error(la, lb) < 1e-12
    assert rel_error(dxa, dxb) < 1e-12
    assert ga.keys() == gb.keys()
    for name in ga:
        assert rel_error(ga[name], gb[name]) < 1e-12, name


@pytest.mark.parametrize("pos_embed,placement", [("learned", "stem"), ("relative", "stem"),
                                                 ("learned2d", "every_layer_shared")])
@pytest.mark.parametrize("pool", ["cls", "gap"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_gives_forwards_logits_bit_for_bit_and_keeps_nothing(pos_embed, placement, pool, dtype):
    # On the numba backend predict runs one forward per thread, each on its share of the batch
    # (an odd batch: shares of 2 and 3); every image's logits must still be the same bits.
    kw = dict(pos_embed=pos_embed, pos_embed_placement=placement, pool=pool, dropout=0.1)
    for backend in ("numpy", "numba"):
        model = _tiny(backend, dtype=dtype, **kw)
        for name in model.params:
            model.params[name][...] += 0.05 * np.random.default_rng(1).standard_normal(model.params[name].shape)
        x = np.random.default_rng(2).random((5, 8, 8, 2)).astype(dtype)
        expected = model.forward(x)
        logits = model.predict(x)
        assert logits.dtype == np.dtype(dtype) and np.array_equal(logits, expected), backend
        if backend == "numba":   # its products sum each row alike whatever the batch; BLAS's need not
            assert np.array_equal(model.predict(x[:1]), expected[:1])
        assert model.cache is None
        with pytest.raises(ValueError, match="needs a forward"):
            model.backward(np.zeros_like(logits))


def test_float32_stays_float32():
    model = _tiny("numba", dtype="float32", gelu="tanh")
    x = np.random.default_rng(1).random((2, 8, 8, 2), dtype=np.float32)
    logits, dx, grads = _step(model, x, np.array([1, 2]))
    assert logits.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    cache = model.cache.blocks[0]
    assert cache.attn.attn.att.dtype == cache.mlp.act.x.dtype == cache.norm1.rstd.dtype == np.float32


def _run(code: str, **env) -> dict:
    """Run `code` in a fresh Python; it prints one JSON line, which is returned."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT, **env}, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


STEP = """
    import json, numpy as np
    from tinyvit import ViT, ViTConfig
    from tinyvit.ops import cross_entropy_backward, cross_entropy_forward
    def grads(backend):
        m = ViT(ViTConfig(image_size=4, patch_size=2, in_channels=1, num_classes=3, dim=4, depth=1, heads=2,
                          mlp_dim=6, pos_embed="relative", dtype="float64", backend=backend))
        for k, v in m.params.items():
            v[...] += 0.1 * np.random.default_rng(len(k)).standard_normal(v.shape)
        logits = m.forward(np.random.default_rng(0).random((2, 4, 4, 1)), train=True)
        m.backward(cross_entropy_backward(1.0, cross_entropy_forward(logits, np.array([0, 2]))[1]))
        return logits, m.grads
"""


def test_a_constant_argument_does_not_compile_a_kernel_twice(tmp_path):
    """_split_k_parts calls _macro_kernel(..., 0, ...): without kernels/jit.py's care that
    compiles a second version for the literal 0 (seconds more of first-run compile)."""
    result = _run("""
    import json, numpy as np
    from tinyvit.kernels import gemm
    a, b = np.ones((40, 20), np.float32), np.ones((40, 30), np.float32)
    gemm.gemm(a, True, gemm.pack_b(b, False), np.empty((20, 30), np.float32))
    gemm.gemm_split_k(a, b)
    print(json.dumps({k: [str(sig) for sig in getattr(gemm, k).signatures] for k in ("_macro_kernel", "_store_edge")}))
    """, NUMBA_CACHE_DIR=str(tmp_path))         # an empty cache: a callee loaded from it lists no signatures
    assert len(result["_macro_kernel"]) == len(result["_store_edge"]) == 1, result


def test_avx512_features_are_switched_off_and_nothing_else():
    assert without_avx512("+avx2,+avx512f,+fma,-avx512bw,+avx512vl") == "+avx2,-avx512f,+fma,-avx512bw,-avx512vl"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 machine code")
def test_the_register_tile_compiles_to_vector_fmas(tmp_path):
    """With AVX-512, LLVM made the 6 x 16 tile of gathers and scatters: a GEMM 30-40x slower."""
    result = _run("""
    import json, numpy as np
    from tinyvit.kernels import gemm
    from numba.core import registry
    a, b = np.ones((40, 20), np.float32), np.ones((40, 30), np.float32)
    gemm.gemm(a, True, gemm.pack_b(b, False), np.empty((20, 30), np.float32))
    asm = gemm._macro_kernel.inspect_asm(gemm._macro_kernel.signatures[0])
    features = registry.cpu_target.target_context.codegen()._tm_features
    print(json.dumps({"fma": asm.count("vfmadd231ps"), "gather": asm.count("gather") + asm.count("scatter"),
                      "avx512": "+avx512f" in features.split(",")}))
    """, NUMBA_CACHE_DIR=str(tmp_path))        # an empty cache: compiled here, so the assembly is there
    assert not result["avx512"] and result["gather"] == 0 and result["fma"] >= 12, result


def test_disable_jit_runs_the_kernels_as_plain_python():
    result = _run(STEP + """
    import numba.core.config, tinyvit.kernels.gemm as gemm
    la, ga = grads("numba")
    lb, gb = grads("numpy")
    worst = max(float(np.abs(ga[k] - gb[k]).max()) for k in ga)
    print(json.dumps({"disabled": numba.core.config.DISABLE_JIT, "python": type(gemm._multiply_blocks).__name__,
                      "logits": float(np.abs(la - lb).max()), "grads": worst}))
    """, NUMBA_DISABLE_JIT="1")
    assert result["disabled"] and result["python"] == "function"
    assert result["logits"] < 1e-12 and result["grads"] < 1e-12


def test_a_second_process_reuses_the_compiled_kernels():
    probe = STEP + """
    from numba.core.dispatcher import Dispatcher
    import tinyvit.kernels as K
    grads("numba")
    seen = [v for mod in vars(K).values() if hasattr(mod, "__dict__") for v in vars(mod).values()
            if isinstance(v, Dispatcher)]
    print(json.dumps({"hits": sum(sum(d.stats.cache_hits.values()) for d in seen),
                      "misses": sum(sum(d.stats.cache_misses.values()) for d in seen)}))
    """
    _run(probe)                       # compiles whatever this machine has not cached yet
    second = _run(probe)
    assert second["misses"] == 0, second
    assert second["hits"] > 0, second


def test_strided_and_fortran_parameters_run_on_both_backends():
    """A bias that is a strided view and a Fortran-ordered weight: the numba backend used to refuse
    the one (a misleading GEMM error) and the AdamW step the other."""
    from tinyvit.train import AdamW

    rng = np.random.default_rng(3)
    x, y = rng.random((2, 8, 8, 2)).astype(np.float32), np.array([0, 2])
    results = {}
    for backend in ("numpy", "numba"):
        model = _tiny(backend, "float32")
        model.params["head.bias"] = np.repeat(model.params["head.bias"] + 0.5, 2)[::2]
        model.params["head.weight"] = np.asfortranarray(model.params["head.weight"] + 0.1)
        _step(model, x, y)
        AdamW(model.params, weight_decay=0.1, update_fn=model.ops.adamw_update).step(model.grads, lr=0.1)
        results[backend] = {k: v.copy() for k, v in model.params.items()}
    for name in results["numpy"]:   # absolute: Adam moves a parameter whose gradient is ~0 by round-off alone
        np.testing.assert_allclose(results["numba"][name], results["numpy"][name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert np.abs(results["numba"]["head.bias"] - 0.5).min() > 1e-3   # the strided bias was updated in place
