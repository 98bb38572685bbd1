//===- Backward.cpp - the backward kernel of a differentiated variant -----===//
//
// `<name>_backward_kernel`, FlashAttention-2's backward in two phases that
// need no atomics on dq, dk or dv (each is written by one work item):
//
//   phase 0, an item per query row (b, h, i): the output before output_mod
//     (recomputed from the saved lse when there is an output_mod, else the
//     given out), dO through output_mod_grad, delta_i = rowsum(dO * O), both
//     kept in f32 scratch for phase 1; then dq_i = scale * sum_j ds_ij k_j
//     and the param gradients (attn.accumulate, atomically);
//   phase 1, an item per key (b, hkv, j): dv_j = sum p_ij dO_i and dk_j =
//     scale * sum ds_ij q_i over the rows of every query head of the group.
//
// Per pair: s = scale q.k, the score_mod, the mask, u = s / temperature +
// bias, p from u (softmax: exp(u - lse)), dp = dO.v, du by the normalizer
// (softmax: p (dp - delta)), then score_mod_grad back to the raw score.
// Key and query tiles whose tile_class is empty are skipped, full ones
// evaluate no mask: the same classifier, asked with a row's or a key's
// bounds. Pairs are scalar, the head dims are vector loops.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"
#include "Conversion/Passes.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

void KernelGenerator::emitAccumulate(AccumulateOp op,
                                     const IRMapping &mapping) {
  Value grad = paramGrads.lookup(op.getParam());
  SmallVector<Value> indices;
  for (Value i : op.getIndices())
    indices.push_back(mapping.lookupOrDefault(i));
  if (indices.empty())
    indices.push_back(index(0));
  // Out of bounds: the forward's read has set the status; add nothing.
  Value inBounds = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  for (auto [d, i] : llvm::enumerate(indices)) {
    Value dim = memref::DimOp::create(b, loc, grad, d);
    inBounds = arith::AndIOp::create(
        b, loc, inBounds,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, dim));
  }
  Value value = mapping.lookupOrDefault(op.getValue());
  ifThenElse(
      inBounds, {},
      [&] {
        memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addf, value,
                                    grad, indices);
        return SmallVector<Value>{};
      },
      [&] { return SmallVector<Value>{}; });
}

namespace {

class BackwardGenerator : public KernelGenerator {
public:
  using KernelGenerator::KernelGenerator;
  LogicalResult generateBackward();

private:
  /// What a pair gives the backward.
  struct Pair {
    Value keep, p, ds; // ds: dL / d(raw score), 0 where not kept
  };
  /// The pair (b, h, i) x (b, kvHead, j); dp and ds only `withGrad`.
  Pair emitPair(Value h, Value i, Value j, bool withMask, bool withGrad);
  /// f32 dot product of x[b, hx, ix, :] and y[b, hy, iy, :] over n.
  Value emitDot(Value x, Value hx, Value ix, Value y, Value hy, Value iy,
                Value n);
  /// acc[:n] += c * x[b, hx, ix, :n].
  void emitAxpy(Value acc, Value c, Value x, Value hx, Value ix, Value n);
  /// Visits tiles of `tile` positions over [0, count): `classify(first,
  /// last)` gives a tile's class, `body(first, end, withMask)` runs on the
  /// tiles that are not empty.
  void emitTiles(Value count, int64_t tile,
                 function_ref<Value(Value, Value)> classify,
                 function_ref<void(Value, Value, bool)> body);
  Value emitClass(Value h, Value qFirst, Value qLast, Value kFirst,
                  Value kLast);
  void emitRowItem(Value item);
  void emitKeyItem(Value item);
  void zero(Value buffer, Value n);
  void store(Value to, Value h, Value row, Value from, Value n);

