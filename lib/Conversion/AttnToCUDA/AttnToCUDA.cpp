//===- AttnToCUDA.cpp - fused variants to CUDA C++ ------------------------===//
//
// One struct per variant: its constants and its regions as device functions
// (RegionEmitter.h). The struct and the Config parameterise FlashForward
// from the tile templates; the forward kernel and, for classifiers that read
// params, the block-map kernel are extern "C"; the AOT entry point is host
// code only nvcc sees.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCUDA/AttnToCUDA.h"
#include "Conversion/AttnToCUDA/RegionEmitter.h"
#include "Conversion/AttnToCUDA/ScalarOpsToCUDA.h"

#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "attnc/abi.h"
#include "attnc/flash_args.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Tools/mlir-translate/Translation.h"

#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

StringRef mlir::attn::getCUDARuntimeHeaderName() {
  return "attnc/flash_fwd.cuh";
}

namespace {

/// Whether a region reads param memory (its results then depend on data).
bool readsParams(Region &region) {
  bool reads = false;
  region.walk([&](Operation *op) { reads |= isa<LoadOp, LoadRangeOp>(op); });
  return reads;
}

// The kernels' normalizer enum (attnc/abi.h) is the ODS enum's values.
static_assert(int(NormalizerKind::Softmax) == ATTNC_NORMALIZE_SOFTMAX &&
                  int(NormalizerKind::Sigmoid) == ATTNC_NORMALIZE_SIGMOID &&
                  int(NormalizerKind::Relu) == ATTNC_NORMALIZE_RELU &&
                  int(NormalizerKind::Identity) == ATTNC_NORMALIZE_NONE,
              "attnc/abi.h and NormalizerKind disagree");

const char *normalizerName(NormalizerKind kind) {
  switch (kind) {
  case NormalizerKind::Softmax:
    return "ATTNC_NORMALIZE_SOFTMAX";
  case NormalizerKind::Sigmoid:
    return "ATTNC_NORMALIZE_SIGMOID";
  case NormalizerKind::Relu:
    return "ATTNC_NORMALIZE_RELU";
  case NormalizerKind::Identity:
    return "ATTNC_NORMALIZE_NONE";
  }
  llvm_unreachable("a NormalizerKind without a kernel enum");
}

bool usesArgument(Region &region, unsigned i) {
  return !region.empty() && !region.front().getArgument(i).use_empty();
}
} // namespace

