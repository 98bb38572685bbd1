"""Shared fixtures: the package, the attnc tool, reference runs."""

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
