//===- IntegerEdges.h - building tests of integers' edge values -*- C++ -*-===//
//
// Shared by attn-define-division and the block analysis, which both guard
// integer arithmetic at the edge of its type.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TRANSFORMS_INTEGEREDGES_H
#define ATTNC_TRANSFORMS_INTEGEREDGES_H

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::attn {

/// Whether `x` is the least integer of its width: its own negation, and not
/// `zero` (0 of x's type). Built without a constant of the width: the CUDA
/// backend keeps index values in 32 bits, where that least integer is
/// another number than on the CPU.
inline Value buildIsSignedMin(OpBuilder &b, Location loc, Value x, Value zero) {
  Value negated = arith::SubIOp::create(b, loc, zero, x);
  return arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, negated, x),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, x, zero));
}

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_INTEGEREDGES_H
