"""attnc's GPU kernels beside PyTorch's FlexAttention and SDPA (FlashAttention-2
and cuDNN backends), in one run on one GPU.

usage (on the GPU machine, from the project root):
    ATTNC_LIBRARY=.device/lib/libattnc.so.0 python3 bench/gpu/bench.py [BIN_DIR]
        [--out FILE.md] [--d 128] [--n 4096,16384] [--variants dense,causal]
        [--families sm90_wgmma,sm80_mma] [--via package|subprocess] [--overhead]

For each variant and N (default {4096, 16384}; B*N = 16384 tokens, H = 16,
D = 128, bf16, forward): the median time of attnc in each kernel family, of
flex_attention with its BlockMask, compiled for that shape alone
(`torch.compile(flex_attention, dynamic=False)` after a dynamo reset, as
FlexAttention's docs advise for benchmarking: one compile shared across
shapes recompiles with dynamic shapes and runs slower), and of
F.scaled_dot_product_attention where it applies
(triton.testing.do_bench, median); effective TFLOP/s over kept pairs (4 * D
* kept pairs per second, kept pairs counted from the mask); and each
compiler's compile time (attnc
cold with an empty cache and warm from it; torch.compile's first call minus a
steady call).

attnc is called two ways. `--via package` (the default): through the Python
package (python/attnc, which finds libattnc through ATTNC_LIBRARY), on the
same torch tensors as flex, on torch's current stream, timed by the same
triton.testing.do_bench (median, L2 evicted before each call); each family
is a Kernel compiled with `family=F` (compile: the wall time of
attnc.compile_file, cold in a fresh cache, then warm from it), and the
`attnc.torch` column times attnc.torch.attention(), the flex-shaped entry,
with the schedule the target chooses. `--via subprocess`: `attnc run
--target=gpu --bench --family F` in BIN_DIR (its own inputs; CUDA events,
timed as do_bench times).

`--overhead` measures instead what a Python call costs over the kernel, at a
small shape (B=1, H=16, N=128, D=128, causal): the kernel's own time (a CUDA
graph of 100 calls, replayed), and the wall time per call of 1000 calls in a
row through the Kernel, attnc.torch.attention and torch.ops.attnc.attention;
issue 26 asks attnc.torch.attention for at most 15 us over the kernel.
"""
import argparse, os, re, subprocess, sys, tempfile, time

# The package from this checkout (python/attnc) unless one is installed.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch
import torch.nn.functional as F
import triton.testing as tt
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

H, D, TOKENS = 16, 128, 16384
DOCS = 64

def causal(b, h, q, kv): return q >= kv
def window(b, h, q, kv): return (q >= kv) & (q - kv < 1024)
def prefix(b, h, q, kv): return (kv < 2048) | (q >= kv)

VARIANTS = [
    # name, attnc file, mask_mod (None: dense), score_mod, SDPA is_causal (None: n/a)
    ("dense", "examples/dense.attn", None, None, False),
    ("causal", "examples/causal.attn", causal, None, True),
    ("sliding window 1024", "examples/sliding_window.attn", window, None, None),
    ("alibi + causal", "examples/alibi_causal.attn", causal, "alibi", None),
    ("softcap 30 + causal", "bench/gpu/variants/softcap_causal.attn", causal, "softcap", None),
    ("document + causal", "examples/document.attn", "document", None, None),
    ("prefix-LM 2048", "examples/prefix_lm.attn", prefix, None, None),
    # flex has no sink: its column is plain causal, the cost a sink must
    # match (issue 27: within 3% of plain softmax; compare with "causal").
    ("sinks + causal", "examples/sinks.attn", causal, None, None),
]

def bench(fn):
    return tt.do_bench(fn, warmup=50, rep=300, return_mode="median")

def kept_pairs(mask_mod, B, N):
    if mask_mod is None:
        return B * H * N * N
    q = torch.arange(N, device="cuda")[:, None]
    total = 0
    for start in range(0, N, 2048):
        rows = q[start:start + 2048]
        kv = torch.arange(N, device="cuda")[None, :]
        total += int(mask_mod(0, 0, rows, kv).sum())
    return total * B * H

def attnc_params(name, slopes, docs):
    """The params of a variant's run (the rest take their defaults, which
    are the flex lambdas' constants)."""
    if name.startswith("alibi"):
        return {"slopes": slopes}
    if name.startswith("document"):
        return {"doc": docs.int()}
    if name.startswith("sinks"):
        return {"sinks": torch.linspace(-1.0, 2.0, H, device="cuda")}
    return {}

def package_attnc(path, family, q, k, v, params):
    """(median ms, cold compile ms, warm compile ms) of the Kernel of
    `family` through the package, on q, k, v."""
    import attnc
    options = dict(target=target_of_gpu(), dtype="bf16", head_dim=D, family=family)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        attnc.Compiler(cache_dir=cache).compile_file(path, **options)
        cold = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        kernel = attnc.Compiler(cache_dir=cache).compile_file(path, **options)
        warm = (time.perf_counter() - start) * 1e3
    out = torch.empty_like(q)
    # The first call loads the module; synchronized, it reports faults.
    kernel(q, k, v, out=out, **params)
    return bench(lambda: kernel(q, k, v, out=out, synchronize=False, **params)), cold, warm

