//===- AttnOps.cpp - attn dialect operations ------------------------------===//
//
// Verifiers, the variant's assembly and the block-argument names that make the
// printed IR read like the variant's source.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionImplementation.h"

#include "llvm/ADT/StringSet.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Shape checks shared by the cascade ops, the variant and attn.flash
//===----------------------------------------------------------------------===//

namespace {
/// Compares the sizes of named dimensions across operands, where `?` matches
/// anything, and words every mismatch in the [B, H, N, D] vocabulary.
struct ShapeChecker {
  Operation *op;

  static std::string dimToString(int64_t dim) {
    return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
  }

  LogicalResult rank(StringRef what, Type type, int64_t rank,
                     StringRef layout) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return op->emitOpError() << what << " must be a ranked tensor " << layout
                               << "; got " << type;
    if (tensor.getRank() != rank)
      return op->emitOpError()
             << what << " must have rank " << rank << " " << layout
             << "; got rank " << tensor.getRank() << " (" << type << ")";
    return success();
  }

  /// Fails when two static sizes of the same dimension differ.
  LogicalResult same(StringRef dim, StringRef whatA, int64_t a, StringRef whatB,
                     int64_t b) {
    if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b)
      return success();
    return op->emitOpError() << dim << " mismatch: " << whatA << " has " << a
                             << " but " << whatB << " has " << b;
  }

  /// Fails unless `type` is [dims...] of `elementType`.
  LogicalResult expect(StringRef what, Type type, ArrayRef<int64_t> dims,
                       StringRef layout, Type elementType = {}) {
    if (failed(rank(what, type, dims.size(), layout)))
      return failure();
    auto tensor = cast<RankedTensorType>(type);
    if (elementType && tensor.getElementType() != elementType)
      return op->emitOpError() << what << " must have element type "
                               << elementType << "; got " << type;
    for (auto [actual, wanted] : llvm::zip(tensor.getShape(), dims)) {
      if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(wanted) ||
          actual == wanted)
        continue;
      auto diag = op->emitOpError()
                  << what << " must have shape " << layout << " = [";
      llvm::interleaveComma(dims, diag,
                            [&](int64_t d) { diag << dimToString(d); });
      return diag << "]; got " << type;
    }
    return success();
  }

  LogicalResult gqa(int64_t heads, int64_t kvHeads) {
    if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads))
      return success();
    if (kvHeads > 0 && heads % kvHeads == 0)
      return success();
    return op->emitOpError()
           << "query heads H = " << heads
           << " are not a multiple of key/value heads Hkv = " << kvHeads;
  }
};

/// The sizes a variant is built from, `?` where dynamic.
struct AttnSizes {
  int64_t batch, heads, kvHeads, queries, keys, headDim, valueDim;
};
} // namespace

/// Checks q: [B, H, N, D], k: [B, Hkv, M, D] and, when given,
/// v: [B, Hkv, M, Dv] against each other.
static FailureOr<AttnSizes> verifyInputs(Operation *op, Type qType, Type kType,
                                         Type vType = {}) {
  ShapeChecker check{op};
  if (failed(check.rank("q", qType, 4, "[B, H, N, D]")) ||
      failed(check.rank("k", kType, 4, "[B, Hkv, M, D]")) ||
      (vType && failed(check.rank("v", vType, 4, "[B, Hkv, M, Dv]"))))
    return failure();
  auto q = cast<RankedTensorType>(qType).getShape();
  auto k = cast<RankedTensorType>(kType).getShape();
  Type qElem = cast<RankedTensorType>(qType).getElementType();
  Type kElem = cast<RankedTensorType>(kType).getElementType();
  if (qElem != kElem)
    return op->emitOpError() << "q and k must have the same element type; got "
                             << qElem << " and " << kElem;
  if (failed(check.same("batch size B", "q", q[0], "k", k[0])) ||
      failed(check.same("head dim D", "q", q[3], "k", k[3])) ||
      failed(check.gqa(q[1], k[1])))
    return failure();
  AttnSizes sizes{q[0], q[1], k[1], q[2], k[2], q[3], ShapedType::kDynamic};
  if (!vType)
    return sizes;
  auto v = cast<RankedTensorType>(vType).getShape();
  Type vElem = cast<RankedTensorType>(vType).getElementType();
  if (vElem != qElem)
    return op->emitOpError() << "v must have the element type of q and k ("
                             << qElem << "); got " << vElem;
  if (failed(check.same("batch size B", "q", q[0], "v", v[0])) ||
      failed(check.same("key/value heads Hkv", "k", k[1], "v", v[1])) ||
      failed(check.same("key length M", "k", k[2], "v", v[2])))
    return failure();
  sizes.valueDim = v[3];
  return sizes;
}

