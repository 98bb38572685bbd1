//===- DefineDivision.cpp - integer division by zero, defined -------------===//
//
// Rewrites every integer division and remainder in the regions of
// attn.flash into one whose divisor cannot trap, with a select of the
// defined result (Passes.td: AttnDefineDivision).
//
//===----------------------------------------------------------------------===//

#include "Transforms/IntegerEdges.h"
#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDEFINEDIVISION
#include "Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

unsigned bitWidth(Type type) {
  return type.isIndex() ? IndexType::kInternalStorageBitWidth
                        : type.getIntOrFloatBitWidth();
}

Value constant(OpBuilder &b, Location loc, Type type, const APInt &value) {
  return arith::ConstantOp::create(b, loc, type, b.getIntegerAttr(type, value));
}

/// Rewrites `op` (lhs, rhs): the divisor becomes 1 where it is 0 (and, for
/// signed ops, where lhs is MIN and rhs is -1, whose quotient 1 * MIN is
/// the wrapped one), and where rhs is 0 the result is `whenZero(lhs)`.
template <typename OpTy> void guard(OpTy op, bool isSigned, bool remainder) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value lhs = op.getLhs(), rhs = op.getRhs();
  Type type = lhs.getType();
  const unsigned width = bitWidth(type);
  Value zero = constant(b, loc, type, APInt::getZero(width));
  Value one = constant(b, loc, type, APInt(width, 1));
  Value byZero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rhs, zero);
  Value unsafe = byZero;
  if (isSigned) {
    Value minusOne = constant(b, loc, type, APInt::getAllOnes(width));
    Value isMin = buildIsSignedMin(b, loc, lhs, zero);
    Value overflow = arith::AndIOp::create(
        b, loc, isMin,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rhs, minusOne));
    unsafe = arith::OrIOp::create(b, loc, byZero, overflow);
  }
  Value divisor = arith::SelectOp::create(b, loc, unsafe, one, rhs);
  Value safe = OpTy::create(b, loc, lhs, divisor);
  Value result =
      arith::SelectOp::create(b, loc, byZero, remainder ? lhs : zero, safe);
  op.getResult().replaceAllUsesWith(result);
  op.erase();
}

struct AttnDefineDivisionPass
    : attn::impl::AttnDefineDivisionBase<AttnDefineDivisionPass> {
  void runOnOperation() override {
    SmallVector<Operation *> divisions;
    getOperation()->walk([&](FlashOp flash) {
      flash->walk([&](Operation *op) {
        if (isa<arith::DivSIOp, arith::RemSIOp, arith::FloorDivSIOp,
                arith::CeilDivSIOp, arith::DivUIOp, arith::RemUIOp>(op))
          divisions.push_back(op);
      });
    });
    for (Operation *op : divisions) {
      if (auto d = dyn_cast<arith::DivSIOp>(op))
        guard(d, /*isSigned=*/true, /*remainder=*/false);
      else if (auto r = dyn_cast<arith::RemSIOp>(op))
        guard(r, true, true);
      else if (auto f = dyn_cast<arith::FloorDivSIOp>(op))
        guard(f, true, false);
      else if (auto c = dyn_cast<arith::CeilDivSIOp>(op))
        guard(c, true, false);
      else if (auto du = dyn_cast<arith::DivUIOp>(op))
        guard(du, false, false);
      else if (auto ru = dyn_cast<arith::RemUIOp>(op))
        guard(ru, false, true);
    }
  }
};

} // namespace
