//===- AttnToCUDA.cpp - fused variants to CUDA C++ ------------------------===//
//
// An emitter in the manner of MLIR's C++ translation: each region of
// attn.flash (score_mod, mask, output_mod, tile_class) becomes a device
// function, one C++ statement per op, over the scalar types the regions use
// (f32, bf16/f16 held as float, i1, i8, i32, i64, and index as 32-bit int:
// sizes on the GPU stay below 2^31). The variant struct and the Config
// parameterise FlashForward from the tile templates; the forward kernel and,
// for classifiers that read params, the block-map kernel are extern "C".
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCUDA/AttnToCUDA.h"

#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"
#include "Transforms/GPUSchedule.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

StringRef mlir::attn::getCUDARuntimeHeaderName() {
  return "attnc/flash_fwd.cuh";
}

namespace {

/// A float as a C++ literal of type float.
std::string floatLiteral(double v) {
  if (std::isnan(v))
    return "__int_as_float(0x7fc00000)";
  if (std::isinf(v))
    return v < 0 ? "attnc_cuda::neg_inf()" : "(-attnc_cuda::neg_inf())";
  std::string s;
  llvm::raw_string_ostream(s) << llvm::format("%.9g", v);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s + "f";
}

/// Emits the body of one region as C++ statements.
class RegionEmitter {
public:
  RegionEmitter(raw_ostream &os, Block &variantBody)
      : os(os), variantBody(variantBody) {}

