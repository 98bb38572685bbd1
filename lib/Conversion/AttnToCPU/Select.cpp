//===- Select.cpp - dynamic block selection (MoBA) in the CPU kernels -----===//
//
// An attn.flash with a #attn.select keeps, per query row, only the key
// blocks its gate picks. Each work item computes the selection of its own
// rows before it walks the key tiles, from the definition in
// dialect/AttnAttrs.td:
//
//   1. the sums of the key blocks its rows may pick (those not after the
//      last row's block when causal), in f32, in key order;
//   2. per row, the gate of each candidate block, <q, sum> / count (q as
//      stored, unscaled; one division, so that on inputs whose sums and dot
//      products are exact the gate is the correctly rounded one the
//      reference also computes), a NaN gate ranking as -inf;
//   3. the always-kept blocks, then passes of an argmax over the
//      candidates not yet kept until top_k are (strictly greater wins: of
//      equal gates the lower block stays), or every candidate when top_k
//      is at least their number;
//   4. per block, whether any row of the item keeps it and whether all do.
//
// The result is a keep byte per (row, block). The key-tile walk reads the
// per-block summary as a tile class (empty when no row keeps a block of
// the tile, full when every row keeps all of them), min'ed with the mask's
// class (empty < partial < full), and a partial tile ANDs each row's byte
// of the key vector's block into the pair's keep, beside the mask: the
// attention loop itself is unchanged. Block sizes are multiples of the
// vector width, so a vector of keys lies in one block.
//
// The block sums are recomputed per item (an item is one query tile), so a
// call pays O(M * D) per item on top of the gates' O(rows * blocks * D): a
// pooling pass shared by the items is the next step (with the GPU's).
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"
#include "dialect/RegionComposition.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

Value KernelGenerator::i8(int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(v));
}

Value KernelGenerator::cmpi(arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}

Value KernelGenerator::keepSlot(Value r, Value blk) {
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, r, maxBlocks), blk);
}

void KernelGenerator::emitSelectionBuffers() {
  assert(selection.getBlock() % width == 0 &&
         "a key vector must lie in one block");
  Type f32Type = b.getF32Type(), i8Type = b.getI8Type();
  // At least one block, so that no buffer is empty.
  maxBlocks = arith::MaxUIOp::create(
      b, loc, index(1),
      arith::CeilDivUIOp::create(b, loc, numKeys, index(selection.getBlock())));
  auto buffer = [&](Type elem, Value size) -> Value {
    Value alloc = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, elem), ValueRange{size},
        b.getI64IntegerAttr(64));
    heapBuffers.push_back(alloc);
    return alloc;
  };
  blockSums =
      buffer(f32Type, arith::MulIOp::create(b, loc, maxBlocks, headDim));
  gates = buffer(f32Type, maxBlocks);
  selected = buffer(
      i8Type, arith::MulIOp::create(b, loc, maxBlocks, index(paddedRows())));
  anyRowKeeps = buffer(i8Type, maxBlocks);
  allRowsKeep = buffer(i8Type, maxBlocks);
}

void KernelGenerator::emitBlockSums(Value numBlocks) {
  Type f32Type = b.getF32Type();
  Type elem = flash.getKey().getType().getElementType();
  Value blockSize = index(selection.getBlock());
  forLoop(index(0), numBlocks, index(1), {}, [&](Value blk, ValueRange) {
    Value base = arith::MulIOp::create(b, loc, blk, headDim);
    auto at = [&](Value d) { return arith::AddIOp::create(b, loc, base, d); };
    vectorLoop(headDim, [&](Value d, Value mask) {
      vector::MaskedStoreOp::create(b, loc, blockSums, ValueRange{at(d)}, mask,
                                    zeroVector(f32Type));
    });
    Value first = arith::MulIOp::create(b, loc, blk, blockSize);
    Value end = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, first, blockSize), itemKeys);
    forEachKeySpan(
        first, end, {},
        [&](Value lo, Value hi, Value page, Value pageFirst, ValueRange) {
          forLoop(lo, hi, index(1), {}, [&](Value key, ValueRange) {
            vectorLoop(headDim, [&](Value d, Value mask) {
              Value x = toF32(vector::MaskedLoadOp::create(
                  b, loc, vec(elem), k, kvIndices(page, pageFirst, key, d),
                  mask, zeroVector(elem)));
              Value sum = vector::MaskedLoadOp::create(
                  b, loc, vec(f32Type), blockSums, ValueRange{at(d)}, mask,
                  zeroVector(f32Type));
              vector::MaskedStoreOp::create(
                  b, loc, blockSums, ValueRange{at(d)}, mask,
                  arith::AddFOp::create(b, loc, sum, x));
            });
            return SmallVector<Value>{};
          });
          return SmallVector<Value>{};
        });
    return SmallVector<Value>{};
  });
}