/// Checks out: [B, H, N, Dv] and, when given, lse: [B, H, N] in f32.
static LogicalResult verifyOutputs(Operation *op, const AttnSizes &sizes,
                                   Type outType, Type lseType) {
  ShapeChecker check{op};
  if (failed(check.expect(
          "out", outType,
          {sizes.batch, sizes.heads, sizes.queries, sizes.valueDim},
          "[B, H, N, Dv]")))
    return failure();
  if (!isa<FloatType>(cast<RankedTensorType>(outType).getElementType()))
    return op->emitOpError()
           << "out must have a float element type; got " << outType;
  if (lseType && failed(check.expect(
                     "lse", lseType, {sizes.batch, sizes.heads, sizes.queries},
                     "[B, H, N]", Float32Type::get(op->getContext()))))
    return failure();
  return success();
}

static LogicalResult verifyNormalizer(Operation *op, NormalizerKind kind,
                                      std::optional<double> temperature,
                                      bool returnsLse, bool hasSink) {
  if (returnsLse && kind != NormalizerKind::Softmax)
    return op->emitOpError() << "only softmax defines lse; the normalizer is "
                             << stringifyNormalizerKind(kind);
  if (hasSink && kind != NormalizerKind::Softmax)
    return op->emitOpError() << "only softmax takes a sink; the normalizer is "
                             << stringifyNormalizerKind(kind);
  if (temperature && !(*temperature > 0.0 && std::isfinite(*temperature)))
    return op->emitOpError()
           << "temperature must be positive and finite; got " << *temperature;
  return success();
}

/// Names the entry block arguments of a user region after the DSL variables.
static void nameRegionArguments(Region &region, RegionRole kind,
                                OpAsmSetValueNameFn setNameFn) {
  if (region.empty())
    return;
  auto names = getRegionArgumentNames(kind);
  for (auto [arg, name] : llvm::zip(region.getArguments(), names))
    setNameFn(arg, name);
}

//===----------------------------------------------------------------------===//
// VariantOp
//===----------------------------------------------------------------------===//

std::string VariantOp::getArgumentName(unsigned index) {
  static const char *const tensorInputs[] = {"q", "k", "v"};
  if (index < kNumTensorInputs)
    return tensorInputs[index];
  if (auto name = getArgAttrOfType<StringAttr>(index, "attn.name"))
    return name.str();
  return "param" + std::to_string(index - kNumTensorInputs);
}

ParseResult VariantOp::parse(OpAsmParser &parser, OperationState &result) {
  auto buildType = [](Builder &builder, ArrayRef<Type> args,
                      ArrayRef<Type> results,
                      function_interface_impl::VariadicFlag, std::string &) {
    return builder.getFunctionType(args, results);
  };
  return function_interface_impl::parseFunctionOp(
      parser, result, /*allowVariadic=*/false,
      getFunctionTypeAttrName(result.name), buildType,
      getArgAttrsAttrName(result.name), getResAttrsAttrName(result.name));
}

void VariantOp::print(OpAsmPrinter &p) {
  function_interface_impl::printFunctionOp(
      p, *this, /*isVariadic=*/false, getFunctionTypeAttrName(),
      getArgAttrsAttrName(), getResAttrsAttrName());
}

void VariantOp::getAsmBlockArgumentNames(Region &region,
                                         OpAsmSetValueNameFn setNameFn) {
  for (BlockArgument arg : region.getArguments())
    setNameFn(arg, getArgumentName(arg.getArgNumber()));
}

