//===- Reference.cpp - float64 evaluation of a variant --------------------===//

#include "Reference/Reference.h"
#include "Reference/Interpreter.h"
#include "Support/Locations.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

using namespace mlir;
using namespace mlir::attn;
using namespace attnc;

int64_t RefArray::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

using namespace attnc::reference;

namespace {
int64_t wrapToWidth(int64_t v, Type type) {
  unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
  if (width == 1)
    return v & 1;
  if (width >= 64)
    return v;
  uint64_t u = static_cast<uint64_t>(v) << (64 - width);
  return static_cast<int64_t>(u) >> (64 - width);
}

double roundToType(double x, Type type) {
  auto floatType = dyn_cast<FloatType>(type);
  if (!floatType || floatType.isF64())
    return x;
  bool lostInfo;
  llvm::APFloat value(x);
  value.convert(floatType.getFloatSemantics(),
                llvm::APFloat::rmNearestTiesToEven, &lostInfo);
  value.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                &lostInfo);
  return value.convertToDouble();
}
} // namespace

bool Interpreter::bindArguments() {
  Block &body = variant.getBody().front();
  const RefArray *qkv[] = {&inputs.q, &inputs.k, &inputs.v};
  const char *names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    if (qkv[i]->shape.size() != 4 ||
        (qkvValues &&
         static_cast<int64_t>(qkv[i]->data.size()) != qkv[i]->numElements()))
      return fail(std::string("reference: ") + names[i] +
                  " must be a 4-D array with matching data");
    arrays[body.getArgument(i)] = qkv[i];
  }
  const RefArray &q = inputs.q, &k = inputs.k, &v = inputs.v;
  if (q.dim(0) != k.dim(0) || q.dim(0) != v.dim(0) || q.dim(3) != k.dim(3) ||
      k.dim(1) != v.dim(1) || k.dim(2) != v.dim(2) || k.dim(1) <= 0 ||
      q.dim(1) % k.dim(1) != 0)
    return fail("reference: q, k and v have inconsistent shapes");
  auto params = variant.getParams();
  if (params.size() != inputs.params.size())
    return fail("reference: the variant has " + std::to_string(params.size()) +
                " params; " + std::to_string(inputs.params.size()) +
                " were given");
  for (auto [i, arg] : llvm::enumerate(params)) {
    const RefArray &given = inputs.params[i];
    std::string name = variant.getArgumentName(arg.getArgNumber());
    paramNames[arg] = name;
    if (auto tensor = dyn_cast<RankedTensorType>(arg.getType())) {
      if (given.shape.size() != static_cast<size_t>(tensor.getRank()) ||
          static_cast<int64_t>(given.data.size()) != given.numElements())
        return fail("reference: param '" + name + "' must have rank " +
                    std::to_string(tensor.getRank()));
      arrays[arg] = &given;
    } else {
      if (given.data.size() != 1)
        return fail("reference: param '" + name + "' is a scalar");
      Scalar s;
      if (isa<FloatType>(arg.getType()))
        s.f = given.data[0];
      else
        s.i = wrapToWidth(static_cast<int64_t>(given.data[0]), arg.getType());
      scalars[arg] = s;
    }
  }
  return true;
}

Scalar Interpreter::lookup(Value v,
                           const llvm::DenseMap<Value, Scalar> &values) {
  auto it = values.find(v);
  if (it != values.end())
    return it->second;
  auto outer = scalars.find(v);
  if (outer != scalars.end())
    return outer->second;
  fail("reference: a value used by a region is not a scalar it knows");
  return {};
}

Scalar Interpreter::evalRegion(Region &region, ArrayRef<Scalar> args) {
  llvm::DenseMap<Value, Scalar> values;
  return evalRegion(region, args, values);
}

Scalar Interpreter::evalRegion(Region &region, ArrayRef<Scalar> args,
                               llvm::DenseMap<Value, Scalar> &values) {
  Block &block = region.front();
  for (auto [arg, value] : llvm::zip(block.getArguments(), args))
    values[arg] = value;
  for (Operation &op : block.without_terminator())
    if (!evalScalarOp(op, values))
      return {};
  return lookup(cast<YieldOp>(block.getTerminator()).getValue(), values);
}