Value KernelGenerator::emitGate(Value h, Value row, Value blk) {
  Type f32Type = b.getF32Type();
  Type elem = flash.getQuery().getType().getElementType();
  Value base = arith::MulIOp::create(b, loc, blk, headDim);
  Value dots = vectorLoop(
      headDim, {zeroVector(f32Type)}, [&](Value d, Value mask, ValueRange acc) {
        Value qv = toF32(vector::MaskedLoadOp::create(
            b, loc, vec(elem), q, ValueRange{batch, h, qRow(row), d}, mask,
            zeroVector(elem)));
        Value sv = vector::MaskedLoadOp::create(
            b, loc, vec(f32Type), blockSums,
            ValueRange{arith::AddIOp::create(b, loc, base, d)}, mask,
            zeroVector(f32Type));
        return SmallVector<Value>{
            vector::FMAOp::create(b, loc, qv, sv, acc[0])};
      })[0];
  Value dot =
      vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, dots);
  Value blockSize = index(selection.getBlock());
  Value count = arith::MinUIOp::create(
      b, loc, blockSize,
      arith::SubIOp::create(b, loc, itemKeys,
                            arith::MulIOp::create(b, loc, blk, blockSize)));
  Value countF = arith::UIToFPOp::create(
      b, loc, f32Type,
      arith::IndexCastUIOp::create(b, loc, b.getI64Type(), count));
  Value gate = arith::DivFOp::create(b, loc, dot, countF);
  Value isNaN =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, gate, gate);
  return arith::SelectOp::create(
      b, loc, isNaN, f32(-std::numeric_limits<double>::infinity()), gate);
}

void KernelGenerator::emitTopKPasses(Value r, Value forced, Value topK,
                                     Value candidates) {
  auto slot = [&](Value blk) { return keepSlot(r, blk); };
  forLoop(forced, topK, index(1), {}, [&](Value, ValueRange) {
    Value none = candidates;
    SmallVector<Value> best = forLoop(
        index(0), candidates, index(1),
        {none, f32(-std::numeric_limits<double>::infinity())},
        [&](Value c, ValueRange args) {
          Value taken = cmpi(
              arith::CmpIPredicate::ne,
              memref::LoadOp::create(b, loc, selected, ValueRange{slot(c)}),
              i8(0));
          Value gate = memref::LoadOp::create(b, loc, gates, ValueRange{c});
          Value better = arith::OrIOp::create(
              b, loc, cmpi(arith::CmpIPredicate::eq, args[0], none),
              arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, gate,
                                    args[1]));
          better = arith::AndIOp::create(
              b, loc, better,
              arith::XOrIOp::create(
                  b, loc, taken,
                  arith::ConstantOp::create(b, loc, b.getBoolAttr(true))));
          return SmallVector<Value>{
              arith::SelectOp::create(b, loc, better, c, args[0]),
              arith::SelectOp::create(b, loc, better, gate, args[1])};
        });
    memref::StoreOp::create(b, loc, i8(1), selected, ValueRange{slot(best[0])});
    return SmallVector<Value>{};
  });
}