  Value dout, dq, dk, dv, dopre, delta;
  Value queries, heads, kvHeads, rowAcc, outAcc, keyAcc, valueAcc;
  Value rowLse, rowDelta; // of the row being visited
  Value weightSum;        // [1]: the row's weight sum, summed in phase 0
};

Value BackwardGenerator::emitDot(Value x, Value hx, Value ix, Value y, Value hy,
                                 Value iy, Value n) {
  Type f32Type = b.getF32Type();
  auto load = [&](Value m, Value h, Value i, Value d, Value mask) {
    Type elem = cast<MemRefType>(m.getType()).getElementType();
    return toF32(vector::MaskedLoadOp::create(b, loc, vec(elem), m,
                                              ValueRange{batch, h, i, d}, mask,
                                              zeroVector(elem)));
  };
  Value sum = forLoop(index(0), n, index(width), {zeroVector(f32Type)},
                      [&](Value d, ValueRange acc) {
                        Value mask = vector::CreateMaskOp::create(
                            b, loc, VectorType::get({width}, b.getI1Type()),
                            ValueRange{arith::SubIOp::create(b, loc, n, d)});
                        return SmallVector<Value>{vector::FMAOp::create(
                            b, loc, load(x, hx, ix, d, mask),
                            load(y, hy, iy, d, mask), acc[0])};
                      })[0];
  return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sum);
}

void BackwardGenerator::emitAxpy(Value acc, Value c, Value x, Value hx,
                                 Value ix, Value n) {
  Type f32Type = b.getF32Type();
  Type elem = cast<MemRefType>(x.getType()).getElementType();
  Value cs = splat(c);
  vectorLoop(n, [&](Value d, Value mask) {
    Value xs = toF32(vector::MaskedLoadOp::create(b, loc, vec(elem), x,
                                                  ValueRange{batch, hx, ix, d},
                                                  mask, zeroVector(elem)));
    Value a = vector::MaskedLoadOp::create(
        b, loc, vec(f32Type), acc, ValueRange{d}, mask, zeroVector(f32Type));
    vector::MaskedStoreOp::create(b, loc, acc, ValueRange{d}, mask,
                                  vector::FMAOp::create(b, loc, cs, xs, a));
  });
}

void BackwardGenerator::zero(Value buffer, Value n) {
  Value zeros = zeroVector(b.getF32Type());
  vectorLoop(n, [&](Value d, Value mask) {
    vector::MaskedStoreOp::create(b, loc, buffer, ValueRange{d}, mask, zeros);
  });
}

/// to[b, h, row, :n] = from[:n] in to's element type.
void BackwardGenerator::store(Value to, Value h, Value row, Value from,
                              Value n) {
  Type f32Type = b.getF32Type();
  Type elem = cast<MemRefType>(to.getType()).getElementType();
  vectorLoop(n, [&](Value d, Value mask) {
    Value x = vector::MaskedLoadOp::create(
        b, loc, vec(f32Type), from, ValueRange{d}, mask, zeroVector(f32Type));
    if (!elem.isF32())
      x = arith::TruncFOp::create(b, loc, vec(elem), x);
    vector::MaskedStoreOp::create(b, loc, to, ValueRange{batch, h, row, d},
                                  mask, x);
  });
}

Value BackwardGenerator::emitClass(Value h, Value qFirst, Value qLast,
                                   Value kFirst, Value kLast) {
  if (!flash.hasTileClass())
    return arith::ConstantOp::create(
        b, loc, b.getI8IntegerAttr(int8_t(TileClass::Partial)));
  return emitRegion(flash.getTileClass(),
                    {batch, h, qFirst, qLast, kFirst, kLast});
}

void BackwardGenerator::emitTiles(Value count, int64_t tile,
                                  function_ref<Value(Value, Value)> classify,
                                  function_ref<void(Value, Value, bool)> body) {
  Value tiles = arith::CeilDivUIOp::create(b, loc, count, index(tile));
  forLoop(index(0), tiles, index(1), {}, [&](Value t, ValueRange) {
    Value first = arith::MulIOp::create(b, loc, t, index(tile));
    Value end = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, first, index(tile)), count);
    if (!flash.hasMask()) {
      body(first, end, /*withMask=*/false);
      return SmallVector<Value>{};
    }
    Value cls = classify(first, arith::SubIOp::create(b, loc, end, index(1)));
    emitByClass(cls, [&](bool withMask) { body(first, end, withMask); });
    return SmallVector<Value>{};
  });
}