namespace attnc::reference {
/// Evaluates one op of a region, `op`: the ops of dialect/ScalarOps.def in
/// float64 (floats) or wrapped two's complement (integers), and the param
/// reads. One eval() per op; a table op without one does not compile.
class ScalarEvaluator {
public:
  ScalarEvaluator(Interpreter &interp, Operation &op,
                  llvm::DenseMap<Value, Scalar> &values)
      : interp(interp), op(op), values(values) {}

  bool unsupported() {
    return interp.fail("reference: unsupported operation '" +
                       op.getName().getStringRef().str() + "' in a region");
  }

  bool eval(arith::ConstantOp c) {
    if (auto fa = dyn_cast<FloatAttr>(c.getValue()))
      return f(fa.getValueAsDouble());
    if (auto ia = dyn_cast<IntegerAttr>(c.getValue()))
      return i(ia.getValue().getSExtValue());
    return interp.fail("reference: unsupported constant");
  }
  bool eval(arith::SelectOp) { return set(in(0).i ? in(1) : in(2)); }

  // Integers, wrapping.
  bool eval(arith::AddIOp) { return i(u(n(0)) + u(n(1))); }
  bool eval(arith::SubIOp) { return i(u(n(0)) - u(n(1))); }
  bool eval(arith::MulIOp) { return i(u(n(0)) * u(n(1))); }
  bool eval(arith::DivSIOp) { return i(divide().quotient); }
  bool eval(arith::RemSIOp) { return i(divide().remainder); }
  bool eval(arith::FloorDivSIOp) { return i(roundedQuotient(/*up=*/false)); }
  bool eval(arith::CeilDivSIOp) { return i(roundedQuotient(/*up=*/true)); }
  bool eval(arith::AndIOp) { return i(n(0) & n(1)); }
  bool eval(arith::ShRSIOp) {
    // Shifts by the width or more are poison in arith: they yield 0 or -1
    // here (the sign), as the block analysis' range checks expect.
    int64_t shift = n(1);
    return i(shift < 0 || shift >= 64 ? (n(0) < 0 ? -1 : 0) : n(0) >> shift);
  }
  bool eval(arith::OrIOp) { return i(n(0) | n(1)); }
  bool eval(arith::XOrIOp) { return i(n(0) ^ n(1)); }
  bool eval(arith::MinSIOp) { return i(std::min(n(0), n(1))); }
  bool eval(arith::MaxSIOp) { return i(std::max(n(0), n(1))); }
  bool eval(math::AbsIOp) {
    int64_t a = n(0);
    return i(a < 0 ? static_cast<int64_t>(0 - u(a)) : a);
  }
  bool eval(arith::CmpIOp cmp) {
    int64_t a = n(0), b = n(1);
    switch (cmp.getPredicate()) {
    case arith::CmpIPredicate::eq:
      return i(a == b);
    case arith::CmpIPredicate::ne:
      return i(a != b);
    case arith::CmpIPredicate::slt:
      return i(a < b);
    case arith::CmpIPredicate::sle:
      return i(a <= b);
    case arith::CmpIPredicate::sgt:
      return i(a > b);
    case arith::CmpIPredicate::sge:
      return i(a >= b);
    case arith::CmpIPredicate::ult:
      return i(u(a) < u(b));
    case arith::CmpIPredicate::ule:
      return i(u(a) <= u(b));
    case arith::CmpIPredicate::ugt:
      return i(u(a) > u(b));
    case arith::CmpIPredicate::uge:
      return i(u(a) >= u(b));
    }
    return unsupported();
  }

