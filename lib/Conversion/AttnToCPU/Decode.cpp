//===- Decode.cpp - the steps in which cpu_decode differs -----------------===//
//
// Decode reads each key once for a few packed rows, so the kernel streams K
// and V from memory: scores are dot products over the keys as stored (a
// transposed copy would cost more than the math), K is prefetched ahead,
// and an item's keys may be split into parts that a later item merges.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// How far ahead (in keys) the decode kernel prefetches K.
static constexpr int64_t kPrefetchKeys = 8;

/// One key at a time: the rows' dot products with it over the head dim,
/// reduced and stored to its column of scoreBuf. Columns past `count` keep
/// stale values, which the caller's `keep` drops.
SmallVector<Value> KernelGenerator::emitDotScores(ArrayRef<Value> rs,
                                                  Value keyBegin, Value count) {
  Type f32Type = b.getF32Type();
  Type elem = flash.getQuery().getType().getElementType();
  Value zerosF32 = zeroVector(f32Type);
  Value pass = zeroVector(elem);
  Value lastValueColumn = arith::SubIOp::create(b, loc, valueDim, index(1));
  Value keyEnd = arith::AddIOp::create(b, loc, keyBegin, count);
  // Paged, the prefetch stays in the span's page; ragged, in the sequence.
  Value lastKeyOfAll = arith::SubIOp::create(b, loc, numKeys, index(1));
  forEachKeySpan(
      keyBegin, keyEnd, {},
      [&](Value lo, Value hi, Value page, Value pageFirst, ValueRange) {
        Value lastKey = paged || ragged
                            ? Value(arith::SubIOp::create(b, loc, hi, index(1)))
                            : lastKeyOfAll;
        forLoop(lo, hi, index(1), {}, [&](Value key, ValueRange) {
          Value c = arith::SubIOp::create(b, loc, key, keyBegin);
          Value keyAhead = arith::MinUIOp::create(
              b, loc, arith::AddIOp::create(b, loc, key, index(kPrefetchKeys)),
              lastKey);
          SmallVector<Value> init(rowBlock, zerosF32);
          SmallVector<Value> dots = vectorLoop(
              headDim, init, [&](Value d, Value mask, ValueRange accs) {
                Value kd = toF32(vector::MaskedLoadOp::create(
                    b, loc, vec(elem), k, kvIndices(page, pageFirst, key, d),
                    mask, pass));
                // One core streams K and V at a fraction of the memory's pace
                // unless asked ahead: the key kPrefetchKeys on, and this key's
                // value row for the accumulation after the tile's scores.
                memref::PrefetchOp::create(
                    b, loc, k, kvIndices(page, pageFirst, keyAhead, d),
                    /*isWrite=*/false, /*localityHint=*/3,
                    /*isDataCache=*/true);
                memref::PrefetchOp::create(
                    b, loc, v,
                    kvIndices(
                        page, pageFirst, key,
                        arith::MinUIOp::create(b, loc, d, lastValueColumn)),
                    /*isWrite=*/false, /*localityHint=*/3,
                    /*isDataCache=*/true);
                SmallVector<Value> next;
                for (int64_t i = 0; i < rowBlock; ++i) {
                  Value qd = vector::MaskedLoadOp::create(
                      b, loc, vec(f32Type), qPack, ValueRange{rs[i], d}, mask,
                      zerosF32);
                  next.push_back(
                      vector::FMAOp::create(b, loc, qd, kd, accs[i]));
                }
                return next;
              });
          for (int64_t i = 0; i < rowBlock; ++i)
            memref::StoreOp::create(
                b, loc,
                vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                            dots[i]),
                scoreBuf, ValueRange{index(i), c});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
  SmallVector<Value> scores;
  for (int64_t i = 0; i < rowBlock; ++i)
    for (int64_t j = 0; j < tileKv / width; ++j)
      scores.push_back(
          vector::LoadOp::create(b, loc, vec(f32Type), scoreBuf,
                                 ValueRange{index(i), index(j * width)}));
  return scores;
}

void KernelGenerator::emitStoreParts(Value part) {
  Value zerosF32 = zeroVector(b.getF32Type());
  forLoop(index(0), numRows, index(1), {}, [&](Value r, ValueRange) {
    Value row = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, part, index(tileQ)), r);
    memref::StoreOp::create(
        b, loc, memref::LoadOp::create(b, loc, rowMax, ValueRange{r}), parts,
        ValueRange{row, index(0)});
    memref::StoreOp::create(
        b, loc, memref::LoadOp::create(b, loc, rowSum, ValueRange{r}), parts,
        ValueRange{row, index(1)});
    vectorLoop(valueDim, [&](Value d, Value mask) {
      Value a = vector::MaskedLoadOp::create(b, loc, vec(b.getF32Type()), acc,
                                             ValueRange{r, d}, mask, zerosF32);
      vector::MaskedStoreOp::create(
          b, loc, parts,
          ValueRange{row, arith::AddIOp::create(b, loc, d, index(2))}, mask, a);
    });
    return SmallVector<Value>{};
  });
}

void KernelGenerator::emitCombineParts(Value item) {
  Type f32Type = b.getF32Type();
  bool softmax = flash.getNormalizer() == NormalizerKind::Softmax;
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value zerosF32 = zeroVector(f32Type);
  forLoop(index(0), numRows, index(1), {}, [&](Value r, ValueRange) {
    auto partRow = [&](Value split) -> Value {
      Value part = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, item, splits), split);
      return arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, part, index(tileQ)), r);
    };
    auto field = [&](Value split, int64_t column) -> Value {
      return memref::LoadOp::create(b, loc, parts,
                                    ValueRange{partRow(split), index(column)});
    };
    // Softmax parts are scaled by exp(m_s - m); other normalizers add up.
    Value m = negInf, safeM = f32(0.0);
    if (softmax) {
      m = forLoop(
          index(0), splits, index(1), {negInf}, [&](Value sp, ValueRange args) {
            return SmallVector<Value>{
                arith::MaximumFOp::create(b, loc, args[0], field(sp, 0))};
          })[0];
      Value finite =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, m, negInf);
      safeM = arith::SelectOp::create(b, loc, finite, m, safeM);
    }
    auto weight = [&](Value sp) -> Value {
      if (!softmax)
        return f32(1.0);
      return limitWeight(field(sp, 0), safeM);
    };
    Value l = forLoop(
        index(0), splits, index(1), {f32(0.0)}, [&](Value sp, ValueRange args) {
          return SmallVector<Value>{arith::AddFOp::create(
              b, loc, args[0],
              arith::MulFOp::create(b, loc, field(sp, 1), weight(sp)))};
        })[0];
    memref::StoreOp::create(b, loc, m, rowMax, ValueRange{r});
    memref::StoreOp::create(b, loc, l, rowSum, ValueRange{r});
    vectorLoop(valueDim, [&](Value d, Value mask) {
      Value column = arith::AddIOp::create(b, loc, d, index(2));
      Value sum =
          forLoop(index(0), splits, index(1), {zerosF32},
                  [&](Value sp, ValueRange args) {
                    Value a = vector::MaskedLoadOp::create(
                        b, loc, vec(f32Type), parts,
                        ValueRange{partRow(sp), column}, mask, zerosF32);
                    return SmallVector<Value>{vector::FMAOp::create(
                        b, loc, splat(weight(sp)), a, args[0])};
                  })[0];
      vector::MaskedStoreOp::create(b, loc, acc, ValueRange{r, d}, mask, sum);
    });
    return SmallVector<Value>{};
  });
}
