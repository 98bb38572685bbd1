//===- SelectSchedule.cpp - tile sizes and vector width per target --------===//

#include "Transforms/GPUSchedule.h"
#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

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

namespace {
struct AttnSelectSchedulePass
    : attn::impl::AttnSelectScheduleBase<AttnSelectSchedulePass> {
  using Base::Base;
  void runOnOperation() override {
    if (StringRef(target).starts_with("sm_"))
      return scheduleForGPU();
    if (target != "cpu") {
      getOperation()->emitError("attn-select-schedule: unknown target '")
          << target << "'; expected cpu or sm_XX";
      return signalPassFailure();
    }
    // A query tile of 64 rows keeps its accumulators (64 x D floats) in L2
    // and reads each key tile once for 64 rows; a key tile of 64 is the
    // granularity at which masks skip work.
    int64_t q = tileQ > 0 ? int64_t(tileQ) : 64;
    int64_t kv = tileKv > 0 ? int64_t(tileKv) : 64;
    int64_t width = vectorWidth > 0 ? int64_t(vectorWidth) : hostVectorWidth();
    Builder b(&getContext());
    getOperation()->walk([&](FlashOp flash) {
      if (!flash.getTileQ())
        flash.setTileQAttr(b.getI64IntegerAttr(q));
      if (!flash.getTileKv())
        flash.setTileKvAttr(b.getI64IntegerAttr(kv));
      if (!flash.getVectorWidth())
        flash.setVectorWidthAttr(b.getI64IntegerAttr(width));
    });
  }

  /// Tiles for the mma.sync kernels: defaultGPUTiles, unless given.
  void scheduleForGPU() {
    Builder b(&getContext());
    getOperation()->walk([&](FlashOp flash) {
      int64_t d = cast<ShapedType>(flash.getQuery().getType()).getDimSize(3);
      int64_t dv = cast<ShapedType>(flash.getValue().getType()).getDimSize(3);
      bool known = !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv);
      GPUTiles tiles = defaultGPUTiles(
          known ? d : 0, known ? dv : 0,
          readsParamPerPair(flash.getScoreMod(), RegionRole::ScoreMod),
          readsParamPerPair(flash.getMask(), RegionRole::Mask));
      if (!flash.getTileQ())
        flash.setTileQAttr(b.getI64IntegerAttr(tileQ > 0 ? int64_t(tileQ) : tiles.tileQ));
      if (!flash.getTileKv())
        flash.setTileKvAttr(b.getI64IntegerAttr(tileKv > 0 ? int64_t(tileKv) : tiles.tileKv));
    });
  }
};
} // namespace