  // Floats.
  bool eval(arith::AddFOp) { return f(x(0) + x(1)); }
  bool eval(arith::SubFOp) { return f(x(0) - x(1)); }
  bool eval(arith::MulFOp) { return f(x(0) * x(1)); }
  bool eval(arith::DivFOp) { return f(x(0) / x(1)); }
  bool eval(arith::RemFOp) { return f(std::fmod(x(0), x(1))); }
  bool eval(arith::NegFOp) { return f(-x(0)); }
  bool eval(arith::MinimumFOp) {
    return f(std::isnan(x(0)) || std::isnan(x(1)) ? NAN
                                                  : std::fmin(x(0), x(1)));
  }
  bool eval(arith::MaximumFOp) {
    return f(std::isnan(x(0)) || std::isnan(x(1)) ? NAN
                                                  : std::fmax(x(0), x(1)));
  }
  bool eval(arith::MinNumFOp) { return f(std::fmin(x(0), x(1))); }
  bool eval(arith::MaxNumFOp) { return f(std::fmax(x(0), x(1))); }
  bool eval(arith::CmpFOp cmp) {
    double a = x(0), b = x(1);
    bool unordered = std::isnan(a) || std::isnan(b);
    using P = arith::CmpFPredicate;
    switch (cmp.getPredicate()) {
    case P::AlwaysFalse:
      return i(0);
    case P::AlwaysTrue:
      return i(1);
    case P::OEQ:
      return i(!unordered && a == b);
    case P::ONE:
      return i(!unordered && a != b);
    case P::OLT:
      return i(!unordered && a < b);
    case P::OLE:
      return i(!unordered && a <= b);
    case P::OGT:
      return i(!unordered && a > b);
    case P::OGE:
      return i(!unordered && a >= b);
    case P::ORD:
      return i(!unordered);
    case P::UEQ:
      return i(unordered || a == b);
    case P::UNE:
      return i(unordered || a != b);
    case P::ULT:
      return i(unordered || a < b);
    case P::ULE:
      return i(unordered || a <= b);
    case P::UGT:
      return i(unordered || a > b);
    case P::UGE:
      return i(unordered || a >= b);
    case P::UNO:
      return i(unordered);
    }
    return unsupported();
  }
  bool eval(math::ExpOp) { return f(std::exp(x(0))); }
  bool eval(math::Exp2Op) { return f(std::exp2(x(0))); }
  bool eval(math::LogOp) { return f(std::log(x(0))); }
  bool eval(math::Log2Op) { return f(std::log2(x(0))); }
  bool eval(math::Log1pOp) { return f(std::log1p(x(0))); }
  bool eval(math::SqrtOp) { return f(std::sqrt(x(0))); }
  bool eval(math::RsqrtOp) { return f(1.0 / std::sqrt(x(0))); }
  bool eval(math::TanhOp) { return f(std::tanh(x(0))); }
  bool eval(math::SinOp) { return f(std::sin(x(0))); }
  bool eval(math::CosOp) { return f(std::cos(x(0))); }
  bool eval(math::ErfOp) { return f(std::erf(x(0))); }
  bool eval(math::FloorOp) { return f(std::floor(x(0))); }
  bool eval(math::CeilOp) { return f(std::ceil(x(0))); }
  bool eval(math::AbsFOp) { return f(std::fabs(x(0))); }
  bool eval(math::PowFOp) { return f(std::pow(x(0), x(1))); }
  bool eval(math::FmaOp) { return f(x(0) * x(1) + x(2)); }

  // Conversions.
  bool eval(arith::IndexCastOp) { return i(n(0)); }
  bool eval(arith::ExtSIOp) { return i(n(0)); }
  bool eval(arith::TruncIOp) { return i(n(0)); }
  bool eval(arith::IndexCastUIOp) { return i(zeroExtended()); }
  bool eval(arith::ExtUIOp) { return i(zeroExtended()); }
  bool eval(arith::SIToFPOp) { return f(roundToType(double(n(0)), to())); }
  bool eval(arith::UIToFPOp) {
    return f(roundToType(double(zeroExtended()), to()));
  }
  bool eval(arith::FPToSIOp) {
    double t = std::trunc(x(0));
    if (!(std::fabs(t) < 9.2e18))
      return interp.fail(
          "reference: a float converted to an integer is out of range");
    return i(static_cast<int64_t>(t));
  }
  bool eval(arith::ExtFOp) { return f(x(0)); }
  bool eval(arith::TruncFOp) { return f(roundToType(x(0), to())); }

  /// The table's ops that float64 does not evaluate (yet): reported like
  /// an op outside the table.
  template <typename OpTy>
  std::enable_if_t<
      llvm::is_one_of<OpTy, arith::DivUIOp, arith::RemUIOp, arith::ShLIOp,
                      arith::ShRUIOp, arith::MinUIOp, arith::MaxUIOp,
                      arith::FPToUIOp, math::ExpM1Op, math::RoundOp,
                      math::CopySignOp>::value,
      bool>
  eval(OpTy) {
    return unsupported();
  }

