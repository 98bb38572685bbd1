"""Shared fixtures and helpers: the attnc tool, reference runs, a float64
reference written here, the arguments of a saved run."""

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.attn"))

# One shape for every example: N = M = 80 is not a multiple of the tiles,
# and document ids index both queries and keys.
SHAPES = {"gqa_causal_softcap": "B=2,H=4,Hkv=2,N=80,M=80,D=32"}
DEFAULT_SHAPE = "B=2,H=2,N=80,M=80,D=32"


def attnc_tool():
    path = os.environ.get("ATTNC_BIN", str(ROOT / "build" / "bin" / "attnc"))
    if not Path(path).is_file():
        pytest.fail(f"attnc tool not found at {path}; set ATTNC_BIN")
    return path


def load_saved(directory):
    """{name: float64 array} from `attnc run --save` (manifest.txt)."""
    arrays = {}
    for line in (directory / "manifest.txt").read_text().splitlines():
        name, *dims = line.split()
        data = np.fromfile(directory / f"{name}.f64", dtype=np.float64)
        arrays[name] = data.reshape([int(d) for d in dims])
    return arrays


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """reference(example) -> the inputs and outputs of a checked run."""
    cache = {}

    def get(example):
        if example not in cache:
            directory = tmp_path_factory.mktemp(example.stem)
            shape = SHAPES.get(example.stem, DEFAULT_SHAPE)
            run = subprocess.run(
                [attnc_tool(), "run", str(example), "--check", "--threads=2",
                 f"--save={directory}", f"--shape={shape}"],
                capture_output=True, text=True)
            assert run.returncode == 0, run.stdout + run.stderr
            cache[example] = load_saved(directory)
        return cache[example]

    return get


F32_TOLERANCE = dict(atol=2e-5, rtol=2e-4)  # lib/Check's, for f32
BF16_TOLERANCE = dict(atol=1e-2, rtol=4e-2)


def arguments(kernel, saved, convert):
    """q, k, v and the params of `saved`, made by `convert(array, dtype)`."""
    q, k, v = (convert(saved[n], kernel.dtype) for n in "qkv")
    params = {}
    for p in kernel.params:
        value = saved[f"param.{p.name}"]
        if p.kind == "tensor":
            params[p.name] = convert(value, p.dtype)
        else:
            scalar = value.reshape(-1)[0]
            params[p.name] = int(scalar) if p.dtype in ("i32", "i64") \
                else float(scalar)
    return q, k, v, params


def check_outputs(kernel, saved, out, lse, tolerance):
    np.testing.assert_allclose(out, saved["out"], **tolerance,
                               err_msg=f"{kernel.name}: out")
    if lse is not None:
        np.testing.assert_allclose(lse, saved["lse"], **tolerance,
                                   err_msg=f"{kernel.name}: lse")


def to_numpy(array, dtype):
    return array.astype({"f32": np.float32, "i32": np.int32, "i64": np.int64,
                         "bool": np.bool_}[dtype])


def torch_dtypes():
    import torch
    return {"f32": torch.float32, "bf16": torch.bfloat16, "i32": torch.int32,
            "i64": torch.int64, "bool": torch.bool}


def to_torch(array, dtype):
    import torch
    return torch.from_numpy(array).to(torch_dtypes()[dtype])


def reference_attention(q, k, v, score_mod=None, mask=None, scale=None):
    """Softmax attention in float64 (scale None: 1/sqrt(D)); masked rows give
    0."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k, v = (np.repeat(x, group, axis=1) for x in (k, v))
    if scale is None:
        scale = 1 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(0, 1, 3, 2) * scale
    B, H, N, M = scores.shape
    b, h, i, j = np.meshgrid(*map(np.arange, (B, H, N, M)), indexing="ij")
    if score_mod is not None:
        scores = score_mod(scores, b, h, i, j)
    keep = np.ones_like(scores, bool) if mask is None else mask(b, h, i, j)
    scores = np.where(keep, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    weights = np.where(keep, np.exp(scores - np.where(np.isinf(top), 0, top)),
                       0)
    total = weights.sum(-1, keepdims=True)
    return (weights / np.where(total == 0, 1, total)) @ v


def torch_reference(q, k, v, score_mod=None, mask=None, normalize="softmax",
                    scale=None):
    """The forward in torch on float64 leaves, so that torch's autograd gives
    the reference gradients: softmax (every row keeps a key), sigmoid or
    none over the kept pairs. score_mod(s, b, h, i, j) and mask(b, h, i, j)
    take broadcastable index tensors."""
    import torch
    group = q.shape[1] // k.shape[1]
    k, v = (x.repeat_interleave(group, 1) for x in (k, v))
    if scale is None:
        scale = 1 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-1, -2) * scale
    B, H, N, M = scores.shape
    b, h, i, j = (torch.arange(n).view([-1 if d == a else 1
                                        for d in range(4)])
                  for a, n in enumerate((B, H, N, M)))
    if score_mod is not None:
        scores = score_mod(scores, b, h, i, j)
    keep = torch.ones_like(scores, dtype=torch.bool) if mask is None else \
        mask(b, h, i, j).expand(scores.shape)
    if normalize == "softmax":
        weights = scores.masked_fill(~keep, float("-inf")).softmax(-1)
    elif normalize == "sigmoid":
        weights = torch.sigmoid(scores) * keep
    else:
        weights = scores * keep
    return weights @ v
