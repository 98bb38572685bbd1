"""attnc at head dims other than bench.py's 128, beside flex_attention and
SDPA's FlashAttention-2 backend (where the head dims are equal), in one run.

usage (on the GPU machine, from the project root):
    python3 bench/gpu/headdims.py BIN_DIR

Dense and causal, H = 16, bf16, forward, B*N = 16384 tokens at N = 4096 and
16384, for (D, Dv) in (64, 64), (128, 128), (192, 128). Timing as in
bench.py; TFLOP/s at 2 * (D + Dv) flops per kept pair; attnc's cold JIT time
(NVRTC into an empty cache) per row.
"""
import sys, tempfile

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

from bench import H, TOKENS, bench, causal, run_attnc

def main():
    bin_dir = sys.argv[1]
    torch.manual_seed(0)
    torch._dynamo.config.cache_size_limit = 1000
    flex = torch.compile(flex_attention)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| variant | N | D | Dv | attnc ms | flex ms | FA2 ms | attnc TFLOP/s | attnc/flex | attnc/FA2 "
          "| attnc compile cold ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for D, Dv in ((64, 64), (128, 128), (192, 128)):
        for N in (4096, 16384):
            B = TOKENS // N
            q, k = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(2))
            v = torch.randn(B, H, N, Dv, device="cuda", dtype=torch.bfloat16)
            for name, mask in (("dense", None), ("causal", causal)):
                with tempfile.TemporaryDirectory() as cache:
                    ms, compile_ms = run_attnc(bin_dir, f"examples/{name}.attn", B, N, cache,
                                      shape=f"B={B},H={H},N={N},D={D},Dv={Dv}")
                block_mask = create_block_mask(mask, None, None, N, N) if mask else None
                flex_ms = bench(lambda: flex(q, k, v, block_mask=block_mask))
                fa2_ms = None
                if D == Dv:
                    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                        fa2_ms = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=mask is not None))
                pairs = B * H * (N * N if mask is None else N * (N + 1) // 2)
                tflops = 2 * (D + Dv) * pairs / (ms * 1e-3) * 1e-12
                fa2 = f"{fa2_ms:.3f}" if fa2_ms else "-"
                vs_fa2 = f"{fa2_ms / ms:.2f}x" if fa2_ms else "-"
                print(f"| {name} | {N} | {D} | {Dv} | {ms:.3f} | {flex_ms:.3f} | {fa2} | {tflops:.0f} "
                      f"| {flex_ms / ms:.2f}x | {vs_fa2} | {compile_ms:.0f} |", flush=True)

if __name__ == "__main__":
    main()