  bool eval(LoadRangeOp range);
  bool eval(LoadOp load);
  bool eval(BranchOp branch) {
    int64_t index = static_cast<int64_t>(branch.getIndex());
    if (index < 1 || size_t(index) > interp.currentBranches.size())
      return interp.fail("reference: attn.branch reads branch " +
                         std::to_string(index) + ", which the cascade lacks");
    const Interpreter::BranchResult &r = interp.currentBranches[index - 1];
    int64_t flat = interp.currentElement, row = flat / r.out->shape[3];
    switch (branch.getStat()) {
    case BranchStat::Out:
      return f(r.out->data[flat]);
    case BranchStat::Lse:
      return f(r.lse[row]);
    case BranchStat::RowSum:
      return f(r.rowSum[row]);
    }
    return unsupported();
  }

private:
  struct Division {
    int64_t quotient, remainder; // toward zero
  };

  Scalar in(unsigned i) { return interp.lookup(op.getOperand(i), values); }
  double x(unsigned i) { return in(i).f; }
  int64_t n(unsigned i) { return in(i).i; }
  static uint64_t u(int64_t v) { return static_cast<uint64_t>(v); }
  Type to() { return op.getResult(0).getType(); }

  bool set(Scalar s) {
    if (op.getNumResults() != 1)
      return unsupported();
    Type type = op.getResult(0).getType();
    if (type.isIntOrIndex())
      s.i = wrapToWidth(s.i, type);
    values[op.getResult(0)] = s;
    return true;
  }
  bool f(double v) {
    Scalar s;
    s.f = v;
    return set(s);
  }
  bool i(int64_t v) {
    Scalar s;
    s.i = v;
    return set(s);
  }

  /// The operands' quotient and remainder, wrapping (INT64_MIN / -1); by
  /// zero, 0 and the dividend.
  Division divide() {
    int64_t a = n(0), b = n(1);
    // Defined for a zero divisor (docs/language.md, attn-define-division):
    // quotient 0, remainder the dividend.
    if (b == 0)
      return Division{0, a};
    if (b == -1)
      return Division{static_cast<int64_t>(0 - u(a)), 0};
    return Division{a / b, a % b};
  }

  /// The quotient rounded toward -inf, or +inf when `up`; 0 by zero.
  int64_t roundedQuotient(bool up) {
    Division d = divide();
    int64_t b = n(1);
    if (b == 0 || d.remainder == 0 || ((d.remainder < 0) == (b < 0)) != up)
      return d.quotient;
    return up ? d.quotient + 1 : d.quotient - 1;
  }

  /// The integer operand read as unsigned at its width (index: 64 bits).
  int64_t zeroExtended() {
    Type from = op.getOperand(0).getType();
    unsigned width = from.isIndex() ? 64 : from.getIntOrFloatBitWidth();
    uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
    return static_cast<int64_t>(u(n(0)) & mask);
  }

  Interpreter &interp;
  Operation &op;
  llvm::DenseMap<Value, Scalar> &values;
};
} // namespace attnc::reference

bool ScalarEvaluator::eval(LoadRangeOp range) {
  const RefArray *array = interp.arrays.lookup(range.getParam());
  if (!array)
    return interp.fail("reference: attn.load_range of an unknown param");
  int64_t size = array->dim(0);
  int64_t lo = std::max<int64_t>(interp.lookup(range.getFirst(), values).i, 0);
  int64_t hi =
      std::min<int64_t>(interp.lookup(range.getLast(), values).i, size - 1);
  int64_t start = static_cast<int64_t>(array->data[std::min(lo, hi)]);
  Scalar mn, mx;
  mn.i = mx.i = start;
  for (int64_t i = lo; i <= hi; ++i) {
    mn.i = std::min<int64_t>(mn.i, static_cast<int64_t>(array->data[i]));
    mx.i = std::max<int64_t>(mx.i, static_cast<int64_t>(array->data[i]));
  }
  values[range.getMin()] = mn;
  values[range.getMax()] = mx;
  return true;
}

bool ScalarEvaluator::eval(LoadOp load) {
  auto it = interp.arrays.find(load.getParam());
  if (it == interp.arrays.end())
    return interp.fail("reference: attn.load of an unknown param");
  const RefArray &array = *it->second;
  int64_t flat = 0;
  for (auto [d, index] : llvm::enumerate(load.getIndices())) {
    int64_t idx = interp.lookup(index, values).i;
    if (idx < 0 || idx >= array.dim(d)) {
      std::string where = formatLocation(load.getLoc());
      return interp.fail(
          "reference: param '" + interp.paramNames.lookup(load.getParam()) +
          "' read out of bounds: index " + std::to_string(idx) +
          " in dimension " + std::to_string(d) + " of size " +
          std::to_string(array.dim(d)) + (where.empty() ? "" : " at " + where));
    }
    flat = flat * array.dim(d) + idx;
  }
  double v = array.data[flat];
  return isa<FloatType>(load.getType()) ? f(v) : i(static_cast<int64_t>(v));
}

