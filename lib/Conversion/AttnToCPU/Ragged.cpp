//===- Ragged.cpp - packed sequences of their own lengths -----------------===//
//
// A ragged batch packs S sequences along the query and key axes (q [1, H,
// total_q, D], k and v [1, Hkv, total_k, D]) with cumulative offsets
// cu_seqlens_q and cu_seqlens_k [S + 1] (FlashAttention's varlen
// convention). Items are (sequence, head, query tile) over the longest
// sequence's tiles; an item past its sequence's rows does nothing. Inside
// an item the rows and keys are positions within the sequence, the regions
// see b = the sequence, and the call's sizes N and M are its lengths.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

void KernelGenerator::emitRaggedSequence() {
  // emitWorkItem decoded the sequence as the batch; memrefs have one.
  seq = batch;
  batch = index(0);
  auto offset = [&](Value cu, Value i) -> Value {
    return arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        memref::LoadOp::create(b, loc, cu, ValueRange{i}));
  };
  Value nextSeq = arith::AddIOp::create(b, loc, seq, index(1));
  // The runtime has checked the offsets: 0 first, never decreasing, the
  // last the packed length.
  qStart = offset(cuQ, seq);
  kStart = offset(cuK, seq);
  seqQueries = arith::SubIOp::create(b, loc, offset(cuQ, nextSeq), qStart);
  seqKeys = arith::SubIOp::create(b, loc, offset(cuK, nextSeq), kStart);
  Value rows = decode ? Value(arith::MulIOp::create(b, loc, group, seqQueries))
                      : seqQueries;
  itemHasRows =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, firstRow, rows);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, firstRow, index(tileQ)), rows);
  endRow = arith::SelectOp::create(b, loc, itemHasRows, end, firstRow);
  numRows = arith::SubIOp::create(b, loc, endRow, firstRow);

  // The call's sizes N and M, read in the regions, are the sequence's.
  bool remapped = false;
  for (BlockArgument param : variant.getParams()) {
    unsigned number = param.getArgNumber();
    if (!variant.getArgAttr(number, "attn.size"))
      continue;
    std::string name = variant.getArgumentName(number);
    Value value = name == "N" ? seqQueries : name == "M" ? seqKeys : Value();
    if (!value)
      continue;
    if (!param.getType().isIndex())
      value = arith::IndexCastOp::create(b, loc, param.getType(), value);
    outer.map(param, value);
    remapped = true;
  }
  // Constants hoisted out of the regions may read them: again per item.
  if (remapped)
    (void)cloneHoisted();
}

void KernelGenerator::ifItemHasRows(function_ref<void()> body) {
  if (!ragged) {
    body();
    return;
  }
  ifThenElse(
      itemHasRows, {},
      [&] {
        body();
        return SmallVector<Value>{};
      },
      [&] { return SmallVector<Value>{}; });
}
