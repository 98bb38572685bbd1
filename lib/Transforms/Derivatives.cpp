//===- Derivatives.cpp - one derivative rule per region op ----------------===//
//
// derive<Op> adds d(result)/d(operand) * adjoint to each operand's adjoint,
// in the op's own float type. The rules are those of the float64
// reference's backward (lib/Reference/Backward.cpp), which checks them.
//
//===----------------------------------------------------------------------===//

#include "Transforms/Derivatives.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

Value AdjointStep::constant(double v, Type type) const {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, v));
}

namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;

/// The rule of one op; specialised below for every float-yielding op of the
/// table, so that one without a rule fails to link.
template <typename OpTy> void derive(AdjointStep &s);

// Small builders on the step's values.
Value mul(AdjointStep &s, Value a, Value b) {
  return arith::MulFOp::create(s.b, s.loc, a, b);
}
Value div(AdjointStep &s, Value a, Value b) {
  return arith::DivFOp::create(s.b, s.loc, a, b);
}
Value neg(AdjointStep &s, Value a) {
  return arith::NegFOp::create(s.b, s.loc, a);
}
Value cmp(AdjointStep &s, arith::CmpFPredicate p, Value a, Value b) {
  return arith::CmpFOp::create(s.b, s.loc, p, a, b);
}
Value select(AdjointStep &s, Value c, Value a, Value b) {
  return arith::SelectOp::create(s.b, s.loc, c, a, b);
}
Value zero(AdjointStep &s) { return s.constant(0, s.adjoint.getType()); }
Value scaled(AdjointStep &s, double c) {
  return mul(s, s.adjoint, s.constant(c, s.adjoint.getType()));
}
/// The adjoint to operand `first` where `c` holds, else to `second`.
void route(AdjointStep &s, Value c, unsigned first, unsigned second) {
  s.add(first, select(s, c, s.adjoint, zero(s)));
  s.add(second, select(s, c, zero(s), s.adjoint));
}
/// Piecewise constant, or from integers: no gradient.
void none(AdjointStep &) {}

template <> void derive<arith::AddFOp>(AdjointStep &s) {
  s.add(0, s.adjoint);
  s.add(1, s.adjoint);
}
template <> void derive<arith::SubFOp>(AdjointStep &s) {
  s.add(0, s.adjoint);
  s.add(1, neg(s, s.adjoint));
}
template <> void derive<arith::MulFOp>(AdjointStep &s) {
  s.add(0, mul(s, s.adjoint, s.x(1)));
  s.add(1, mul(s, s.adjoint, s.x(0)));
}
template <> void derive<arith::DivFOp>(AdjointStep &s) {
  // d(a / b) = da / b - (a / b) db / b.
  Value g = div(s, s.adjoint, s.x(1));
  s.add(0, g);
  s.add(1, neg(s, mul(s, g, s.result())));
}
template <> void derive<arith::RemFOp>(AdjointStep &s) {
  // rem = a - trunc(a / b) b, and trunc(a / b) = (a - rem) / b.
  Value quotient =
      div(s, arith::SubFOp::create(s.b, s.loc, s.x(0), s.result()), s.x(1));
  s.add(0, s.adjoint);
  s.add(1, neg(s, mul(s, s.adjoint, quotient)));
}
template <> void derive<arith::NegFOp>(AdjointStep &s) {
  s.add(0, neg(s, s.adjoint));
}
template <> void derive<arith::MaximumFOp>(AdjointStep &s) {
  route(s, cmp(s, arith::CmpFPredicate::OGE, s.x(0), s.x(1)), 0, 1);
}
template <> void derive<arith::MaxNumFOp>(AdjointStep &s) {
  route(s, cmp(s, arith::CmpFPredicate::OGE, s.x(0), s.x(1)), 0, 1);
}
template <> void derive<arith::MinimumFOp>(AdjointStep &s) {
  route(s, cmp(s, arith::CmpFPredicate::OLE, s.x(0), s.x(1)), 0, 1);
}
template <> void derive<arith::MinNumFOp>(AdjointStep &s) {
  route(s, cmp(s, arith::CmpFPredicate::OLE, s.x(0), s.x(1)), 0, 1);
}
template <> void derive<arith::SelectOp>(AdjointStep &s) {
  route(s, s.x(0), 1, 2);
}