bool Interpreter::evalScalarOp(Operation &op,
                               llvm::DenseMap<Value, Scalar> &values) {
  ScalarEvaluator evaluator(*this, op, values);
#define ATTN_SCALAR_OP(CLASS, CUDA)                                            \
  .Case([&](CLASS o) { return evaluator.eval(o); })
  return llvm::TypeSwitch<Operation *, bool>(&op)
#include "dialect/ScalarOps.def"
      .Case<LoadOp, LoadRangeOp, BranchOp>(
          [&](auto o) { return evaluator.eval(o); })
      .Default([&](Operation *) { return evaluator.unsupported(); });
}

TensorPtr Interpreter::score(Value qv, Value kv,
                             std::optional<APFloat> scaleAttr,
                             std::optional<ArrayRef<int64_t>> headPart) {
  const RefArray &q = *arrays.lookup(qv), &k = *arrays.lookup(kv);
  int64_t B = q.dim(0), H = q.dim(1), N = q.dim(2), D = q.dim(3);
  int64_t Hkv = k.dim(1), M = k.dim(2), group = H / Hkv;
  // A branch's part of the head dimension: [first, first + width).
  int64_t width = headPart ? D / (*headPart)[1] : D;
  int64_t first = headPart ? (*headPart)[0] * width : 0;
  double scale = scaleAttr ? scaleAttr->convertToDouble()
                           : 1.0 / std::sqrt(static_cast<double>(width));
  auto s = std::make_shared<Tensor>();
  s->shape = {B, H, N, M};
  s->data.resize(B * H * N * M);
  s->keep.assign(s->data.size(), 1);
  if (!inputs.keyLengths.empty())
    for (int64_t b = 0; b < B; ++b)
      for (int64_t r = 0; r < H * N; ++r)
        for (int64_t j = std::max<int64_t>(inputs.keyLengths[b], 0); j < M; ++j)
          s->keep[(b * H * N + r) * M + j] = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < M; ++j) {
          const double *qr = &q.data[((b * H + h) * N + i) * D];
          const double *kr = &k.data[((b * Hkv + h / group) * M + j) * D];
          double dot = 0;
          for (int64_t d = first; d < first + width; ++d)
            dot += qr[d] * kr[d];
          s->data[((b * H + h) * N + i) * M + j] = scale * dot;
        }
  return s;
}

/// Calls `fn(flat, b, h, i, j)` for every element of a [B, H, N, M] tensor.
template <typename Fn> static void forEach(const Tensor &t, Fn fn) {
  int64_t B = t.shape[0], H = t.shape[1], N = t.shape[2], M = t.shape[3];
  int64_t flat = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < M; ++j, ++flat)
          fn(flat, b, h, i, j);
}

void Interpreter::applyScoreMod(Tensor &s, Region &region) {
  forEach(s, [&](int64_t flat, int64_t b, int64_t h, int64_t i, int64_t j) {
    Scalar args[5];
    args[0].f = s.data[flat];
    args[1].i = b + inputs.batchOffset, args[2].i = h, args[3].i = i,
    args[4].i = j;
    s.data[flat] = evalRegion(region, args).f;
  });
}

void Interpreter::applyMask(Tensor &s, Region &region) {
  forEach(s, [&](int64_t flat, int64_t b, int64_t h, int64_t i, int64_t j) {
    Scalar args[4];
    args[0].i = b + inputs.batchOffset, args[1].i = h, args[2].i = i,
    args[3].i = j;
    if (s.keep[flat] && !evalRegion(region, args).i)
      s.keep[flat] = 0;
  });
}

double Interpreter::sinkOf(Region &sink, int64_t b, int64_t h) {
  if (sink.empty())
    return -std::numeric_limits<double>::infinity();
  Scalar args[2];
  args[0].i = b + inputs.batchOffset, args[1].i = h;
  return evalRegion(sink, args).f;
}