StringRef VariantOp::getDefaultDialect() { return "attn"; }

LogicalResult VariantOp::verify() {
  ArrayRef<Type> inputs = getArgumentTypes();
  if (inputs.size() < kNumTensorInputs)
    return emitOpError() << "takes q, k and v first; it has " << inputs.size()
                         << " argument(s)";
  for (unsigned i = 0; i < kNumTensorInputs; ++i) {
    auto tensor = dyn_cast<RankedTensorType>(inputs[i]);
    Type elem = tensor ? tensor.getElementType() : Type();
    if (!elem || !(elem.isF16() || elem.isBF16() || elem.isF32()))
      return emitOpError()
             << getArgumentName(i)
             << " must be a ranked tensor of f16, bf16 or f32; got "
             << inputs[i];
  }
  FailureOr<AttnSizes> sizes =
      verifyInputs(*this, inputs[0], inputs[1], inputs[2]);
  if (failed(sizes))
    return failure();

  llvm::StringSet<> paramNames;
  for (unsigned i = kNumTensorInputs; i < inputs.size(); ++i) {
    std::string name = getArgumentName(i);
    Type type = inputs[i];
    bool scalar = type.isIntOrIndexOrFloat();
    if (!scalar && !isa<RankedTensorType>(type))
      return emitOpError() << "param '" << name
                           << "' must be a ranked tensor or a scalar; got "
                           << type;
    if (getArgAttr(i, "attn.name") && !paramNames.insert(name).second)
      return emitOpError() << "two params are named '" << name << "'";
    if (Attribute def = getArgAttr(i, "attn.default")) {
      auto typed = dyn_cast<TypedAttr>(def);
      if (!scalar || !typed || typed.getType() != type)
        return emitOpError() << "the default of param '" << name
                             << "' must be a scalar of its type " << type;
    }
  }

  ArrayRef<Type> results = getResultTypes();
  if (results.empty() || results.size() > 2)
    return emitOpError() << "returns out and optionally lse; it declares "
                         << results.size() << " result(s)";
  return verifyOutputs(*this, *sizes, results[0],
                       results.size() == 2 ? results[1] : Type());
}

LogicalResult VariantOp::verifyRegions() {
  Block &body = getBody().front();
  if (body.empty() || !isa<ReturnOp>(body.back()))
    return emitOpError() << "must end in attn.return";
  return success();
}

//===----------------------------------------------------------------------===//
// ReturnOp, LoadOp
//===----------------------------------------------------------------------===//

LogicalResult ReturnOp::verify() {
  auto variant = (*this)->getParentOfType<VariantOp>();
  ArrayRef<Type> results = variant.getResultTypes();
  if (getOperands().size() != results.size())
    return emitOpError() << "returns " << getOperands().size()
                         << " value(s) but the variant declares "
                         << results.size();
  for (auto [i, value, type] : llvm::enumerate(getOperands(), results))
    if (value.getType() != type)
      return emitOpError() << "returns " << value.getType() << " as result #"
                           << i << " but the variant declares " << type;
  return success();
}

LogicalResult LoadOp::verify() {
  std::string name = "the param";
  if (auto variant = (*this)->getParentOfType<VariantOp>()) {
    auto arg = dyn_cast<BlockArgument>(getParam());
    if (!arg || arg.getOwner()->getParentOp() != variant)
      return emitOpError() << "reads a param of the variant; its source is not "
                              "an argument of '"
                           << variant.getSymName() << "'";
    if (arg.getArgNumber() < VariantOp::kNumTensorInputs)
      return emitOpError() << "reads params; '"
                           << variant.getArgumentName(arg.getArgNumber())
                           << "' is an input of the attention, not a param";
    name = "param '" + variant.getArgumentName(arg.getArgNumber()) + "'";
  }
  int64_t rank = cast<RankedTensorType>(getParam().getType()).getRank();
  if (static_cast<int64_t>(getIndices().size()) != rank)
    return emitOpError() << name << " has rank " << rank
                         << " but is indexed with " << getIndices().size()
                         << " index(es)";
  return success();
}