BackwardGenerator::Pair BackwardGenerator::emitPair(Value h, Value i, Value j,
                                                    bool withMask,
                                                    bool withGrad) {
  NormalizerKind kind = flash.getNormalizer();
  Value zero = f32(0.0), one = f32(1.0);
  Value raw = arith::MulFOp::create(b, loc, scale,
                                    emitDot(q, h, i, k, kvHead, j, headDim));
  Value s = raw;
  if (flash.hasScoreMod())
    s = emitRegion(flash.getScoreMod(), {raw, batch, h, i, j});
  Value keep = withMask
                   ? emitRegion(flash.getMask(), {batch, h, i, j})
                   : arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  double temperature =
      flash.getTemperature() ? flash.getTemperature()->convertToDouble() : 1.0;
  Value u = s;
  if (flash.getTemperature())
    u = arith::DivFOp::create(b, loc, u, f32(temperature));
  if (auto bias = flash.getBias())
    u = arith::AddFOp::create(b, loc, u, f32(bias->convertToDouble()));
  Value p;
  switch (kind) {
  case NormalizerKind::Softmax:
    // A row whose kept scores are all -inf has lse -inf and no weight.
    p = arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowLse,
                              f32(-std::numeric_limits<double>::infinity())),
        zero,
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, u, rowLse)));
    break;
  case NormalizerKind::Sigmoid:
    p = arith::DivFOp::create(
        b, loc, one,
        arith::AddFOp::create(
            b, loc, one,
            math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, u))));
    break;
  case NormalizerKind::Relu:
    p = arith::MaximumFOp::create(b, loc, u, zero);
    break;
  case NormalizerKind::Identity:
    p = u;
    break;
  }
  Pair pair{keep, arith::SelectOp::create(b, loc, keep, p, zero), zero};
  if (!withGrad)
    return pair;
  Value dp = emitDot(dopre, h, i, v, kvHead, j, valueDim);
  // An output_mod's row_sum adds up the weights: dL/dp gets dL/drow_sum,
  // which the other normalizers keep as the row's delta.
  if (kind != NormalizerKind::Softmax && readsRowSum(flash.getOutputMod()))
    dp = arith::AddFOp::create(b, loc, dp, rowDelta);
  Value du;
  switch (kind) {
  case NormalizerKind::Softmax:
    du = arith::MulFOp::create(b, loc, p,
                               arith::SubFOp::create(b, loc, dp, rowDelta));
    break;
  case NormalizerKind::Sigmoid:
    du = arith::MulFOp::create(
        b, loc, dp,
        arith::MulFOp::create(b, loc, p,
                              arith::SubFOp::create(b, loc, one, p)));
    break;
  case NormalizerKind::Relu:
    du = arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, u, zero), dp,
        zero);
    break;
  case NormalizerKind::Identity:
    du = dp;
    break;
  }
  if (flash.getTemperature())
    du = arith::DivFOp::create(b, loc, du, f32(temperature));
  // Masked pairs take no part: their param gradients are not added (and
  // their weights may be inf, from a score the mask drops).
  pair.ds = ifThenElse(
      keep, {b.getF32Type()},
      [&] {
        if (!flash.hasScoreMod())
          return SmallVector<Value>{du};
        return SmallVector<Value>{
            emitRegion(flash.getScoreModGrad(), {raw, batch, h, i, j, du})};
      },
      [&] { return SmallVector<Value>{zero}; })[0];
  return pair;
}

