//===- RandomInputs.cpp - random inputs for a variant ---------------------===//

#include "Reference/RandomInputs.h"
#include "Reference/ParamShapes.h"
#include "Support/Error.h"
#include "dialect/AttnOps.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

using namespace mlir;
using namespace attnc;

static RefArray randomArray(std::vector<int64_t> shape, std::mt19937_64 &rng,
                            double lo, double hi) {
  RefArray array;
  array.shape = std::move(shape);
  array.data.resize(array.numElements());
  std::uniform_real_distribution<double> dist(lo, hi);
  for (double &x : array.data)
    x = dist(rng);
  return array;
}

int64_t attnc::getCallSize(const AttnSizes &s, StringRef name) {
  return name == "B"     ? s.batch
         : name == "H"   ? s.heads
         : name == "Hkv" ? s.kvHeads
         : name == "N"   ? s.queries
         : name == "M"   ? s.keys
         : name == "D"   ? s.headDim
         : name == "Dv"  ? s.valueDim
                         : -1;
}

std::vector<int64_t> attnc::paramCallShape(attn::VariantOp variant,
                                           BlockArgument arg,
                                           const AttnSizes &s) {
  auto tensor = dyn_cast<RankedTensorType>(arg.getType());
  if (!tensor)
    return {};
  std::vector<int64_t> shape;
  auto names =
      variant.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), "attn.shape");
  for (int64_t d = 0; d < tensor.getRank(); ++d) {
    StringRef name = names && d < int64_t(names.size())
                         ? cast<StringAttr>(names[d]).getValue()
                         : StringRef("?");
    shape.push_back(!tensor.isDynamicDim(d) ? tensor.getDimSize(d)
                                            : getCallSize(s, name));
  }
  return shape;
}

double attnc::scalarParamValue(attn::VariantOp variant, unsigned index,
                               const AttnSizes &s) {
  auto def = variant.getArgAttrOfType<TypedAttr>(index, "attn.default");
  if (variant.getArgAttr(index, "attn.size"))
    return double(getCallSize(s, variant.getArgumentName(index)));
  if (auto f = dyn_cast_or_null<FloatAttr>(def))
    return f.getValueAsDouble();
  if (auto i = dyn_cast_or_null<IntegerAttr>(def))
    return double(i.getValue().getSExtValue());
  return 3.0;
}

/// The shapes of q, k and v.
static std::array<std::vector<int64_t>, 3> qkvShapes(const AttnSizes &s) {
  return {{{s.batch, s.heads, s.queries, s.headDim},
           {s.batch, s.kvHeads, s.keys, s.headDim},
           {s.batch, s.kvHeads, s.keys, s.valueDim}}};
}

int64_t attnc::countRandomInputs(const AttnSizes &s, const ParamShapes &shapes,
                                 bool withQKV) {
  int64_t total = 0;
  auto add = [&](ArrayRef<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      if (__builtin_mul_overflow(n, std::max<int64_t>(d, 0), &n))
        n = INT64_MAX;
    if (__builtin_add_overflow(total, n, &total))
      total = INT64_MAX;
  };
  for (const std::vector<int64_t> &shape : qkvShapes(s))
    if (withQKV)
      add(shape);
  for (const std::vector<int64_t> &shape : shapes)
    if (!shape.empty())
      add(shape);
  return total;
}

/// A block selection ranks f32 gates, which a kernel and the reference may
/// round differently where two are nearly equal. On multiples of 1/8 in
/// [-1, 1] (exact in bf16 and f16 too) the block sums and the gates' dot
/// products are exact in f32 for head dims up to 2048, so both compute the
/// same gates (lib/Reference/Selection.cpp), and the grid makes exact ties,
/// which exercises the tie rule.
static bool selectsBlocks(attn::VariantOp variant) {
  bool found = false;
  variant.walk([&](Operation *op) {
    if (auto flash = dyn_cast<attn::FlashOp>(op))
      found |= flash.hasSelection();
    found |= isa<attn::SelectOp>(op);
  });
  return found;
}

