//===- Derivatives.h - one derivative rule per region op -------*- C++ -*-===//
//
// The reverse-mode rules of attn-differentiate, one per op of
// dialect/ScalarOps.def that yields a float (Derivatives.cpp; an op of the
// table without a rule does not link).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TRANSFORMS_DERIVATIVES_H
#define ATTNC_TRANSFORMS_DERIVATIVES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::attn {

/// One op's step of the reverse pass: `op` is the forward op (its operands
/// and result recomputed in the derived region are `forward.lookup(...)`),
/// `adjoint` the adjoint of its result; `add(i, g)` adds g to the adjoint of
/// operand i.
struct AdjointStep {
  OpBuilder &b;
  Location loc;
  Operation *op;
  const IRMapping &forward;
  Value adjoint;
  function_ref<void(unsigned operand, Value contribution)> add;

  Value x(unsigned i) const {
    return forward.lookupOrDefault(op->getOperand(i));
  }
  Value result() const { return forward.lookup(op->getResult(0)); }
  Value constant(double v, Type type) const;
};

/// Propagates `step.adjoint` to the operands of `step.op`; false when the op
/// is not one of the table's (the caller reports it at the op).
bool propagateAdjoint(AdjointStep &step);

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_DERIVATIVES_H
