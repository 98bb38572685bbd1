"""PyTorch's CPU scaled_dot_product_attention on the CPU benchmark's shapes.

Times dense, causal, sliding window 1024 and document (4 contiguous random
documents) at B=1, H=16, N=M=4096, D=128, in f32 and bf16, on every core, and
prints one line per case in the same form as bench/cpu/run.sh: milliseconds and
GFLOP/s over kept pairs (4 * D flops per kept pair).
"""
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e3


def main():
    B, H, N, D = 1, 16, 4096, 128
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.manual_seed(0)
    i = torch.arange(N)[:, None]
    j = torch.arange(N)[None, :]
    cuts = torch.sort(torch.randint(0, N, (3,))).values
    doc = torch.bucketize(torch.arange(N), cuts, right=True)
    masks = {
        "dense": None,
        "causal": "causal",
        "sliding_window": (i >= j) & (i - j < 1024),
        "document": (doc[:, None] == doc[None, :]) & (i >= j),
    }
    x = torch.randn(N, N, dtype=torch.float32)
    gemm = median_ms(lambda: x @ x, 3)
    print(f"torch sgemm {N}x{N}x{N}: {2 * N**3 / gemm * 1e-6:.1f} GFLOP/s "
          f"({torch.get_num_threads()} threads)")
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(B, H, N, D, dtype=dtype) for _ in range(3))
        for name, mask in masks.items():
            if mask is None:
                kept = N * N
                fn = lambda: F.scaled_dot_product_attention(q, k, v)
            elif isinstance(mask, str):
                kept = N * (N + 1) // 2
                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                kept = int(mask.sum())
                m = mask
                fn = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m)
            ms = median_ms(fn, repeats)
            flops = 4.0 * D * kept * B * H
            print(f"torch {name:<16} {str(dtype).split('.')[-1]:<9} {ms:10.2f} ms "
                  f"{flops / ms * 1e-6:10.1f} GFLOP/s  kept {100 * kept / N / N:.1f}%")


if __name__ == "__main__":
    main()
