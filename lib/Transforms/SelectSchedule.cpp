//===- SelectSchedule.cpp - a kernel family and its schedule per target ---===//

#include "Transforms/GPUSchedule.h"
#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "llvm/ADT/bit.h"
#include "llvm/TargetParser/Host.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSELECTSCHEDULE
#include "Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// f32 lanes of the host's widest vector unit.
static int64_t hostVectorWidth() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  if (features.lookup("avx512f"))
    return 16;
  if (features.lookup("avx2") || features.lookup("avx"))
    return 8;
  return 4;
}

/// `forced` when given (> 0), else `chosen`.
static int64_t orChosen(int64_t forced, int64_t chosen) {
  return forced > 0 ? forced : chosen;
}

namespace {
struct AttnSelectSchedulePass
    : attn::impl::AttnSelectScheduleBase<AttnSelectSchedulePass> {
  using Base::Base;

  void runOnOperation() override {
    bool gpu = StringRef(target).starts_with("sm_");
    if (!gpu && target != "cpu") {
      getOperation()->emitError("attn-select-schedule: unknown target '")
          << target << "'; expected cpu or sm_XX";
      return signalPassFailure();
    }
    KernelFamily kind = gpu ? KernelFamily::Sm80Mma : KernelFamily::CpuTiles;
    // Hopper's own kernels need the arch-specific target (wgmma, setmaxnreg).
    bool hopper = target == "sm_90a";
    if (hopper)
      kind = KernelFamily::Sm90Wgmma;
    bool forcedFamily = !family.empty();
    if (forcedFamily) {
      std::optional<KernelFamily> forced = symbolizeKernelFamily(family);
      bool cpuFamily = forced && (*forced == KernelFamily::CpuTiles ||
                                  *forced == KernelFamily::CpuDecode);
      if (!forced || cpuFamily == gpu) {
        getOperation()->emitError("attn-select-schedule: kernel family '")
            << family << "' does not run on target '" << target << "'";
        return signalPassFailure();
      }
      kind = *forced;
      if (kind == KernelFamily::Sm90Wgmma && !hopper) {
        getOperation()->emitError("attn-select-schedule: kernel family "
                                  "'sm90_wgmma' needs target sm_90a; got '")
            << target << "'";
        return signalPassFailure();
      }
    }
    getOperation()->walk([&](FlashOp flash) {
      if (flash.getSchedule())
        return;
      // Ragged batches run on the CPU families only so far: refused here,
      // at compile time, rather than run without.
      bool cpu =
          kind == KernelFamily::CpuTiles || kind == KernelFamily::CpuDecode;
      auto refuseOffCPU = [&](StringRef what, bool plural) {
        flash.emitOpError()
            << what << (plural ? " run" : " runs")
            << " on the CPU (cpu_tiles, cpu_decode) only so far; kernel "
               "family "
            << stringifyKernelFamily(kind) << " does not take "
            << (plural ? "them" : "it") << " yet";
        signalPassFailure();
      };
      if (!cpu && ragged)
        return refuseOffCPU("ragged batches (cu_seqlens)", /*plural=*/true);
      // A selection's kernels write a block map that split_kv's key ranges
      // and page tables do not read yet.
      if (flash.hasSelection() &&
          (kind == KernelFamily::SplitKv || (!cpu && pagedKv))) {
        flash.emitOpError("dynamic block selection (select) runs with the "
                          "cpu_tiles, cpu_decode, sm80_mma and sm90_wgmma "
                          "kernels, over contiguous k and v on the GPU; ")
            << (pagedKv ? "a paged KV cache" : "kernel family split_kv")
            << " does not take it yet";
        return signalPassFailure();
      }
      // Branches share one pass over K/V in the cpu_tiles, sm80_mma and
      // sm90_wgmma kernels only.
      if (flash.getBranchCount() > 1) {
        if ((kind != KernelFamily::CpuTiles && kind != KernelFamily::Sm80Mma &&
             kind != KernelFamily::Sm90Wgmma) ||
            pagedKv || ragged) {
          flash.emitOpError("a variant with branches runs with the "
                            "cpu_tiles, sm80_mma and sm90_wgmma kernels over "
                            "contiguous k and v; ")
              << (pagedKv ? std::string("a paged KV cache")
                  : ragged
                      ? std::string("a ragged batch")
                      : "kernel family " + stringifyKernelFamily(kind).str())
              << " does not take them yet";
          return signalPassFailure();
        }
      }
      ScheduleAttr schedule;
      switch (kind) {
      case KernelFamily::CpuTiles:
        schedule = scheduleForCPU(flash);
        break;
      case KernelFamily::CpuDecode:
        schedule = scheduleForCPUDecode(flash);
        break;
      case KernelFamily::SplitKv:
        schedule = scheduleForSplitKv(flash);
        break;
      case KernelFamily::Sm80Mma:
        schedule = scheduleForSm80(flash);
        break;
      case KernelFamily::Sm90Wgmma:
        schedule = scheduleForSm90(flash, forcedFamily);
        break;
      }
      if (!schedule)
        return signalPassFailure();
      flash.setScheduleAttr(schedule);
    });
  }

  /// A query tile of 64 rows keeps its accumulators (64 x D floats) in L2
  /// and reads each key tile once for 64 rows; a key tile of 64 is the
  /// granularity at which masks skip work.
  ScheduleAttr scheduleForCPU(FlashOp flash) {
    return cpuSchedule(flash, KernelFamily::CpuTiles, 64, 64, /*maxSplits=*/1);
  }

  /// Decode: each key is read once per kv head and used by every packed row
  /// (H / Hkv heads x N queries), so the kernel runs at the memory's pace;
  /// 64 packed rows cover GQA 8 at N = 8 in one tile, and 128-key tiles
  /// halve the per-tile softmax bookkeeping. With fewer items (B x Hkv x
  /// tiles) than threads the runtime cuts the keys into up to 16 splits.
  ScheduleAttr scheduleForCPUDecode(FlashOp flash) {
    return cpuSchedule(flash, KernelFamily::CpuDecode, 64, 128,
                       /*maxSplits=*/16);
  }

  /// A CPU family's schedule at its tiles, with the host's vector width.
  ScheduleAttr cpuSchedule(FlashOp flash, KernelFamily family, int64_t q,
                           int64_t kv, int64_t maxSplits) {
    // Forced fields out of range are reported at the flash op.
    auto errorAt = [&] { return flash.emitOpError(); };
    return ScheduleAttr::getChecked(errorAt, &getContext(), family,
                                    orChosen(tileQ, q), orChosen(tileKv, kv),
                                    /*warps=*/int64_t(0), orChosen(stages, 1),
                                    orChosen(splits, maxSplits),
                                    orChosen(vectorWidth, hostVectorWidth()),
                                    int64_t(pagedKv), int64_t(ragged));
  }

  /// The mma.sync templates: defaultGPUTiles and defaultGPUWarps.
  ScheduleAttr scheduleForSm80(FlashOp flash) {
    int64_t d = cast<ShapedType>(flash.getQuery().getType()).getDimSize(3);
    int64_t dv = cast<ShapedType>(flash.getValue().getType()).getDimSize(3);
    bool known = !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv);
    // Branches keep an accumulator each: registers as for K times Dv.
    if (known)
      dv *= flash.getBranchCount();
    GPUTiles tiles = defaultGPUTiles(
        known ? d : 0, known ? dv : 0,
        readsParamPerPair(flash.getScoreMod(), RegionRole::ScoreMod),
        readsParamPerPair(flash.getMask(), RegionRole::Mask));
    int64_t q = orChosen(tileQ, tiles.tileQ);
    // A selection's bits are read a word per key tile: its tiles must not
    // straddle words, so a chosen tile_kv (48 at D = 128) becomes a power
    // of two.
    if (flash.hasSelection())
      tiles.tileKv = int64_t(llvm::bit_floor(uint64_t(tiles.tileKv)));
    auto errorAt = [&] { return flash.emitOpError(); };
    return ScheduleAttr::getChecked(
        errorAt, &getContext(), KernelFamily::Sm80Mma, q,
        orChosen(tileKv, tiles.tileKv),
        orChosen(warps, defaultGPUWarps(tiles, q)), orChosen(stages, 2),
        orChosen(splits, 1),
        /*vectorWidth=*/int64_t(0), int64_t(pagedKv), /*ragged=*/int64_t(0));
  }

