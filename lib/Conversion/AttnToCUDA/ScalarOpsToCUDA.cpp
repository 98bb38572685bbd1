//===- ScalarOpsToCUDA.cpp - the table's scalar ops as CUDA C++ -----------===//

#include "Conversion/AttnToCUDA/ScalarOpsToCUDA.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

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

FailureOr<std::string> mlir::attn::scalarCType(Location loc, Type type) {
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

FailureOr<std::string> mlir::attn::constantLiteral(Operation *user,
                                                   Attribute attr) {
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

namespace {
/// The operands of a table op as C++, and the table's forms over them.
struct Operands {
  Operation &op;
  ArrayRef<std::string> in;

  const std::string &operator[](unsigned i) const { return in[i]; }
  /// Infix(SYM): `(a SYM b)`.
  std::string infix(StringRef sym) const {
    return "(" + in[0] + " " + sym.str() + " " + in[1] + ")";
  }
  /// Call(FN): `FN(a, ...)`.
  std::string call(StringRef fn) const {
    std::string args;
    for (auto [i, a] : llvm::enumerate(in))
      args += (i ? ", " : "") + a;
    return fn.str() + "(" + args + ")";
  }
  /// Operand `i` reinterpreted as unsigned, for the ...ui ops.
  std::string asUnsigned(unsigned i) const;
  /// `expr` (default: the first operand) converted to the C type of `to`.
  FailureOr<std::string> cast(Type to,
                              std::optional<std::string> expr = {}) const {
    FailureOr<std::string> type = scalarCType(op.getLoc(), to);
    if (failed(type))
      return failure();
    return "(" + *type + ")(" + expr.value_or(in[0]) + ")";
  }
};
} // namespace

static std::string unsignedOf(Type t) {
  return t.isInteger(64) ? "unsigned long long" : "unsigned";
}

std::string Operands::asUnsigned(unsigned i) const {
  return "(" + unsignedOf(op.getOperand(i).getType()) + ")(" + in[i] + ")";
}

/// The C++ spelling of an integer comparison.
static std::string compareInts(arith::CmpIPredicate pred, StringRef a,
                               StringRef b, StringRef unsignedType) {
  auto u = [&](StringRef x) {
    return ("(" + unsignedType + ")(" + x + ")").str();
  };
  switch (pred) {
  case arith::CmpIPredicate::eq:
    return (a + " == " + b).str();
  case arith::CmpIPredicate::ne:
    return (a + " != " + b).str();
  case arith::CmpIPredicate::slt:
    return (a + " < " + b).str();
  case arith::CmpIPredicate::sle:
    return (a + " <= " + b).str();
  case arith::CmpIPredicate::sgt:
    return (a + " > " + b).str();
  case arith::CmpIPredicate::sge:
    return (a + " >= " + b).str();
  case arith::CmpIPredicate::ult:
    return u(a) + " < " + u(b);
  case arith::CmpIPredicate::ule:
    return u(a) + " <= " + u(b);
  case arith::CmpIPredicate::ugt:
    return u(a) + " > " + u(b);
  case arith::CmpIPredicate::uge:
    return u(a) + " >= " + u(b);
  }
  return "false";
}

/// The C++ spelling of a float comparison (C's <, >, == are ordered; != is
/// unordered).
static std::string compareFloats(arith::CmpFPredicate pred, StringRef a,
                                 StringRef b) {
  std::string A = a.str(), B = b.str();
  switch (pred) {
  case arith::CmpFPredicate::AlwaysFalse:
    return "false";
  case arith::CmpFPredicate::AlwaysTrue:
    return "true";
  case arith::CmpFPredicate::OEQ:
    return A + " == " + B;
  case arith::CmpFPredicate::OGT:
    return A + " > " + B;
  case arith::CmpFPredicate::OGE:
    return A + " >= " + B;
  case arith::CmpFPredicate::OLT:
    return A + " < " + B;
  case arith::CmpFPredicate::OLE:
    return A + " <= " + B;
  case arith::CmpFPredicate::ONE:
    return "(" + A + " < " + B + " || " + A + " > " + B + ")";
  case arith::CmpFPredicate::ORD:
    return "(" + A + " == " + A + " && " + B + " == " + B + ")";
  case arith::CmpFPredicate::UEQ:
    return "!(" + A + " < " + B + " || " + A + " > " + B + ")";
  case arith::CmpFPredicate::UGT:
    return "!(" + A + " <= " + B + ")";
  case arith::CmpFPredicate::UGE:
    return "!(" + A + " < " + B + ")";
  case arith::CmpFPredicate::ULT:
    return "!(" + A + " >= " + B + ")";
  case arith::CmpFPredicate::ULE:
    return "!(" + A + " > " + B + ")";
  case arith::CmpFPredicate::UNE:
    return A + " != " + B;
  case arith::CmpFPredicate::UNO:
    return "(" + A + " != " + A + " || " + B + " != " + B + ")";
  }
  return "false";
}

//===----------------------------------------------------------------------===//
// The ops whose CUDA column is Custom
//===----------------------------------------------------------------------===//

using Spelling = FailureOr<std::string>;

static Spelling spell(arith::ConstantOp c, const Operands &in) {
  return constantLiteral(c, c.getValue());
}
static Spelling spell(arith::SelectOp, const Operands &in) {
  return "(" + in[0] + " ? " + in[1] + " : " + in[2] + ")";
}
static Spelling spell(arith::DivUIOp, const Operands &in) {
  return in.asUnsigned(0) + " / " + in.asUnsigned(1);
}
static Spelling spell(arith::RemUIOp, const Operands &in) {
  return in.asUnsigned(0) + " % " + in.asUnsigned(1);
}
static Spelling spell(arith::ShRUIOp, const Operands &in) {
  return in.asUnsigned(0) + " >> " + in[1];
}
static Spelling spell(arith::MinUIOp, const Operands &in) {
  return "min(" + in.asUnsigned(0) + ", " + in.asUnsigned(1) + ")";
}
static Spelling spell(arith::MaxUIOp, const Operands &in) {
  return "max(" + in.asUnsigned(0) + ", " + in.asUnsigned(1) + ")";
}
static Spelling spell(arith::CmpIOp c, const Operands &in) {
  return compareInts(c.getPredicate(), in[0], in[1],
                     unsignedOf(c.getLhs().getType()));
}
static Spelling spell(math::AbsIOp o, const Operands &in) {
  return in.call("attnc_cuda::wrap_abs"); // abs of the least integer is UB
}
static Spelling spell(arith::NegFOp, const Operands &in) {
  return "(-" + in[0] + ")";
}
static Spelling spell(arith::CmpFOp c, const Operands &in) {
  return compareFloats(c.getPredicate(), in[0], in[1]);
}
static Spelling spell(arith::IndexCastOp o, const Operands &in) {
  return in.cast(o.getType());
}
static Spelling spell(arith::IndexCastUIOp o, const Operands &in) {
  return in.cast(o.getType(), in.asUnsigned(0));
}
static Spelling spell(arith::ExtSIOp o, const Operands &in) {
  return in.cast(o.getType());
}
static Spelling spell(arith::ExtUIOp o, const Operands &in) {
  if (o.getIn().getType().isInteger(1))
    return in.cast(o.getType());
  return in.cast(o.getType(), in.asUnsigned(0));
}
static Spelling spell(arith::TruncIOp o, const Operands &in) {
  if (o.getType().isInteger(1))
    return "((" + in[0] + " & 1) != 0)";
  return in.cast(o.getType());
}
static Spelling spell(arith::SIToFPOp o, const Operands &in) {
  return in.cast(o.getType());
}
static Spelling spell(arith::UIToFPOp, const Operands &in) {
  return "(float)" + in.asUnsigned(0);
}
static Spelling spell(arith::FPToSIOp o, const Operands &in) {
  return in.cast(o.getType());
}
static Spelling spell(arith::FPToUIOp o, const Operands &in) {
  return in.cast(o.getType(),
                 "(" + unsignedOf(o.getType()) + ")(" + in[0] + ")");
}
static Spelling spell(arith::ExtFOp, const Operands &in) { return in[0]; }
static Spelling spell(arith::TruncFOp o, const Operands &in) {
  if (o.getType().isBF16())
    return "attnc_cuda::round_bf16(" + in[0] + ")";
  if (o.getType().isF16())
    return "attnc_cuda::round_f16(" + in[0] + ")";
  return in[0];
}

std::optional<FailureOr<std::string>>
mlir::attn::spellScalarOp(Operation &op, ArrayRef<std::string> in) {
  Operands args{op, in};
  // The table's CUDA column, spelled out; a Custom op without a spell()
  // above does not compile.
#define Infix(SYM) args.infix(SYM)
#define Call(FN) args.call(FN)
#define Custom spell(o, args)
#define ATTN_SCALAR_OP(CLASS, CUDA)                                            \
  .Case([&](CLASS o) -> Spelling { return CUDA; })
  return llvm::TypeSwitch<Operation *, std::optional<Spelling>>(&op)
#include "dialect/ScalarOps.def"
#undef Infix
#undef Call
#undef Custom
      .Default([](Operation *) { return std::nullopt; });
}
