//===- Pipeline.h - the order of attnc's passes -----------------*- C++ -*-===//
//
// The one place that orders attnc's passes. The frontend builds the cascade;
// everything after it runs through these pipelines, which are also
// registered by name for attn-opt (registerAttnPipelines):
//
//   attn-fuse-pipeline      the cascade to one attn.flash per variant
//   attn-schedule-pipeline  the block analysis and #attn.schedule
//   attn-cpu-pipeline       schedule (target cpu), then the CPU kernel in the
//                           LLVM dialect
//   attn-gpu-pipeline       schedule (target sm_XX), ready for attn-to-cuda
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_PIPELINE_PIPELINE_H
#define ATTNC_PIPELINE_PIPELINE_H

#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
class Operation;
} // namespace mlir

namespace mlir::attn {

/// What attn-select-schedule chooses, and what a caller may force: every
/// number is the target's choice when 0, the family when empty.
struct ScheduleOptions {
  std::string target = "cpu"; // cpu or sm_XX
  std::string family;         // a KernelFamily's name
  int64_t tileQ = 0, tileKv = 0, warps = 0, stages = 0, splits = 0,
          vectorWidth = 0;
  bool pagedKv = false; // k and v as pages read through a page table
  bool ragged = false;  // packed sequences given by cumulative offsets
};

/// What the lowering builds besides the forward kernel.
struct LoweringOptions {
  bool backward = false; // the backward kernel too (CPU): attn-differentiate
};

/// canonicalize, attn-fuse, canonicalize: the cascade to one attn.flash per
/// variant (what `attnc --emit=fused` prints).
void buildFusePipeline(OpPassManager &pm);

/// attn-analyze-blocks, attn-select-schedule, canonicalize: fused variants
/// with their tile classifiers and schedules (`attnc --emit=scheduled`).
void buildSchedulePipeline(OpPassManager &pm, const ScheduleOptions &options);

/// convert-attn-to-cpu, then scf/vector/math/memref/arith/func to the LLVM
/// dialect: scheduled variants (family cpu_tiles) to CPU kernels ready for
/// translation to LLVM IR; with `options.backward`, attn-differentiate first
/// and the backward kernels too.
void buildCPULoweringPipeline(OpPassManager &pm,
                              const LoweringOptions &options = {});

/// What runs between the schedule and the translation to CUDA (cse); with
/// `options.backward`, attn-differentiate first.
void buildCUDAPreparePipeline(OpPassManager &pm,
                              const LoweringOptions &options = {});

/// Makes runPipeline apply MLIR's pass-manager command-line options, for a
/// tool that registered them (mlir::registerPassManagerCLOptions and
/// registerDefaultTimingManagerCLOptions).
void useMLIRCommandLineOptions();

/// Runs the passes `build` adds on `module` (a builtin.module), with MLIR's
/// pass-manager options (--mlir-print-ir-after-all, --mlir-timing, ...)
/// after useMLIRCommandLineOptions: the one way attnc runs a pipeline.
LogicalResult runPipeline(Operation *module,
                          function_ref<void(OpPassManager &)> build);

/// Registers the pipelines above by name (see the file comment).
void registerAttnPipelines();

} // namespace mlir::attn

#endif // ATTNC_PIPELINE_PIPELINE_H
