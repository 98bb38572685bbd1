//===- Paged.cpp - where a key of the item's sequence lives ---------------===//
//
// A paged KV cache holds k and v as pages [num_pages, page_size, Hkv, D]
// and a page table [B, max_pages]: key j of sequence b is row j % page_size
// of page table[b, j / page_size]. The kernel walks a key range in spans
// that stay in one page, so that the table is read once per page and the
// loops over a span's keys are those of contiguous k and v.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

std::pair<Value, Value> KernelGenerator::pageOf(Value key) {
  Value slot = arith::DivUIOp::create(b, loc, key, pageSize);
  Value entry = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, pageTable, ValueRange{batch, slot}));
  // Negative entries compare as huge: both read page 0.
  Value inRange =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, entry, numPages);
  Value page = arith::SelectOp::create(b, loc, inRange, entry, index(0));
  return {page, arith::MulIOp::create(b, loc, slot, pageSize)};
}

SmallVector<Value> KernelGenerator::forEachKeySpan(Value first, Value end,
                                                   ValueRange init,
                                                   SpanFn body) {
  if (!paged)
    return body(first, end, batch, index(0), init);
  Value firstSlot = arith::DivUIOp::create(b, loc, first, pageSize);
  Value endSlot = arith::CeilDivUIOp::create(b, loc, end, pageSize);
  return forLoop(
      firstSlot, endSlot, index(1), init, [&](Value slot, ValueRange args) {
        Value pageFirst = arith::MulIOp::create(b, loc, slot, pageSize);
        auto [page, unused] = pageOf(pageFirst);
        (void)unused;
        Value lo = arith::MaxUIOp::create(b, loc, first, pageFirst);
        Value hi = arith::MinUIOp::create(
            b, loc, end, arith::AddIOp::create(b, loc, pageFirst, pageSize));
        return body(lo, hi, page, pageFirst, args);
      });
}

SmallVector<Value> KernelGenerator::kvIndices(Value page, Value pageFirstKey,
                                              Value key, Value d) {
  if (!paged)
    return {page, kvHead,
            ragged ? arith::AddIOp::create(b, loc, key, kStart) : key, d};
  return {page, arith::SubIOp::create(b, loc, key, pageFirstKey), kvHead, d};
}

void KernelGenerator::emitSequenceKeys() {
  if (ragged) {
    itemKeys = seqKeys;
    itemKvTiles = arith::CeilDivUIOp::create(b, loc, itemKeys, index(tileKv));
    return;
  }
  if (!paged) {
    itemKeys = numKeys;
    itemKvTiles = numKvTiles;
    return;
  }
  // The runtime checks lengths against M; the clamp keeps any read in k.
  Value length = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, seqLens, ValueRange{batch}));
  Value positive = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                         length, index(0));
  length = arith::SelectOp::create(b, loc, positive, length, index(0));
  itemKeys = arith::MinUIOp::create(b, loc, length, numKeys);
  itemKvTiles = arith::CeilDivUIOp::create(b, loc, itemKeys, index(tileKv));
}
