//===- AnalyzeBlocks.cpp - masks to closed-form tile classes --------------===//
//
// Derives attn.flash's tile_class region from its mask by abstract
// interpretation over a tile: every integer of the mask becomes an interval
// [lo, hi] of SSA values computed from the tile bounds, every boolean a pair
// (can be true, can be false). The region yields empty when the mask cannot
// be true anywhere in the tile, full when it cannot be false, partial
// otherwise. Nothing of size N x M, or of the tile count, is built: the
// region is evaluated per tile, in a handful of ops.
//
// Soundness rests on interval arithmetic over exact bounds (positions are far
// below 2^40, so nothing overflows); whatever the abstraction does not
// understand (floats, the ops of dialect/ScalarOps.def it does not model,
// params read at more than one position) becomes "anything", which can only
// make a tile partial.
//
//===----------------------------------------------------------------------===//

#include "Transforms/IntegerEdges.h"
#include "Transforms/Passes.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNANALYZEBLOCKS
#include "Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Stand-ins for unbounded ends of a load's value: far outside any position.
constexpr int64_t kFar = int64_t(1) << 40;

/// The abstraction of one value of the mask over a tile.
struct Abstract {
  enum class Kind { Int, Bool, Other };
  Kind kind = Kind::Other;
  Value lo, hi;            // Int: bounds, as index values; null = unbounded
  Value canTrue, canFalse; // Bool
  std::optional<int64_t> constant; // Int known at compile time
};