void BackwardGenerator::emitRowItem(Value item) {
  Type f32Type = b.getF32Type();
  Value i = arith::RemUIOp::create(b, loc, item, queries);
  Value bh = arith::DivUIOp::create(b, loc, item, queries);
  Value h = arith::RemUIOp::create(b, loc, bh, heads);
  batch = arith::DivUIOp::create(b, loc, bh, heads);
  kvHead = arith::DivUIOp::create(b, loc, h, group);
  bool softmax = flash.getNormalizer() == NormalizerKind::Softmax;
  rowLse =
      softmax
          ? Value(memref::LoadOp::create(b, loc, lse, ValueRange{batch, h, i}))
          : f32(0.0);
  auto classify = [&](Value first, Value last) {
    return emitClass(h, i, i, first, last);
  };

  // The output before output_mod, and dO through it. O is recomputed in
  // f32 also when `out` is narrower: delta from a bf16 out is off by its
  // rounding, which a param's gradient (a sum over every pair) amplifies.
  accumulateGrads = true;
  Value rowDot, dLse = f32(0.0), dRowSum = f32(0.0), rowSumValue = f32(0.0);
  Type elem = cast<MemRefType>(out.getType()).getElementType();
  Region &outputMod = flash.getOutputMod();
  if (flash.hasOutputMod() || !elem.isF32()) {
    zero(outAcc, valueDim);
    // The row's weight sum, for an output_mod that reads it.
    memref::StoreOp::create(b, loc, f32(0.0), weightSum, ValueRange{index(0)});
    emitTiles(numKeys, tileKv, classify, [&](Value first, Value end, bool m) {
      forLoop(first, end, index(1), {}, [&](Value j, ValueRange) {
        Pair pair = emitPair(h, i, j, m, /*withGrad=*/false);
        emitAxpy(outAcc, pair.p, v, kvHead, j, valueDim);
        if (readsRowSum(outputMod))
          memref::StoreOp::create(
              b, loc,
              arith::AddFOp::create(
                  b, loc,
                  memref::LoadOp::create(b, loc, weightSum,
                                         ValueRange{index(0)}),
                  pair.p),
              weightSum, ValueRange{index(0)});
        return SmallVector<Value>{};
      });
    });
    rowSumValue =
        memref::LoadOp::create(b, loc, weightSum, ValueRange{index(0)});
    // dO through output_mod, and the adjoints of its lse and row_sum
    // summed over the row.
    SmallVector<Value> sums = forLoop(
        index(0), valueDim, index(1), {f32(0.0), f32(0.0), f32(0.0)},
        [&](Value d, ValueRange sum) {
          Value o = memref::LoadOp::create(b, loc, outAcc, ValueRange{d});
          Value g = toF32(
              memref::LoadOp::create(b, loc, dout, ValueRange{batch, h, i, d}));
          SmallVector<Value> args = {o, batch, h, i, d, rowLse, rowSumValue, g};
          Value dO = flash.hasOutputMod()
                         ? emitRegion(flash.getOutputModGrad(), args)
                         : g;
          memref::StoreOp::create(b, loc, dO, dopre,
                                  ValueRange{batch, h, i, d});
          SmallVector<Value> next = {arith::AddFOp::create(
              b, loc, sum[0], arith::MulFOp::create(b, loc, dO, o))};
          Region *statGrads[] = {&flash.getOutputModLseGrad(),
                                 &flash.getOutputModRowSumGrad()};
          for (auto [k, grad] : llvm::enumerate(statGrads))
            next.push_back(
                grad->empty() ? sum[k + 1]
                              : arith::AddFOp::create(b, loc, sum[k + 1],
                                                      emitRegion(*grad, args)));
          return next;
        });
    rowDot = sums[0], dLse = sums[1], dRowSum = sums[2];
  } else {
    Value sum =
        forLoop(index(0), valueDim, index(width), {zeroVector(f32Type)},
                [&](Value d, ValueRange acc) {
                  Value mask = vector::CreateMaskOp::create(
                      b, loc, VectorType::get({width}, b.getI1Type()),
                      ValueRange{arith::SubIOp::create(b, loc, valueDim, d)});
                  auto load = [&](Value m) {
                    return toF32(vector::MaskedLoadOp::create(
                        b, loc, vec(elem), m, ValueRange{batch, h, i, d}, mask,
                        zeroVector(elem)));
                  };
                  Value g = load(dout);
                  vector::MaskedStoreOp::create(
                      b, loc, dopre, ValueRange{batch, h, i, d}, mask, g);
                  return SmallVector<Value>{
                      vector::FMAOp::create(b, loc, g, load(out), acc[0])};
                })[0];
    rowDot =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sum);
  }
  // The row's delta as the pairs take it. Softmax: du = p (dp + dL/drow_sum
  // - (rowDot + row_sum dL/drow_sum - dL/dlse)), lse and every weight
  // moving together; the other normalizers: dp + dL/drow_sum (emitPair).
  rowDelta = rowDot;
  if (softmax && readsRowStatistics(outputMod))
    rowDelta = arith::SubFOp::create(
        b, loc,
        arith::AddFOp::create(
            b, loc, rowDot,
            arith::MulFOp::create(
                b, loc, dRowSum,
                arith::SubFOp::create(b, loc, rowSumValue, f32(1.0)))),
        dLse);
  else if (!softmax && readsRowSum(outputMod))
    rowDelta = dRowSum;
  memref::StoreOp::create(b, loc, rowDelta, delta, ValueRange{batch, h, i});
  // The sink's gradient: its weight exp(sink - lse) moves against every
  // key's, dL/dsink = -exp(sink - lse) * (rowDelta + dL/drow_sum), then
  // through sink_grad.
  if (flash.hasSink()) {
    Value sink = emitRegion(flash.getSink(), {batch, h});
    // A sink of -inf in a row with nothing kept: lse -inf, no weight.
    Value weight = arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowLse,
                              f32(-std::numeric_limits<double>::infinity())),
        f32(0.0),
        math::ExpOp::create(b, loc,
                            arith::SubFOp::create(b, loc, sink, rowLse)));
    Value dsink = arith::NegFOp::create(
        b, loc,
        arith::MulFOp::create(
            b, loc, weight, arith::AddFOp::create(b, loc, rowDelta, dRowSum)));
    emitRegion(flash.getSinkGrad(), {batch, h, dsink});
  }

  // dq, and the score_mod's param gradients (each pair once, here).
  zero(rowAcc, headDim);
  emitTiles(numKeys, tileKv, classify, [&](Value first, Value end, bool m) {
    forLoop(first, end, index(1), {}, [&](Value j, ValueRange) {
      Pair pair = emitPair(h, i, j, m, /*withGrad=*/true);
      emitAxpy(rowAcc, arith::MulFOp::create(b, loc, scale, pair.ds), k, kvHead,
               j, headDim);
      return SmallVector<Value>{};
    });
  });
  accumulateGrads = false;
  store(dq, h, i, rowAcc, headDim);
}