TensorPtr Interpreter::normalize(const Tensor &s, NormalizerKind kind,
                                 std::optional<APFloat> biasAttr,
                                 std::optional<APFloat> temperatureAttr,
                                 Region &sink) {
  double bias = biasAttr ? biasAttr->convertToDouble() : 0.0;
  double temperature =
      temperatureAttr ? temperatureAttr->convertToDouble() : 1.0;
  const double negInf = -std::numeric_limits<double>::infinity();
  int64_t rows = s.shape[0] * s.shape[1] * s.shape[2], M = s.shape[3];
  int64_t N = s.shape[2], H = s.shape[1];
  auto p = std::make_shared<Tensor>();
  p->shape = s.shape;
  p->data.assign(s.data.size(), 0.0);
  outputs.keptPairs = std::count(s.keep.begin(), s.keep.end(), 1);
  rowLse.assign(rows, negInf);
  rowSum.assign(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double *row = &s.data[r * M];
    const char *keep = &s.keep[r * M];
    double *out = &p->data[r * M];
    auto t = [&](int64_t j) { return row[j] / temperature + bias; };
    if (kind == NormalizerKind::Softmax) {
      // The sink joins the sum as one more logit that weighs no value.
      double sinkLogit = sinkOf(sink, r / (N * H), r / N % H);
      double m = sinkLogit;
      for (int64_t j = 0; j < M; ++j)
        if (keep[j])
          m = std::isnan(t(j)) ? t(j) : std::max(m, t(j)); // NaN sticks
      if (std::isinf(m) && m < 0)
        continue; // no kept key (or all -inf), no sink: zeros, lse -inf
      // With a +inf logit, the limit: the +inf logits share the row.
      auto weight = [&](double x) {
        return std::isinf(m) ? double(x == m) : std::exp(x - m);
      };
      double l = weight(sinkLogit);
      for (int64_t j = 0; j < M; ++j)
        if (keep[j])
          l += weight(t(j));
      for (int64_t j = 0; j < M; ++j)
        if (keep[j])
          rowSum[r] += out[j] = weight(t(j)) / l;
      rowLse[r] = m + std::log(l);
      continue;
    }
    for (int64_t j = 0; j < M; ++j) {
      if (!keep[j])
        continue;
      double x = t(j);
      out[j] = kind == NormalizerKind::Sigmoid ? 1.0 / (1.0 + std::exp(-x))
               : kind == NormalizerKind::Relu  ? std::max(x, 0.0)
                                               : x;
      rowSum[r] += out[j];
    }
  }
  return p;
}

TensorPtr Interpreter::lseTensor(const Tensor &s) const {
  auto lse = std::make_shared<Tensor>();
  lse->shape = {s.shape[0], s.shape[1], s.shape[2]};
  lse->data = rowLse;
  return lse;
}

TensorPtr Interpreter::aggregate(const Tensor &p, Value vv) {
  const RefArray &v = *arrays.lookup(vv);
  int64_t B = p.shape[0], H = p.shape[1], N = p.shape[2], M = p.shape[3];
  int64_t Hkv = v.dim(1), Dv = v.dim(3), group = H / Hkv;
  auto o = std::make_shared<Tensor>();
  o->shape = {B, H, N, Dv};
  o->data.assign(B * H * N * Dv, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i) {
        double *orow = &o->data[((b * H + h) * N + i) * Dv];
        for (int64_t j = 0; j < M; ++j) {
          double w = p.data[((b * H + h) * N + i) * M + j];
          if (w == 0)
            continue;
          const double *vr = &v.data[((b * Hkv + h / group) * M + j) * Dv];
          for (int64_t d = 0; d < Dv; ++d)
            orow[d] += w * vr[d];
        }
      }
  return o;
}

void Interpreter::applyScoreSteps(FlashOp flash, Tensor &s) {
  if (flash.hasScoreMod())
    applyScoreMod(s, flash.getScoreMod());
  if (flash.hasMask())
    applyMask(s, flash.getMask());
  if (flash.hasSelection())
    applySelection(s, flash.getSelectionAttr(), flash.getQuery(),
                   flash.getKey());
}

void Interpreter::applyOutputMod(Tensor &o, Region &region,
                                 ArrayRef<BranchResult> branches) {
  currentBranches = branches;
  forEach(o, [&](int64_t flat, int64_t b, int64_t h, int64_t i, int64_t d) {
    currentElement = flat;
    Scalar args[7];
    args[0].f = o.data[flat];
    args[1].i = b + inputs.batchOffset, args[2].i = h, args[3].i = i,
    args[4].i = d;
    int64_t row = flat / o.shape[3];
    args[5].f = rowLse[row], args[6].f = rowSum[row];
    o.data[flat] = evalRegion(region, args).f;
  });
}