template <> void derive<math::ExpOp>(AdjointStep &s) {
  s.add(0, mul(s, s.adjoint, s.result()));
}
template <> void derive<math::Exp2Op>(AdjointStep &s) {
  s.add(0, mul(s, scaled(s, kLn2), s.result()));
}
template <> void derive<math::ExpM1Op>(AdjointStep &s) {
  Type type = s.adjoint.getType();
  s.add(0, mul(s, s.adjoint,
               arith::AddFOp::create(s.b, s.loc, s.result(),
                                     s.constant(1, type))));
}
template <> void derive<math::LogOp>(AdjointStep &s) {
  s.add(0, div(s, s.adjoint, s.x(0)));
}
template <> void derive<math::Log2Op>(AdjointStep &s) {
  s.add(0,
        div(s, s.adjoint, mul(s, s.x(0), s.constant(kLn2, s.x(0).getType()))));
}
template <> void derive<math::Log1pOp>(AdjointStep &s) {
  Value one = s.constant(1, s.x(0).getType());
  s.add(0, div(s, s.adjoint, arith::AddFOp::create(s.b, s.loc, one, s.x(0))));
}
template <> void derive<math::TanhOp>(AdjointStep &s) {
  Value one = s.constant(1, s.adjoint.getType());
  Value t = s.result();
  s.add(0, mul(s, s.adjoint,
               arith::SubFOp::create(s.b, s.loc, one, mul(s, t, t))));
}
template <> void derive<math::SqrtOp>(AdjointStep &s) {
  s.add(0, div(s, scaled(s, 0.5), s.result()));
}
template <> void derive<math::RsqrtOp>(AdjointStep &s) {
  // d(a^-1/2) = -1/2 a^-3/2 = -1/2 rsqrt(a) / a.
  s.add(0, div(s, mul(s, scaled(s, -0.5), s.result()), s.x(0)));
}
template <> void derive<math::AbsFOp>(AdjointStep &s) {
  Value a = s.x(0), z = zero(s);
  Value g = select(
      s, cmp(s, arith::CmpFPredicate::OGT, a, z), s.adjoint,
      select(s, cmp(s, arith::CmpFPredicate::OLT, a, z), neg(s, s.adjoint), z));
  s.add(0, g);
}
template <> void derive<math::SinOp>(AdjointStep &s) {
  s.add(0, mul(s, s.adjoint, math::CosOp::create(s.b, s.loc, s.x(0))));
}
template <> void derive<math::CosOp>(AdjointStep &s) {
  s.add(0, neg(s, mul(s, s.adjoint, math::SinOp::create(s.b, s.loc, s.x(0)))));
}
template <> void derive<math::ErfOp>(AdjointStep &s) {
  Value a = s.x(0);
  Value e = math::ExpOp::create(s.b, s.loc, neg(s, mul(s, a, a)));
  s.add(0, mul(s, scaled(s, kTwoOverSqrtPi), e));
}
template <> void derive<math::PowFOp>(AdjointStep &s) {
  // d(a^b) = b a^(b-1) da + a^b log(a) db (the latter where a > 0).
  Value a = s.x(0), b = s.x(1);
  Value one = s.constant(1, a.getType());
  Value lower = math::PowFOp::create(s.b, s.loc, a,
                                     arith::SubFOp::create(s.b, s.loc, b, one));
  s.add(0, mul(s, mul(s, s.adjoint, b), lower));
  Value byExponent =
      mul(s, mul(s, s.adjoint, s.result()), math::LogOp::create(s.b, s.loc, a));
  s.add(1, select(s, cmp(s, arith::CmpFPredicate::OGT, a, zero(s)), byExponent,
                  zero(s)));
}
template <> void derive<math::FmaOp>(AdjointStep &s) {
  s.add(0, mul(s, s.adjoint, s.x(1)));
  s.add(1, mul(s, s.adjoint, s.x(0)));
  s.add(2, s.adjoint);
}
template <> void derive<math::CopySignOp>(AdjointStep &s) {
  // |a| sign(b): sign(a) sign(b) for a.
  Type type = s.adjoint.getType();
  Value one = s.constant(1, type);
  Value signs = mul(s, math::CopySignOp::create(s.b, s.loc, one, s.x(0)),
                    math::CopySignOp::create(s.b, s.loc, one, s.x(1)));
  s.add(0, mul(s, s.adjoint, signs));
}
template <> void derive<math::FloorOp>(AdjointStep &s) { none(s); }
template <> void derive<math::CeilOp>(AdjointStep &s) { none(s); }
template <> void derive<math::RoundOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::ConstantOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::CmpFOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::SIToFPOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::UIToFPOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::FPToSIOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::FPToUIOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::IndexCastOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::IndexCastUIOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::ExtSIOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::ExtUIOp>(AdjointStep &s) { none(s); }
template <> void derive<arith::TruncIOp>(AdjointStep &s) { none(s); }
// A change of float width passes the gradient through, in the operand's
// type.
template <> void derive<arith::ExtFOp>(AdjointStep &s) {
  s.add(0, arith::TruncFOp::create(s.b, s.loc, s.x(0).getType(), s.adjoint));
}
template <> void derive<arith::TruncFOp>(AdjointStep &s) {
  s.add(0, arith::ExtFOp::create(s.b, s.loc, s.x(0).getType(), s.adjoint));
}

} // namespace

bool mlir::attn::propagateAdjoint(AdjointStep &step) {
  // Integer ops yield no float: they never get an adjoint.
#define ATTN_INT_OP(CLASS, CUDA)
#define ATTN_SCALAR_OP(CLASS, CUDA)                                            \
  if (isa<CLASS>(step.op)) {                                                   \
    derive<CLASS>(step);                                                       \
    return true;                                                               \
  }
#include "dialect/ScalarOps.def"
  return false;
}
