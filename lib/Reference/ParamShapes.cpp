//===- ParamShapes.cpp - the shapes of a variant's tensor params ----------===//

#include "Reference/ParamShapes.h"
#include "Support/Error.h"
#include "Support/Locations.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/OpImplementation.h"

#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace attnc;

namespace {

/// Stands for "no bound": far past any size a param could have, and small
/// enough that sums and products of two such stay exact in __int128.
constexpr int64_t kFar = int64_t(1) << 50;

/// The integers an index can take, [lo, hi], each end clamped to
/// [-kFar, kFar] (which then means "unbounded" that way).
struct Bounds {
  int64_t lo = -kFar, hi = kFar;
  bool bounded() const { return hi < kFar; }
};

int64_t clampFar(__int128 x) {
  return x < -kFar ? -kFar : x > kFar ? kFar : int64_t(x);
}

/// Bounds the indices of param reads by interval arithmetic over the
/// region's arguments (named as the dialect prints them) and the variant's
/// scalars; what it does not model is unbounded. Only the upper bound sizes
/// a dim, so min(x, 40) of anything is at most 40.
class IndexBounds {
public:
  IndexBounds(attn::VariantOp variant, const AttnSizes &sizes,
              const ParamSizing &sizing)
      : variant(variant), sizes(sizes), sizing(sizing) {}

  Bounds of(Value v) {
    if (auto it = cache.find(v); it != cache.end())
      return it->second;
    Bounds b = compute(v);
    cache[v] = b;
    return b;
  }

private:
  static Bounds point(int64_t x) { return range(x, x); }
  static Bounds range(__int128 lo, __int128 hi) {
    return Bounds{clampFar(lo), clampFar(hi)};
  }

  Bounds compute(Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return ofArgument(arg);
    Operation *op = v.getDefiningOp();
    auto in = [&](unsigned i) { return of(op->getOperand(i)); };
    using I = __int128;
    return llvm::TypeSwitch<Operation *, Bounds>(op)
        .Case([&](arith::ConstantOp c) -> Bounds {
          if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
            return point(clampFar(i.getValue().getSExtValue()));
          return Bounds{};
        })
        .Case([&](arith::AddIOp) {
          return corners(in(0), in(1), [](I a, I b) { return a + b; });
        })
        .Case([&](arith::SubIOp) {
          return corners(in(0), in(1), [](I a, I b) { return a - b; });
        })
        .Case([&](arith::MulIOp) {
          return corners(in(0), in(1), [](I a, I b) { return a * b; });
        })
        .Case<arith::DivSIOp, arith::FloorDivSIOp,
              arith::CeilDivSIOp>([&](auto o) -> Bounds {
          // Monotone in each operand while the divisor keeps its sign.
          Bounds d = in(1);
          if (d.lo <= 0 && d.hi >= 0)
            return Bounds{};
          return corners(in(0), d, [&](I a, I b) {
            I r = a / b;
            bool inexact = r * b != a;
            if constexpr (std::is_same_v<decltype(o), arith::FloorDivSIOp>)
              r -= inexact && ((a < 0) != (b < 0));
            else if constexpr (std::is_same_v<decltype(o), arith::CeilDivSIOp>)
              r += inexact && ((a < 0) == (b < 0));
            return r;
          });
        })
        .Case([&](arith::RemSIOp) -> Bounds {
          Bounds a = in(0), d = in(1);
          I m = std::max(std::abs(I(d.lo)), std::abs(I(d.hi))) - 1;
          return range(a.lo >= 0 ? 0 : std::max(I(a.lo), -m),
                       a.hi <= 0 ? 0 : std::min(I(a.hi), m));
        })
        .Case([&](arith::MinSIOp) {
          Bounds a = in(0), b = in(1);
          return range(std::min(a.lo, b.lo), std::min(a.hi, b.hi));
        })
        .Case([&](arith::MaxSIOp) {
          Bounds a = in(0), b = in(1);
          return range(std::max(a.lo, b.lo), std::max(a.hi, b.hi));
        })
        .Case([&](arith::SelectOp) {
          Bounds a = in(1), b = in(2);
          return range(std::min(a.lo, b.lo), std::max(a.hi, b.hi));
        })
        .Case([&](math::AbsIOp) {
          Bounds a = in(0);
          if (a.lo >= 0)
            return a;
          if (a.hi <= 0)
            return range(-I(a.hi), -I(a.lo));
          return range(0, std::max(-I(a.lo), I(a.hi)));
        })
        // Widths: bounds that fit the narrower type stay as they are.
        .Case<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp>(
            [&](Operation *o) -> Bounds {
              Bounds a = in(0);
              Type to = o->getResult(0).getType();
              const int64_t fits = int64_t(1) << 30;
              if (!to.isIndex() && to.getIntOrFloatBitWidth() < 64 &&
                  (a.lo < -fits || a.hi > fits))
                return Bounds{};
              return a;
            })
        .Case<arith::CmpIOp, arith::CmpFOp>(
            [&](Operation *) { return range(0, 1); })
        .Case([&](attn::LoadOp load) -> Bounds {
          Type elem = load.getType();
          if (elem.isInteger(1))
            return range(0, 1);
          if (elem.isInteger())
            return range(0, sizing.idRange - 1);
          return Bounds{};
        })
        .Default([](Operation *) { return Bounds{}; });
  }