/// The AOT entry point `<name>_cuda`: the C ABI of the CPU objects (memref
/// descriptors for q, k, v, out, lse and tensor params, C scalars, the
/// status word) with a stream in place of the work range. Only nvcc sees it
/// (NVRTC skips host code); attnc_cuda::HostCall does the work.
static LogicalResult emitHostEntry(raw_ostream &os, VariantOp variant,
                                   FlashOp flash, const CUDAKernelSpec &spec,
                                   StringRef v, StringRef c) {
  if (spec.numParams > 64)
    return flash.emitError("the AOT entry point takes up to 64 params; got ")
           << spec.numParams;
  std::string entry = variant.getSymName().str() + "_cuda";
  os << "\n#if !defined(__CUDACC_RTC__)\n"
     << "extern \"C\" int " << entry
     << "(attnc_memref4 *q, attnc_memref4 *k, attnc_memref4 *v, attnc_memref4 "
        "*out";
  if (flash.returnsLse())
    os << ", attnc_memref3 *lse";
  if (spec.pagedKv)
    os << ", attnc_memref2 *page_table, attnc_memref1 *seq_lens";
  std::string fill;
  llvm::raw_string_ostream body(fill);
  for (BlockArgument param : variant.getParams()) {
    unsigned slot = param.getArgNumber() - 3;
    // Prefixed, so that no param name clashes with the entry's own.
    std::string name = "param_" + variant.getArgumentName(param.getArgNumber());
    std::string field = "P.s[" + std::to_string(slot) + "]";
    if (auto tensor = dyn_cast<RankedTensorType>(param.getType())) {
      Type elem = tensor.getElementType();
      os << ", attnc_memref" << tensor.getRank() << " *" << name;
      body << "  call.tensor(" << field << ", " << slot << ", " << name << ", "
           << std::max<unsigned>(1, elem.getIntOrFloatBitWidth() / 8) << ");\n";
      continue;
    }
    // Scalars: the C type of the CPU ABI and the slot member they fill.
    Type type = param.getType();
    std::string cType, member = "i", value = name;
    if (type.isF32()) {
      cType = "float", member = "f";
    } else if (type.isBF16() || type.isF16()) {
      cType = "unsigned short", member = "f";
      value = std::string("attnc_cuda::host_") +
              (type.isBF16() ? "bf16" : "f16") + "(" + name + ")";
    } else if (type.isInteger(1)) {
      cType = "bool";
    } else if (type.isInteger(32)) {
      cType = "int";
    } else if (type.isIntOrIndex()) {
      cType = "long long";
    } else {
      return flash.emitError("the AOT entry point cannot pass a param of type ")
             << type;
    }
    os << ", " << cType << " " << name;
    body << "  " << field << "." << member << " = " << value << ";\n";
  }
  os << ", attnc_memref1 *status, void *stream) {\n"
     << "  attnc_cuda::HostCall<" << v << ", " << c << "> call;\n"
     << "  if (int e = call.setViews(q, k, v, out, "
     << (flash.returnsLse() ? "lse" : "nullptr") << ", status"
     << (spec.pagedKv ? ", page_table, seq_lens" : "") << "))\n"
     << "    return e;\n"
     << "  " << v << "::Params P = {};\n"
     << fill << "  return call.launch(P, " << spec.kernelName << ", "
     << (spec.blockMapName.empty() || spec.selectBlock ? std::string("nullptr")
                                                       : spec.blockMapName)
     << ", " << (spec.blockMapUsesBatch ? "true" : "false") << ", "
     << (spec.blockMapUsesHead ? "true" : "false") << ", "
     << (spec.combineName.empty() ? std::string("nullptr") : spec.combineName)
     << ", " << spec.maxSplits << ", static_cast<cudaStream_t>(stream)"
     << (spec.selectBlock
             ? ", " + spec.blockMapName + "_pool, " + spec.blockMapName
             : std::string())
     << ");\n"
     << "}\n#endif\n";
  return success();
}

/// The backward's kernels (sm80_backward.cuh; the key-tile kernel of the
/// sm90_wgmma family in sm90_backward.cuh) and the recomputation of the
/// output, a forward kernel that walks by the tile classifier (its tiles
/// are not the forward's, so it cannot read the forward's block map).
static void emitBackwardKernels(raw_ostream &os, const CUDAKernelSpec &spec,
                                StringRef v, int64_t d, int64_t dv,
                                const char *f16) {
  const std::string &bwd = spec.backwardName;
  os << "\n#ifndef " << kSkipBackwardMacro << "\n"
     << "namespace {\n"
     << "struct " << v << "_recompute : " << v
     << " { static constexpr bool kBlockList = false; };\n"
     << "typedef attnc_cuda::Config<" << d << ", " << dv
     << ", attnc_cuda::kRecomputeTile, attnc_cuda::kRecomputeTile, "
        "attnc_cuda::kRecomputeWarps, attnc_cuda::kRecomputeStages, "
     << f16 << ", false, false, true> " << bwd << "_recompute_config;\n"
     << "static_assert(" << bwd
     << "_recompute_config::kSmemBytes == " << spec.recomputeSharedBytes
     << ", \"the launch's shared memory size\");\n"
     << "typedef attnc_cuda::BackwardConfig<" << d << ", " << dv << ", "
     << spec.backwardTileQ << ", " << spec.backwardTileKv << ", "
     << (spec.tensorMaps ? attnc_cuda::kBwdWarps : spec.backwardThreads / 32)
     << ", " << f16 << "> " << bwd << "_config;\n"
     << "typedef attnc_cuda::"
     << (spec.tensorMaps ? "Sm90Backward<" : "FlashBackward<") << v << ", "
     << bwd << "_config> " << bwd << "_kernel;\n"
     << "static_assert(" << bwd << (spec.tensorMaps ? "_kernel" : "_config")
     << "::kSmemBytes == " << spec.backwardSharedBytes
     << ", \"the launch's shared memory size\");\n"
     << "} // namespace\n"
     << "extern \"C\" __global__ void __launch_bounds__("
        "attnc_cuda::kRecomputeWarps * 32, 1)\n"
     << bwd << "_recompute(const attnc_cuda::FlashArgs a, const " << v
     << "::Params P) {\n"
     << "  attnc_cuda::FlashForward<" << v << "_recompute, " << bwd
     << "_recompute_config>::run(a, P);\n}\n"
     << "extern \"C\" __global__ void "
        "__launch_bounds__(attnc_cuda::kBwdRowThreads)\n"
     << bwd << "_rows(const attnc_cuda::BackwardArgs a, const " << v
     << "::Params P, const " << v << "::Grads G) {\n"
     << "  attnc_cuda::backward_rows<" << v << ", " << bwd
     << "_config>(a, P, G);\n}\n"
     << "extern \"C\" __global__ void __launch_bounds__("
     << spec.backwardThreads << ", 1)\n"
     << bwd << "(const attnc_cuda::BackwardArgs a, const " << v
     << "::Params P, const " << v << "::Grads G"
     << (spec.tensorMaps
             ? ", const __grid_constant__ attnc_cuda::BackwardMaps maps"
             : "")
     << ") {\n"
     << "  " << bwd << "_kernel::run(a, P, G"
     << (spec.tensorMaps ? ", maps" : "") << ");\n}\n"
     << "extern \"C\" __global__ void "
        "__launch_bounds__(attnc_cuda::kBwdRowThreads)\n"
     << bwd << "_dq(const attnc_cuda::BackwardArgs a) {\n"
     << "  attnc_cuda::backward_dq<" << v << ", " << bwd << "_config>(a);\n}\n"
     << "#endif\n";
}

