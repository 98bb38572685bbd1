# lit configuration for attnc's FileCheck tests.
import os

import lit.formats

config.name = "attnc"
config.test_format = lit.formats.ShTest(not lit_config.isWindows)
config.suffixes = [".mlir", ".attn", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test", "lit")

# Our tools first, then FileCheck, not and count from LLVM.
config.environment["PATH"] = os.pathsep.join(
    [config.attn_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")]
)
config.substitutions.append(("%attn_src_root", config.attn_src_root))
# Kernels compiled by `attnc run` are cached under the build folder.
config.environment["ATTNC_CACHE_DIR"] = os.path.join(config.attn_obj_root, "kernel-cache")
# GPU code generation runs wherever NVRTC is (no GPU needed).
if config.attn_have_cuda:
    config.available_features.add("nvrtc")
# The AOT output of --emit=cuda compiles with nvcc where the toolkit has it.
if config.attn_have_cuda and os.path.exists(config.nvcc):
    config.available_features.add("nvcc")
    config.substitutions.append(("%nvcc", config.nvcc))
