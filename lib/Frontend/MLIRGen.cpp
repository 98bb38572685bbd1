//===- MLIRGen.cpp - checked variants to the attn cascade -----------------===//
//
// Like Toy's MLIRGen: walks the checked variants and builds the cascade, one
// region per score / mask / output statement, with a location on every op.
// The DSL's i64 is MLIR's index (the type of the region's indices), so index
// arithmetic needs no casts.
//
//===----------------------------------------------------------------------===//

#include "Frontend/MLIRGen.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

#include <map>

using namespace attnc;
using namespace attnc::sema;
using namespace mlir;
using namespace mlir::attn;

namespace {

class Generator {
public:
  Generator(ModuleOp module, const EmitOptions &options)
      : builder(module.getContext()), module(module), options(options) {}

  void emit(const VariantSpec &spec);

private:
  Location loc(SourceRange range);
  Type mlirType(ScalarType type);
  Type storageType(ScalarType type);
  RankedTensorType headType(std::optional<int64_t> dim);

  /// Emits the region of a cascade op from `expr`, with `vars` naming the
  /// region's arguments.
  /// One branch's chain, from attn.score to attn.normalize.
  NormalizeOp emitChain(const VariantSpec &spec, FloatAttr scale,
                        DenseI64ArrayAttr headPart, bool returnsLse);
  void emitRegion(Region &region, RegionRole role, const TExprPtr &expr,
                  ArrayRef<Var> vars);
  Value emitExpr(const TExprPtr &expr);
  Value emitBinary(const TExpr &e, Location l);
  Value emitCast(Value value, ScalarType from, ScalarType to, Location l);
  Value emitMath(const TExpr &e, Location l);
  Value constant(ScalarType type, double value, Location l);

  OpBuilder builder;
  ModuleOp module;
  const EmitOptions &options;
  VariantOp variant;
  std::map<Var, Value> varValues;
  std::map<const TExpr *, Value> emitted; // per region
};

} // namespace

Location Generator::loc(SourceRange range) {
  if (!range.file || !range.begin.isValid())
    return builder.getUnknownLoc();
  return FileLineColLoc::get(builder.getStringAttr(range.file->getName()),
                             range.begin.line, range.begin.column);
}

/// The type a value of the DSL has in the regions.
Type Generator::mlirType(ScalarType type) {
  return type == ScalarType::I64 ? builder.getIndexType() : storageType(type);
}

/// The type a param element has in memory.
Type Generator::storageType(ScalarType type) {
  switch (type) {
  case ScalarType::Bool:
    return builder.getI1Type();
  case ScalarType::I32:
    return builder.getI32Type();
  case ScalarType::I64:
    return builder.getI64Type();
  case ScalarType::F16:
    return builder.getF16Type();
  case ScalarType::BF16:
    return builder.getBF16Type();
  case ScalarType::F32:
    return builder.getF32Type();
  }
  return builder.getF32Type();
}

/// [B, heads, positions, dim] in the storage type; `dim` dynamic when unset.
RankedTensorType Generator::headType(std::optional<int64_t> dim) {
  int64_t d = dim ? *dim : ShapedType::kDynamic;
  int64_t dyn = ShapedType::kDynamic;
  return RankedTensorType::get({dyn, dyn, dyn, d}, storageType(options.dtype));
}