  /// `static __device__ RESULT NAME(LEADING ARGS, const Params &P, int
  /// &status)`: the ops of `region` that `member` accepts (all without one),
  /// with the values in `given` spelled as it says; an empty region gives a
  /// body that returns `identity`.
  LogicalResult emitFunction(Region &region, RegionRole role, StringRef name,
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
  FailureOr<std::string> cType(Location loc, Type type);
  FailureOr<std::string> operand(Operation *user, Value value);
  LogicalResult emitOp(Operation &op);
  LogicalResult assign(Operation &op, const Twine &expr);
  FailureOr<int64_t> paramSlot(Operation *user, Value param);
  FailureOr<std::string> elemStruct(Location loc, Type type);

  raw_ostream &os;
  Block &variantBody;
  DenseMap<Value, std::string> names;
  int counter = 0;
};

FailureOr<std::string> RegionEmitter::cType(Location loc, Type type) {
  if (type.isF32() || type.isF16() || type.isBF16())
    return std::string("float");
  if (type.isIndex() || type.isInteger(32) || type.isInteger(8) ||
      type.isInteger(16))
    return std::string("int");
  if (type.isInteger(64))
    return std::string("long long");
  if (type.isInteger(1))
    return std::string("bool");
  return emitError(loc) << "the CUDA backend does not support values of type "
                        << type;
}

FailureOr<std::string> RegionEmitter::elemStruct(Location loc, Type type) {
  if (type.isF32()) return std::string("attnc_cuda::ElemF32");
  if (type.isBF16()) return std::string("attnc_cuda::ElemBF16");
  if (type.isF16()) return std::string("attnc_cuda::ElemF16");
  if (type.isInteger(32)) return std::string("attnc_cuda::ElemI32");
  if (type.isInteger(64)) return std::string("attnc_cuda::ElemI64");
  if (type.isInteger(1)) return std::string("attnc_cuda::ElemBool");
  return emitError(loc) << "the CUDA backend cannot read params of type " << type;
}

/// Params are the variant's block arguments after q, k and v.
FailureOr<int64_t> RegionEmitter::paramSlot(Operation *user, Value param) {
  auto arg = dyn_cast<BlockArgument>(param);
  if (!arg || arg.getOwner() != &variantBody || arg.getArgNumber() < 3)
    return user->emitError("the CUDA backend reads only the variant's params "
                           "here");
  return int64_t(arg.getArgNumber() - 3);
}

FailureOr<std::string> RegionEmitter::operand(Operation *user, Value value) {
  if (auto it = names.find(value); it != names.end())
    return it->second;
  // Values from above the region: hoisted constants and scalar params.
  if (auto constant = value.getDefiningOp<arith::ConstantOp>()) {
    Attribute attr = constant.getValue();
    if (auto f = dyn_cast<FloatAttr>(attr))
      return floatLiteral(f.getValueAsDouble());
    if (auto i = dyn_cast<IntegerAttr>(attr)) {
      if (i.getType().isInteger(1))
        return std::string(i.getValue().isZero() ? "false" : "true");
      int64_t v = i.getValue().getSExtValue();
      if (i.getType().isInteger(64))
        return "(" + std::to_string(v) + "LL)";
      if (v < INT32_MIN || v > INT32_MAX)
        return user->emitError("the CUDA backend keeps index values in 32 bits; "
                               "the constant ")
               << v << " does not fit";
      return "(" + std::to_string(v) + ")";
    }
    return user->emitError("unsupported constant ") << attr;
  }
  if (auto arg = dyn_cast<BlockArgument>(value);
      arg && arg.getOwner() == &variantBody && arg.getArgNumber() >= 3) {
    int64_t slot = arg.getArgNumber() - 3;
    Type type = arg.getType();
    std::string field = "P.s[" + std::to_string(slot) + "]";
    if (type.isF32() || type.isF16() || type.isBF16())
      return "float(" + field + ".f)";
    if (type.isInteger(1))
      return "(" + field + ".i != 0)";
    if (type.isInteger(64))
      return "(long long)(" + field + ".i)";
    if (type.isIntOrIndex())
      return "int(" + field + ".i)";
    return user->emitError("the CUDA backend cannot pass param of type ") << type;
  }
  return user->emitError("the CUDA backend cannot use a value defined outside "
                         "the region unless it is a constant or a param");
}

LogicalResult RegionEmitter::assign(Operation &op, const Twine &expr) {
  Value result = op.getResult(0);
  FailureOr<std::string> type = cType(op.getLoc(), result.getType());
  if (failed(type))
    return failure();
  std::string name = "v" + std::to_string(counter++);
  os << "    " << *type << " " << name << " = " << expr << ";\n";
  names[result] = name;
  return success();
}

/// The C++ spelling of an integer comparison.
static std::string compareInts(arith::CmpIPredicate pred, StringRef a,
                               StringRef b, StringRef unsignedType) {
  auto u = [&](StringRef x) { return ("(" + unsignedType + ")(" + x + ")").str(); };
  switch (pred) {
  case arith::CmpIPredicate::eq: return (a + " == " + b).str();
  case arith::CmpIPredicate::ne: return (a + " != " + b).str();
  case arith::CmpIPredicate::slt: return (a + " < " + b).str();
  case arith::CmpIPredicate::sle: return (a + " <= " + b).str();
  case arith::CmpIPredicate::sgt: return (a + " > " + b).str();
  case arith::CmpIPredicate::sge: return (a + " >= " + b).str();
  case arith::CmpIPredicate::ult: return u(a) + " < " + u(b);
  case arith::CmpIPredicate::ule: return u(a) + " <= " + u(b);
  case arith::CmpIPredicate::ugt: return u(a) + " > " + u(b);
  case arith::CmpIPredicate::uge: return u(a) + " >= " + u(b);
  }
  return "false";
}

/// The C++ spelling of a float comparison (C's <, >, == are ordered; != is
/// unordered).
static std::string compareFloats(arith::CmpFPredicate pred, StringRef a,
                                 StringRef b) {
  std::string A = a.str(), B = b.str();
  switch (pred) {
  case arith::CmpFPredicate::AlwaysFalse: return "false";
  case arith::CmpFPredicate::AlwaysTrue: return "true";
  case arith::CmpFPredicate::OEQ: return A + " == " + B;
  case arith::CmpFPredicate::OGT: return A + " > " + B;
  case arith::CmpFPredicate::OGE: return A + " >= " + B;
  case arith::CmpFPredicate::OLT: return A + " < " + B;
  case arith::CmpFPredicate::OLE: return A + " <= " + B;
  case arith::CmpFPredicate::ONE: return "(" + A + " < " + B + " || " + A + " > " + B + ")";
  case arith::CmpFPredicate::ORD: return "(" + A + " == " + A + " && " + B + " == " + B + ")";
  case arith::CmpFPredicate::UEQ: return "!(" + A + " < " + B + " || " + A + " > " + B + ")";
  case arith::CmpFPredicate::UGT: return "!(" + A + " <= " + B + ")";
  case arith::CmpFPredicate::UGE: return "!(" + A + " < " + B + ")";
  case arith::CmpFPredicate::ULT: return "!(" + A + " >= " + B + ")";
  case arith::CmpFPredicate::ULE: return "!(" + A + " > " + B + ")";
  case arith::CmpFPredicate::UNE: return A + " != " + B;
  case arith::CmpFPredicate::UNO: return "(" + A + " != " + A + " || " + B + " != " + B + ")";
  }
  return "false";
}

LogicalResult RegionEmitter::emitOp(Operation &op) {
  SmallVector<std::string> in;
  for (Value v : op.getOperands()) {
    // Tensor params are named by their slot, not as values.
    if (isa<TensorType>(v.getType())) {
      in.push_back("");
      continue;
    }
    FailureOr<std::string> name = operand(&op, v);
    if (failed(name))
      return failure();
    in.push_back(*name);
  }
  auto binary = [&](StringRef sym) {
    return assign(op, "(" + in[0] + " " + sym + " " + in[1] + ")");
  };
  auto call = [&](StringRef fn) {
    std::string args;
    for (auto [i, a] : llvm::enumerate(in))
      args += (i ? ", " : "") + a;
    return assign(op, fn + "(" + args + ")");
  };
  auto unsignedOf = [&](Type t) -> std::string {
    return t.isInteger(64) ? "unsigned long long" : "unsigned";
  };
  // Operand i reinterpreted as unsigned, for the ...ui ops.
  auto asUnsigned = [&](unsigned i) {
    return "(" + unsignedOf(op.getOperand(i).getType()) + ")(" + in[i] + ")";
  };
  // `expr` (default: the first operand) converted to the C type of `to`.
  auto cast = [&](Type to, std::optional<std::string> expr = {}) -> LogicalResult {
    FailureOr<std::string> type = cType(op.getLoc(), to);
    if (failed(type))
      return failure();
    return assign(op, "(" + *type + ")(" + expr.value_or(in[0]) + ")");
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](arith::ConstantOp c) {
        FailureOr<std::string> v = operand(&op, c.getResult());
        return failed(v) ? failure() : assign(op, *v);
      })
      .Case([&](arith::AddIOp) { return binary("+"); })
      .Case([&](arith::SubIOp) { return binary("-"); })
      .Case([&](arith::MulIOp) { return binary("*"); })
      .Case([&](arith::DivSIOp) { return binary("/"); })
      .Case([&](arith::RemSIOp) { return binary("%"); })
      .Case([&](arith::FloorDivSIOp) { return call("attnc_cuda::floordiv"); })
      .Case([&](arith::CeilDivSIOp) { return call("attnc_cuda::ceildiv"); })
      .Case([&](arith::DivUIOp) {
        return assign(op, asUnsigned(0) + " / " + asUnsigned(1));
      })
      .Case([&](arith::RemUIOp) {
        return assign(op, asUnsigned(0) + " % " + asUnsigned(1));
      })
      .Case([&](arith::AndIOp) { return binary("&"); })
      .Case([&](arith::OrIOp) { return binary("|"); })
      .Case([&](arith::XOrIOp) { return binary("^"); })
      .Case([&](arith::ShLIOp) { return binary("<<"); })
      .Case([&](arith::ShRSIOp) { return binary(">>"); })
      .Case([&](arith::ShRUIOp) {
        return assign(op, asUnsigned(0) + " >> " + in[1]);
      })
      .Case([&](arith::MinSIOp) { return call("min"); })
      .Case([&](arith::MaxSIOp) { return call("max"); })
      .Case([&](arith::MinUIOp) {
        return assign(op, "min(" + asUnsigned(0) + ", " + asUnsigned(1) + ")");
      })
      .Case([&](arith::MaxUIOp) {
        return assign(op, "max(" + asUnsigned(0) + ", " + asUnsigned(1) + ")");
      })
      .Case([&](arith::CmpIOp c) {
        return assign(op, compareInts(c.getPredicate(), in[0], in[1],
                                      unsignedOf(c.getLhs().getType())));
      })
      .Case([&](arith::CmpFOp c) {
        return assign(op, compareFloats(c.getPredicate(), in[0], in[1]));
      })
      .Case([&](arith::AddFOp) { return binary("+"); })
      .Case([&](arith::SubFOp) { return binary("-"); })
      .Case([&](arith::MulFOp) { return binary("*"); })
      // Division, exp and log as the hardware approximates them (2 ulp and
      // better; FlexAttention's Triton kernels do the same): an IEEE
      // division per score is a subroutine with a slow path, and ptxas'
      // time grows with every inlined copy.
      .Case([&](arith::DivFOp) { return call("attnc_cuda::fdiv"); })
      .Case([&](arith::RemFOp) { return call("fmodf"); })
      .Case([&](arith::NegFOp) { return assign(op, "(-" + in[0] + ")"); })
      .Case([&](arith::MaximumFOp) { return call("fmaxf"); })
      .Case([&](arith::MinimumFOp) { return call("fminf"); })
      .Case([&](arith::MaxNumFOp) { return call("fmaxf"); })
      .Case([&](arith::MinNumFOp) { return call("fminf"); })
      .Case([&](arith::SelectOp) {
        return assign(op, "(" + in[0] + " ? " + in[1] + " : " + in[2] + ")");
      })
      .Case([&](arith::IndexCastOp o) { return cast(o.getType()); })
      .Case([&](arith::IndexCastUIOp o) { return cast(o.getType(), asUnsigned(0)); })
      .Case([&](arith::SIToFPOp o) { return cast(o.getType()); })
      .Case([&](arith::UIToFPOp) { return assign(op, "(float)" + asUnsigned(0)); })
      .Case([&](arith::FPToSIOp o) { return cast(o.getType()); })
      .Case([&](arith::FPToUIOp o) {
        return cast(o.getType(), "(" + unsignedOf(o.getType()) + ")(" + in[0] + ")");
      })
      .Case([&](arith::ExtFOp) { return assign(op, in[0]); })
      .Case([&](arith::TruncFOp o) {
        if (o.getType().isBF16())
          return assign(op, "attnc_cuda::round_bf16(" + in[0] + ")");
        if (o.getType().isF16())
          return assign(op, "attnc_cuda::round_f16(" + in[0] + ")");
        return assign(op, in[0]);
      })
      .Case([&](arith::ExtSIOp o) { return cast(o.getType()); })
      .Case([&](arith::ExtUIOp o) {
        if (o.getIn().getType().isInteger(1))
          return cast(o.getType());
        return cast(o.getType(), asUnsigned(0));
      })
      .Case([&](arith::TruncIOp o) {
        if (o.getType().isInteger(1))
          return assign(op, "((" + in[0] + " & 1) != 0)");
        return cast(o.getType());
      })
      .Case([&](math::ExpOp) { return call("__expf"); })
      .Case([&](math::Exp2Op) { return call("exp2f"); })
      .Case([&](math::ExpM1Op) { return call("expm1f"); })
      .Case([&](math::LogOp) { return call("__logf"); })
      .Case([&](math::Log2Op) { return call("__log2f"); })
      .Case([&](math::Log1pOp) { return call("log1pf"); })
      // tanh.approx (one MUFU op, |error| < 2^-10.7 relative): softcaps
      // evaluate it on every score.
      .Case([&](math::TanhOp) { return call("attnc_cuda::tanh_approx"); })
      .Case([&](math::SqrtOp) { return call("sqrtf"); })
      .Case([&](math::RsqrtOp) { return call("rsqrtf"); })
      .Case([&](math::AbsFOp) { return call("fabsf"); })
      .Case([&](math::AbsIOp o) {
        return call(o.getType().isInteger(64) ? "llabs" : "abs");
      })
      .Case([&](math::SinOp) { return call("sinf"); })
      .Case([&](math::CosOp) { return call("cosf"); })
      .Case([&](math::ErfOp) { return call("erff"); })
      .Case([&](math::PowFOp) { return call("powf"); })
      .Case([&](math::FloorOp) { return call("floorf"); })
      .Case([&](math::CeilOp) { return call("ceilf"); })
      .Case([&](math::RoundOp) { return call("roundf"); })
      .Case([&](math::FmaOp) { return call("fmaf"); })
      .Case([&](math::CopySignOp) { return call("copysignf"); })
      .Case([&](LoadOp load) -> LogicalResult {
        FailureOr<int64_t> slot = paramSlot(&op, load.getParam());
        FailureOr<std::string> elem = elemStruct(
            op.getLoc(), llvm::cast<TensorType>(load.getParam().getType()).getElementType());
        if (failed(slot) || failed(elem))
          return failure();
        std::string expr = "attnc_cuda::load_param<" + *elem + ">(P.s[" +
                           std::to_string(*slot) + "], " +
                           std::to_string(*slot + 1) + ", status";
        for (size_t i = 1; i < in.size(); ++i)
          expr += ", " + in[i];
        return assign(op, expr + ")");
      })
      .Case([&](LoadRangeOp range) -> LogicalResult {
        FailureOr<int64_t> slot = paramSlot(&op, range.getParam());
        Type elemType = llvm::cast<TensorType>(range.getParam().getType()).getElementType();
        FailureOr<std::string> elem = elemStruct(op.getLoc(), elemType);
        FailureOr<std::string> type = cType(op.getLoc(), elemType);
        if (failed(slot) || failed(elem) || failed(type))
          return failure();
        std::string lo = "v" + std::to_string(counter++);
        std::string hi = "v" + std::to_string(counter++);
        os << "    " << *type << " " << lo << ", " << hi << ";\n"
           << "    attnc_cuda::load_range<" << *elem << ">(P.s[" << *slot
           << "], " << in[1] << ", " << in[2] << ", " << lo << ", " << hi << ");\n";
        names[range.getMin()] = lo;
        names[range.getMax()] = hi;
        return success();
      })
      .Case([&](YieldOp) {
        os << "    return " << in[0] << ";\n";
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitError("the CUDA backend cannot lower '")
               << other->getName() << "' in a variant region";
      });
}

LogicalResult RegionEmitter::emitParameters(Region &region, RegionRole role,
                                            function_ref<bool(StringRef)> keep) {
  MLIRContext *ctx = variantBody.getParentOp()->getContext();
  ArrayRef<StringRef> argNames = getRegionArgumentNames(role);
  SmallVector<Type> argTypes = getRegionArgumentTypes(ctx, role);
  bool first = true;
  for (auto [i, type] : llvm::enumerate(argTypes)) {
    if (!keep(argNames[i]))
      continue;
    FailureOr<std::string> t = cType(variantBody.getParentOp()->getLoc(), type);
    if (failed(t))
      return failure();
    os << (first ? "" : ", ") << *t << " " << argNames[i];
    first = false;
    if (!region.empty())
      names[region.front().getArgument(i)] = argNames[i].str();
  }
  return success();
}

LogicalResult RegionEmitter::emitFunction(
    Region &region, RegionRole role, StringRef name, StringRef identity,
    StringRef leading, function_ref<bool(Operation *)> member,
    const DenseMap<Value, std::string> *given) {
  MLIRContext *ctx = variantBody.getParentOp()->getContext();
  FailureOr<std::string> result =
      cType(variantBody.getParentOp()->getLoc(), getRegionYieldType(ctx, role));
  if (failed(result))
    return failure();
  os << "  static __device__ __forceinline__ " << *result << " " << name << "("
     << leading;
  names.clear();
  if (failed(emitParameters(region, role, [](StringRef) { return true; })))
    return failure();
  os << ", const Params &P, int &status) {\n";
  if (region.empty()) {
    os << "    return " << identity << ";\n  }\n";
    return success();
  }
  if (given)
    for (auto &[value, name] : *given)
      names[value] = name;
  for (Operation &op : region.front())
    if ((!member || member(&op)) && failed(emitOp(op)))
      return failure();
  os << "  }\n";
  return success();
}

LogicalResult RegionEmitter::emitPairHook(Region &region, RegionRole role,
                                          StringRef name, StringRef typePrefix,
                                          StringRef identity) {
  Location loc = variantBody.getParentOp()->getLoc();

  // Each op's stage is what it depends on (the row, the key or the pair);
  // the yield runs per pair. Constants are spelled as literals where they
  // are used (operand()), in whichever function.
  enum Stage : unsigned {
    Uniform = OnNeither,
    RowStage = OnQuery,
    ColStage = OnKey,
    PairStage = OnPair
  };
  DenseMap<Value, unsigned> stageOf = getIndexDependence(region, role);
  SmallVector<Operation *> ops;
  if (!region.empty())
    for (Operation &op : region.front())
      if (!isa<arith::ConstantOp>(op))
        ops.push_back(&op);
  auto stage = [&](Operation *op) {
    return op->getNumResults() ? stageOf.lookup(op->getResult(0)) : PairStage;
  };
  // Uniform values are made in the row function where the row or pair
  // stage reads them, and again in the column function where that does
  // (cheap: the compiler merges the copies of per-CTA values).
  llvm::SetVector<Value> rowOut, colOut;
  llvm::SmallPtrSet<Operation *, 8> rowUniform, colUniform;
  for (Operation *op : llvm::reverse(ops)) {
    unsigned s = stage(op);
    bool inRow = s == RowStage || rowUniform.contains(op);
    bool inCol = s == ColStage || colUniform.contains(op);
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || isa<arith::ConstantOp>(def))
        continue;
      unsigned from = stageOf.lookup(operand);
      if (s == PairStage && from != PairStage)
        (from == ColStage ? colOut : rowOut).insert(operand);
      if (from == Uniform && (inRow || s == PairStage))
        rowUniform.insert(def);
      if (from == Uniform && inCol)
        colUniform.insert(def);
    }
  }

  // Per stage: the function NAME_<fn> fills struct <TYPE><type> (the
  // values the pair stage reads, fields named by position), taking the
  // index `index` besides b and h; the pair stage reads it as `var`.
  struct StageFunction {
    StringRef fn, type, var, index;
    llvm::SetVector<Value> &out;
    function_ref<bool(Operation *)> member;
  };
  auto inRow = [&](Operation *op) {
    return stage(op) == RowStage || rowUniform.contains(op);
  };
  auto inCol = [&](Operation *op) {
    return stage(op) == ColStage || colUniform.contains(op);
  };
  StageFunction stages[] = {{"row", "Row", "r", "q_idx", rowOut, inRow},
                            {"col", "Col", "c", "kv_idx", colOut, inCol}};
  DenseMap<Value, std::string> fieldOf;
  for (StageFunction &f : stages) {
    os << "  struct " << typePrefix << f.type << " {";
    for (auto [i, value] : llvm::enumerate(f.out)) {
      FailureOr<std::string> t = cType(loc, value.getType());
      if (failed(t))
        return failure();
      std::string field = "f" + std::to_string(i);
      os << " " << *t << " " << field << ";";
      fieldOf[value] = (f.var + "." + field).str();
    }
    os << " };\n";
  }
  for (StageFunction &f : stages) {
    os << "  static __device__ __forceinline__ void " << name << "_" << f.fn
       << "(" << typePrefix << f.type << " &" << f.var << ", ";
    names.clear();
    if (failed(emitParameters(region, role, [&](StringRef arg) {
          return arg == "b" || arg == "h" || arg == f.index;
        })))
      return failure();
    os << ", const Params &P, int &status) {\n";
    for (Operation *op : ops)
      if (f.member(op) && failed(emitOp(*op)))
        return failure();
    for (Value value : f.out)
      os << "    " << fieldOf[value] << " = " << names[value] << ";\n";
    os << "  }\n";
  }

  // NAME: the per-pair ops (the yield among them) over the two structs.
  std::string structs =
      ("const " + typePrefix + "Row &r, const " + typePrefix + "Col &c, ").str();
  return emitFunction(region, role, name, identity, structs,
                      [&](Operation *op) { return stage(op) == PairStage; },
                      &fieldOf);
}