FailureOr<CUDAKernelSpec>
mlir::attn::translateToCUDA(ModuleOp module, raw_ostream &os, bool backward) {
  auto variants = llvm::to_vector(module.getOps<VariantOp>());
  if (variants.size() != 1)
    return module.emitError(
        "the CUDA backend translates one variant at a time");
  VariantOp variant = variants.front();
  FlashOp flash;
  variant.walk([&](FlashOp f) { flash = f; });
  if (!flash)
    return variant.emitError("variant '")
           << variant.getSymName() << "' is not fused into one attn.flash";

  auto qType = cast<RankedTensorType>(flash.getQuery().getType());
  auto vType = cast<RankedTensorType>(flash.getValue().getType());
  Type elem = qType.getElementType();
  if (!elem.isBF16() && !elem.isF16())
    return flash.emitError("the GPU kernels take bf16 or f16 tensors; got ")
           << elem << " (f32 runs on --target=cpu)";
  int64_t d = qType.getDimSize(3), dv = vType.getDimSize(3);
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return flash.emitError("the GPU kernels need the head dim at compile time "
                           "(--head-dim, CompileOptions::headDim)");
  for (int64_t dim : {d, dv})
    if (dim % 64 != 0 || dim > 256)
      return flash.emitError("the GPU kernels take head dims 64, 128, 192 and "
                             "256; got ")
             << dim;
  ScheduleAttr schedule = flash.getScheduleAttr();
  if (!schedule)
    return flash.emitError(
        "attn.flash has no schedule; run attn-select-schedule");
  const KernelFamily family = schedule.getFamily();
  const bool splitKv = family == KernelFamily::SplitKv;
  const bool wgmma = family == KernelFamily::Sm90Wgmma;
  if (family != KernelFamily::Sm80Mma && !splitKv && !wgmma)
    return flash.emitError("the CUDA backend has no kernel family '")
           << stringifyKernelFamily(family) << "'";
  if (!splitKv && schedule.getSplits() != 1)
    return flash.emitError("the ")
           << stringifyKernelFamily(family)
           << " kernels run one key split; got " << schedule.getSplits();

  CUDAKernelSpec spec;
  std::string name = variant.getSymName().str();
  spec.kernelName = name + "_kernel";
  spec.headDim = d;
  spec.tileQ = schedule.getTileQ();
  spec.tileKv = schedule.getTileKv();
  const int64_t stages = schedule.getStages();
  const int64_t warps = schedule.getWarps();
  if (stages < 2 || stages > 4)
    return flash.emitError("the ")
           << stringifyKernelFamily(family)
           << " kernels run 2 to 4 stages; got " << stages;
  if (wgmma) {
    // Sm90Config's static_asserts, as errors at the op.
    if (d > 128 || dv > 128 || spec.tileQ != attnc_cuda::kSm90TileQ ||
        warps != attnc_cuda::kSm90Threads / 32 ||
        (spec.tileKv != 64 && spec.tileKv != 128))
      return flash.emitError("the sm90_wgmma kernels take head dims 64 and "
                             "128, tile_q = 128, tile_kv = 64 or 128 and "
                             "12 warps");
  } else {
    if (!llvm::is_contained({1, 2, 4, 8}, warps))
      return flash.emitError("GPU kernels run 1, 2, 4 or 8 warps; got ")
             << warps;
    if (spec.tileQ % (16 * warps) != 0 || spec.tileKv % 16 != 0 ||
        spec.tileQ > 256 || spec.tileKv > 256)
      return flash.emitError("GPU tiles need tile_q a multiple of 16 * warps (")
             << 16 * warps << ") and tile_kv a multiple of 16, both up to 256";
  }
  spec.threads = warps * 32;
  spec.tensorMaps = wgmma;
  spec.pagedKv = schedule.getPagedKv() != 0;
  // The shared memory by the templates' own rule (Config asserts that its
  // tiles agree; the generated code checks the number once more).
  spec.sharedBytes =
      wgmma ? attnc_cuda::sm90_shared_bytes(int(d), int(dv), int(spec.tileKv),
                                            int(stages))
            : attnc_cuda::forward_shared_bytes(int(d), int(dv), int(spec.tileQ),
                                               int(spec.tileKv), int(stages));
  // The opt-in limit of sm_80 and sm_90 (an SM's 228 KiB less 1 KiB that
  // the driver keeps per CTA).
  const int64_t maxSharedBytes = 227 * 1024;
  if (spec.sharedBytes > maxSharedBytes)
    return flash.emitError("GPU tiles of ")
           << spec.tileQ << " x " << spec.tileKv << " at head dim " << d
           << " need " << spec.sharedBytes
           << " bytes of shared memory, more than the " << maxSharedBytes
           << " a CTA can have; use a smaller tile_kv";
  spec.numParams = variant.getNumArguments() - 3;
  if (backward) {
    if (!flash.isDifferentiated())
      return flash.emitError("the backward needs the differentiated regions; "
                             "run attn-differentiate");
    if (spec.pagedKv)
      return flash.emitError("the backward takes contiguous k and v, not a "
                             "paged KV cache");
    if ((d != 64 && d != 128) || (dv != 64 && dv != 128))
      return flash.emitError("the GPU backward takes head dims 64 and 128; "
                             "got D = ")
             << d << ", Dv = " << dv;
    spec.backwardName = name + "_backward";
    spec.hasOutputMod = flash.hasOutputMod();
    // 64 x 128 with 8 warps measured best (bench/RESULTS.md); the
    // sm90_wgmma family's backward has the same tiles, in two consumer
    // warpgroups and a producer.
    spec.backwardTileQ = attnc_cuda::kBwdTileQ;
    spec.backwardTileKv = attnc_cuda::kBwdTileKv;
    spec.backwardThreads =
        wgmma ? attnc_cuda::kSm90BwdThreads : attnc_cuda::kBwdWarps * 32;
    spec.backwardSharedBytes =
        wgmma ? attnc_cuda::sm90_backward_shared_bytes(int(d), int(dv))
              : attnc_cuda::backward_shared_bytes(int(d), int(dv),
                                                  int(spec.backwardTileQ),
                                                  int(spec.backwardTileKv));
    spec.recomputeSharedBytes = attnc_cuda::forward_shared_bytes(
        int(d), int(dv), attnc_cuda::kRecomputeTile, attnc_cuda::kRecomputeTile,
        attnc_cuda::kRecomputeStages);
  }
  if (splitKv) {
    spec.combineName = name + "_combine";
    spec.maxSplits = schedule.getSplits();
  }
  SelectAttr selection = flash.getSelectionAttr();
  if (selection) {
    // The selection kernel's limits (block_select.cuh); attn-select-schedule
    // keeps split_kv and paged KV caches away from selections.
    if (splitKv || spec.pagedKv)
      return flash.emitError("a dynamic block selection (select) runs with "
                             "the sm80_mma and sm90_wgmma kernels, not ")
             << (splitKv ? "split_kv" : "a paged KV cache");
    if (selection.getTopK() > attnc_cuda::kSelectMaxTopK)
      return flash.emitError("the GPU kernels select up to ")
             << attnc_cuda::kSelectMaxTopK << " blocks (top_k); got "
             << selection.getTopK();
    if (spec.tileQ % 32 != 0 || spec.tileQ > attnc_cuda::kSelectThreads ||
        spec.tileKv > 128 || !llvm::isPowerOf2_64(spec.tileKv))
      return flash.emitError("a dynamic block selection on the GPU needs "
                             "tile_q a multiple of 32 up to ")
             << attnc_cuda::kSelectThreads
             << " and tile_kv a power of two up to 128";
    spec.selectBlock = selection.getBlock();
    spec.selectTopK = selection.getTopK();
  }
  // A selection writes its block map per (b, h) row, whatever the mask's
  // classifier reads.
  bool blockList =
      selection || (flash.hasTileClass() && readsParams(flash.getTileClass()));
  if (blockList) {
    spec.blockMapName = name + (selection ? "_select" : "_blockmap");
    spec.blockMapUsesBatch = selection || usesArgument(flash.getTileClass(), 0);
    spec.blockMapUsesHead = selection || usesArgument(flash.getTileClass(), 1);
  }

  // Branches run the forward kernels, each over D / K of q's and k's
  // columns.
  const int64_t branches = flash.getBranchCount();
  if (branches > 1 && (splitKv || spec.pagedKv || backward))
    return flash.emitError("a variant with branches runs the sm80_mma and "
                           "sm90_wgmma forward kernels, over contiguous k "
                           "and v; not ")
           << (backward  ? "the backward"
               : splitKv ? "split_kv"
                         : "a paged KV cache");
  if (branches > 1 && (d % branches != 0 || (d / branches) % 16 != 0))
    return flash.emitError("the GPU kernels need each branch's part of the "
                           "head dim, D / K, to be a multiple of 16; got D = ")
           << d << ", K = " << branches;
  double scale = flash.getScale()
                     ? flash.getScale()->convertToDouble()
                     : 1.0 / std::sqrt(double(d) / double(branches));
  double invTemperature = flash.getTemperature()
                              ? 1.0 / flash.getTemperature()->convertToDouble()
                              : 1.0;
  double bias = flash.getBias() ? flash.getBias()->convertToDouble() : 0.0;
  const char *normalizer = normalizerName(flash.getNormalizer());

  std::string v = name + "_variant", c = name + "_config";
  os << "// Generated by attnc from variant @" << name << "; do not edit.\n"
     << "#include \"" << getCUDARuntimeHeaderName() << "\"\n\n"
     << "// Hooks a variant does not use are never called.\n"
     << "#pragma nv_diag_suppress 177\n"
     << "namespace {\n"
     << "struct " << v << " {\n"
     << "  struct Params { attnc_cuda::ParamSlot s["
     << std::max<int64_t>(1, spec.numParams) << "]; };\n"
     << "  static constexpr int kNormalizer = " << normalizer << ";\n"
     << "  static constexpr float kScale = " << floatLiteral(scale) << ";\n"
     << "  static constexpr float kInvTemperature = "
     << floatLiteral(invTemperature) << ";\n"
     << "  static constexpr float kBias = " << floatLiteral(bias) << ";\n"
     << "  static constexpr bool kHasScoreMod = "
     << (flash.hasScoreMod() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasMask = "
     << (flash.hasMask() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasOutputMod = "
     << (flash.hasOutputMod() ? "true" : "false") << ";\n"
     << "  static constexpr bool kOutputModReadsStats = "
     << (readsRowStatistics(flash.getOutputMod()) ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasSink = "
     << (flash.hasSink() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasTileClass = "
     << (flash.hasTileClass() ? "true" : "false") << ";\n"
     << "  static constexpr bool kBlockList = "
     << (blockList ? "true" : "false") << ";\n"
     << "  static constexpr bool kTileClassUsesHead = "
     << (usesArgument(flash.getTileClass(), 1) ? "true" : "false") << ";\n"
     << "  static constexpr bool kSelect = " << (selection ? "true" : "false")
     << ";\n"
     << "  static constexpr int kBranches = " << branches << ";\n";
  // Sinks and local are the user's constants: past the blocks of 2^30
  // keys they mean every block.
  auto clampBlocks = [](int64_t n) {
    return std::min<int64_t>(n, int64_t(1) << 30);
  };
  os << "  static constexpr int kSelectBlock = " << spec.selectBlock
     << ", kSelectTopK = " << spec.selectTopK << ";\n"
     << "  static constexpr long long kSelectSinks = "
     << (selection ? clampBlocks(selection.getSinks()) : 0)
     << ", kSelectLocal = "
     << (selection ? clampBlocks(selection.getLocal()) : 0) << ";\n"
     << "  static constexpr bool kSelectCausal = "
     << (selection && selection.getCausal() ? "true" : "false") << ";\n";
  // split_kv's tiles hold the query heads of one kv head (GQA packing).
  RegionEmitter emitter(os, variant.getBody().front(), /*headPerRow=*/splitKv);
  if (failed(emitter.emitPairHook(flash.getScoreMod(), RegionRole::ScoreMod,
                                  "score_mod", "Score", "score")) ||
      failed(emitter.emitPairHook(flash.getMask(), RegionRole::Mask, "mask",
                                  "Mask", "true")) ||
      failed(emitter.emitFunction(
          flash.getOutputMod(), RegionRole::OutputMod, "output_mod", "o",
          branches > 1 ? "const float *bo, const float *bl, const float *bs, "
                       : "")) ||
      failed(emitter.emitFunction(flash.getSink(), RegionRole::Sink, "sink",
                                  "0.f")) ||
      failed(emitter.emitFunction(flash.getTileClass(), RegionRole::TileClass,
                                  "tile_class", flash.hasMask() ? "1" : "2")))
    return failure();
  if (backward) {
    // The gradients' hooks take where float params' gradients go (`G`).
    // `Grads` as the host passes them, `GradSums` as a thread adds to them.
    const int64_t slots = std::max<int64_t>(1, spec.numParams);
    os << "  struct Grads { attnc_cuda::GradSlot g[" << slots << "]; };\n"
       << "  typedef attnc_cuda::GradSums<" << slots << "> GradSums;\n";
    if (failed(emitter.emitFunction(flash.getScoreModGrad(),
                                    RegionRole::ScoreModGrad, "score_mod_grad",
                                    "dscore", "GradSums &G, ")) ||
        failed(emitter.emitFunction(
            flash.getOutputModGrad(), RegionRole::OutputModGrad,
            "output_mod_grad", "dout", "GradSums &G, ")) ||
        failed(emitter.emitFunction(
            flash.getOutputModLseGrad(), RegionRole::OutputModLseGrad,
            "output_mod_lse_grad", "0.f", "GradSums &G, ")) ||
        failed(emitter.emitFunction(
            flash.getOutputModRowSumGrad(), RegionRole::OutputModRowSumGrad,
            "output_mod_row_sum_grad", "0.f", "GradSums &G, ")) ||
        failed(emitter.emitFunction(flash.getSinkGrad(), RegionRole::SinkGrad,
                                    "sink_grad", "0.f", "GradSums &G, ")))
      return failure();
  }
  // No register cap beyond one CTA an SM: capping 8-warp kernels at 128
  // registers for two CTAs spilled and measured 5-25% slower on the H100
  // (bench/RESULTS.md); 4-warp kernels at 255 registers fit two anyway.
  const int64_t ctasPerSM = 1;
  const char *f16 = elem.isF16() ? "true" : "false";
  os << "};\n";
  if (wgmma)
    os << "typedef attnc_cuda::Sm90Config<" << d << ", " << dv << ", "
       << spec.tileKv << ", " << stages << ", " << f16 << "> " << c << ";\n";
  else
    os << "typedef attnc_cuda::Config<" << d << ", " << dv << ", " << spec.tileQ
       << ", " << spec.tileKv << ", " << warps << ", " << stages << ", " << f16
       << (splitKv || spec.pagedKv ? splitKv ? ", true" : ", false" : "")
       << (spec.pagedKv ? ", true" : "") << "> " << c << ";\n";
  os << "static_assert(" << c << "::kSmemBytes == " << spec.sharedBytes
     << ", \"the launch's shared memory size\");\n"
     << "} // namespace\n\n"
     << (wgmma ? "// wgmma and setmaxnreg need the arch-specific target.\n"
                 "#if defined(__CUDA_ARCH__) && "
                 "!defined(__CUDA_ARCH_FEAT_SM90_ALL)\n"
                 "#error \"the sm90_wgmma kernel needs sm_90a (nvcc "
                 "-gencode=arch=compute_90a,code=sm_90a)\"\n#endif\n"
               : "")
     << "// The JIT compiles the two kernels as two programs, in parallel.\n"
     << "#ifndef " << kSkipForwardMacro << "\n"
     << "extern \"C\" __global__ void __launch_bounds__(" << spec.threads
     << ", " << ctasPerSM << ")\n"
     << spec.kernelName << "(const attnc_cuda::FlashArgs a, const " << v
     << "::Params P"
     << (wgmma ? ", const __grid_constant__ attnc_cuda::TensorMaps maps" : "")
     << ") {\n"
     << "  attnc_cuda::" << (wgmma ? "Sm90Forward<" : "FlashForward<") << v
     << ", " << c << ">::run(a, P" << (wgmma ? ", maps" : "") << ");\n"
     << "}\n";
  if (splitKv)
    os << "\nextern \"C\" __global__ void "
          "__launch_bounds__(attnc_cuda::kCombineThreads)\n"
       << spec.combineName << "(const attnc_cuda::FlashArgs a, const " << v
       << "::Params P) {\n"
       << "  attnc_cuda::combine_splits<" << v << ", " << c << ">(a, P);\n"
       << "}\n";
  os << "#endif\n";
  if (selection)
    os << "\n#ifndef " << kSkipBlockMapMacro << "\n"
       << "extern \"C\" __global__ void "
          "__launch_bounds__(attnc_cuda::kPoolThreads)\n"
       << spec.blockMapName << "_pool(const attnc_cuda::FlashArgs a) {\n"
       << "  attnc_cuda::pool_key_blocks<" << v << ", " << c << ">(a);\n"
       << "}\n"
       << "extern \"C\" __global__ void "
          "__launch_bounds__(attnc_cuda::kSelectThreads)\n"
       << spec.blockMapName << "(const attnc_cuda::FlashArgs a, "
       << "const attnc_cuda::BlockMapArgs m, const " << v << "::Params P) {\n"
       << "  attnc_cuda::select_blocks<" << v << ", " << c << ">(a, m, P);\n"
       << "}\n#endif\n";
  else if (blockList)
    os << "\n#ifndef " << kSkipBlockMapMacro << "\n"
       << "extern \"C\" __global__ void "
          "__launch_bounds__(attnc_cuda::kBlockMapThreads)\n"
       << spec.blockMapName << "(const attnc_cuda::BlockMapArgs a, const " << v
       << "::Params P) {\n"
       << "  attnc_cuda::build_block_map<" << v << ", " << c << ">(a, P);\n"
       << "}\n#endif\n";
  if (backward)
    emitBackwardKernels(os, spec, v, d, dv, f16);
  if (failed(emitHostEntry(os, variant, flash, spec, v, c)))
    return failure();
  return spec;
}

void mlir::attn::registerToCUDATranslation() {
  TranslateFromMLIRRegistration registration(
      "attn-to-cuda",
      "One fused, scheduled variant (family sm80_mma, sm90_wgmma or "
      "split_kv) to CUDA C++",
      [](Operation *op, raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("attn-to-cuda translates a builtin.module");
        return failure(failed(translateToCUDA(module, os)));
      },
      [](DialectRegistry &registry) {
        registry.insert<AttnDialect, arith::ArithDialect, math::MathDialect>();
      });
}