void Generator::emit(const VariantSpec &spec) {
  Location variantLoc = loc(spec.range);
  RankedTensorType qk = headType(options.headDim);
  RankedTensorType vo = headType(options.valueDim());
  int64_t dyn = ShapedType::kDynamic;
  auto lseType = RankedTensorType::get({dyn, dyn, dyn}, builder.getF32Type());
  // A variant with branches returns no lse: each branch has its own.
  bool returnsLse =
      spec.normalizer == ATTNC_NORMALIZE_SOFTMAX && spec.branches == 1;

  SmallVector<Type> inputs = {qk, qk, vo};
  SmallVector<Attribute> argAttrs(3, builder.getDictionaryAttr({}));
  for (const ParamSpec &param : spec.params) {
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr("attn.name", builder.getStringAttr(param.name))};
    if (param.isSize)
      attrs.push_back(builder.getNamedAttr("attn.size", builder.getUnitAttr()));
    if (param.type.isTensor) {
      SmallVector<int64_t> shape;
      SmallVector<Attribute> dims;
      for (const ast::Dim &dim : param.type.dims) {
        shape.push_back(dim.kind == ast::Dim::Kind::Static ? dim.size : dyn);
        dims.push_back(builder.getStringAttr(dim.toString()));
      }
      inputs.push_back(
          RankedTensorType::get(shape, storageType(param.type.elem)));
      attrs.push_back(
          builder.getNamedAttr("attn.shape", builder.getArrayAttr(dims)));
    } else {
      Type type = storageType(param.type.elem);
      inputs.push_back(type);
      if (param.defaultValue) {
        const TExpr &def = **param.defaultValue;
        TypedAttr value =
            ast::isFloat(param.type.elem)
                ? TypedAttr(builder.getFloatAttr(type, def.floatValue))
            : param.type.elem == ScalarType::Bool
                ? TypedAttr(builder.getBoolAttr(def.boolValue))
                : TypedAttr(builder.getIntegerAttr(type, def.intValue));
        attrs.push_back(builder.getNamedAttr("attn.default", value));
      }
    }
    argAttrs.push_back(builder.getDictionaryAttr(attrs));
  }
  SmallVector<Type> results = {vo};
  if (returnsLse)
    results.push_back(lseType);

  builder.setInsertionPointToEnd(module.getBody());
  auto fnType = builder.getFunctionType(inputs, results);
  variant = VariantOp::create(builder, variantLoc, spec.name, fnType,
                              /*sym_visibility=*/nullptr,
                              builder.getArrayAttr(argAttrs),
                              /*res_attrs=*/nullptr);
  Block *body =
      builder.createBlock(&variant.getBody(), {}, inputs,
                          SmallVector<Location>(inputs.size(), variantLoc));
  builder.setInsertionPointToEnd(body);

  // One chain of score, score_mods, mask, selection, normalize and aggregate
  // per branch (the one of a plain variant); the first output_mod combines
  // them, and attn-fuse fuses them back into one flash.
  FloatAttr scale = spec.scale ? builder.getF64FloatAttr(*spec.scale) : nullptr;
  NormalizeOp normalize;
  SmallVector<Value> outs;
  for (int64_t branch = 0; branch < spec.branches; ++branch) {
    DenseI64ArrayAttr part =
        spec.branches > 1
            ? builder.getDenseI64ArrayAttr({branch, spec.branches})
            : nullptr;
    normalize = emitChain(spec, scale, part, returnsLse);
    outs.push_back(AggregateOp::create(builder, variantLoc, vo,
                                       normalize.getProbs(),
                                       variant.getValue()));
  }
  Value out = outs.front();
  for (auto [expr, range] : llvm::zip(spec.outputMods, spec.outputModRanges)) {
    ValueRange branchOuts =
        out == outs.front() ? ValueRange(outs).drop_front() : ValueRange();
    auto op = OutputModOp::create(builder, loc(range), vo, out, branchOuts);
    emitRegion(op.getBody(), RegionRole::OutputMod, expr,
               {Var::Output, Var::Batch, Var::Head, Var::QIdx, Var::Dim,
                Var::Lse, Var::RowSum});
    out = op.getResult();
  }
  SmallVector<Value> returned = {out};
  if (returnsLse)
    returned.push_back(normalize.getLse());
  ReturnOp::create(builder, variantLoc, returned);
}