def target_of_gpu():
    import attnc.torch
    return attnc.torch._target(torch.device("cuda"))

def overhead():
    """The Python call's cost over the kernel's own time (see the header)."""
    import attnc, attnc.torch
    B, Hs, N, Ds = 1, 16, 128, 128
    path = "examples/causal.attn"
    q, k, v = (torch.randn(B, Hs, N, Ds, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    kernel = attnc.torch.kernel_for(path, torch.bfloat16, "cuda", Ds)
    out = torch.empty_like(q)
    calls = {
        "Kernel, out given": lambda: kernel(q, k, v, out=out, synchronize=False),
        "Kernel, out allocated": lambda: kernel(q, k, v, synchronize=False),
        "attnc.torch.attention": lambda: attnc.torch.attention(q, k, v, path),
    }
    if attnc.torch.CUSTOM_OP is not None:
        calls["torch.ops.attnc.attention"] = lambda: attnc.torch.CUSTOM_OP(
            path, q, k, v, "", [], "", [], None, False)
    for fn in calls.values():
        fn()
    torch.cuda.synchronize()
    # The kernel alone: 100 calls in a CUDA graph, replayed.
    graph = torch.cuda.CUDAGraph()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        calls["Kernel, out given"]()
    torch.cuda.current_stream().wait_stream(side)
    with torch.cuda.graph(graph):
        for _ in range(100):
            kernel(q, k, v, out=out, synchronize=False)
    graph.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        graph.replay()
    torch.cuda.synchronize()
    kernel_us = (time.perf_counter() - start) / 2000 * 1e6
    print(f"B={B} H={Hs} N={N} D={Ds}, causal, bf16, {torch.cuda.get_device_name()}, "
          f"torch {torch.__version__}; the kernel alone (CUDA graph): {kernel_us:.1f} us")
    print("| call | wall us per call (1000 in a row) | over the kernel |")
    print("|---|---|---|")
    worst = None
    for name, fn in calls.items():
        times = []
        for _ in range(5):
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(1000):
                fn()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / 1000 * 1e6)
        us = sorted(times)[2]
        if name == "attnc.torch.attention":
            worst = us - kernel_us
        print(f"| {name} | {us:.1f} | {us - kernel_us:+.1f} |")
    print(("PASS" if worst <= 15 else "FAIL") + f" attnc.torch.attention costs {worst:.1f} us "
          "over the kernel (issue 26: at most 15)")

def run_attnc(bin_dir, path, B, N, cache, shape=None, family=None):
    """(median ms, compile ms) of `attnc run --bench`; `shape` overrides B, H, N, D."""
    env = dict(os.environ, ATTNC_CACHE_DIR=cache)
    cmd = [f"{bin_dir}/attnc", "run", path, "--target=gpu", "--bench", "--repeats", "30",
           "--ids", str(DOCS), "--shape", shape or f"B={B},H={H},N={N},D={D}"]
    if family:
        cmd.append(f"--family={family}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    ms = float(re.search(r"bench: median ([0-9.]+) ms", out.stdout).group(1))
    compile_ms = float(re.search(r"compile: ([0-9.]+) ms", out.stdout).group(1))
    return ms, compile_ms

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir", nargs="?", default=".device/bin",
                        help="where attnc is (--via subprocess)")
    parser.add_argument("--via", choices=("package", "subprocess"), default="package")
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--n", default="4096,16384")
    parser.add_argument("--variants", default=None, help="names' first words, e.g. dense,causal")
    parser.add_argument("--families", default="sm90_wgmma,sm80_mma")
    args = parser.parse_args()
    if args.overhead:
        return overhead()
    global D
    D = args.d
    families = args.families.split(",")
    wanted = args.variants.split(",") if args.variants else None
    torch.manual_seed(0)
    torch._dynamo.config.recompile_limit = 1000
    torch._dynamo.config.cache_size_limit = 1000
    rows = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, D = {D}")
    for N in map(int, args.n.split(",")):
        B = TOKENS // N
        q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        slopes = torch.rand(H, device="cuda") * -0.1
        docs = torch.sort(torch.randint(0, DOCS, (N,), device="cuda")).values
        for name, path, mask, score, sdpa_causal in VARIANTS:
            if wanted and name.split()[0] not in wanted:
                continue
            # flex compiled for this shape and variant alone (see the header).
            torch._dynamo.reset()
            flex = torch.compile(flex_attention, dynamic=False)
            mask_mod = (lambda b, h, qi, kv: (docs[qi] == docs[kv]) & (qi >= kv)) if mask == "document" else mask
            score_mod = None
            if score == "alibi":
                score_mod = lambda s, b, h, qi, kv: s + slopes[h] * (kv - qi)
            elif score == "softcap":
                score_mod = lambda s, b, h, qi, kv: 30.0 * torch.tanh(s / 30.0)
            pairs = kept_pairs(mask_mod, B, N)
            flops = 4.0 * D * pairs
            row = {"variant": name, "N": N, "B": B, "kept": pairs / (B * H * N * N)}
            # attnc, each family: cold compile (fresh cache), then the timed
            # run from the cache. The first family is the table's `attnc`.
            params = attnc_params(name, slopes, docs)
            for i, family in enumerate(families):
                key = "attnc" if i == 0 else family
                if args.via == "package":
                    row[f"{key}_ms"], row[f"{key}_cold_ms"], row[f"{key}_warm_ms"] = \
                        package_attnc(path, family, q, k, v, params)
                    continue
                with tempfile.TemporaryDirectory() as cache:
                    _, row[f"{key}_cold_ms"] = run_attnc(args.bin_dir, path, B, N, cache, family=family)
                    row[f"{key}_ms"], row[f"{key}_warm_ms"] = run_attnc(args.bin_dir, path, B, N, cache,
                                                                        family=family)
            row["torch_ms"] = None
            if args.via == "package":
                import attnc.torch
                call = lambda: attnc.torch.attention(q, k, v, path, **params)
                call()
                row["torch_ms"] = bench(call)
            # flex_attention, compiled, with its BlockMask.
            block_mask = create_block_mask(mask_mod, None, None, N, N) if mask_mod else None
            start = time.perf_counter()
            flex(q, k, v, score_mod=score_mod, block_mask=block_mask)
            torch.cuda.synchronize()
            first = (time.perf_counter() - start) * 1e3
            row["flex_ms"] = bench(lambda: flex(q, k, v, score_mod=score_mod, block_mask=block_mask))
            row["flex_compile_ms"] = first - row["flex_ms"]
            for backend, key in ((SDPBackend.FLASH_ATTENTION, "fa2_ms"), (SDPBackend.CUDNN_ATTENTION, "cudnn_ms")):
                if sdpa_causal is None:
                    row[key] = None
                    continue
                with sdpa_kernel(backend):
                    row[key] = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=sdpa_causal))
            for key in ["attnc", "torch", "flex", "fa2", "cudnn"] + families[1:]:
                ms = row[f"{key}_ms"]
                row[f"{key}_tflops"] = flops / (ms * 1e-3) * 1e-12 if ms else None
            rows.append(row)
            print(f"{name:22s} N={N:5d} attnc {row['attnc_ms']:.3f} ms {row['attnc_tflops']:.0f} TF/s | "
                  f"flex {row['flex_ms']:.3f} ms {row['flex_tflops']:.0f} TF/s"
                  + (f" | FA2 {row['fa2_tflops']:.0f} | cuDNN {row['cudnn_tflops']:.0f}" if row["fa2_ms"] else "")
                  + "".join(f" | {f} {row[f + '_tflops']:.0f}" for f in families[1:])
                  + (f" | attnc.torch {row['torch_tflops']:.0f}" if row["torch_ms"] else ""),
                  flush=True)
    others = "".join(f" {f} TFLOP/s |" for f in families[1:]) + " attnc.torch TFLOP/s |"
    lines = [f"| variant | N | kept | attnc ms | attnc TFLOP/s |{others} flex TFLOP/s | FA2 TFLOP/s | cuDNN TFLOP/s "
             "| attnc/flex | attnc/FA2 | attnc/cuDNN | attnc compile cold / cached ms | flex compile ms |",
             "|---|---|---|---|---|" + "---|" * len(families) + "---|---|---|---|---|---|---|---|"]
    fmt = lambda x: "-" if x is None else f"{x:.0f}"
    ratio = lambda a, b: "-" if b is None else f"{a / b:.2f}x"
    for r in rows:
        lines.append(f"| {r['variant']} | {r['N']} | {100 * r['kept']:.1f}% | {r['attnc_ms']:.3f} | {fmt(r['attnc_tflops'])} "
                     + "".join(f"| {fmt(r[f + '_tflops'])} " for f in families[1:])
                     + f"| {fmt(r['torch_tflops'])} | {fmt(r['flex_tflops'])} | {fmt(r['fa2_tflops'])} | {fmt(r['cudnn_tflops'])} "
                     f"| {ratio(r['attnc_tflops'], r['flex_tflops'])} | {ratio(r['attnc_tflops'], r['fa2_tflops'])} "
                     f"| {ratio(r['attnc_tflops'], r['cudnn_tflops'])} | {r['attnc_cold_ms']:.0f} / {r['attnc_warm_ms']:.0f} "
                     f"| {r['flex_compile_ms']:.0f} |")
    table = f"attnc = {families[0]}, D = {D}, via {args.via}\n\n" + "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")

if __name__ == "__main__":
    main()
