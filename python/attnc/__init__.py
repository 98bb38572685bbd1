"""attnc: fused attention kernels compiled from the attnc language.

    import attnc, numpy as np
    kernel = attnc.compile("attention causal() { mask = causal() }")
    out = kernel(q, k, v)          # q [B, H, N, D], k, v [B, Hkv, M, D]

Arrays are any that speak DLPack (numpy, torch); see docs/python.md.
"""

from ._compiler import Compiler, compile, compile_file, version
from ._kernel import CompileError, Error, Kernel, KernelError, Param

__all__ = ["Compiler", "CompileError", "Error", "Kernel", "KernelError",
           "Param", "compile", "compile_file", "version"]