NormalizeOp Generator::emitChain(const VariantSpec &spec, FloatAttr scale,
                                 DenseI64ArrayAttr headPart, bool returnsLse) {
  MLIRContext *ctx = builder.getContext();
  Location variantLoc = loc(spec.range);
  int64_t dyn = ShapedType::kDynamic;
  auto scoresType =
      RankedTensorType::get({dyn, dyn, dyn, dyn}, builder.getF32Type());
  auto lseType = RankedTensorType::get({dyn, dyn, dyn}, builder.getF32Type());
  Value scores = ScoreOp::create(
      builder, spec.scale ? loc(spec.scaleRange) : variantLoc, scoresType,
      variant.getQuery(), variant.getKey(), scale, headPart);
  for (auto [expr, range] : llvm::zip(spec.scoreMods, spec.scoreModRanges)) {
    auto op = ScoreModOp::create(builder, loc(range), scoresType, scores);
    emitRegion(op.getBody(), RegionRole::ScoreMod, expr,
               {Var::Score, Var::Batch, Var::Head, Var::QIdx, Var::KvIdx});
    scores = op.getResult();
  }
  if (spec.mask) {
    auto op = MaskOp::create(builder, loc(spec.maskRange), scoresType, scores);
    emitRegion(op.getBody(), RegionRole::Mask, spec.mask,
               {Var::Batch, Var::Head, Var::QIdx, Var::KvIdx});
    scores = op.getResult();
  }
  if (const std::optional<SelectSpec> &select = spec.select) {
    auto selection =
        SelectAttr::get(ctx, select->topK, select->block, select->sinks,
                        select->local, select->causal);
    scores = SelectOp::create(builder, loc(select->range), scoresType, scores,
                              variant.getQuery(), variant.getKey(), selection);
  }
  // One enum: NormalizerKind's values are attnc/abi.h's (a static_assert in
  // AttnToCUDA.cpp, which emits their names, keeps the two in step).
  NormalizerKind kind = static_cast<NormalizerKind>(spec.normalizer);
  Location normLoc =
      spec.normalizerRange.file ? loc(spec.normalizerRange) : variantLoc;
  auto normalize = NormalizeOp::create(builder, normLoc, scoresType,
                                       returnsLse ? Type(lseType) : Type(),
                                       kind, scores, /*bias=*/nullptr,
                                       /*temperature=*/nullptr);
  if (spec.sink)
    emitRegion(normalize.getSink(), RegionRole::Sink, spec.sink,
               {Var::Batch, Var::Head});
  return normalize;
}

void Generator::emitRegion(Region &region, RegionRole role,
                           const TExprPtr &expr, ArrayRef<Var> vars) {
  OpBuilder::InsertionGuard guard(builder);
  Block *block = createRegionBlock(builder, loc(expr->range), region, role);
  varValues.clear();
  emitted.clear();
  for (auto [var, arg] : llvm::zip(vars, block->getArguments()))
    varValues[var] = arg;
  Value result = emitExpr(expr);
  YieldOp::create(builder, loc(expr->range), result);
}

Value Generator::constant(ScalarType type, double value, Location l) {
  Type t = mlirType(type);
  if (ast::isFloat(type))
    return arith::ConstantOp::create(builder, l,
                                     builder.getFloatAttr(t, value));
  if (type == ScalarType::I64)
    return arith::ConstantIndexOp::create(builder, l, int64_t(value));
  return arith::ConstantOp::create(builder, l,
                                   builder.getIntegerAttr(t, int64_t(value)));
}

Value Generator::emitExpr(const TExprPtr &expr) {
  auto found = emitted.find(expr.get());
  if (found != emitted.end())
    return found->second;
  const TExpr &e = *expr;
  Location l = loc(e.range);
  if (e.callSite.file)
    l = CallSiteLoc::get(l, loc(e.callSite));
  Value result;
  switch (e.kind) {
  case TExpr::Kind::Const:
    if (e.type == ScalarType::Bool)
      result = arith::ConstantOp::create(builder, l,
                                         builder.getBoolAttr(e.boolValue));
    else if (ast::isFloat(e.type))
      result = constant(e.type, e.floatValue, l);
    else if (e.type == ScalarType::I64)
      result = arith::ConstantIndexOp::create(builder, l, e.intValue);
    else
      result = arith::ConstantOp::create(
          builder, l, builder.getIntegerAttr(mlirType(e.type), e.intValue));
    break;
  case TExpr::Kind::Var:
    if (e.var == Var::BranchOutput || e.var == Var::BranchLse ||
        e.var == Var::BranchRowSum) {
      BranchStat stat = e.var == Var::BranchOutput ? BranchStat::Out
                        : e.var == Var::BranchLse  ? BranchStat::Lse
                                                   : BranchStat::RowSum;
      result = BranchOp::create(builder, l, stat, e.intValue);
      break;
    }
    result = varValues.at(e.var);
    break;
  case TExpr::Kind::Param:
    result = variant.getParams()[e.param];
    if (e.type == ScalarType::I64)
      result = arith::IndexCastOp::create(builder, l, builder.getIndexType(),
                                          result);
    break;
  case TExpr::Kind::Load: {
    SmallVector<Value> indices;
    for (const TExprPtr &index : e.operands)
      indices.push_back(emitExpr(index));
    result = LoadOp::create(builder, l, variant.getParams()[e.param], indices);
    if (e.type == ScalarType::I64)
      result = arith::IndexCastOp::create(builder, l, builder.getIndexType(),
                                          result);
    break;
  }
  case TExpr::Kind::Unary: {
    Value x = emitExpr(e.operands[0]);
    if (e.op == ast::Op::Not)
      result = arith::XOrIOp::create(
          builder, l, x,
          arith::ConstantOp::create(builder, l, builder.getBoolAttr(true)));
    else if (ast::isFloat(e.type))
      result = arith::NegFOp::create(builder, l, x);
    else
      result = arith::SubIOp::create(builder, l, constant(e.type, 0, l), x);
    break;
  }
  case TExpr::Kind::Binary:
    result = emitBinary(e, l);
    break;
  case TExpr::Kind::Select:
    result = arith::SelectOp::create(builder, l, emitExpr(e.operands[0]),
                                     emitExpr(e.operands[1]),
                                     emitExpr(e.operands[2]));
    break;
  case TExpr::Kind::Cast:
    result = emitCast(emitExpr(e.operands[0]), e.operands[0]->type, e.type, l);
    break;
  case TExpr::Kind::Math:
    result = emitMath(e, l);
    break;
  }
  emitted[expr.get()] = result;
  return result;
}