  /// The wgmma kernel: 128 query rows (two consumer warpgroups of 64) and
  /// 128-key tiles, 12 warps (the producer warpgroup too), 2 stages. It
  /// takes head dims 64 and 128 (wgmma's widths, the swizzled panels); for
  /// others the schedule falls back to sm80_mma and says why, unless the
  /// family was asked for.
  ScheduleAttr scheduleForSm90(FlashOp flash, bool forced) {
    int64_t d = cast<ShapedType>(flash.getQuery().getType()).getDimSize(3);
    int64_t dv = cast<ShapedType>(flash.getValue().getType()).getDimSize(3);
    auto fits = [](int64_t dim) { return dim == 64 || dim == 128; };
    if (!fits(d) || !fits(dv) || (tileQ > 0 && tileQ != 128) ||
        (warps > 0 && warps != 12) || pagedKv) {
      std::string why = pagedKv ? "no paged KV cache (its tensor maps cannot "
                                  "follow a page table)"
                        : !fits(d) || !fits(dv) ? "head dims 64 and 128"
                                                : "tile_q = 128 and warps = 12";
      if (forced) {
        flash.emitOpError("kernel family sm90_wgmma takes ") << why;
        return {};
      }
      flash.emitRemark("sm90_wgmma takes ")
          << why << "; this variant runs sm80_mma";
      return scheduleForSm80(flash);
    }
    auto errorAt = [&] { return flash.emitOpError(); };
    // Branches keep an accumulator each: 64-key tiles leave them the
    // registers of the scores. (128-key tiles spill a few registers at two
    // branches of Dv = 128 and timed 12% faster on the H100, not yet
    // checked there: bench/RESULTS.md.)
    int64_t keys = flash.getBranchCount() > 1 ? 64 : 128;
    return ScheduleAttr::getChecked(
        errorAt, &getContext(), KernelFamily::Sm90Wgmma, int64_t(128),
        orChosen(tileKv, keys), int64_t(12), orChosen(stages, 2),
        orChosen(splits, 1),
        /*vectorWidth=*/int64_t(0), /*pagedKv=*/int64_t(0),
        /*ragged=*/int64_t(0));
  }

  /// Decode: a few query rows read every key once, so the work is the
  /// key range, split across CTAs. One warp's 16-row fragment wastes the
  /// least of the tensor cores on rows that are not there; 3 stages of
  /// 32-key tiles (53 KB at head dim 128) let 4 CTAs share an SM, which
  /// measured faster than 64-key tiles (2 CTAs) on the H200: 0.158 vs
  /// 0.177 ms at B=1, H=32/8, M=131072 (bench/RESULTS.md).
  ScheduleAttr scheduleForSplitKv(FlashOp flash) {
    auto errorAt = [&] { return flash.emitOpError(); };
    return ScheduleAttr::getChecked(
        errorAt, &getContext(), KernelFamily::SplitKv, orChosen(tileQ, 16),
        orChosen(tileKv, 32), orChosen(warps, 1), orChosen(stages, 3),
        orChosen(splits, 128),
        /*vectorWidth=*/int64_t(0), int64_t(pagedKv), /*ragged=*/int64_t(0));
  }
};
} // namespace
