//===- KernelGenerator.h - the CPU kernels' generator -----------*- C++ -*-===//
//
// What convert-attn-to-cpu builds a kernel with: the steps of the algorithm
// (AttnToCPU.cpp) and those in which cpu_decode differs (Decode.cpp) as
// methods of one generator over the kernel's values. Private to the pass.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CONVERSION_ATTNTOCPU_KERNELGENERATOR_H
#define ATTNC_CONVERSION_ATTNTOCPU_KERNELGENERATOR_H

#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

#include <limits>

namespace mlir::attn::cpu {

using BodyFn = function_ref<SmallVector<Value>(Value iv, ValueRange args)>;
constexpr double kPosInf = std::numeric_limits<double>::infinity();

class KernelGenerator {
public:
  KernelGenerator(VariantOp variant, FlashOp flash, ScheduleAttr schedule)
      : variant(variant), flash(flash), b(variant), loc(flash.getLoc()),
        tileQ(schedule.getTileQ()), tileKv(schedule.getTileKv()),
        width(schedule.getVectorWidth()),
        decode(schedule.getFamily() == KernelFamily::CpuDecode),
        paged(schedule.getPagedKv() != 0), ragged(schedule.getRagged() != 0),
        selection(flash.getSelectionAttr()) {
    // Scores come a vector of keys at a time.
    this->tileKv = std::max<int64_t>(this->width,
                                     llvm::alignTo(this->tileKv, this->width));
  }

  LogicalResult generate();

protected:
  // Types.
  MemRefType rowMajor(int64_t rank, Type elem, bool unitInnerStride);
  /// The kernel argument of `param`: a strided memref, or the scalar.
  Type paramArgType(BlockArgument param);
  /// Starts kernel function `name` before the variant, the builder at its
  /// entry block; returns the block.
  Block *startKernel(StringRef name, ArrayRef<Type> argTypes);
  VectorType vec(Type elem) { return VectorType::get({width}, elem); }