Value Generator::emitBinary(const TExpr &e, Location l) {
  Value a = emitExpr(e.operands[0]), b = emitExpr(e.operands[1]);
  ScalarType type = e.operands[0]->type;
  bool isF = ast::isFloat(type);
  using ast::Op;
  switch (e.op) {
  case Op::Add:
    return isF ? Value(arith::AddFOp::create(builder, l, a, b))
               : Value(arith::AddIOp::create(builder, l, a, b));
  case Op::Sub:
    return isF ? Value(arith::SubFOp::create(builder, l, a, b))
               : Value(arith::SubIOp::create(builder, l, a, b));
  case Op::Mul:
    return isF ? Value(arith::MulFOp::create(builder, l, a, b))
               : Value(arith::MulIOp::create(builder, l, a, b));
  case Op::Div:
    return isF ? Value(arith::DivFOp::create(builder, l, a, b))
               : Value(arith::FloorDivSIOp::create(builder, l, a, b));
  case Op::Rem: {
    // Floor semantics: the remainder takes the divisor's sign.
    Value r = arith::RemSIOp::create(builder, l, a, b);
    Value zero = constant(type, 0, l);
    Value nonZero =
        arith::CmpIOp::create(builder, l, arith::CmpIPredicate::ne, r, zero);
    Value rNeg =
        arith::CmpIOp::create(builder, l, arith::CmpIPredicate::slt, r, zero);
    Value bNeg =
        arith::CmpIOp::create(builder, l, arith::CmpIPredicate::slt, b, zero);
    Value signsDiffer = arith::XOrIOp::create(builder, l, rNeg, bNeg);
    Value fix = arith::AndIOp::create(builder, l, nonZero, signsDiffer);
    Value adjusted = arith::AddIOp::create(builder, l, r, b);
    return arith::SelectOp::create(builder, l, fix, adjusted, r);
  }
  case Op::And:
    return arith::AndIOp::create(builder, l, a, b);
  case Op::Or:
    return arith::OrIOp::create(builder, l, a, b);
  case Op::Eq:
  case Op::Ne:
  case Op::Lt:
  case Op::Le:
  case Op::Gt:
  case Op::Ge: {
    if (isF) {
      arith::CmpFPredicate p = e.op == Op::Eq   ? arith::CmpFPredicate::OEQ
                               : e.op == Op::Ne ? arith::CmpFPredicate::UNE
                               : e.op == Op::Lt ? arith::CmpFPredicate::OLT
                               : e.op == Op::Le ? arith::CmpFPredicate::OLE
                               : e.op == Op::Gt ? arith::CmpFPredicate::OGT
                                                : arith::CmpFPredicate::OGE;
      return arith::CmpFOp::create(builder, l, p, a, b);
    }
    arith::CmpIPredicate p = e.op == Op::Eq   ? arith::CmpIPredicate::eq
                             : e.op == Op::Ne ? arith::CmpIPredicate::ne
                             : e.op == Op::Lt ? arith::CmpIPredicate::slt
                             : e.op == Op::Le ? arith::CmpIPredicate::sle
                             : e.op == Op::Gt ? arith::CmpIPredicate::sgt
                                              : arith::CmpIPredicate::sge;
    return arith::CmpIOp::create(builder, l, p, a, b);
  }
  case Op::Neg:
  case Op::Not:
    break;
  }
  llvm_unreachable("not a binary operator");
}