LogicalResult AccumulateOp::verify() {
  auto variant = (*this)->getParentOfType<VariantOp>();
  auto arg = dyn_cast<BlockArgument>(getParam());
  if (!variant || !arg || arg.getOwner()->getParentOp() != variant ||
      arg.getArgNumber() < VariantOp::kNumTensorInputs)
    return emitOpError() << "accumulates into a param of the variant";
  Type type = getParam().getType();
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!isa<FloatType>(tensor ? tensor.getElementType() : type))
    return emitOpError() << "accumulates into float params; got " << type;
  int64_t rank = tensor ? tensor.getRank() : 0;
  if (static_cast<int64_t>(getIndices().size()) != rank)
    return emitOpError() << "the param has rank " << rank
                         << " but is indexed with " << getIndices().size()
                         << " index(es)";
  return success();
}

LogicalResult LoadRangeOp::verify() {
  if (getParam().getType().getRank() != 1)
    return emitOpError() << "summarises 1-D params; got rank "
                         << getParam().getType().getRank();
  return success();
}

//===----------------------------------------------------------------------===//
// The cascade
//===----------------------------------------------------------------------===//

std::optional<double> ScoreOp::getEffectiveScale() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToDouble();
  int64_t headDim = getQuery().getType().getDimSize(3);
  if (ShapedType::isDynamic(headDim) || headDim <= 0)
    return std::nullopt;
  int64_t parts = getHeadPart() ? (*getHeadPart())[1] : 1;
  return 1.0 / std::sqrt(static_cast<double>(headDim) / parts);
}

/// Branches of a multi-branch cascade cut D into `parts` equal parts.
static LogicalResult verifyHeadParts(Operation *op, int64_t parts,
                                     int64_t headDim) {
  if (parts < 2)
    return op->emitOpError() << "needs 2 or more branches; got " << parts;
  if (!ShapedType::isDynamic(headDim) && headDim % parts != 0)
    return op->emitOpError()
           << "cannot cut head dim D = " << headDim << " into " << parts
           << " equal branch parts";
  return success();
}

/// Scores [B, H, N, M] of the pairs of q and k.
static LogicalResult verifyScoresOf(Operation *op, Value q, Value k,
                                    Type scores) {
  FailureOr<AttnSizes> sizes = verifyInputs(op, q.getType(), k.getType());
  if (failed(sizes))
    return failure();
  return ShapeChecker{op}.expect(
      "the scores", scores,
      {sizes->batch, sizes->heads, sizes->queries, sizes->keys},
      "[B, H, N, M]");
}

LogicalResult ScoreOp::verify() {
  if (failed(
          verifyScoresOf(*this, getQuery(), getKey(), getScores().getType())))
    return failure();
  std::optional<ArrayRef<int64_t>> part = getHeadPart();
  if (!part)
    return success();
  if (part->size() != 2)
    return emitOpError() << "head_part is [part, parts]; got "
                         << part->size() << " numbers";
  if ((*part)[0] < 0 || (*part)[0] >= (*part)[1])
    return emitOpError() << "head_part " << (*part)[0] << " is not one of the "
                         << (*part)[1] << " parts";
  return verifyHeadParts(*this, (*part)[1],
                         getQuery().getType().getDimSize(3));
}

/// The cascade ops on scores share one rank check.
static LogicalResult verifyScoreTensor(Operation *op, Type type) {
  return ShapeChecker{op}.rank("the scores", type, 4, "[B, H, N, M]");
}

LogicalResult ScoreModOp::verify() {
  return verifyScoreTensor(*this, getScores().getType());
}

LogicalResult ScoreModOp::verifyRegions() {
  return verifyRegionSignature(*this, getBody(), RegionRole::ScoreMod,
                               /*allowEmpty=*/false);
}

void ScoreModOp::getAsmBlockArgumentNames(Region &region,
                                          OpAsmSetValueNameFn setNameFn) {
  nameRegionArguments(region, RegionRole::ScoreMod, setNameFn);
}

LogicalResult MaskOp::verify() {
  return verifyScoreTensor(*this, getScores().getType());
}

LogicalResult MaskOp::verifyRegions() {
  return verifyRegionSignature(*this, getBody(), RegionRole::Mask,
                               /*allowEmpty=*/false);
}