bool Interpreter::execute(Operation &op) {
  if (auto s = dyn_cast<ScoreOp>(op)) {
    tensors[s.getScores()] =
        score(s.getQuery(), s.getKey(), s.getScale(), s.getHeadPart());
  } else if (auto mod = dyn_cast<ScoreModOp>(op)) {
    auto t = std::make_shared<Tensor>(*tensors.lookup(mod.getScores()));
    applyScoreMod(*t, mod.getBody());
    tensors[mod.getResult()] = t;
  } else if (auto mask = dyn_cast<MaskOp>(op)) {
    auto t = std::make_shared<Tensor>(*tensors.lookup(mask.getScores()));
    applyMask(*t, mask.getBody());
    tensors[mask.getResult()] = t;
  } else if (auto select = dyn_cast<SelectOp>(op)) {
    auto t = std::make_shared<Tensor>(*tensors.lookup(select.getScores()));
    applySelection(*t, select.getSelection(), select.getQuery(),
                   select.getKey());
    tensors[select.getResult()] = t;
  } else if (auto norm = dyn_cast<NormalizeOp>(op)) {
    const Tensor &s = *tensors.lookup(norm.getScores());
    tensors[norm.getProbs()] = normalize(s, norm.getKind(), norm.getBias(),
                                         norm.getTemperature(), norm.getSink());
    if (norm.getLse())
      tensors[norm.getLse()] = lseTensor(s);
  } else if (auto agg = dyn_cast<AggregateOp>(op)) {
    TensorPtr o = aggregate(*tensors.lookup(agg.getProbs()), agg.getValue());
    tensors[agg.getOut()] = o;
    // The statistics are the last normalize's: that of the weights.
    branchResults[agg.getOut()] = BranchResult{o, rowLse, rowSum};
  } else if (auto mod = dyn_cast<OutputModOp>(op)) {
    auto t = std::make_shared<Tensor>(*tensors.lookup(mod.getInput()));
    SmallVector<BranchResult> branches;
    for (Value branch : mod.getBranches())
      branches.push_back(branchResults.lookup(branch));
    // Branch 0's statistics, where a later branch's normalize overwrote them.
    if (!branches.empty()) {
      rowLse = branchResults.lookup(mod.getInput()).lse;
      rowSum = branchResults.lookup(mod.getInput()).rowSum;
    }
    applyOutputMod(*t, mod.getBody(), branches);
    tensors[mod.getResult()] = t;
  } else if (auto flash = dyn_cast<FlashOp>(op)) {
    // Branches K-1 down to 0, each over its part of the head dimension, so
    // that branch 0's statistics are the ones output_mod's arguments take.
    int64_t count = flash.getBranchCount();
    SmallVector<BranchResult> results(count);
    TensorPtr s;
    for (int64_t branch = count - 1; branch >= 0; --branch) {
      SmallVector<int64_t> part = {branch, count};
      s = score(flash.getQuery(), flash.getKey(), flash.getScale(),
                count > 1 ? std::optional<ArrayRef<int64_t>>(part)
                          : std::nullopt);
      applyScoreSteps(flash, *s);
      TensorPtr p = normalize(*s, flash.getNormalizer(), flash.getBias(),
                              flash.getTemperature(), flash.getSink());
      results[branch] =
          BranchResult{aggregate(*p, flash.getValue()), rowLse, rowSum};
    }
    TensorPtr o = results[0].out;
    if (flash.hasOutputMod())
      applyOutputMod(*o, flash.getOutputMod(), ArrayRef(results).drop_front());
    tensors[flash.getOut()] = o;
    if (flash.returnsLse())
      tensors[flash.getLse()] = lseTensor(*s);
  } else if (auto ret = dyn_cast<ReturnOp>(op)) {
    auto copy = [&](Value v, RefArray &out) {
      TensorPtr t = tensors.lookup(v);
      if (!t)
        return fail("reference: the variant returns a value it cannot compute");
      out.shape = t->shape;
      out.data = t->data;
      return true;
    };
    if (!copy(ret.getOperand(0), outputs.out))
      return false;
    if (ret.getNumOperands() == 2 && !copy(ret.getOperand(1), outputs.lse))
      return false;
  } else if (op.getNumRegions() == 0 && op.getNumResults() == 1 &&
             op.getResult(0).getType().isIntOrIndexOrFloat()) {
    // Constants hoisted out of the regions.
    llvm::DenseMap<Value, Scalar> values;
    if (!evalScalarOp(op, values))
      return false;
    scalars[op.getResult(0)] = values[op.getResult(0)];
  } else {
    return fail("reference: unsupported operation '" +
                op.getName().getStringRef().str() + "' in the variant");
  }
  return error.empty();
}