void KernelGenerator::emitSelection() {
  Type i8Type = b.getI8Type();
  Value blockSize = index(selection.getBlock());
  Value numBlocks = arith::CeilDivUIOp::create(b, loc, itemKeys, blockSize);
  Value lastValid = arith::SubIOp::create(b, loc, endRow, index(1));
  auto candidatesOf = [&](Value current) -> Value {
    if (!selection.getCausal())
      return numBlocks;
    return arith::MinUIOp::create(
        b, loc, numBlocks, arith::AddIOp::create(b, loc, current, index(1)));
  };
  // Rows come in query order, so the last one reaches the furthest block.
  Value lastQuery = rowHeadQuery(lastValid).second;
  emitBlockSums(
      candidatesOf(arith::DivUIOp::create(b, loc, lastQuery, blockSize)));

  auto slot = [&](Value r, Value blk) { return keepSlot(r, blk); };
  // Padding rows repeat the tile's last row, as their packed queries do.
  forLoop(
      index(0), index(paddedRows()), index(1), {}, [&](Value r, ValueRange) {
        // Not structured bindings: C++17 lambdas cannot capture them.
        Value h, row;
        std::tie(h, row) = rowHeadQuery(arith::MinUIOp::create(
            b, loc, arith::AddIOp::create(b, loc, firstRow, r), lastValid));
        Value current = arith::DivUIOp::create(b, loc, row, blockSize);
        Value candidates = candidatesOf(current);
        forLoop(index(0), candidates, index(1), {}, [&](Value c, ValueRange) {
          memref::StoreOp::create(b, loc, emitGate(h, row, c), gates,
                                  ValueRange{c});
          return SmallVector<Value>{};
        });
        // The always-kept blocks among the candidates; nothing else yet.
        Value forced = forLoop(
            index(0), numBlocks, index(1), {index(0)},
            [&](Value c, ValueRange kept) {
              Value distance = arith::SelectOp::create(
                  b, loc, cmpi(arith::CmpIPredicate::ugt, c, current),
                  arith::SubIOp::create(b, loc, c, current),
                  arith::SubIOp::create(b, loc, current, c));
              Value always = arith::OrIOp::create(
                  b, loc, cmpi(arith::CmpIPredicate::eq, c, current),
                  arith::OrIOp::create(b, loc,
                                       cmpi(arith::CmpIPredicate::ult, c,
                                            index(selection.getSinks())),
                                       cmpi(arith::CmpIPredicate::ule, distance,
                                            index(selection.getLocal()))));
              Value keep = arith::AndIOp::create(
                  b, loc, always,
                  cmpi(arith::CmpIPredicate::ult, c, candidates));
              memref::StoreOp::create(
                  b, loc, arith::ExtUIOp::create(b, loc, i8Type, keep),
                  selected, ValueRange{slot(r, c)});
              return SmallVector<Value>{
                  arith::AddIOp::create(b, loc, kept[0],
                                        arith::IndexCastUIOp::create(
                                            b, loc, b.getIndexType(), keep))};
            })[0];
        // Each pass keeps the best candidate left: while fewer than top_k
        // are kept and candidates remain, one always does. With top_k at
        // least the candidates, all of them are kept without a pass.
        Value topK = index(selection.getTopK());
        Value takeAll = cmpi(arith::CmpIPredicate::uge, topK, candidates);
        ifThenElse(
            takeAll, {},
            [&] {
              forLoop(index(0), candidates, index(1), {},
                      [&](Value c, ValueRange) {
                        memref::StoreOp::create(b, loc, i8(1), selected,
                                                ValueRange{slot(r, c)});
                        return SmallVector<Value>{};
                      });
              return SmallVector<Value>{};
            },
            [&] {
              emitTopKPasses(r, forced, topK, candidates);
              return SmallVector<Value>{};
            });
        return SmallVector<Value>{};
      });

  // Which blocks some row, or every row, of the item keeps.
  forLoop(index(0), numBlocks, index(1), {}, [&](Value c, ValueRange) {
    SmallVector<Value> anyAll = forLoop(
        index(0), numRows, index(1), {i8(0), i8(1)},
        [&](Value r, ValueRange args) {
          Value v =
              memref::LoadOp::create(b, loc, selected, ValueRange{slot(r, c)});
          return SmallVector<Value>{arith::OrIOp::create(b, loc, args[0], v),
                                    arith::AndIOp::create(b, loc, args[1], v)};
        });
    memref::StoreOp::create(b, loc, anyAll[0], anyRowKeeps, ValueRange{c});
    memref::StoreOp::create(b, loc, anyAll[1], allRowsKeep, ValueRange{c});
    return SmallVector<Value>{};
  });
}

Value KernelGenerator::emitSelectionClass(Value keyBegin, Value lastKey) {
  Value blockSize = index(selection.getBlock());
  Value first = arith::DivUIOp::create(b, loc, keyBegin, blockSize);
  Value last = arith::DivUIOp::create(b, loc, lastKey, blockSize);
  SmallVector<Value> anyAll = forLoop(
      first, arith::AddIOp::create(b, loc, last, index(1)), index(1),
      {i8(0), i8(1)}, [&](Value c, ValueRange args) {
        return SmallVector<Value>{
            arith::OrIOp::create(
                b, loc, args[0],
                memref::LoadOp::create(b, loc, anyRowKeeps, ValueRange{c})),
            arith::AndIOp::create(
                b, loc, args[1],
                memref::LoadOp::create(b, loc, allRowsKeep, ValueRange{c}))};
      });
  auto classValue = [&](TileClass c) { return i8(int8_t(c)); };
  Value some = cmpi(arith::CmpIPredicate::ne, anyAll[0], i8(0));
  Value all = cmpi(arith::CmpIPredicate::ne, anyAll[1], i8(0));
  return arith::SelectOp::create(
      b, loc, some,
      arith::SelectOp::create(b, loc, all, classValue(TileClass::Full),
                              classValue(TileClass::Partial)),
      classValue(TileClass::Empty));
}

Value KernelGenerator::emitSelectedKeys(Value r, Value firstKey, Value keyEnd) {
  // Lanes past the last key take its block; the pair's bounds drop them.
  Value key = arith::MinUIOp::create(
      b, loc, firstKey, arith::SubIOp::create(b, loc, keyEnd, index(1)));
  Value blk = arith::DivUIOp::create(b, loc, key, index(selection.getBlock()));
  Value v =
      memref::LoadOp::create(b, loc, selected, ValueRange{keepSlot(r, blk)});
  return splat(cmpi(arith::CmpIPredicate::ne, v, i8(0)));
}
