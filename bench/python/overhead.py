"""What a call through the attnc package costs over the kernel itself.

usage (from the project root, after building):
    python3 bench/python/overhead.py [--shape B,H,N,D] [--calls 3000]

Times, in one process, the median of single calls of the same compiled
kernel (dense, f32, CPU, one thread) three ways: the C API alone (one
attnc_kernel_run on pre-built DLPack views: the kernel's own time plus the
C call), the package with `out=` given, and the package allocating `out`;
for numpy arrays and, when torch is there, torch tensors, and then
attnc.torch.attention (its own kernel, with its backward, on every core,
compared with that kernel's C API call at threads=0). The overhead is the
package's median minus the C API's.
"""
import argparse, ctypes, os, statistics, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import numpy as np
import attnc
from attnc import _dlpack, _lib

def median_us(fn, calls):
    for _ in range(100):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="1,1,16,64")
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    B, H, N, D = map(int, args.shape.split(","))
    kernel = attnc.compile_file("examples/dense.attn")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((B, H, N, D), dtype=np.float32) for _ in range(3))
    out = np.empty_like(q)
    # The C API alone: the views made once, one run per call.
    views = [_dlpack.view(n, a, n == "out") for n, a in (("q", q), ("k", k), ("v", v), ("out", out))]
    run = _lib.RunArgs()
    run.struct_size = ctypes.sizeof(_lib.RunArgs)
    run.q, run.k, run.v, run.out = (w.pointer for w in views)
    run.threads, run.synchronize = 1, 1
    lib, handle = _lib.lib, kernel._handle
    c_api = median_us(lambda: lib.attnc_kernel_run(handle, ctypes.byref(run)), args.calls)
    rows = [("C API alone (kernel + C call)", c_api)]
    rows.append(("numpy, out given", median_us(lambda: kernel(q, k, v, out=out, threads=1), args.calls)))
    rows.append(("numpy, out allocated", median_us(lambda: kernel(q, k, v, threads=1), args.calls)))
    try:
        import torch
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        tout = torch.empty_like(tq)
        rows.append(("torch, out given", median_us(lambda: kernel(tq, tk, tv, out=tout, threads=1), args.calls)))
        rows.append(("torch, out allocated", median_us(lambda: kernel(tq, tk, tv, threads=1), args.calls)))
        import attnc.torch as at
        # attnc.torch compiles the file itself (with its backward on the
        # CPU) and runs on every core: compare with its own Kernel's
        # C API time at threads=0.
        tkernel = at.kernel_for("examples/dense.attn")
        run0 = _lib.RunArgs()
        ctypes.memmove(ctypes.byref(run0), ctypes.byref(run), ctypes.sizeof(run))
        run0.threads = 0
        torch_views = [_dlpack.view(n, a, n == "out") for n, a in (("q", tq), ("k", tk), ("v", tv), ("out", tout))]
        run0.q, run0.k, run0.v, run0.out = (w.pointer for w in torch_views)
        c_api0 = median_us(lambda: lib.attnc_kernel_run(tkernel._handle, ctypes.byref(run0)), args.calls)
        at_us = median_us(lambda: at.attention(tq, tk, tv, "examples/dense.attn"), args.calls)
        rows.append(("attnc.torch.attention (all cores)", at_us, c_api0))
        if at.CUSTOM_OP is not None:
            op = at.CUSTOM_OP
            rows.append(("torch.ops.attnc.attention (all cores)", median_us(
                lambda: op("examples/dense.attn", tq, tk, tv, "", [], "", [], None, False),
                args.calls), c_api0))
    except ImportError:
        pass
    print(f"B={B} H={H} N={N} D={D}, f32, CPU, 1 thread, median of {args.calls} calls")
    print("| call | median us | over the C API |")
    print("|---|---|---|")
    for name, us, *base in rows:
        print(f"| {name} | {us:.1f} | {us - (base[0] if base else c_api):+.1f} |")

if __name__ == "__main__":
    main()