llvm::Expected<RefOutputs> Interpreter::run() {
  if (bindArguments())
    for (Operation &op : variant.getBody().front())
      if (!execute(op))
        break;
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  return std::move(outputs);
}

llvm::Expected<int64_t> Interpreter::countKept() {
  if (!bindArguments())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  Block &body = variant.getBody().front();
  SmallVector<Region *> masks;
  for (Operation &op : body) {
    if (auto mask = dyn_cast<MaskOp>(op))
      masks.push_back(&mask.getBody());
    else if (auto flash = dyn_cast<FlashOp>(op); flash && flash.hasMask())
      masks.push_back(&flash.getMask());
    else if (op.getNumRegions() == 0 && op.getNumResults() == 1 &&
             op.getResult(0).getType().isIntOrIndexOrFloat() && !execute(op))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  }
  int64_t B = inputs.q.dim(0), H = inputs.q.dim(1), N = inputs.q.dim(2),
          M = inputs.k.dim(2);
  // A mask that ignores b (or h) keeps the same pairs in every batch (head).
  bool readsBatch = false, readsHead = false;
  for (Region *mask : masks) {
    readsBatch |= !mask->getArgument(0).use_empty();
    readsHead |= !mask->getArgument(1).use_empty();
  }
  // Sequences of their own lengths differ per batch too.
  readsBatch |= !inputs.keyLengths.empty();
  int64_t batches = readsBatch ? B : 1, heads = readsHead ? H : 1;
  int64_t kept = 0;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < (inputs.keyLengths.empty()
                                     ? M
                                     : std::min(M, inputs.keyLengths[b]));
             ++j) {
          Scalar args[4];
          args[0].i = b + inputs.batchOffset, args[1].i = h, args[2].i = i,
          args[3].i = j;
          bool keep = true;
          for (Region *mask : masks)
            keep = keep && evalRegion(*mask, args).i;
          kept += keep;
        }
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  return kept * (B / batches) * (H / heads);
}

bool Interpreter::bindBodyScalars() {
  if (boundScalars)
    return error.empty();
  if (!bindArguments())
    return false;
  for (Operation &op : variant.getBody().front())
    if (op.getNumRegions() == 0 && op.getNumResults() == 1 &&
        op.getResult(0).getType().isIntOrIndexOrFloat() && !execute(op))
      return false;
  boundScalars = true;
  return true;
}

llvm::Expected<int64_t> Interpreter::evalIntRegion(Region &region,
                                                   ArrayRef<int64_t> args) {
  // The params and the body's scalars are bound on the first call only.
  if (!bindBodyScalars())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  SmallVector<Scalar> scalarArgs(args.size());
  for (auto [i, a] : llvm::enumerate(args))
    scalarArgs[i].i = a;
  int64_t result = evalRegion(region, scalarArgs).i;
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  return result;
}

struct IntRegionEvaluator::Impl {
  Interpreter interpreter;
};

IntRegionEvaluator::IntRegionEvaluator(VariantOp variant,
                                       const RefInputs &inputs)
    : impl(new Impl{Interpreter(variant, inputs, /*qkvValues=*/false)}) {}

IntRegionEvaluator::~IntRegionEvaluator() = default;

llvm::Expected<int64_t> IntRegionEvaluator::evaluate(Region &region,
                                                     ArrayRef<int64_t> args) {
  return impl->interpreter.evalIntRegion(region, args);
}

llvm::Expected<int64_t> attnc::evaluateIntRegion(VariantOp variant,
                                                 const RefInputs &inputs,
                                                 Region &region,
                                                 ArrayRef<int64_t> args) {
  return IntRegionEvaluator(variant, inputs).evaluate(region, args);
}

llvm::Expected<int64_t> attnc::countKeptPairs(VariantOp variant,
                                              const RefInputs &inputs) {
  Interpreter interpreter(variant, inputs, /*qkvValues=*/false);
  return interpreter.countKept();
}

llvm::Expected<RefOutputs> attnc::evaluateReference(VariantOp variant,
                                                    const RefInputs &inputs) {
  Interpreter interpreter(variant, inputs);
  return interpreter.run();
}