Value Generator::emitCast(Value value, ScalarType from, ScalarType to,
                          Location l) {
  Type target = mlirType(to);
  if (from == ScalarType::Bool) {
    if (ast::isFloat(to))
      return arith::UIToFPOp::create(builder, l, target, value);
    Value wide = arith::ExtUIOp::create(builder, l, storageType(to), value);
    return to == ScalarType::I64
               ? Value(arith::IndexCastOp::create(builder, l, target, wide))
               : wide;
  }
  if (ast::isInteger(from) && ast::isInteger(to))
    return arith::IndexCastOp::create(builder, l, target, value);
  if (ast::isInteger(from)) { // to float
    if (from == ScalarType::I64)
      value =
          arith::IndexCastOp::create(builder, l, builder.getI64Type(), value);
    return arith::SIToFPOp::create(builder, l, target, value);
  }
  if (ast::isInteger(to)) { // from float
    Value i = arith::FPToSIOp::create(builder, l, storageType(to), value);
    return to == ScalarType::I64
               ? Value(arith::IndexCastOp::create(builder, l, target, i))
               : i;
  }
  unsigned fromWidth = mlirType(from).getIntOrFloatBitWidth();
  unsigned toWidth = target.getIntOrFloatBitWidth();
  if (fromWidth < toWidth)
    return arith::ExtFOp::create(builder, l, target, value);
  if (fromWidth > toWidth)
    return arith::TruncFOp::create(builder, l, target, value);
  // f16 <-> bf16: through f32.
  Value wide = arith::ExtFOp::create(builder, l, builder.getF32Type(), value);
  return arith::TruncFOp::create(builder, l, target, wide);
}

Value Generator::emitMath(const TExpr &e, Location l) {
  Value x = emitExpr(e.operands[0]);
  Value y = e.operands.size() > 1 ? emitExpr(e.operands[1]) : Value();
  bool isF = ast::isFloat(e.type);
  switch (e.fn) {
  case MathFn::Exp:
    return math::ExpOp::create(builder, l, x);
  case MathFn::Exp2:
    return math::Exp2Op::create(builder, l, x);
  case MathFn::Log:
    return math::LogOp::create(builder, l, x);
  case MathFn::Log2:
    return math::Log2Op::create(builder, l, x);
  case MathFn::Sqrt:
    return math::SqrtOp::create(builder, l, x);
  case MathFn::Rsqrt:
    return math::RsqrtOp::create(builder, l, x);
  case MathFn::Tanh:
    return math::TanhOp::create(builder, l, x);
  case MathFn::Floor:
    return math::FloorOp::create(builder, l, x);
  case MathFn::Ceil:
    return math::CeilOp::create(builder, l, x);
  case MathFn::Pow:
    return math::PowFOp::create(builder, l, x, y);
  case MathFn::Sigmoid: {
    // 1 / (1 + exp(-x)): no upstream op, and both backends lower these.
    Value one = constant(ScalarType::F32, 1.0, l);
    Value e1 =
        math::ExpOp::create(builder, l, arith::NegFOp::create(builder, l, x));
    return arith::DivFOp::create(builder, l, one,
                                 arith::AddFOp::create(builder, l, one, e1));
  }
  case MathFn::Abs:
    return isF ? Value(math::AbsFOp::create(builder, l, x))
               : Value(math::AbsIOp::create(builder, l, x));
  case MathFn::Min:
    return isF ? Value(arith::MinimumFOp::create(builder, l, x, y))
               : Value(arith::MinSIOp::create(builder, l, x, y));
  case MathFn::Max:
    return isF ? Value(arith::MaximumFOp::create(builder, l, x, y))
               : Value(arith::MaxSIOp::create(builder, l, x, y));
  }
  llvm_unreachable("unknown math function");
}

void attnc::emitVariants(ModuleOp module,
                         const std::vector<VariantSpec> &variants,
                         const EmitOptions &options) {
  Generator generator(module, options);
  for (const VariantSpec &spec : variants)
    generator.emit(spec);
}

void attnc::loadAttnDialects(MLIRContext &ctx) {
  ctx.loadDialect<AttnDialect, arith::ArithDialect, math::MathDialect>();
}

OwningOpRef<ModuleOp>
attnc::buildModule(MLIRContext &ctx, const std::vector<VariantSpec> &variants,
                   const EmitOptions &options) {
  loadAttnDialects(ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
  emitVariants(*module, variants, options);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}