RefInputs attnc::makeRandomInputs(attn::VariantOp variant, const AttnSizes &s,
                                  uint64_t seed, int64_t anySize,
                                  int64_t idRange, bool withQKV) {
  return makeRandomInputs(variant, s, seed,
                          fixedParamShapes(variant, s, anySize), idRange,
                          withQKV);
}

RefInputs attnc::makeRandomInputs(attn::VariantOp variant, const AttnSizes &s,
                                  uint64_t seed, const ParamShapes &shapes,
                                  int64_t idRange, bool withQKV) {
  std::mt19937_64 rng(seed);
  RefInputs inputs;
  auto [q, k, v] = qkvShapes(s);
  if (withQKV) {
    inputs.q = randomArray(q, rng, -1, 1);
    inputs.k = randomArray(k, rng, -1, 1);
    inputs.v = randomArray(v, rng, -1, 1);
    if (selectsBlocks(variant))
      for (RefArray *array : {&inputs.q, &inputs.k})
        for (double &x : array->data)
          x = std::round(x * 8) / 8;
  } else {
    inputs.q.shape = q, inputs.k.shape = k, inputs.v.shape = v;
  }
  // Without q, k and v, their draws are still made (and dropped) before a
  // tensor param's, so that params do not depend on `withQKV`: a timed run
  // and `attnc mask` see the params the check sees.
  int64_t undrawn = withQKV ? 0
                            : inputs.q.numElements() + inputs.k.numElements() +
                                  inputs.v.numElements();
  for (BlockArgument arg : variant.getParams()) {
    unsigned index = arg.getArgNumber();
    Type type = arg.getType();
    auto tensor = dyn_cast<RankedTensorType>(type);
    Type elem = tensor ? tensor.getElementType() : type;
    if (!tensor) {
      RefArray scalar;
      scalar.data = {scalarParamValue(variant, index, s)};
      inputs.params.push_back(scalar);
      continue;
    }
    std::uniform_real_distribution<double> dropped(-1, 1);
    for (; undrawn > 0; --undrawn)
      (void)dropped(rng);
    RefArray array = randomArray(
        shapes[index - attn::VariantOp::kNumTensorInputs], rng, -1, 1);
    if (elem.isInteger(1)) {
      for (double &x : array.data)
        x = x < 0 ? 0 : 1;
    } else if (elem.isInteger()) {
      for (double &x : array.data)
        x = std::min(double(idRange - 1), std::floor((x + 1) * 0.5 * idRange));
      // Ids along one axis (documents, segments) come in contiguous runs.
      if (array.shape.size() == 1)
        std::sort(array.data.begin(), array.data.end());
    }
    inputs.params.push_back(std::move(array));
  }
  return inputs;
}

llvm::Error attnc::setScalarParams(attn::VariantOp variant,
                                   const std::map<std::string, double> &values,
                                   RefInputs &inputs) {
  for (const auto &[name, value] : values) {
    std::optional<size_t> found;
    std::string names;
    for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
      std::string argName = variant.getArgumentName(arg.getArgNumber());
      bool scalar = !isa<RankedTensorType>(arg.getType());
      bool size = bool(variant.getArgAttr(arg.getArgNumber(), "attn.size"));
      if (scalar && !size)
        names += (names.empty() ? "" : ", ") + argName;
      if (argName == name) {
        if (size)
          return makeError("--param " + name + ": '" + name +
                           "' is a size of the call; --shape sets it");
        if (!scalar)
          return makeError("--param " + name + ": '" + name +
                           "' is a tensor param; only scalars take a value");
        found = i;
      }
    }
    if (!found)
      return makeError("--param " + name +
                       ": the variant has no scalar param '" + name + "'" +
                       (names.empty() ? std::string(" (it has none)")
                                      : " (its scalar params: " + names + ")"));
    inputs.params[*found].data = {value};
  }
  return llvm::Error::success();
}