void MaskOp::getAsmBlockArgumentNames(Region &region,
                                      OpAsmSetValueNameFn setNameFn) {
  nameRegionArguments(region, RegionRole::Mask, setNameFn);
}

LogicalResult SelectOp::verify() {
  return verifyScoresOf(*this, getQuery(), getKey(), getScores().getType());
}

LogicalResult NormalizeOp::verify() {
  if (failed(verifyScoreTensor(*this, getScores().getType())))
    return failure();
  if (getProbs().getType() != getScores().getType())
    return emitOpError() << "the weights must have the scores' type "
                         << getScores().getType() << "; got "
                         << getProbs().getType();
  std::optional<double> temperature;
  if (auto t = getTemperature())
    temperature = t->convertToDouble();
  if (failed(verifyNormalizer(*this, getKind(), temperature,
                              getLse() != nullptr, hasSink())))
    return failure();
  if (!getLse())
    return success();
  auto s = getScores().getType().getShape();
  return ShapeChecker{*this}.expect("lse", getLse().getType(),
                                    {s[0], s[1], s[2]}, "[B, H, N]");
}

LogicalResult NormalizeOp::verifyRegions() {
  return verifyRegionSignature(*this, getSink(), RegionRole::Sink,
                               /*allowEmpty=*/true);
}

void NormalizeOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getProbs(), "probs");
  if (getLse())
    setNameFn(getLse(), "lse");
}

void NormalizeOp::getAsmBlockArgumentNames(Region &region,
                                           OpAsmSetValueNameFn setNameFn) {
  nameRegionArguments(region, RegionRole::Sink, setNameFn);
}

LogicalResult AggregateOp::verify() {
  ShapeChecker check{*this};
  if (failed(verifyScoreTensor(*this, getProbs().getType())) ||
      failed(check.rank("v", getValue().getType(), 4, "[B, Hkv, M, Dv]")))
    return failure();
  auto p = getProbs().getType().getShape();
  auto v = getValue().getType().getShape();
  if (failed(check.same("batch size B", "p", p[0], "v", v[0])) ||
      failed(check.same("key length M", "p", p[3], "v", v[2])) ||
      failed(check.gqa(p[1], v[1])))
    return failure();
  return check.expect("out", getOut().getType(), {p[0], p[1], p[2], v[3]},
                      "[B, H, N, Dv]");
}

LogicalResult OutputModOp::verify() {
  if (failed(ShapeChecker{*this}.rank("out", getInput().getType(), 4,
                                      "[B, H, N, Dv]")))
    return failure();
  for (auto [i, branch] : llvm::enumerate(getBranches()))
    if (branch.getType() != getInput().getType())
      return emitOpError() << "branch " << i + 1 << " has type "
                           << branch.getType() << "; branch 0 has "
                           << getInput().getType();
  return success();
}

/// How many branches the output_mod region that holds `op` combines; 0
/// outside one.
static int64_t branchesAround(Operation *op) {
  Region *region = op->getParentRegion();
  Operation *parent = op->getParentOp();
  if (auto mod = dyn_cast_or_null<OutputModOp>(parent))
    return 1 + mod.getBranches().size();
  if (auto flash = dyn_cast_or_null<FlashOp>(parent);
      flash && region == &flash.getOutputMod())
    return flash.getBranchCount();
  return 0;
}

LogicalResult BranchOp::verify() {
  int64_t branches = branchesAround(*this);
  if (branches == 0)
    return emitOpError() << "reads another branch's values only in an "
                            "output_mod region";
  int64_t index = static_cast<int64_t>(getIndex());
  if (index < 1 || index >= branches)
    return emitOpError() << "reads branch " << index
                         << "; the output_mod combines branches 0 to "
                         << branches - 1
                         << " and reads branch 0 from its arguments";
  return success();
}

LogicalResult OutputModOp::verifyRegions() {
  return verifyRegionSignature(*this, getBody(), RegionRole::OutputMod,
                               /*allowEmpty=*/false);
}

