//===- RegionEmitter.cpp - attn regions as CUDA device functions ----------===//

#include "Conversion/AttnToCUDA/RegionEmitter.h"

#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

std::string mlir::attn::floatLiteral(double v) {
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

  // Each op's stage is what it depends on: OnQuery runs per row, OnKey per
  // key, OnPair per pair (the yield too), OnNeither where it is read.
  // Constants are spelled as literals where they are used (operand()), in
  // whichever function.
  DenseMap<Value, unsigned> stageOf =
      getIndexDependence(region, role, headPerRow);
  SmallVector<Operation *> ops;
  if (!region.empty())
    for (Operation &op : region.front())
      if (!isa<arith::ConstantOp>(op))
        ops.push_back(&op);
  auto stage = [&](Operation *op) {
    return op->getNumResults() ? stageOf.lookup(op->getResult(0)) : OnPair;
  };
  // Uniform values are made in the row function where the row or pair
  // stage reads them, and again in the column function where that does
  // (cheap: the compiler merges the copies of per-CTA values).
  llvm::SetVector<Value> rowOut, colOut;
  llvm::SmallPtrSet<Operation *, 8> rowUniform, colUniform;
  auto inRow = [&](Operation *op) {
    return stage(op) == OnQuery || rowUniform.contains(op);
  };
  auto inCol = [&](Operation *op) {
    return stage(op) == OnKey || colUniform.contains(op);
  };
  for (Operation *op : llvm::reverse(ops)) {
    unsigned s = stage(op);
    bool rowReads = inRow(op), colReads = inCol(op);
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || isa<arith::ConstantOp>(def))
        continue;
      unsigned from = stageOf.lookup(operand);
      if (s == OnPair && from != OnPair)
        (from == OnKey ? colOut : rowOut).insert(operand);
      if (from == OnNeither && (rowReads || s == OnPair))
        rowUniform.insert(def);
      if (from == OnNeither && colReads)
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
                      [&](Operation *op) { return stage(op) == OnPair; },
                      &fieldOf);
}