/// Whether a region reads param memory (its results then depend on data).
bool readsParams(Region &region) {
  bool reads = false;
  region.walk([&](Operation *op) {
    reads |= isa<LoadOp, LoadRangeOp>(op);
  });
  return reads;
}

bool usesArgument(Region &region, unsigned i) {
  return !region.empty() && !region.front().getArgument(i).use_empty();
}

} // namespace

/// The AOT entry point `<name>_cuda`: the C ABI of the CPU objects (memref
/// descriptors for q, k, v, out, lse and tensor params, C scalars, the
/// status word) with a stream in place of the work range. Only nvcc sees it
/// (NVRTC skips host code); attnc_cuda::HostCall does the work.
static LogicalResult emitHostEntry(raw_ostream &os, VariantOp variant, FlashOp flash,
                                   const CUDAKernelSpec &spec, StringRef v, StringRef c) {
  if (spec.numParams > 64)
    return flash.emitError("the AOT entry point takes up to 64 params; got ")
           << spec.numParams;
  std::string entry = variant.getSymName().str() + "_cuda";
  os << "\n#if !defined(__CUDACC_RTC__)\n"
     << "extern \"C\" int " << entry
     << "(attnc_memref4 *q, attnc_memref4 *k, attnc_memref4 *v, attnc_memref4 *out";
  if (flash.returnsLse())
    os << ", attnc_memref3 *lse";
  std::string fill;
  llvm::raw_string_ostream body(fill);
  for (BlockArgument param : variant.getParams()) {
    unsigned slot = param.getArgNumber() - 3;
    // Prefixed, so that no param name clashes with the entry's own.
    std::string name = "param_" + variant.getArgumentName(param.getArgNumber());
    std::string field = "P.s[" + std::to_string(slot) + "]";
    if (auto tensor = dyn_cast<RankedTensorType>(param.getType())) {
      Type elem = tensor.getElementType();
      os << ", attnc_memref" << tensor.getRank() << " *" << name;
      body << "  call.tensor(" << field << ", " << slot << ", " << name << ", "
           << std::max<unsigned>(1, elem.getIntOrFloatBitWidth() / 8) << ");\n";
      continue;
    }
    // Scalars: the C type of the CPU ABI and the slot member they fill.
    Type type = param.getType();
    std::string cType, member = "i", value = name;
    if (type.isF32()) {
      cType = "float", member = "f";
    } else if (type.isBF16() || type.isF16()) {
      cType = "unsigned short", member = "f";
      value = std::string("attnc_cuda::host_") + (type.isBF16() ? "bf16" : "f16") + "(" + name + ")";
    } else if (type.isInteger(1)) {
      cType = "bool";
    } else if (type.isInteger(32)) {
      cType = "int";
    } else if (type.isIntOrIndex()) {
      cType = "long long";
    } else {
      return flash.emitError("the AOT entry point cannot pass a param of type ")
             << type;
    }
    os << ", " << cType << " " << name;
    body << "  " << field << "." << member << " = " << value << ";\n";
  }
  os << ", attnc_memref1 *status, void *stream) {\n"
     << "  attnc_cuda::HostCall<" << v << ", " << c << "> call;\n"
     << "  if (int e = call.setViews(q, k, v, out, "
     << (flash.returnsLse() ? "lse" : "nullptr") << ", status))\n"
     << "    return e;\n"
     << "  " << v << "::Params P = {};\n"
     << fill
     << "  return call.launch(P, " << spec.kernelName << ", "
     << (spec.blockMapName.empty() ? std::string("nullptr") : spec.blockMapName)
     << ", " << (spec.blockMapUsesBatch ? "true" : "false") << ", "
     << (spec.blockMapUsesHead ? "true" : "false")
     << ", static_cast<cudaStream_t>(stream));\n"
     << "}\n#endif\n";
  return success();
}