  /// The bounds of `f` over the corners of `a` x `b` (monotone in each). A
  /// corner at an unbounded end stays unbounded (kFar / 128 is no bound).
  template <typename F> static Bounds corners(Bounds a, Bounds b, F f) {
    auto far = [](int64_t x) { return x <= -kFar || x >= kFar; };
    __int128 lo = kFar, hi = -kFar;
    for (int64_t x : {a.lo, a.hi})
      for (int64_t y : {b.lo, b.hi}) {
        __int128 r = f(x, y);
        if ((far(x) || far(y)) && r != 0)
          r = r < 0 ? -kFar : kFar;
        lo = std::min(lo, r), hi = std::max(hi, r);
      }
    return range(lo, hi);
  }

  Bounds ofArgument(BlockArgument arg) {
    Operation *owner = arg.getOwner()->getParentOp();
    if (owner == variant.getOperation())
      return ofVariantArgument(arg);
    auto named = dyn_cast_or_null<OpAsmOpInterface>(owner);
    if (!named)
      return Bounds{};
    StringRef name;
    named.getAsmBlockArgumentNames(*arg.getOwner()->getParent(),
                                   [&](Value v, StringRef n) {
                                     if (v == arg)
                                       name = n;
                                   });
    auto upTo = [](int64_t size) {
      return range(0, std::max<int64_t>(size, 1) - 1);
    };
    if (name == "b")
      return upTo(sizes.batch);
    if (name == "h")
      return upTo(sizes.heads);
    // A tile classifier's bounds are positions too.
    if (name == "q_idx" || name == "q_first" || name == "q_last")
      return upTo(sizes.queries);
    if (name == "kv_idx" || name == "kv_first" || name == "kv_last")
      return upTo(sizes.keys);
    if (name == "d")
      return upTo(sizes.valueDim);
    return Bounds{};
  }

  Bounds ofVariantArgument(BlockArgument arg) {
    unsigned index = arg.getArgNumber();
    Type type = arg.getType();
    if (isa<RankedTensorType>(type) || !type.isIntOrIndex())
      return Bounds{};
    double value = scalarParamValue(variant, index, sizes);
    if (auto it = sizing.scalars.find(variant.getArgumentName(index));
        it != sizing.scalars.end() && !variant.getArgAttr(index, "attn.size"))
      value = it->second;
    return point(value <= -kFar  ? -kFar
                 : value >= kFar ? kFar
                                 : int64_t(value));
  }

  attn::VariantOp variant;
  const AttnSizes &sizes;
  const ParamSizing &sizing;
  llvm::DenseMap<Value, Bounds> cache;
};

std::string describe(Location loc) {
  std::string where = formatLocation(loc);
  return where.empty() ? "" : " at " + where;
}

} // namespace

ParamShapes attnc::fixedParamShapes(attn::VariantOp variant,
                                    const AttnSizes &sizes, int64_t anySize) {
  ParamShapes shapes;
  for (BlockArgument arg : variant.getParams()) {
    std::vector<int64_t> shape = paramCallShape(variant, arg, sizes);
    for (int64_t &d : shape)
      d = d < 0 ? anySize : d;
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

llvm::Expected<ParamShapes> attnc::sizeParams(attn::VariantOp variant,
                                              const AttnSizes &sizes,
                                              const ParamSizing &sizing) {
  ParamShapes shapes;
  std::string withAny; // the params that have `?` dims
  for (BlockArgument arg : variant.getParams()) {
    shapes.push_back(paramCallShape(variant, arg, sizes));
    if (llvm::is_contained(shapes.back(), -1))
      withAny += (withAny.empty() ? "" : ", ") +
                 variant.getArgumentName(arg.getArgNumber());
  }
  // --dim first: what it names must be a param with as many `?` dims.
  for (const auto &[name, given] : sizing.dims) {
    std::optional<size_t> found;
    for (auto [i, arg] : llvm::enumerate(variant.getParams()))
      if (variant.getArgumentName(arg.getArgNumber()) == name)
        found = i;
    size_t any = found ? llvm::count(shapes[*found], -1) : 0;
    if (!any)
      return makeError("--dim " + name + ": the variant has no param '" + name +
                       "' with `?` dims" +
                       (withAny.empty()
                            ? std::string(" (it has none)")
                            : " (those with `?` dims: " + withAny + ")"));
    if (given.size() != any)
      return makeError("--dim " + name + ": '" + name + "' has " +
                       std::to_string(any) + " `?` dim(s); got " +
                       std::to_string(given.size()) + " size(s)");
    auto next = given.begin();
    for (int64_t &d : shapes[*found])
      if (d < 0)
        d = *next++;
  }
  IndexBounds bounds(variant, sizes, sizing);
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    std::vector<int64_t> &shape = shapes[i];
    if (!llvm::is_contained(shape, -1))
      continue;
    std::string name = variant.getArgumentName(arg.getArgNumber());
    std::vector<int64_t> extent(shape.size(), 1); // an unread dim: 1
    for (Operation *user : arg.getUsers()) {
      auto load = dyn_cast<attn::LoadOp>(user);
      if (!load)
        continue;
      for (auto [d, index] : llvm::enumerate(load.getIndices())) {
        if (shape[d] >= 0)
          continue;
        Bounds b = bounds.of(index);
        if (!b.bounded() && !sizing.unbounded)
          return makeError(
              "param '" + name + "': its `?` dim " + std::to_string(d) +
              " cannot be sized from the read" + describe(load.getLoc()) +
              " (its index is not bounded by b, h, q_idx, kv_idx, d and "
              "scalars); give its `?` dims with --dim " +
              name + "=SIZE,...");
        int64_t hi = b.bounded() ? b.hi : *sizing.unbounded - 1;
        extent[d] = std::max(extent[d], hi + 1);
      }
    }
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] < 0)
        shape[d] = extent[d];
  }
  return shapes;
}
