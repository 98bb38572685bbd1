"""attnc: fused attention kernels compiled from the attnc language.

    import attnc, numpy as np
    kernel = attnc.compile("attention causal() { mask = causal() }")
    out = kernel(q, k, v)          # q [B, H, N, D], k, v [B, Hkv, M, D]

Arrays are any that speak DLPack (numpy, torch); see docs/python.md.
attnc.torch (loaded on first use) has attention(), shaped like
flex_attention, as a torch custom op.
"""

from ._compiler import Compiler, compile, compile_file, version
from ._kernel import CompileError, Error, Kernel, KernelError, Param


def __getattr__(name):
    # attnc.torch imports torch, so only on first use.
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'attnc' has no attribute '{name}'")


__all__ = ["Compiler", "CompileError", "Error", "Kernel", "KernelError",
           "Param", "compile", "compile_file", "version"]