  // Small builders.
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value splat(Value scalar) {
    return vector::BroadcastOp::create(b, loc, vec(scalar.getType()), scalar);
  }
  Value zeroVector(Type elem) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vec(elem), b.getZeroAttr(elem)));
  }
  Value toF32(Value v);
  /// exp(x - base), the softmax weight of logit x over the row's max
  /// `base`; 1 where x is +inf (base is too: exp would give NaN), the
  /// limit in which the +inf logits share the row.
  Value limitWeight(Value x, Value base);
  SmallVector<Value> forLoop(Value lb, Value ub, Value step, ValueRange init,
                             BodyFn body);
  SmallVector<Value> ifThenElse(Value cond, TypeRange types,
                                function_ref<SmallVector<Value>()> thenFn,
                                function_ref<SmallVector<Value>()> elseFn);
  /// Runs `body(d, mask)` over [0, n) in vectors of `width` lanes.
  void vectorLoop(Value n, function_ref<void(Value d, Value mask)> body);
  /// The same, threading `init` through `body(d, mask, args)`.
  SmallVector<Value> vectorLoop(
      Value n, ValueRange init,
      function_ref<SmallVector<Value>(Value d, Value mask, ValueRange args)>
          body);

  // Where keys live (Paged.cpp).
  using SpanFn = function_ref<SmallVector<Value>(
      Value lo, Value hi, Value page, Value pageFirstKey, ValueRange args)>;
  /// Runs `body` over the keys [first, end) of the item's sequence in
  /// spans that lie in one page, threading `args`: contiguous k and v are
  /// one span (page: the batch); paged ones, one per page, whose number
  /// comes from the page table (an entry out of range reads page 0: the
  /// runtime has refused such tables before the kernel runs).
  SmallVector<Value> forEachKeySpan(Value first, Value end, ValueRange init,
                                    SpanFn body);
  /// The indices of element `d` of key `key` in k or v, in its span's page.
  SmallVector<Value> kvIndices(Value page, Value pageFirstKey, Value key,
                               Value d);
  /// The page and first key of the page that holds `key` (paged only).
  std::pair<Value, Value> pageOf(Value key);
  /// The keys of the item's sequence: M, or its length when paged or
  /// ragged.
  void emitSequenceKeys();

  // Ragged batches (Ragged.cpp).
  /// Ragged: the item's sequence from the offsets (its first query and key,
  /// its lengths), the rows it has and whether the item has any; the
  /// call's sizes N and M become the sequence's lengths for the regions.
  void emitRaggedSequence();
  /// Query row `row` of the item's sequence as an index into q, out, lse.
  Value qRow(Value row) {
    return ragged ? Value(arith::AddIOp::create(b, loc, row, qStart)) : row;
  }
  /// The b the regions see: the sequence (ragged) or the batch.
  Value regionBatch() { return ragged ? seq : batch; }
  /// Runs `body` when the item has rows (always, unless ragged).
  void ifItemHasRows(function_ref<void()> body);
  /// Clones the variant's ops beside attn.flash (hoisted constants) with
  /// `outer`; again per item when ragged remaps the call's sizes.
  LogicalResult cloneHoisted();

  // Dynamic block selection (Select.cpp).
  /// The selection's buffers, once a call (sized by the call's keys).
  void emitSelectionBuffers();
  /// The item's selection: a keep byte per (tile row, key block) and, per
  /// block, whether any row or every row of the item keeps it.
  void emitSelection();
  /// The sums of key blocks [0, numBlocks) of the item's kv head.
  void emitBlockSums(Value numBlocks);
  Value i8(int64_t v);
  Value cmpi(arith::CmpIPredicate p, Value x, Value y);
  /// The keep byte of tile row `r` and block `blk` in `selected`.
  Value keepSlot(Value r, Value blk);
  /// Keeps the best of the `candidates` blocks of tile row `r` not yet
  /// kept, once per pass, until `topK` (fewer than the candidates) are
  /// kept; `forced` are kept already.
  void emitTopKPasses(Value r, Value forced, Value topK, Value candidates);
  /// The gate of block `blk` for query `row` of head `h`.
  Value emitGate(Value h, Value row, Value blk);
  /// The selection's class of the key tile [keyBegin, lastKey] for the
  /// item's rows.
  Value emitSelectionClass(Value keyBegin, Value lastKey);
  /// Whether tile row `r` keeps the block of the key vector at `firstKey`,
  /// on every lane.
  Value emitSelectedKeys(Value r, Value firstKey, Value keyEnd);

  // The algorithm.
  Value emitRegion(Region &region, ValueRange args);
  /// Emits `region` once for `width` lanes: `args` are vectors, values from
  /// above are broadcast, param reads are done lane by lane.
  Value emitRegionVector(Region &region, ValueRange args);
  Value emitParamLoad(LoadOp load, ArrayRef<Value> indices);
  void emitReadDetails(LoadOp load, ArrayRef<Value> indices);
  std::pair<Value, Value> emitLoadRange(LoadRangeOp op, Value first,
                                        Value last);
  /// The (head, query index) of packed row `row` of the work item.
  std::pair<Value, Value> rowHeadQuery(Value row);
  /// The class of the key tile [keyBegin, lastKey] for the item's rows
  /// [firstRow, lastRow); with packed heads, over all heads of the group
  /// (a superset of the tile's pairs, so the class stays sound).
  Value emitTileClass(Value lastRow, Value keyBegin, Value lastKey);
  void emitPackKeyTile(Value keyBegin, Value count);
  /// Scores of the row block `rs` against keys [keyBegin, keyBegin + count)
  /// as `numVectors` vectors per row: from the transposed key tile, or
  /// (decode) as dot products over the keys as stored.
  SmallVector<Value> emitRankOneScores(ArrayRef<Value> rs);
  SmallVector<Value> emitDotScores(ArrayRef<Value> rs, Value keyBegin,
                                   Value count);
  /// Visits the keys [keyBegin, keyEnd) for the query rows of the tile,
  /// evaluating the mask when `withMask`: packs them, then emitRowBlocks for
  /// each branch.
  void emitKeyTile(Value keyBegin, Value keyEnd, bool withMask);
  void emitRowBlocks(Value keyBegin, Value keyEnd, bool withMask);
  /// A row's statistics at the end: 1 / sum (with the weight of the
  /// accumulated keys), lse (stored where the kernel returns it) and the
  /// sum of the weights.
  struct RowStatistics {
    Value inv, lse, weightSum;
  };
  RowStatistics emitRowStatistics(Value r, Value h, Value row);
  void emitFinalize();
  /// Branch `branch` >= 1 of a multi-branch variant: the tile's normalised
  /// output and row statistics to the branch buffers, which branch 0's
  /// output_mod reads (emitBranchRead) when it finalizes. (Every branch
  /// runs on each key tile as it is packed: K and V are read once.)
  void emitStoreBranch(int64_t branch);
  Value emitBranchRead(BranchOp op);

  // Work items.
  /// Sets the item's batch, heads, rows [firstRow, endRow) from its index.
  void emitWorkItem(Value item);
  /// Fresh row state and the item's query rows packed in f32.
  void emitStartItem();
  /// Runs body(false) for a full tile's class `cls`, body(true) for a
  /// partial one (the mask evaluated per pair), nothing for an empty one.
  void emitByClass(Value cls, function_ref<void(bool withMask)> body);
  /// Visits the item's key tiles [first, last) that are not empty.
  void emitKeyTiles(Value first, Value last);
  /// Decode's key splits: the row state of part `part` to its rows of
  /// `parts` ([m, l, acc...] per row), and the parts of item `item` merged
  /// back into the row state (weights exp(m_s - m)).
  void emitStoreParts(Value part);
  void emitCombineParts(Value item);

  VariantOp variant;
  FlashOp flash;
  OpBuilder b;
  Location loc;
  int64_t tileQ, tileKv, width;
  bool decode;
  /// k and v are pages read through pageTable; seqLens cut each sequence.
  bool paged;
  /// Packed sequences: cuQ and cuK give each one's queries and keys.
  bool ragged;
  /// The dynamic block selection, if any.
  SelectAttr selection;
  /// Query rows processed together (their buffers are padded to a multiple).
  int64_t rowBlock = 4;
  int64_t paddedRows() const { return llvm::alignTo(tileQ, rowBlock); }

  // Kernel values.
  Value q, k, v, out, lse, status;
  // qkDim is q's and k's head dim; headDim a branch's part of it (all of
  // it without branches), from headOffset on.
  Value qkDim, headDim, headOffset, valueDim, numKeys, scale;
  // Branches 1..K-1 of a multi-branch variant: their normalised outputs
  // [K - 1, tile rows, Dv], lse and row sums [K - 1, tile rows]; the row
  // and column that branch 0's output_mod is at.
  int64_t branches = 1;
  Value branchOut, branchLse, branchSum, branchRow, branchCol;
  // Paged: the table [B, max_pages], the lengths [B], the page size and
  // count; per item, its sequence's keys and key tiles (M and all tiles
  // when not paged).
  Value pageTable, seqLens, pageSize, numPages;
  Value itemKeys, itemKvTiles;
  // Ragged: the offsets [S + 1] (i32), the longest sequence's queries (the
  // item space is sized by it); per item, the sequence, its first query and
  // key, its lengths, and whether the item has rows.
  Value cuQ, cuK, maxQueries;
  Value seq, qStart, kStart, seqQueries, seqKeys, itemHasRows;
  // Per query row of the tile: running max, running sum, accumulator; of
  // the branch being generated (selectBranch), each branch has its own.
  Value rowMax, rowSum, acc;
  SmallVector<Value> branchRowMax, branchRowSum, branchAcc, branchOffsets;
  /// Points rowMax, rowSum, acc and headOffset at branch `branch`'s.
  void selectBranch(int64_t branch);
  // Packed f32 copies: the query tile (scaled), the key tile transposed
  // ([D, tile_kv], so that scores come out a vector of keys at a time), the
  // value tile, and the weights of the row being accumulated.
  Value qPack, kPack, vPack, weights;
  // The buffers whose size grows with the head dims, on the heap (a stack
  // frame of 1 KB per unit of D overflowed the thread's stack at D =
  // 16384); freed by emitReturn.
  SmallVector<Value> heapBuffers;
  // Decode: the scores of the row block against the key tile.
  Value scoreBuf;
  // Decode's key splits: their number (per call) and the parts they write.
  Value splits, parts;
  // The selection's buffers: block sums [maxBlocks x D], one row's gates,
  // the keep bytes [paddedRows x maxBlocks], and per block whether any row
  // or every row of the item keeps it.
  Value maxBlocks, blockSums, gates, selected, anyRowKeeps, allRowsKeep;
  // Sizes of the item space.
  Value group, headsPerBatch, rowsPerItem, numTiles, numKvTiles;
  // The work item being generated: rows are packed rows, `packed` heads
  // (from `headBase`) per query index (1 head for cpu_tiles).
  Value batch, head, kvHead, headBase, packed, firstRow, endRow, numRows;
  IRMapping outer; // the variant's params and hoisted constants
  // The backward's param gradients (f32 memrefs, scalars as [1]) by param;
  // emitRegion adds to them at attn.accumulate while `accumulateGrads`.
  IRMapping paramGrads;
  bool accumulateGrads = false;
  void emitAccumulate(AccumulateOp op, const IRMapping &mapping);
};

/// The backward kernel of a differentiated variant (Backward.cpp).
LogicalResult generateBackward(VariantOp variant, FlashOp flash,
                               ScheduleAttr schedule);

} // namespace mlir::attn::cpu

#endif // ATTNC_CONVERSION_ATTNTOCPU_KERNELGENERATOR_H
