//===- RegionEmitter.h - attn regions as CUDA device functions --*- C++ -*-===//
//
// An emitter in the manner of MLIR's C++ translation: each region of
// attn.flash (score_mod, mask, output_mod, tile_class) becomes a device
// function, one C++ statement per op (ScalarOpsToCUDA.h spells the scalar
// ops). Used by AttnToCUDA; private to it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CONVERSION_ATTNTOCUDA_REGIONEMITTER_H
#define ATTNC_CONVERSION_ATTNTOCUDA_REGIONEMITTER_H

#include "dialect/RegionComposition.h"

#include "mlir/IR/Block.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::attn {

/// Emits the body of one region as C++ statements.
class RegionEmitter {
public:
  /// `headPerRow`: the kernel's tile rows span several heads (split_kv's
  /// packed GQA rows), so what depends on h is made per row, never per key.
  RegionEmitter(raw_ostream &os, Block &variantBody, bool headPerRow = false)
      : os(os), variantBody(variantBody), headPerRow(headPerRow) {}

  /// `static __device__ RESULT NAME(LEADING ARGS, const Params &P, int
  /// &status)`: the ops of `region` that `member` accepts (all without one),
  /// with the values in `given` spelled as it says; an empty region gives a
  /// body that returns `identity`.
  LogicalResult
  emitFunction(Region &region, RegionRole role, StringRef name,
               StringRef identity, StringRef leading = "",
               function_ref<bool(Operation *)> member = nullptr,
               const DenseMap<Value, std::string> *given = nullptr);

  /// A per-pair hook (score_mod, mask) in three stages, as FlexAttention's
  /// broadcasting gets them: `NAME_row` makes what depends on neither the
  /// key nor the score once per query row into struct `TYPE`Row,
  /// `NAME_col` makes what depends on the key alone once per key into
  /// `TYPE`Col, and `NAME` does the rest per pair. A document mask then
  /// reads its param once per row and once per key, not twice per pair.
  LogicalResult emitPairHook(Region &region, RegionRole role, StringRef name,
                             StringRef typePrefix, StringRef identity);

private:
  /// `(TYPE NAME, ...` for the arguments of `role` that `keep` accepts.
  LogicalResult emitParameters(Region &region, RegionRole role,
                               function_ref<bool(StringRef)> keep);
  FailureOr<std::string> operand(Operation *user, Value value);
  LogicalResult emitOp(Operation &op);
  LogicalResult assign(Operation &op, const Twine &expr);
  FailureOr<int64_t> paramSlot(Operation *user, Value param);
  FailureOr<std::string> elemStruct(Location loc, Type type);

  raw_ostream &os;
  Block &variantBody;
  bool headPerRow;
  DenseMap<Value, std::string> names;
  int counter = 0;
};

} // namespace mlir::attn

#endif // ATTNC_CONVERSION_ATTNTOCUDA_REGIONEMITTER_H