void BackwardGenerator::emitKeyItem(Value item) {
  Value j = arith::RemUIOp::create(b, loc, item, numKeys);
  Value bh = arith::DivUIOp::create(b, loc, item, numKeys);
  kvHead = arith::RemUIOp::create(b, loc, bh, kvHeads);
  batch = arith::DivUIOp::create(b, loc, bh, kvHeads);
  bool softmax = flash.getNormalizer() == NormalizerKind::Softmax;
  zero(keyAcc, headDim);
  zero(valueAcc, valueDim);
  forLoop(index(0), group, index(1), {}, [&](Value g, ValueRange) {
    Value h = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, kvHead, group), g);
    auto classify = [&](Value first, Value last) {
      return emitClass(h, first, last, j, j);
    };
    emitTiles(queries, tileQ, classify, [&](Value first, Value end, bool m) {
      forLoop(first, end, index(1), {}, [&](Value i, ValueRange) {
        rowLse = softmax ? Value(memref::LoadOp::create(
                               b, loc, lse, ValueRange{batch, h, i}))
                         : f32(0.0);
        rowDelta =
            memref::LoadOp::create(b, loc, delta, ValueRange{batch, h, i});
        Pair pair = emitPair(h, i, j, m, /*withGrad=*/true);
        emitAxpy(valueAcc, pair.p, dopre, h, i, valueDim);
        emitAxpy(keyAcc, arith::MulFOp::create(b, loc, scale, pair.ds), q, h, i,
                 headDim);
        return SmallVector<Value>{};
      });
    });
    return SmallVector<Value>{};
  });
  store(dk, kvHead, j, keyAcc, headDim);
  store(dv, kvHead, j, valueAcc, valueDim);
}

