"""pip installs the package, and the installed copy runs a kernel."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import attnc._lib

PACKAGE = Path(__file__).resolve().parents[2] / "python"


def test_pip_install_then_import(tmp_path):
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"],
                         capture_output=True)
    if pip.returncode:
        pytest.skip("pip is not available to " + sys.executable)
    # A copy, so that the build leaves nothing in the checkout.
    source = tmp_path / "src"
    shutil.copytree(PACKAGE, source)
    target = tmp_path / "site"
    # No network: the build backend (setuptools) is the one installed.
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target),
         str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    program = (
        "import attnc, numpy as np\n"
        "assert attnc.__file__.startswith(%r), attnc.__file__\n"
        "x = np.ones((1, 1, 4, 8), np.float32)\n"
        "out = attnc.compile('attention d() {}')(x, x, x)\n"
        "assert (out == 1).all(), out\n"
        "print('ok', attnc.version())\n" % str(target))
    env = dict(os.environ, PYTHONPATH=str(target),
               ATTNC_LIBRARY=attnc._lib.lib._name)
    run = subprocess.run([sys.executable, "-c", program], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok")