class TileClassEmitter {
public:
  TileClassEmitter(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  /// Emits the classifier of `mask` into the current block, whose arguments
  /// are (b, h, q_first, q_last, kv_first, kv_last); returns the i8 class.
  Value emit(Region &mask, ValueRange tileArgs);

private:
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  Value andB(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orB(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value notB(Value x) {
    return arith::XOrIOp::create(b, loc, x, boolean(true));
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value minS(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxS(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }

  // Soundness at the integer edges: the bounds are computed in index
  // values, which wrap as the mask's own integers do. Every bound whose
  // computation may have wrapped (or that leaves the range of a narrower
  // integer of the mask) sets `overflow`, which makes the tile partial:
  // the mask is then evaluated per pair, exactly.
  Value overflow;
  void mayOverflow(Value flag) { overflow = orB(overflow, flag); }
  Value isNegative(Value x) {
    return cmp(arith::CmpIPredicate::slt, x, index(0));
  }
  Value isMin(Value x) { return buildIsSignedMin(b, loc, x, index(0)); }
  Value xorI(Value x, Value y) { return arith::XOrIOp::create(b, loc, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value addChecked(Value x, Value y) {
    Value r = arith::AddIOp::create(b, loc, x, y);
    mayOverflow(isNegative(andI(xorI(x, r), xorI(y, r))));
    return r;
  }
  Value subChecked(Value x, Value y) {
    Value r = arith::SubIOp::create(b, loc, x, y);
    mayOverflow(isNegative(andI(xorI(x, y), xorI(x, r))));
    return r;
  }
  Value mulChecked(Value x, Value y) {
    using P = arith::CmpIPredicate;
    Value r = arith::MulIOp::create(b, loc, x, y);
    // r / x == y unless it wrapped (x = 0 and -1 apart: -1 * MIN wraps).
    Value trivial = orB(cmp(P::eq, x, index(0)), cmp(P::eq, x, index(-1)));
    Value safe = select(trivial, index(1), x);
    Value wrapped = andB(
        notB(trivial), cmp(P::ne, arith::DivSIOp::create(b, loc, r, safe), y));
    mayOverflow(orB(wrapped, andB(cmp(P::eq, x, index(-1)), isMin(y))));
    return r;
  }
  /// The bounds of a result of `type` stay in its range (i32 and the like:
  /// a narrower integer wraps where the index bounds would not).
  void checkWidth(const Abstract &a, Type type) {
    if (!type.isSignlessInteger() || type.getIntOrFloatBitWidth() >= 64 ||
        type.isInteger(1))
      return;
    // x fits in N bits when x >> (N - 1) is 0 or -1 (a shift, not a
    // round trip through the narrow type, which the canonicalizer folds).
    const int64_t width = type.getIntOrFloatBitWidth();
    for (Value bound : {a.lo, a.hi}) {
      if (!bound)
        continue;
      Value top = arith::ShRSIOp::create(b, loc, bound, index(width - 1));
      mayOverflow(andB(cmp(arith::CmpIPredicate::ne, top, index(0)),
                       cmp(arith::CmpIPredicate::ne, top, index(-1))));
    }
  }

  Abstract interval(Value lo, Value hi) {
    Abstract a;
    a.kind = Abstract::Kind::Int;
    a.lo = lo;
    a.hi = hi;
    return a;
  }
  Abstract point(Value v, std::optional<int64_t> constant = std::nullopt) {
    Abstract a = interval(v, v);
    a.constant = constant;
    return a;
  }
  Abstract boolean(Value canTrue, Value canFalse) {
    Abstract a;
    a.kind = Abstract::Kind::Bool;
    a.canTrue = canTrue;
    a.canFalse = canFalse;
    return a;
  }
  /// Anything of `type`.
  Abstract anything(Type type) {
    if (type.isInteger(1))
      return boolean(boolean(true), boolean(true));
    if (type.isIntOrIndex())
      return interval(Value(), Value());
    return Abstract();
  }
  Value toIndex(Value v) {
    return v.getType().isIndex()
               ? v
               : Value(arith::IndexCastOp::create(b, loc, b.getIndexType(), v));
  }

  Abstract get(Value v);
  Abstract in(Operation *op, unsigned i) { return get(op->getOperand(i)); }
  Abstract abstractOp(Operation &op);
  Abstract compare(arith::CmpIPredicate p, const Abstract &x,
                   const Abstract &y);
  Abstract load(LoadOp op);

  // One abstract() per op of ScalarOps.def that reads integers or bools (an
  // op that reads only floats may be anything); a table op without one does
  // not compile.
  Abstract abstract(arith::ConstantOp c) { return get(c.getResult()); }
  Abstract abstract(arith::SelectOp op);
  Abstract abstract(arith::AddIOp op) { return addOrSub(op, /*add=*/true); }
  Abstract abstract(arith::SubIOp op) { return addOrSub(op, /*add=*/false); }
  Abstract abstract(arith::MulIOp op);
  Abstract abstract(arith::DivSIOp op) { return divide(op); }
  Abstract abstract(arith::FloorDivSIOp op) { return divide(op); }
  Abstract abstract(arith::RemSIOp op);
  Abstract abstract(arith::MinSIOp op) { return minOrMax(op, /*isMin=*/true); }
  Abstract abstract(arith::MaxSIOp op) { return minOrMax(op, /*isMin=*/false); }
  Abstract abstract(math::AbsIOp op);
  Abstract abstract(arith::CmpIOp c) {
    return compare(c.getPredicate(), in(c, 0), in(c, 1));
  }
  Abstract abstract(arith::AndIOp op) { return logic(op); }
  Abstract abstract(arith::OrIOp op) { return logic(op); }
  Abstract abstract(arith::XOrIOp op) { return logic(op); }
  Abstract abstract(arith::IndexCastOp op) { return sameInteger(op); }
  Abstract abstract(arith::IndexCastUIOp op) { return sameInteger(op); }
  Abstract abstract(arith::ExtSIOp op) { return sameInteger(op); }
  Abstract abstract(arith::TruncIOp op) { return sameInteger(op); }
  Abstract abstract(arith::ExtUIOp op);
  /// Not modelled: a tile where they matter is partial.
  template <typename OpTy>
  std::enable_if_t<
      llvm::is_one_of<OpTy, arith::CeilDivSIOp, arith::DivUIOp, arith::RemUIOp,
                      arith::ShLIOp, arith::ShRSIOp, arith::ShRUIOp,
                      arith::MinUIOp, arith::MaxUIOp, arith::SIToFPOp,
                      arith::UIToFPOp, arith::FPToSIOp, arith::FPToUIOp,
                      arith::ExtFOp, arith::TruncFOp>::value,
      Abstract>
  abstract(OpTy op) {
    return anything(op.getType());
  }

  Abstract addOrSub(Operation *op, bool add);
  Abstract divide(Operation *op);
  Abstract minOrMax(Operation *op, bool isMin);
  Abstract logic(Operation *op);
  Abstract sameInteger(Operation *op);

  OpBuilder &b;
  Location loc;
  DenseMap<Value, Abstract> values;
};

} // namespace

Abstract TileClassEmitter::get(Value v) {
  auto it = values.find(v);
  if (it != values.end())
    return it->second;
  // Defined above the mask: a hoisted constant or a scalar param, one value
  // for the whole tile.
  Abstract a;
  APInt constant;
  if (v.getType().isInteger(1) && matchPattern(v, m_ConstantInt(&constant)))
    a = boolean(boolean(!constant.isZero()), boolean(constant.isZero()));
  else if (v.getType().isIntOrIndex() &&
           matchPattern(v, m_ConstantInt(&constant)))
    a = point(index(constant.getSExtValue()), constant.getSExtValue());
  else if (v.getType().isInteger(1))
    a = boolean(v, notB(v));
  else if (v.getType().isIntOrIndex())
    a = point(toIndex(v));
  else
    a = anything(v.getType());
  values[v] = a;
  return a;
}

Abstract TileClassEmitter::compare(arith::CmpIPredicate p, const Abstract &x,
                                   const Abstract &y) {
  using P = arith::CmpIPredicate;
  // With an unbounded end a comparison may go either way.
  auto may = [&](P pred, Value a, Value c) {
    return a && c ? cmp(pred, a, c) : boolean(true);
  };
  switch (p) {
  case P::slt:
    return boolean(may(P::slt, x.lo, y.hi), may(P::sge, x.hi, y.lo));
  case P::sle:
    return boolean(may(P::sle, x.lo, y.hi), may(P::sgt, x.hi, y.lo));
  case P::sgt:
    return boolean(may(P::sgt, x.hi, y.lo), may(P::sle, x.lo, y.hi));
  case P::sge:
    return boolean(may(P::sge, x.hi, y.lo), may(P::slt, x.lo, y.hi));
  case P::eq:
  case P::ne: {
    Value overlap = andB(may(P::sle, x.lo, y.hi), may(P::sle, y.lo, x.hi));
    Value samePoint =
        x.lo && x.hi && y.lo && y.hi
            ? andB(andB(cmp(P::eq, x.lo, x.hi), cmp(P::eq, y.lo, y.hi)),
                   cmp(P::eq, x.lo, y.lo))
            : boolean(false);
    return p == P::eq ? boolean(overlap, notB(samePoint))
                      : boolean(notB(samePoint), overlap);
  }
  default: {
    // Unsigned: the signed answer holds when both sides are non-negative.
    P signedPred = p == P::ult   ? P::slt
                   : p == P::ule ? P::sle
                   : p == P::ugt ? P::sgt
                                 : P::sge;
    Abstract s = compare(signedPred, x, y);
    Value nonNegative = x.lo && y.lo ? andB(cmp(P::sge, x.lo, index(0)),
                                            cmp(P::sge, y.lo, index(0)))
                                     : boolean(false);
    return boolean(select(nonNegative, s.canTrue, boolean(true)),
                   select(nonNegative, s.canFalse, boolean(true)));
  }
  }
}

/// A 1-D integer param read over an interval of positions is summarised by
/// its least and greatest element there (document ids of a tile); a param of
/// more dimensions read at one position for the whole tile is read (block
/// maps); anything else may be anything.
Abstract TileClassEmitter::load(LoadOp op) {
  Type type = op.getType();
  if (op.getIndices().size() == 1 && type.isSignlessInteger()) {
    Abstract a = get(op.getIndices()[0]);
    if (!a.lo || !a.hi)
      return anything(type);
    auto range = LoadRangeOp::create(b, loc, op.getParam(), a.lo, a.hi);
    if (type.isInteger(1))
      return boolean(range.getMax(), notB(range.getMin()));
    return interval(toIndex(range.getMin()), toIndex(range.getMax()));
  }
  Value allPoints = boolean(true);
  SmallVector<Value> indices;
  for (Value index : op.getIndices()) {
    Abstract a = get(index);
    if (!a.lo || !a.hi)
      return anything(op.getType());
    allPoints = andB(allPoints, cmp(arith::CmpIPredicate::eq, a.lo, a.hi));
    indices.push_back(a.lo);
  }
  // Element 0 stands in when the read is not at one position.
  for (Value &i : indices)
    i = select(allPoints, i, index(0));
  // At the read's own location: a read out of bounds names it.
  Value value = LoadOp::create(b, op.getLoc(), op.getParam(), indices);
  if (type.isInteger(1))
    return boolean(select(allPoints, value, boolean(true)),
                   select(allPoints, notB(value), boolean(true)));
  if (type.isIntOrIndex()) {
    Value v = toIndex(value);
    return interval(select(allPoints, v, index(-kFar)),
                    select(allPoints, v, index(kFar)));
  }
  return anything(type);
}

static bool bothBounded(const Abstract &a) { return a.lo && a.hi; }

Abstract TileClassEmitter::abstractOp(Operation &op) {
  Type type = op.getResult(0).getType();
  // The abstraction is over integers and bools: what reads only floats may
  // be anything.
#define ATTN_FLOAT_OP(CLASS, CUDA) .Case([&](CLASS) { return anything(type); })
#define ATTN_SCALAR_OP(CLASS, CUDA) .Case([&](CLASS o) { return abstract(o); })
  return llvm::TypeSwitch<Operation *, Abstract>(&op)
#include "dialect/ScalarOps.def"
      .Case([&](LoadOp read) { return load(read); })
      // The verifier lets nothing else into a mask.
      .Default([&](Operation *) { return anything(type); });
}

/// Casts between integers keep the interval; a bool widened may be anything.
Abstract TileClassEmitter::sameInteger(Operation *op) {
  if (op->getOperand(0).getType().isInteger(1))
    return anything(op->getResult(0).getType());
  return in(op, 0);
}

Abstract TileClassEmitter::abstract(arith::ExtUIOp op) {
  if (!op.getIn().getType().isInteger(1))
    return anything(op.getType());
  Abstract x = in(op, 0);
  return interval(select(x.canFalse, index(0), index(1)),
                  select(x.canTrue, index(1), index(0)));
}

Abstract TileClassEmitter::addOrSub(Operation *op, bool add) {
  Type type = op->getResult(0).getType();
  if (!type.isIntOrIndex())
    return anything(type);
  Abstract x = in(op, 0), y = in(op, 1);
  Value yLo = add ? y.lo : y.hi, yHi = add ? y.hi : y.lo;
  auto combine = [&](Value a, Value c) -> Value {
    if (!a || !c)
      return Value();
    return add ? addChecked(a, c) : subChecked(a, c);
  };
  Abstract r = interval(combine(x.lo, yLo), combine(x.hi, yHi));
  if (x.constant && y.constant)
    r.constant = add ? *x.constant + *y.constant : *x.constant - *y.constant;
  return r;
}

Abstract TileClassEmitter::abstract(arith::MulIOp op) {
  Type type = op.getType();
  if (!type.isIntOrIndex())
    return anything(type);
  Abstract x = in(op, 0), y = in(op, 1);
  if (y.constant && !x.constant)
    std::swap(x, y);
  if (x.constant) {
    Value c = index(*x.constant);
    Value lo = y.lo ? mulChecked(c, y.lo) : Value();
    Value hi = y.hi ? mulChecked(c, y.hi) : Value();
    return *x.constant >= 0 ? interval(lo, hi) : interval(hi, lo);
  }
  if (!bothBounded(x) || !bothBounded(y))
    return anything(type);
  Value p[4] = {mulChecked(x.lo, y.lo), mulChecked(x.lo, y.hi),
                mulChecked(x.hi, y.lo), mulChecked(x.hi, y.hi)};
  return interval(minS(minS(p[0], p[1]), minS(p[2], p[3])),
                  maxS(maxS(p[0], p[1]), maxS(p[2], p[3])));
}

/// divsi and floordivsi.
Abstract TileClassEmitter::divide(Operation *op) {
  Abstract x = in(op, 0), y = in(op, 1);
  if (!bothBounded(x) || !y.lo || y.lo != y.hi)
    return anything(op->getResult(0).getType());
  // One divisor for the whole tile: monotone in the dividend, increasing
  // for a positive divisor and decreasing for a negative one.
  Value d = y.lo;
  Value safe = select(cmp(arith::CmpIPredicate::eq, d, index(0)), index(1), d);
  auto div = [&](Value a) -> Value {
    return isa<arith::FloorDivSIOp>(op)
               ? Value(arith::FloorDivSIOp::create(b, loc, a, safe))
               : Value(arith::DivSIOp::create(b, loc, a, safe));
  };
  Value first = div(x.lo), last = div(x.hi);
  // MIN / -1 wraps to MIN: the interval's order breaks there.
  mayOverflow(andB(cmp(arith::CmpIPredicate::eq, d, index(-1)), isMin(x.lo)));
  Value positive = cmp(arith::CmpIPredicate::sgt, d, index(0));
  // By zero the quotient is 0 (attn-define-division).
  Value byZero = cmp(arith::CmpIPredicate::eq, d, index(0));
  return interval(select(byZero, index(0), select(positive, first, last)),
                  select(byZero, index(0), select(positive, last, first)));
}

Abstract TileClassEmitter::abstract(arith::RemSIOp op) {
  Abstract x = in(op, 0), y = in(op, 1);
  if (!bothBounded(x) || !y.lo || y.lo != y.hi)
    return anything(op.getType());
  Value d = y.lo;
  mayOverflow(isMin(d));
  Value magnitude = maxS(d, arith::SubIOp::create(b, loc, index(0), d));
  Value e = maxS(magnitude, index(1));
  Value firstPeriod = arith::FloorDivSIOp::create(b, loc, x.lo, e);
  Value lastPeriod = arith::FloorDivSIOp::create(b, loc, x.hi, e);
  Value nonNegative = cmp(arith::CmpIPredicate::sge, x.lo, index(0));
  Value exact =
      andB(nonNegative, cmp(arith::CmpIPredicate::eq, firstPeriod, lastPeriod));
  Value base = arith::MulIOp::create(b, loc, firstPeriod, e);
  Value eMinus1 = arith::SubIOp::create(b, loc, e, index(1));
  // The remainder takes the dividend's sign.
  Value generalLo = select(nonNegative, index(0),
                           arith::SubIOp::create(b, loc, index(0), eMinus1));
  Value generalHi =
      select(cmp(arith::CmpIPredicate::sle, x.hi, index(0)), index(0), eMinus1);
  // By zero the remainder is the dividend (attn-define-division).
  Value byZero = cmp(arith::CmpIPredicate::eq, d, index(0));
  return interval(
      select(
          byZero, x.lo,
          select(exact, arith::SubIOp::create(b, loc, x.lo, base), generalLo)),
      select(
          byZero, x.hi,
          select(exact, arith::SubIOp::create(b, loc, x.hi, base), generalHi)));
}

Abstract TileClassEmitter::minOrMax(Operation *op, bool isMin) {
  Abstract x = in(op, 0), y = in(op, 1);
  auto both = [&](Value a, Value c) -> Value {
    return a && c ? (isMin ? minS(a, c) : maxS(a, c)) : Value();
  };
  // min(x, +inf) = x; max(x, -inf) = x.
  auto either = [&](Value a, Value c) -> Value {
    if (!a)
      return c;
    if (!c)
      return a;
    return isMin ? minS(a, c) : maxS(a, c);
  };
  return isMin ? interval(both(x.lo, y.lo), either(x.hi, y.hi))
               : interval(either(x.lo, y.lo), both(x.hi, y.hi));
}

Abstract TileClassEmitter::abstract(math::AbsIOp op) {
  Abstract x = in(op, 0);
  if (!bothBounded(x))
    return interval(index(0), Value());
  Value negHi = arith::SubIOp::create(b, loc, index(0), x.hi);
  Value negLo = arith::SubIOp::create(b, loc, index(0), x.lo);
  mayOverflow(isMin(x.lo)); // |MIN| wraps to MIN
  Value lo = select(
      cmp(arith::CmpIPredicate::sge, x.lo, index(0)), x.lo,
      select(cmp(arith::CmpIPredicate::sle, x.hi, index(0)), negHi, index(0)));
  return interval(lo, maxS(negLo, x.hi));
}

/// andi, ori and xori of bools; of integers they may be anything.
Abstract TileClassEmitter::logic(Operation *op) {
  Type type = op->getResult(0).getType();
  if (!type.isInteger(1))
    return anything(type);
  Abstract x = in(op, 0), y = in(op, 1);
  if (isa<arith::AndIOp>(op))
    return boolean(andB(x.canTrue, y.canTrue), orB(x.canFalse, y.canFalse));
  if (isa<arith::OrIOp>(op))
    return boolean(orB(x.canTrue, y.canTrue), andB(x.canFalse, y.canFalse));
  return boolean(orB(andB(x.canTrue, y.canFalse), andB(x.canFalse, y.canTrue)),
                 orB(andB(x.canTrue, y.canTrue), andB(x.canFalse, y.canFalse)));
}

Abstract TileClassEmitter::abstract(arith::SelectOp op) {
  Type type = op.getType();
  Abstract c = in(op, 0), x = in(op, 1), y = in(op, 2);
  if (x.kind == Abstract::Kind::Bool)
    return boolean(
        orB(andB(c.canTrue, x.canTrue), andB(c.canFalse, y.canTrue)),
        orB(andB(c.canTrue, x.canFalse), andB(c.canFalse, y.canFalse)));
  if (x.kind != Abstract::Kind::Int)
    return anything(type);
  // Either branch may be taken: the hull of what may be taken.
  auto pick = [&](Value a, Value d, bool isLo) -> Value {
    if (!a || !d)
      return Value();
    Value hull = isLo ? minS(a, d) : maxS(a, d);
    return select(c.canTrue, select(c.canFalse, hull, a), d);
  };
  return interval(pick(x.lo, y.lo, true), pick(x.hi, y.hi, false));
}

Value TileClassEmitter::emit(Region &mask, ValueRange tile) {
  Block &block = mask.front();
  values[block.getArgument(0)] = point(tile[0]);
  values[block.getArgument(1)] = point(tile[1]);
  values[block.getArgument(2)] = interval(tile[2], tile[3]);
  values[block.getArgument(3)] = interval(tile[4], tile[5]);
  overflow = boolean(false);
  for (Operation &op : block.without_terminator()) {
    if (op.getNumResults() != 1)
      continue;
    Abstract a = abstractOp(op);
    if (a.kind == Abstract::Kind::Int)
      checkWidth(a, op.getResult(0).getType());
    values[op.getResult(0)] = a;
  }
  Abstract keep = get(cast<YieldOp>(block.getTerminator()).getValue());
  auto i8 = [&](TileClass c) {
    return arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(int8_t(c)));
  };
  Value cls =
      select(keep.canTrue,
             select(keep.canFalse, i8(TileClass::Partial), i8(TileClass::Full)),
             i8(TileClass::Empty));
  return select(overflow, i8(TileClass::Partial), cls);
}

namespace {
struct AttnAnalyzeBlocksPass
    : attn::impl::AttnAnalyzeBlocksBase<AttnAnalyzeBlocksPass> {
  void runOnOperation() override {
    getOperation()->walk([](FlashOp flash) {
      if (!flash.hasMask() || flash.hasTileClass())
        return;
      OpBuilder b(flash.getContext());
      Location loc = flash.getMask().getLoc();
      Block *block = createRegionBlock(b, loc, flash.getTileClass(),
                                       RegionRole::TileClass);
      b.setInsertionPointToStart(block);
      TileClassEmitter emitter(b, loc);
      Value cls = emitter.emit(flash.getMask(), block->getArguments());
      YieldOp::create(b, loc, cls);
    });
  }
};
} // namespace