void OutputModOp::getAsmBlockArgumentNames(Region &region,
                                           OpAsmSetValueNameFn setNameFn) {
  nameRegionArguments(region, RegionRole::OutputMod, setNameFn);
}

//===----------------------------------------------------------------------===//
// FlashOp
//===----------------------------------------------------------------------===//

LogicalResult FlashOp::verify() {
  FailureOr<AttnSizes> sizes = verifyInputs(
      *this, getQuery().getType(), getKey().getType(), getValue().getType());
  if (failed(sizes) ||
      failed(verifyOutputs(*this, *sizes, getOut().getType(),
                           getLse() ? getLse().getType() : Type())))
    return failure();
  std::optional<double> temperature;
  if (auto t = getTemperature())
    temperature = t->convertToDouble();
  if (failed(verifyNormalizer(*this, getNormalizer(), temperature, returnsLse(),
                              hasSink())))
    return failure();
  if (getBranches()) {
    if (failed(verifyHeadParts(*this, getBranchCount(), sizes->headDim)))
      return failure();
    if (returnsLse())
      return emitOpError() << "with branches returns no lse: each branch "
                              "has its own";
    if (hasSelection())
      return emitOpError() << "with branches cannot select key blocks";
  }
  if (std::optional<uint64_t> group = getGqaGroup()) {
    int64_t g = static_cast<int64_t>(*group);
    if (g <= 0)
      return emitOpError() << "gqa group must be positive; got " << g;
    if (!ShapedType::isDynamic(sizes->heads) &&
        !ShapedType::isDynamic(sizes->kvHeads) &&
        sizes->heads != g * sizes->kvHeads)
      return emitOpError() << "gqa group " << g
                           << " disagrees with H = " << sizes->heads
                           << " and Hkv = " << sizes->kvHeads;
  }
  return success();
}

LogicalResult FlashOp::verifyRegions() {
  if (failed(verifyRegionSignature(*this, getScoreMod(), RegionRole::ScoreMod,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getMask(), RegionRole::Mask,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getOutputMod(), RegionRole::OutputMod,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getTileClass(), RegionRole::TileClass,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getScoreModGrad(),
                                   RegionRole::ScoreModGrad,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getOutputModGrad(),
                                   RegionRole::OutputModGrad,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getSink(), RegionRole::Sink,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getSinkGrad(), RegionRole::SinkGrad,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getOutputModLseGrad(),
                                   RegionRole::OutputModLseGrad,
                                   /*allowEmpty=*/true)) ||
      failed(verifyRegionSignature(*this, getOutputModRowSumGrad(),
                                   RegionRole::OutputModRowSumGrad,
                                   /*allowEmpty=*/true)))
    return failure();
  if (hasOutputMod() && getNormalizer() != NormalizerKind::Softmax &&
      !getOutputMod().getArgument(kOutputModLseArg).use_empty())
    return emitOpError() << "the output_mod reads lse, which only softmax "
                            "defines; the normalizer is "
                         << stringifyNormalizerKind(getNormalizer());
  return success();
}

void FlashOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getOut(), "out");
  if (getLse())
    setNameFn(getLse(), "lse");
}

void FlashOp::getAsmBlockArgumentNames(Region &region,
                                       OpAsmSetValueNameFn setNameFn) {
  RegionRole kind =
      &region == &getScoreMod()              ? RegionRole::ScoreMod
      : &region == &getMask()                ? RegionRole::Mask
      : &region == &getOutputMod()           ? RegionRole::OutputMod
      : &region == &getScoreModGrad()        ? RegionRole::ScoreModGrad
      : &region == &getOutputModGrad()       ? RegionRole::OutputModGrad
      : &region == &getSink()                ? RegionRole::Sink
      : &region == &getSinkGrad()            ? RegionRole::SinkGrad
      : &region == &getOutputModLseGrad()    ? RegionRole::OutputModLseGrad
      : &region == &getOutputModRowSumGrad() ? RegionRole::OutputModRowSumGrad
                                             : RegionRole::TileClass;
  nameRegionArguments(region, kind, setNameFn);
}

#define GET_OP_CLASSES
#include "dialect/AttnOps.cpp.inc"