LogicalResult BackwardGenerator::generateBackward() {
  Type elem = flash.getQuery().getType().getElementType();
  Type f32Type = b.getF32Type();
  bool softmax = flash.getNormalizer() == NormalizerKind::Softmax;
  // q, k, v, out, dout, dq, dk, dv; lse (softmax); dO and delta scratch.
  SmallVector<Type> argTypes(8, rowMajor(4, elem, true));
  if (softmax)
    argTypes.push_back(rowMajor(3, f32Type, true));
  argTypes.push_back(rowMajor(4, f32Type, true));
  argTypes.push_back(rowMajor(3, f32Type, true));
  SmallVector<BlockArgument> floatParams;
  for (BlockArgument param : variant.getParams()) {
    argTypes.push_back(paramArgType(param));
    if (isa<FloatType>(getElementTypeOrSelf(param.getType())))
      floatParams.push_back(param);
  }
  // The float params' gradients, f32, in the params' order (a scalar's is
  // [1]).
  for (BlockArgument param : floatParams) {
    auto tensor = dyn_cast<RankedTensorType>(param.getType());
    argTypes.push_back(rowMajor(tensor ? tensor.getRank() : 1, f32Type, false));
  }
  argTypes.push_back(
      MemRefType::get({ShapedType::kDynamic}, b.getI32Type())); // status
  argTypes.append(3, b.getIndexType()); // phase, begin, end

  Block *entry =
      startKernel(getCPUBackwardKernelName(variant.getSymName()), argTypes);
  unsigned next = 0;
  for (Value *tensor : {&q, &k, &v, &out, &dout, &dq, &dk, &dv})
    *tensor = entry->getArgument(next++);
  if (softmax)
    lse = entry->getArgument(next++);
  dopre = entry->getArgument(next++);
  delta = entry->getArgument(next++);
  for (BlockArgument param : variant.getParams())
    outer.map(param, entry->getArgument(next++));
  for (BlockArgument param : floatParams)
    paramGrads.map(param, entry->getArgument(next++));
  status = entry->getArgument(next++);
  Value phase = entry->getArgument(next++);
  Value begin = entry->getArgument(next++), end = entry->getArgument(next++);

  for (Operation &op : variant.getBody().front().without_terminator())
    if (&op != flash.getOperation())
      b.clone(op, outer);

  heads = memref::DimOp::create(b, loc, q, 1);
  queries = memref::DimOp::create(b, loc, q, 2);
  headDim = memref::DimOp::create(b, loc, q, 3);
  kvHeads = memref::DimOp::create(b, loc, k, 1);
  numKeys = memref::DimOp::create(b, loc, k, 2);
  valueDim = memref::DimOp::create(b, loc, v, 3);
  group = arith::DivUIOp::create(b, loc, heads, kvHeads);
  if (auto s = flash.getScale()) {
    scale = f32(s->convertToDouble());
  } else {
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim);
    Value df = arith::SIToFPOp::create(b, loc, f32Type, d);
    scale = arith::DivFOp::create(b, loc, f32(1.0),
                                  math::SqrtOp::create(b, loc, df));
  }
  auto heapBuffer = [&](Value size) -> Value {
    Value buffer = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, f32Type),
        ValueRange{size}, b.getI64IntegerAttr(64));
    heapBuffers.push_back(buffer);
    return buffer;
  };
  weightSum = memref::AllocaOp::create(b, loc, MemRefType::get({1}, f32Type));
  rowAcc = heapBuffer(headDim);
  outAcc = heapBuffer(valueDim);
  keyAcc = heapBuffer(headDim);
  valueAcc = heapBuffer(valueDim);

  Value isRows =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, phase, index(0));
  forLoop(begin, end, index(1), {}, [&](Value item, ValueRange) {
    ifThenElse(
        isRows, {},
        [&] {
          emitRowItem(item);
          return SmallVector<Value>{};
        },
        [&] {
          emitKeyItem(item);
          return SmallVector<Value>{};
        });
    return SmallVector<Value>{};
  });
  for (Value buffer : heapBuffers)
    memref::DeallocOp::create(b, loc, buffer);
  func::ReturnOp::create(b, loc);
  return success();
}

} // namespace

LogicalResult mlir::attn::cpu::generateBackward(VariantOp variant,
                                                FlashOp flash,
                                                ScheduleAttr schedule) {
  BackwardGenerator generator(variant, flash, schedule);
  return generator.generateBackward();
}
