//===- AttnDialect.cpp - the attn dialect ---------------------------------===//

#include "dialect/AttnOps.h"

#include "attnc/abi.h" // ATTNC_SELECT_MIN_BLOCK, ATTNC_SELECT_MAX_BLOCK

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "dialect/AttnDialect.cpp.inc"
#include "dialect/AttnEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/AttnAttrs.cpp.inc"

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/AttnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/AttnAttrs.cpp.inc"
      >();
}

LogicalResult ScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   KernelFamily family, int64_t tileQ,
                                   int64_t tileKv, int64_t warps,
                                   int64_t stages, int64_t splits,
                                   int64_t vectorWidth, int64_t pagedKv,
                                   int64_t ragged) {
  for (auto [name, value] :
       {std::make_pair("tile_q", tileQ), std::make_pair("tile_kv", tileKv),
        std::make_pair("stages", stages), std::make_pair("splits", splits)})
    if (value < 1 || value > 4096)
      return emitError() << "schedule: " << name
                         << " must be between 1 and 4096; got " << value;
  if (warps < 0 || warps > 32)
    return emitError() << "schedule: warps must be between 0 and 32; got "
                       << warps;
  if (!llvm::is_contained({0, 4, 8, 16}, vectorWidth))
    return emitError() << "schedule: vector_width must be 4, 8 or 16 (0: "
                          "none); got "
                       << vectorWidth;
  if (pagedKv != 0 && pagedKv != 1)
    return emitError() << "schedule: paged_kv must be 0 or 1; got " << pagedKv;
  if (pagedKv && family == KernelFamily::Sm90Wgmma)
    return emitError() << "schedule: sm90_wgmma reads k and v through tensor "
                          "maps, which cannot follow a page table; paged_kv "
                          "runs sm80_mma or split_kv";
  if (ragged != 0 && ragged != 1)
    return emitError() << "schedule: ragged must be 0 or 1; got " << ragged;
  if (ragged && family == KernelFamily::Sm90Wgmma)
    return emitError() << "schedule: sm90_wgmma does not take ragged "
                          "batches yet; ragged runs sm80_mma or split_kv";
  if (ragged && pagedKv)
    return emitError() << "schedule: ragged batches over a paged KV cache "
                          "are not supported yet (ragged and paged_kv)";
  return success();
}

LogicalResult SelectAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t topK, int64_t block, int64_t sinks,
                                 int64_t local, bool causal) {
  if (topK < 1)
    return emitError() << "select: top_k must be at least 1; got " << topK;
  if (block < ATTNC_SELECT_MIN_BLOCK || block > ATTNC_SELECT_MAX_BLOCK ||
      !llvm::isPowerOf2_64(block))
    return emitError() << "select: block must be a power of two from "
                       << int(ATTNC_SELECT_MIN_BLOCK) << " to "
                       << int(ATTNC_SELECT_MAX_BLOCK) << "; got " << block;
  if (sinks < 0 || local < 0)
    return emitError() << "select: sinks and local must not be negative; got "
                       << sinks << " and " << local;
  return success();
}