FailureOr<CUDAKernelSpec> mlir::attn::translateToCUDA(ModuleOp module,
                                                      raw_ostream &os,
                                                      int64_t warps) {
  auto variants = llvm::to_vector(module.getOps<VariantOp>());
  if (variants.size() != 1)
    return module.emitError("the CUDA backend translates one variant at a time");
  VariantOp variant = variants.front();
  FlashOp flash;
  variant.walk([&](FlashOp f) { flash = f; });
  if (!flash)
    return variant.emitError("variant '")
           << variant.getSymName() << "' is not fused into one attn.flash";

  auto qType = cast<RankedTensorType>(flash.getQuery().getType());
  auto vType = cast<RankedTensorType>(flash.getValue().getType());
  Type elem = qType.getElementType();
  if (!elem.isBF16() && !elem.isF16())
    return flash.emitError("the GPU kernels take bf16 or f16 tensors; got ")
           << elem << " (f32 runs on --target=cpu)";
  int64_t d = qType.getDimSize(3), dv = vType.getDimSize(3);
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return flash.emitError("the GPU kernels need the head dim at compile time "
                           "(--head-dim, CompileOptions::headDim)");
  for (int64_t dim : {d, dv})
    if (dim % 64 != 0 || dim > 256)
      return flash.emitError("the GPU kernels take head dims 64, 128, 192 and "
                             "256; got ")
             << dim;
  if (!flash.getTileQ() || !flash.getTileKv())
    return flash.emitError("attn.flash has no schedule; run attn-select-schedule");

  CUDAKernelSpec spec;
  std::string name = variant.getSymName().str();
  spec.kernelName = name + "_kernel";
  spec.headDim = d;
  spec.tileQ = *flash.getTileQ();
  spec.tileKv = *flash.getTileKv();
  const int64_t stages = 2;
  // The default warps go with the default query tile (GPUSchedule.h);
  // another tile_q gets one m16 row fragment a warp, up to 8 warps.
  if (warps == 0) {
    GPUTiles tiles = defaultGPUTiles(d, dv);
    warps = spec.tileQ == tiles.tileQ ? tiles.warps
                                      : std::min<int64_t>(8, std::max<int64_t>(1, spec.tileQ / 16));
  }
  if (!llvm::is_contained({1, 2, 4, 8}, warps))
    return flash.emitError("GPU kernels run 1, 2, 4 or 8 warps; got ") << warps;
  if (spec.tileQ % (16 * warps) != 0 || spec.tileKv % 16 != 0 ||
      spec.tileQ > 256 || spec.tileKv > 256)
    return flash.emitError("GPU tiles need tile_q a multiple of 16 * warps (")
           << 16 * warps << ") and tile_kv a multiple of 16, both up to 256";
  spec.threads = warps * 32;
  // Q's shared-memory rows are padded by 8 elements; K's and V's too unless
  // they hold a multiple of 64, which are swizzled instead (QTile, KTile and
  // VTile in the header; the generated code asserts that both agree).
  auto pitch = [](int64_t cols) { return cols % 64 == 0 ? cols : cols + 8; };
  spec.sharedBytes =
      2 * (spec.tileQ * (d + 8) + stages * spec.tileKv * (pitch(d) + pitch(dv)));
  // The opt-in limit of sm_80 and sm_90 (an SM's 228 KiB less 1 KiB that
  // the driver keeps per CTA).
  const int64_t maxSharedBytes = 227 * 1024;
  if (spec.sharedBytes > maxSharedBytes)
    return flash.emitError("GPU tiles of ")
           << spec.tileQ << " x " << spec.tileKv << " at head dim " << d << " need "
           << spec.sharedBytes << " bytes of shared memory, more than the "
           << maxSharedBytes << " a CTA can have; use a smaller tile_kv";
  spec.numParams = variant.getNumArguments() - 3;
  bool blockList = flash.hasTileClass() && readsParams(flash.getTileClass());
  if (blockList) {
    spec.blockMapName = name + "_blockmap";
    spec.blockMapUsesBatch = usesArgument(flash.getTileClass(), 0);
    spec.blockMapUsesHead = usesArgument(flash.getTileClass(), 1);
  }

  double scale = flash.getScale() ? flash.getScale()->convertToDouble()
                                  : 1.0 / std::sqrt(double(d));
  double invTemperature =
      flash.getTemperature() ? 1.0 / flash.getTemperature()->convertToDouble() : 1.0;
  double bias = flash.getBias() ? flash.getBias()->convertToDouble() : 0.0;
  int normalizer = 0;
  switch (flash.getNormalizer()) {
  case NormalizerKind::Softmax: normalizer = 0; break;
  case NormalizerKind::Sigmoid: normalizer = 1; break;
  case NormalizerKind::Relu: normalizer = 2; break;
  case NormalizerKind::Identity: normalizer = 3; break;
  }

  std::string v = name + "_variant", c = name + "_config";
  os << "// Generated by attnc from variant @" << name << "; do not edit.\n"
     << "#include \"" << getCUDARuntimeHeaderName() << "\"\n\n"
     << "// Hooks a variant does not use are never called.\n"
     << "#pragma nv_diag_suppress 177\n"
     << "namespace {\n"
     << "struct " << v << " {\n"
     << "  struct Params { attnc_cuda::ParamSlot s[" << std::max<int64_t>(1, spec.numParams)
     << "]; };\n"
     << "  static constexpr int kNormalizer = " << normalizer << ";\n"
     << "  static constexpr float kScale = " << floatLiteral(scale) << ";\n"
     << "  static constexpr float kInvTemperature = " << floatLiteral(invTemperature) << ";\n"
     << "  static constexpr float kBias = " << floatLiteral(bias) << ";\n"
     << "  static constexpr bool kHasScoreMod = " << (flash.hasScoreMod() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasMask = " << (flash.hasMask() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasOutputMod = " << (flash.hasOutputMod() ? "true" : "false") << ";\n"
     << "  static constexpr bool kHasTileClass = " << (flash.hasTileClass() ? "true" : "false") << ";\n"
     << "  static constexpr bool kBlockList = " << (blockList ? "true" : "false") << ";\n";
  RegionEmitter emitter(os, variant.getBody().front());
  if (failed(emitter.emitPairHook(flash.getScoreMod(), RegionRole::ScoreMod,
                                  "score_mod", "Score", "score")) ||
      failed(emitter.emitPairHook(flash.getMask(), RegionRole::Mask, "mask",
                                  "Mask", "true")) ||
      failed(emitter.emitFunction(flash.getOutputMod(), RegionRole::OutputMod,
                                  "output_mod", "o")) ||
      failed(emitter.emitFunction(flash.getTileClass(), RegionRole::TileClass,
                                  "tile_class", flash.hasMask() ? "1" : "2")))
    return failure();
  // No register cap beyond one CTA an SM: capping 8-warp kernels at 128
  // registers for two CTAs spilled and measured 5-25% slower on the H100
  // (bench/RESULTS.md); 4-warp kernels at 255 registers fit two anyway.
  const int64_t ctasPerSM = 1;
  os << "};\n"
     << "typedef attnc_cuda::Config<" << d << ", " << dv << ", " << spec.tileQ
     << ", " << spec.tileKv << ", " << warps << ", " << stages << ", "
     << (elem.isF16() ? "true" : "false") << "> " << c << ";\n"
     << "static_assert(" << c << "::kSmemBytes == " << spec.sharedBytes
     << ", \"the launch's shared memory size\");\n"
     << "} // namespace\n\n"
     << "// The JIT compiles the two kernels as two programs, in parallel.\n"
     << "#ifndef " << kSkipForwardMacro << "\n"
     << "extern \"C\" __global__ void __launch_bounds__(" << spec.threads << ", "
     << ctasPerSM << ")\n"
     << spec.kernelName << "(const attnc_cuda::FlashArgs a, const " << v
     << "::Params P) {\n"
     << "  attnc_cuda::FlashForward<" << v << ", " << c << ">::run(a, P);\n"
     << "}\n#endif\n";
  if (blockList)
    os << "\n#ifndef " << kSkipBlockMapMacro << "\n"
       << "extern \"C\" __global__ void __launch_bounds__(128)\n"
       << spec.blockMapName << "(const attnc_cuda::BlockMapArgs a, const " << v
       << "::Params P) {\n"
       << "  attnc_cuda::build_block_map<" << v << ", " << c << ">(a, P);\n"
       << "}\n#endif\n";
  if (failed(emitHostEntry(os, variant, flash, spec, v, c)))
    return failure();
  return spec;
}
