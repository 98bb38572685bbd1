//===- AttnToCPU.cpp - fused variants to CPU kernels on memrefs -----------===//
//
// One kernel per variant, read as the algorithm: for each work item (batch,
// head, query tile), visit the key tiles that the tile classifier does not
// call empty; for each query row of the tile and each key of the key tile,
// evaluate the mask (partial tiles only), compute the score (a vector dot
// product over the head dim), apply the score_mod, update the row's running
// max and sum, rescale and accumulate the value row; then normalise, apply
// the output_mod and store.
//
// Two families share it. `cpu_tiles` packs each key tile transposed, so
// that scores come a vector of keys at a time from rank-1 updates: that
// pays for itself over 64 query rows. `cpu_decode` (a few queries, many
// keys) packs the query heads of one kv head into a tile's rows, so that
// each key is read once for all of them, and reads keys and values as
// stored: a dot product per key, no packing, which would cost more than
// the math at a few rows.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCPU/KernelGenerator.h"
#include "Conversion/Passes.h"
#include "attnc/abi.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/IR/IRMapping.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOCPU
#include "Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

std::string mlir::attn::getCPUKernelName(StringRef variantName) {
  return (variantName + "_kernel").str();
}

std::string mlir::attn::getCPUBackwardKernelName(StringRef variantName) {
  return (variantName + "_backward_kernel").str();
}

using namespace mlir::attn::cpu;

MemRefType KernelGenerator::rowMajor(int64_t rank, Type elem,
                                     bool unitInnerStride) {
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  if (unitInnerStride)
    strides.back() = 1;
  return MemRefType::get(
      SmallVector<int64_t>(rank, ShapedType::kDynamic), elem,
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides));
}

Block *KernelGenerator::startKernel(StringRef name, ArrayRef<Type> argTypes) {
  b.setInsertionPoint(variant);
  auto func =
      func::FuncOp::create(b, variant.getLoc(), name,
                           FunctionType::get(b.getContext(), argTypes, {}));
  // The JIT sets LLVM's vector-width preference from this; the C interface
  // (_mlir_ciface_<name>, memrefs by pointer) is the AOT objects' entry.
  func->setAttr("attn.vector_width", b.getI64IntegerAttr(width));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  return entry;
}

Type KernelGenerator::paramArgType(BlockArgument param) {
  if (auto tensor = dyn_cast<RankedTensorType>(param.getType()))
    return rowMajor(tensor.getRank(), tensor.getElementType(), false);
  return param.getType();
}

Value KernelGenerator::toF32(Value value) {
  Type type = value.getType();
  Type elem = getElementTypeOrSelf(type);
  if (elem.isF32())
    return value;
  Type target =
      isa<VectorType>(type) ? Type(vec(b.getF32Type())) : b.getF32Type();
  return arith::ExtFOp::create(b, loc, target, value);
}

SmallVector<Value> KernelGenerator::forLoop(Value lb, Value ub, Value step,
                                            ValueRange init, BodyFn body) {
  auto op = scf::ForOp::create(b, loc, lb, ub, step, init);
  OpBuilder::InsertionGuard guard(b);
  Block *block = op.getBody();
  if (init.empty())
    b.setInsertionPoint(block->getTerminator());
  else
    b.setInsertionPointToStart(block);
  SmallVector<Value> results =
      body(op.getInductionVar(), op.getRegionIterArgs());
  if (!init.empty())
    scf::YieldOp::create(b, loc, results);
  return SmallVector<Value>(op.getResults());
}

Value KernelGenerator::limitWeight(Value x, Value base) {
  Value weight =
      math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, x, base));
  Value infinite =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, f32(kPosInf));
  return arith::SelectOp::create(b, loc, infinite, f32(1.0), weight);
}

SmallVector<Value>
KernelGenerator::ifThenElse(Value cond, TypeRange types,
                            function_ref<SmallVector<Value>()> thenFn,
                            function_ref<SmallVector<Value>()> elseFn) {
  auto op = scf::IfOp::create(b, loc, types, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  for (auto [region, fn] : {std::make_pair(&op.getThenRegion(), thenFn),
                            std::make_pair(&op.getElseRegion(), elseFn)}) {
    Block &block = region->front();
    if (types.empty())
      b.setInsertionPoint(block.getTerminator());
    else
      b.setInsertionPointToStart(&block);
    SmallVector<Value> results = fn();
    if (!types.empty())
      scf::YieldOp::create(b, loc, results);
  }
  return SmallVector<Value>(op.getResults());
}

SmallVector<Value> KernelGenerator::vectorLoop(
    Value n, ValueRange init,
    function_ref<SmallVector<Value>(Value, Value, ValueRange)> body) {
  return forLoop(index(0), n, index(width), init,
                 [&](Value d, ValueRange args) {
                   Value remaining = arith::SubIOp::create(b, loc, n, d);
                   Value mask = vector::CreateMaskOp::create(
                       b, loc, VectorType::get({width}, b.getI1Type()),
                       ValueRange{remaining});
                   return body(d, mask, args);
                 });
}

void KernelGenerator::vectorLoop(Value n,
                                 function_ref<void(Value, Value)> body) {
  vectorLoop(n, {}, [&](Value d, Value mask, ValueRange) {
    body(d, mask);
    return SmallVector<Value>{};
  });
}

/// Loads a param element; an index out of bounds reads element 0 instead and
/// records 1 + the param's position in the status buffer.
Value KernelGenerator::emitParamLoad(LoadOp load, ArrayRef<Value> given) {
  Value memref = outer.lookup(load.getParam());
  unsigned position = cast<BlockArgument>(load.getParam()).getArgNumber() -
                      VariantOp::kNumTensorInputs;
  Value inBounds = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  SmallVector<Value> indices(given);
  for (auto [d, i] : llvm::enumerate(indices)) {
    Value dim = memref::DimOp::create(b, loc, memref, d);
    Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, dim);
    inBounds = arith::AndIOp::create(b, loc, inBounds, ok);
  }
  for (Value &i : indices)
    i = arith::SelectOp::create(b, loc, inBounds, i, index(0));
  Value value = memref::LoadOp::create(b, loc, memref, indices);
  Value outOfBounds = arith::XOrIOp::create(
      b, loc, inBounds, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  ifThenElse(
      outOfBounds, {},
      [&] {
        memref::StoreOp::create(b, loc, i32(position + 1), status,
                                ValueRange{index(0)});
        emitReadDetails(load, given);
        return SmallVector<Value>{};
      },
      [&] { return SmallVector<Value>{}; });
  return value;
}

/// Which read fell out of bounds and at what index, into a status view of
/// ATTNC_STATUS_WORDS words (runtime/attnc/abi.h); a shorter one gets none.
void KernelGenerator::emitReadDetails(LoadOp load, ArrayRef<Value> indices) {
  Value words = memref::DimOp::create(b, loc, status, 0);
  Value room = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, words,
                                     index(ATTNC_STATUS_WORDS));
  auto id = load->getAttrOfType<IntegerAttr>("attn.read");
  ifThenElse(
      room, {},
      [&] {
        auto store = [&](Value v, int64_t word) {
          memref::StoreOp::create(b, loc, v, status, ValueRange{index(word)});
        };
        store(i32(id ? int32_t(id.getInt() + 1) : 0), 1);
        for (auto [d, i] : llvm::enumerate(indices)) {
          if (d >= ATTNC_STATUS_INDICES)
            break;
          Value wide = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
          Value high = arith::ShRSIOp::create(
              b, loc, wide,
              arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(32)));
          store(arith::TruncIOp::create(b, loc, b.getI32Type(), wide),
                2 + 2 * d);
          store(arith::TruncIOp::create(b, loc, b.getI32Type(), high),
                3 + 2 * d);
        }
        return SmallVector<Value>{};
      },
      [&] { return SmallVector<Value>{}; });
}

/// The least and greatest of param[first..last], clamped to its extent.
std::pair<Value, Value>
KernelGenerator::emitLoadRange(LoadRangeOp op, Value first, Value last) {
  Value memref = outer.lookup(op.getParam());
  Value size = memref::DimOp::create(b, loc, memref, 0);
  Value lo = arith::MaxSIOp::create(b, loc, first, index(0));
  Value hi = arith::MinSIOp::create(
      b, loc, last, arith::SubIOp::create(b, loc, size, index(1)));
  Value start = memref::LoadOp::create(
      b, loc, memref, ValueRange{arith::MinSIOp::create(b, loc, lo, hi)});
  bool isBool = op.getMin().getType().isInteger(1);
  SmallVector<Value> extremes = forLoop(
      lo, arith::AddIOp::create(b, loc, hi, index(1)), index(1), {start, start},
      [&](Value i, ValueRange args) {
        Value x = memref::LoadOp::create(b, loc, memref, ValueRange{i});
        if (isBool)
          return SmallVector<Value>{arith::MinUIOp::create(b, loc, args[0], x),
                                    arith::MaxUIOp::create(b, loc, args[1], x)};
        return SmallVector<Value>{arith::MinSIOp::create(b, loc, args[0], x),
                                  arith::MaxSIOp::create(b, loc, args[1], x)};
      });
  return {extremes[0], extremes[1]};
}

Value KernelGenerator::emitRegion(Region &region, ValueRange args) {
  IRMapping mapping = outer;
  Block &block = region.front();
  mapping.map(block.getArguments(), args);
  for (Operation &op : block.without_terminator()) {
    if (auto load = dyn_cast<LoadOp>(op)) {
      SmallVector<Value> indices;
      for (Value i : load.getIndices())
        indices.push_back(mapping.lookupOrDefault(i));
      mapping.map(load.getResult(), emitParamLoad(load, indices));
    } else if (auto range = dyn_cast<LoadRangeOp>(op)) {
      auto [min, max] =
          emitLoadRange(range, mapping.lookupOrDefault(range.getFirst()),
                        mapping.lookupOrDefault(range.getLast()));
      mapping.map(range.getMin(), min);
      mapping.map(range.getMax(), max);
    } else if (auto accumulate = dyn_cast<AccumulateOp>(op)) {
      if (accumulateGrads)
        emitAccumulate(accumulate, mapping);
    } else if (auto branch = dyn_cast<BranchOp>(op)) {
      mapping.map(branch.getResult(), emitBranchRead(branch));
    } else {
      b.clone(op, mapping);
    }
  }
  return mapping.lookupOrDefault(
      cast<YieldOp>(block.getTerminator()).getValue());
}

// emitRegionVector applies every op of dialect/ScalarOps.def but
// arith.constant to vectors as it is: they must all be elementwise.
#define ATTN_SCALAR_OP(CLASS, CUDA)                                            \
  static_assert(std::is_same_v<CLASS, arith::ConstantOp> ||                    \
                    CLASS::hasTrait<OpTrait::Elementwise>(),                   \
                #CLASS " is not elementwise");
#include "dialect/ScalarOps.def"

Value KernelGenerator::emitRegionVector(Region &region, ValueRange args) {
  IRMapping mapping;
  Block &block = region.front();
  mapping.map(block.getArguments(), args);
  // A value from above the region is one value for every lane.
  auto lanes = [&](Value v) -> Value {
    if (Value mapped = mapping.lookupOrNull(v))
      return mapped;
    Value scalar = outer.lookupOrDefault(v);
    Value wide = splat(scalar);
    mapping.map(v, wide);
    return wide;
  };
  for (Operation &op : block.without_terminator()) {
    if (auto load = dyn_cast<LoadOp>(op)) {
      // Lane by lane: params are small and usually cached.
      SmallVector<Value> indexVectors;
      for (Value i : load.getIndices())
        indexVectors.push_back(lanes(i));
      Value result = arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(vec(load.getType()),
                                 b.getZeroAttr(load.getType())));
      for (int64_t lane = 0; lane < width; ++lane) {
        SmallVector<Value> indices;
        for (Value iv : indexVectors)
          indices.push_back(vector::ExtractOp::create(b, loc, iv, lane));
        Value element = emitParamLoad(load, indices);
        result = vector::InsertOp::create(b, loc, element, result, lane);
      }
      mapping.map(load.getResult(), result);
      continue;
    }
    if (isa<arith::ConstantOp>(op)) {
      mapping.map(op.getResult(0), splat(b.clone(op)->getResult(0)));
      continue;
    }
    // Every other region op is elementwise: the same op on vectors.
    for (Value operand : op.getOperands())
      lanes(operand);
    Operation *wide = b.clone(op, mapping);
    for (OpResult result : wide->getResults())
      result.setType(vec(result.getType()));
  }
  return lanes(cast<YieldOp>(block.getTerminator()).getValue());
}

std::pair<Value, Value> KernelGenerator::rowHeadQuery(Value row) {
  if (!decode)
    return {head, row};
  Value h = arith::AddIOp::create(b, loc, headBase,
                                  arith::RemUIOp::create(b, loc, row, packed));
  return {h, arith::DivUIOp::create(b, loc, row, packed)};
}

Value KernelGenerator::emitTileClass(Value lastRow, Value keyBegin,
                                     Value lastKey) {
  auto classValue = [&](TileClass c) -> Value {
    return arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(int8_t(c)));
  };
  if (!flash.hasTileClass())
    return classValue(TileClass::Partial);
  Value lastPacked = arith::SubIOp::create(b, loc, lastRow, index(1));
  if (!decode)
    return emitRegion(flash.getTileClass(), {regionBatch(), head, firstRow,
                                             lastPacked, keyBegin, lastKey});
  Value firstQ = arith::DivUIOp::create(b, loc, firstRow, packed);
  Value lastQ = arith::DivUIOp::create(b, loc, lastPacked, packed);
  Value yes = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  auto is = [&](Value cls, TileClass c) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, cls,
                                 classValue(c));
  };
  SmallVector<Value> all = forLoop(
      index(0), packed, index(1), {yes, yes}, [&](Value h, ValueRange args) {
        Value cls = emitRegion(flash.getTileClass(),
                               {regionBatch(),
                                arith::AddIOp::create(b, loc, headBase, h),
                                firstQ, lastQ, keyBegin, lastKey});
        return SmallVector<Value>{
            arith::AndIOp::create(b, loc, args[0], is(cls, TileClass::Full)),
            arith::AndIOp::create(b, loc, args[1], is(cls, TileClass::Empty))};
      });
  return arith::SelectOp::create(
      b, loc, all[0], classValue(TileClass::Full),
      arith::SelectOp::create(b, loc, all[1], classValue(TileClass::Empty),
                              classValue(TileClass::Partial)));
}

SmallVector<Value> KernelGenerator::emitRankOneScores(ArrayRef<Value> rs) {
  Type f32Type = b.getF32Type();
  int64_t numVectors = tileKv / width;
  SmallVector<Value> init(rowBlock * numVectors, zeroVector(f32Type));
  Value lastColumn = arith::AddIOp::create(b, loc, headOffset, headDim);
  return forLoop(
      headOffset, lastColumn, index(1), init, [&](Value d, ValueRange accs) {
        SmallVector<Value> keysT;
        for (int64_t j = 0; j < numVectors; ++j)
          keysT.push_back(vector::LoadOp::create(
              b, loc, vec(f32Type), kPack, ValueRange{d, index(j * width)}));
        SmallVector<Value> next;
        for (int64_t i = 0; i < rowBlock; ++i) {
          Value qd = splat(
              memref::LoadOp::create(b, loc, qPack, ValueRange{rs[i], d}));
          for (int64_t j = 0; j < numVectors; ++j)
            next.push_back(vector::FMAOp::create(b, loc, qd, keysT[j],
                                                 accs[i * numVectors + j]));
        }
        return next;
      });
}

/// Packs the key tile transposed and the value tile, in f32, padding keys
/// past the end with zeros.
void KernelGenerator::emitPackKeyTile(Value keyBegin, Value count) {
  Type f32Type = b.getF32Type();
  Type elem = flash.getQuery().getType().getElementType();
  Value zero = f32(0.0);
  Value zerosF32 = zeroVector(f32Type);
  Value pass = zeroVector(elem);
  forLoop(index(0), index(tileKv), index(1), {}, [&](Value c, ValueRange) {
    Value valid =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, count);
    Value last = arith::SubIOp::create(b, loc, count, index(1));
    Value key = arith::AddIOp::create(b, loc, keyBegin,
                                      arith::MinUIOp::create(b, loc, c, last));
    // Paged: the key's page once per key (a tile may straddle pages).
    Value page, pageFirst; // not bindings: the lambda below captures them
    std::tie(page, pageFirst) =
        paged ? pageOf(key) : std::make_pair(batch, index(0));
    forLoop(index(0), qkDim, index(1), {}, [&](Value d, ValueRange) {
      Value x = toF32(memref::LoadOp::create(
          b, loc, k, kvIndices(page, pageFirst, key, d)));
      x = arith::SelectOp::create(b, loc, valid, x, zero);
      memref::StoreOp::create(b, loc, x, kPack, ValueRange{d, c});
      return SmallVector<Value>{};
    });
    vectorLoop(valueDim, [&](Value d, Value mask) {
      Value x = toF32(vector::MaskedLoadOp::create(
          b, loc, vec(elem), v, kvIndices(page, pageFirst, key, d), mask,
          pass));
      x = arith::SelectOp::create(b, loc, valid, x, zerosF32);
      vector::MaskedStoreOp::create(b, loc, vPack, ValueRange{c, d}, mask, x);
    });
    return SmallVector<Value>{};
  });
}

void KernelGenerator::emitKeyTile(Value keyBegin, Value keyEnd, bool withMask) {
  if (!decode)
    emitPackKeyTile(keyBegin, arith::SubIOp::create(b, loc, keyEnd, keyBegin));
  // Each branch in turn, on the same packed tiles.
  for (int64_t branch = 0; branch < branches; ++branch) {
    selectBranch(branch);
    emitRowBlocks(keyBegin, keyEnd, withMask);
  }
  selectBranch(0);
}

void KernelGenerator::emitRowBlocks(Value keyBegin, Value keyEnd,
                                    bool withMask) {
  Type f32Type = b.getF32Type();
  NormalizerKind kind = flash.getNormalizer();
  bool softmax = kind == NormalizerKind::Softmax;
  // The other normalizers sum their weights only for an output_mod that
  // reads the row sum.
  bool sumWeights = softmax || readsRowStatistics(flash.getOutputMod());
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value zero = f32(0.0), one = f32(1.0);
  Value zerosF32 = zeroVector(f32Type);
  Value count = arith::SubIOp::create(b, loc, keyEnd, keyBegin);

  int64_t numVectors = tileKv / width;
  SmallVector<int64_t> iotaValues(width);
  for (int64_t i = 0; i < width; ++i)
    iotaValues[i] = i;
  Value iota = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(VectorType::get({width}, b.getIndexType()),
                             ArrayRef<int64_t>(iotaValues)));
  Value lastRow = arith::SubIOp::create(
      b, loc, arith::AddIOp::create(b, loc, firstRow, numRows), index(1));
  Value numBlocks =
      arith::CeilDivUIOp::create(b, loc, numRows, index(rowBlock));

  // Row blocks of `rowBlock` rows share every load of the key and value
  // tiles. Rows past the tile's end (at most rowBlock - 1) compute as its
  // last row and are never stored.
  forLoop(index(0), numBlocks, index(1), {}, [&](Value blk, ValueRange) {
    Value r0 = arith::MulIOp::create(b, loc, blk, index(rowBlock));
    SmallVector<Value> rs, heads, rows, ms, ls;
    for (int64_t i = 0; i < rowBlock; ++i) {
      Value r = arith::AddIOp::create(b, loc, r0, index(i));
      rs.push_back(r);
      auto [h, row] = rowHeadQuery(arith::MinUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, firstRow, r), lastRow));
      heads.push_back(h);
      rows.push_back(row);
      ms.push_back(memref::LoadOp::create(b, loc, rowMax, ValueRange{r}));
      ls.push_back(memref::LoadOp::create(b, loc, rowSum, ValueRange{r}));
    }

    // Scores of the rows against the whole key tile.
    SmallVector<Value> scores =
        decode ? emitDotScores(rs, keyBegin, count) : emitRankOneScores(rs);

    SmallVector<Value> corrs, newMs, newLs;
    for (int64_t i = 0; i < rowBlock; ++i) {
      // The score_mod, the mask and the normalizer's transform, on vectors.
      SmallVector<Value> rowScores, keeps;
      for (int64_t j = 0; j < numVectors; ++j) {
        Value first = arith::AddIOp::create(b, loc, keyBegin, index(j * width));
        Value keys = arith::AddIOp::create(b, loc, splat(first), iota);
        Value keep = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           keys, splat(keyEnd));
        // Lanes past the last key see the last key: no param is read out of
        // bounds for them, and `keep` drops them.
        Value lastKey = splat(arith::SubIOp::create(b, loc, keyEnd, index(1)));
        Value clamped = arith::MinUIOp::create(b, loc, keys, lastKey);
        SmallVector<Value> idx = {splat(regionBatch()), splat(heads[i]),
                                  splat(rows[i]), clamped};
        Value s = scores[i * numVectors + j];
        // Their scores are whatever the key tile's padding holds (NaN, say):
        // 0 instead, so that a param indexed by the score is not read out of
        // bounds for them either.
        if (flash.hasScoreMod())
          s = emitRegionVector(
              flash.getScoreMod(),
              {arith::SelectOp::create(b, loc, keep, s, splat(f32(0))), idx[0],
               idx[1], idx[2], idx[3]});
        if (withMask && flash.hasMask())
          keep = arith::AndIOp::create(b, loc, keep,
                                       emitRegionVector(flash.getMask(), idx));
        if (withMask && selection)
          keep = arith::AndIOp::create(b, loc, keep,
                                       emitSelectedKeys(rs[i], first, keyEnd));
        if (auto t = flash.getTemperature())
          s = arith::DivFOp::create(b, loc, s,
                                    splat(f32(t->convertToDouble())));
        if (auto bias = flash.getBias())
          s = arith::AddFOp::create(b, loc, s,
                                    splat(f32(bias->convertToDouble())));
        rowScores.push_back(s);
        keeps.push_back(keep);
      }

      // Weights; for softmax the running max and sum move on by the tile.
      Value m = ms[i], l = ls[i], corr = one, newM = m, newL = l, safeM;
      if (softmax) {
        Value tileMax = negInf;
        for (int64_t j = 0; j < numVectors; ++j) {
          Value masked = arith::SelectOp::create(b, loc, keeps[j], rowScores[j],
                                                 splat(negInf));
          tileMax = arith::MaximumFOp::create(
              b, loc, tileMax,
              vector::ReductionOp::create(
                  b, loc, vector::CombiningKind::MAXIMUMF, masked));
        }
        // A row whose kept scores are all -inf so far keeps m = -inf,
        // weight 0 and no rescaling (no inf - inf).
        newM = arith::MaximumFOp::create(b, loc, m, tileMax);
        Value finite = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                             newM, negInf);
        safeM = arith::SelectOp::create(b, loc, finite, newM, zero);
        corr = limitWeight(m, safeM);
      }
      Value sum = zero;
      for (int64_t j = 0; j < numVectors; ++j) {
        Value s = rowScores[j], p;
        if (softmax) {
          p = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, s, splat(safeM)));
        } else if (kind == NormalizerKind::Sigmoid) {
          Value e =
              math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, s));
          p = arith::DivFOp::create(
              b, loc, splat(one), arith::AddFOp::create(b, loc, splat(one), e));
        } else if (kind == NormalizerKind::Relu) {
          p = arith::MaximumFOp::create(b, loc, s, zerosF32);
        } else {
          p = s;
        }
        p = arith::SelectOp::create(b, loc, keeps[j], p, zerosF32);
        if (sumWeights)
          sum =
              arith::AddFOp::create(b, loc, sum,
                                    vector::ReductionOp::create(
                                        b, loc, vector::CombiningKind::ADD, p));
        vector::StoreOp::create(b, loc, p, weights,
                                ValueRange{index(i), index(j * width)});
      }
      if (softmax) {
        // A +inf score: the row's weights are the limit, 1 for each +inf
        // key and 0 for the rest (exp gave NaN for them); a scalar branch,
        // off the vector path.
        Value infinite = arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OEQ, newM, f32(kPosInf));
        sum = ifThenElse(
            infinite, {f32Type},
            [&] {
              Value count = zero;
              for (int64_t j = 0; j < numVectors; ++j) {
                Value top =
                    arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                          rowScores[j], splat(f32(kPosInf)));
                Value p = arith::SelectOp::create(
                    b, loc, arith::AndIOp::create(b, loc, keeps[j], top),
                    splat(one), zerosF32);
                count = arith::AddFOp::create(
                    b, loc, count,
                    vector::ReductionOp::create(b, loc,
                                                vector::CombiningKind::ADD, p));
                vector::StoreOp::create(b, loc, p, weights,
                                        ValueRange{index(i), index(j * width)});
              }
              return SmallVector<Value>{count};
            },
            [&] { return SmallVector<Value>{sum}; })[0];
        newL = arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, l, corr), sum);
      } else if (sumWeights)
        newL = arith::AddFOp::create(b, loc, l, sum);
      corrs.push_back(corr);
      newMs.push_back(newM);
      newLs.push_back(newL);
    }

    // acc[rows, :] = acc[rows, :] * corr + weights . V, two vectors of the
    // head dim at a time so that they stay in registers across the keys.
    forLoop(index(0), valueDim, index(2 * width), {}, [&](Value d, ValueRange) {
      Value d1 = arith::AddIOp::create(b, loc, d, index(width));
      auto maskFrom = [&](Value start) {
        Value remaining = arith::SubIOp::create(b, loc, valueDim, start);
        return vector::CreateMaskOp::create(
            b, loc, VectorType::get({width}, b.getI1Type()),
            ValueRange{remaining});
      };
      Value mask0 = maskFrom(d), mask1 = maskFrom(d1);
      SmallVector<Value> accs;
      for (int64_t i = 0; i < rowBlock; ++i)
        for (auto [start, mask] :
             {std::make_pair(d, mask0), std::make_pair(d1, mask1)}) {
          Value a = vector::MaskedLoadOp::create(b, loc, vec(f32Type), acc,
                                                 ValueRange{rs[i], start}, mask,
                                                 zerosF32);
          if (softmax)
            a = arith::MulFOp::create(b, loc, a, splat(corrs[i]));
          accs.push_back(a);
        }
      // Decode reads the values as stored; keys past `count` are not read.
      Type elem = flash.getValue().getType().getElementType();
      auto accumulate = [&](Value c, ValueRange args, Value v0, Value v1) {
        SmallVector<Value> next;
        for (int64_t i = 0; i < rowBlock; ++i) {
          Value p = splat(
              memref::LoadOp::create(b, loc, weights, ValueRange{index(i), c}));
          next.push_back(vector::FMAOp::create(b, loc, p, v0, args[2 * i]));
          next.push_back(vector::FMAOp::create(b, loc, p, v1, args[2 * i + 1]));
        }
        return next;
      };
      SmallVector<Value> result;
      if (!decode) {
        result = forLoop(
            index(0), count, index(1), accs, [&](Value c, ValueRange args) {
              auto packed = [&](Value start, Value mask) -> Value {
                return vector::MaskedLoadOp::create(b, loc, vec(f32Type), vPack,
                                                    ValueRange{c, start}, mask,
                                                    zerosF32);
              };
              return accumulate(c, args, packed(d, mask0), packed(d1, mask1));
            });
      } else {
        result = forEachKeySpan(
            keyBegin, keyEnd, accs,
            [&](Value lo, Value hi, Value page, Value pageFirst,
                ValueRange spanAccs) {
              return forLoop(
                  lo, hi, index(1), spanAccs, [&](Value key, ValueRange args) {
                    auto stored = [&](Value start, Value mask) -> Value {
                      return toF32(vector::MaskedLoadOp::create(
                          b, loc, vec(elem), v,
                          kvIndices(page, pageFirst, key, start), mask,
                          zeroVector(elem)));
                    };
                    Value c = arith::SubIOp::create(b, loc, key, keyBegin);
                    return accumulate(c, args, stored(d, mask0),
                                      stored(d1, mask1));
                  });
            });
      }
      for (int64_t i = 0; i < rowBlock; ++i) {
        vector::MaskedStoreOp::create(b, loc, acc, ValueRange{rs[i], d}, mask0,
                                      result[2 * i]);
        vector::MaskedStoreOp::create(b, loc, acc, ValueRange{rs[i], d1}, mask1,
                                      result[2 * i + 1]);
      }
      return SmallVector<Value>{};
    });
    for (int64_t i = 0; i < rowBlock; ++i) {
      memref::StoreOp::create(b, loc, newMs[i], rowMax, ValueRange{rs[i]});
      memref::StoreOp::create(b, loc, newLs[i], rowSum, ValueRange{rs[i]});
    }
    return SmallVector<Value>{};
  });
}

void KernelGenerator::selectBranch(int64_t branch) {
  rowMax = branchRowMax[branch];
  rowSum = branchRowSum[branch];
  acc = branchAcc[branch];
  headOffset = branchOffsets[branch];
}

KernelGenerator::RowStatistics
KernelGenerator::emitRowStatistics(Value r, Value h, Value row) {
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value zero = f32(0.0), one = f32(1.0);
  Value inv = one, rowLse = negInf;
  Value weightSum = memref::LoadOp::create(b, loc, rowSum, ValueRange{r});
  if (flash.getNormalizer() != NormalizerKind::Softmax)
    return {inv, rowLse, weightSum};
  Value m = memref::LoadOp::create(b, loc, rowMax, ValueRange{r});
  Value l = weightSum, keysWeight = one;
  if (flash.hasSink()) {
    // The sink is one more logit of the sum, here at the end: the base
    // moves to max(m, sink) (0 when both are -inf: no inf - inf).
    Value sink = emitRegion(flash.getSink(), {regionBatch(), h});
    Value top = arith::MaximumFOp::create(b, loc, m, sink);
    Value finite = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                         top, negInf);
    Value base = arith::SelectOp::create(b, loc, finite, top, zero);
    keysWeight = limitWeight(m, base);
    l = arith::AddFOp::create(b, loc,
                              arith::MulFOp::create(b, loc, l, keysWeight),
                              limitWeight(sink, base));
    m = top;
  }
  // l is 0 only for a row with nothing kept; NaN (a NaN score) goes on to
  // out and lse.
  Value kept =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, l, zero);
  inv = arith::SelectOp::create(
      b, loc, kept, arith::DivFOp::create(b, loc, keysWeight, l), zero);
  rowLse = arith::SelectOp::create(
      b, loc, kept,
      arith::AddFOp::create(b, loc, m, math::LogOp::create(b, loc, l)),
      negInf);
  if (lse)
    memref::StoreOp::create(b, loc, rowLse, lse,
                            ValueRange{batch, h, qRow(row)});
  weightSum = arith::MulFOp::create(b, loc, weightSum, inv);
  return {inv, rowLse, weightSum};
}

void KernelGenerator::emitFinalize() {
  Type f32Type = b.getF32Type();
  Type elem = flash.getQuery().getType().getElementType();
  Value zerosF32 = zeroVector(f32Type);
  auto fromF32 = [&](Value x) -> Value {
    Type target = isa<VectorType>(x.getType()) ? Type(vec(elem)) : elem;
    return elem.isF32() ? x : Value(arith::TruncFOp::create(b, loc, target, x));
  };
  forLoop(index(0), numRows, index(1), {}, [&](Value r, ValueRange) {
    Value h, row; // not bindings: lambdas capture them
    std::tie(h, row) = rowHeadQuery(arith::AddIOp::create(b, loc, firstRow, r));
    RowStatistics stats = emitRowStatistics(r, h, row);
    Value inv = stats.inv;
    if (flash.hasOutputMod()) {
      forLoop(index(0), valueDim, index(1), {}, [&](Value d, ValueRange) {
        Value o = arith::MulFOp::create(
            b, loc, memref::LoadOp::create(b, loc, acc, ValueRange{r, d}), inv);
        branchRow = r, branchCol = d;
        o = emitRegion(flash.getOutputMod(), {o, regionBatch(), h, row, d,
                                              stats.lse, stats.weightSum});
        memref::StoreOp::create(b, loc, fromF32(o), out,
                                ValueRange{batch, h, qRow(row), d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    }
    Value invV = splat(inv);
    vectorLoop(valueDim, [&](Value d, Value mask) {
      Value a = vector::MaskedLoadOp::create(b, loc, vec(f32Type), acc,
                                             ValueRange{r, d}, mask, zerosF32);
      a = arith::MulFOp::create(b, loc, a, invV);
      vector::MaskedStoreOp::create(
          b, loc, out, ValueRange{batch, h, qRow(row), d}, mask, fromF32(a));
    });
    return SmallVector<Value>{};
  });
}

void KernelGenerator::emitStoreBranch(int64_t branch) {
  Type f32Type = b.getF32Type();
  Value slot = index(branch - 1);
  Value zerosF32 = zeroVector(f32Type);
  forLoop(index(0), numRows, index(1), {}, [&](Value r, ValueRange) {
    Value h, row; // not bindings: lambdas capture them
    std::tie(h, row) = rowHeadQuery(arith::AddIOp::create(b, loc, firstRow, r));
    RowStatistics stats = emitRowStatistics(r, h, row);
    memref::StoreOp::create(b, loc, stats.lse, branchLse, ValueRange{slot, r});
    memref::StoreOp::create(b, loc, stats.weightSum, branchSum,
                            ValueRange{slot, r});
    Value invV = splat(stats.inv);
    vectorLoop(valueDim, [&](Value d, Value mask) {
      Value a = vector::MaskedLoadOp::create(b, loc, vec(f32Type), acc,
                                             ValueRange{r, d}, mask, zerosF32);
      vector::MaskedStoreOp::create(b, loc, branchOut, ValueRange{slot, r, d},
                                    mask, arith::MulFOp::create(b, loc, a, invV));
    });
    return SmallVector<Value>{};
  });
}

Value KernelGenerator::emitBranchRead(BranchOp op) {
  Value slot = index(int64_t(op.getIndex()) - 1);
  switch (op.getStat()) {
  case BranchStat::Out:
    return memref::LoadOp::create(b, loc, branchOut,
                                  ValueRange{slot, branchRow, branchCol});
  case BranchStat::Lse:
    return memref::LoadOp::create(b, loc, branchLse,
                                  ValueRange{slot, branchRow});
  case BranchStat::RowSum:
    return memref::LoadOp::create(b, loc, branchSum,
                                  ValueRange{slot, branchRow});
  }
  llvm_unreachable("a BranchStat case");
}

void KernelGenerator::emitWorkItem(Value item) {
  Value qTile = arith::RemUIOp::create(b, loc, item, numTiles);
  Value batchHead = arith::DivUIOp::create(b, loc, item, numTiles);
  Value headSlot = arith::RemUIOp::create(b, loc, batchHead, headsPerBatch);
  batch = arith::DivUIOp::create(b, loc, batchHead, headsPerBatch);
  if (decode) {
    kvHead = headSlot;
    headBase = arith::MulIOp::create(b, loc, kvHead, group);
  } else {
    head = headBase = headSlot;
    kvHead = arith::DivUIOp::create(b, loc, head, group);
  }
  firstRow = arith::MulIOp::create(b, loc, qTile, index(tileQ));
  endRow = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, firstRow, index(tileQ)),
      rowsPerItem);
  numRows = arith::SubIOp::create(b, loc, endRow, firstRow);
  if (ragged)
    emitRaggedSequence();
  emitSequenceKeys();
}

void KernelGenerator::emitStartItem() {
  // Padding rows repeat the tile's last row.
  Type f32Type = b.getF32Type();
  Value zerosF32 = zeroVector(f32Type);
  Type elem = flash.getQuery().getType().getElementType();
  Value scaleV = splat(scale);
  Value lastValid = arith::SubIOp::create(b, loc, endRow, index(1));
  forLoop(
      index(0), index(paddedRows()), index(1), {}, [&](Value r, ValueRange) {
        Value h, row; // not bindings: the lambda captures them
        std::tie(h, row) = rowHeadQuery(arith::MinUIOp::create(
            b, loc, arith::AddIOp::create(b, loc, firstRow, r), lastValid));
        vectorLoop(qkDim, [&](Value d, Value mask) {
          Value x = toF32(vector::MaskedLoadOp::create(
              b, loc, vec(elem), q, ValueRange{batch, h, qRow(row), d}, mask,
              zeroVector(elem)));
          vector::MaskedStoreOp::create(
              b, loc, qPack, ValueRange{r, d}, mask,
              arith::MulFOp::create(b, loc, x, scaleV));
        });
        for (int64_t branch = 0; branch < branches; ++branch) {
          selectBranch(branch);
          memref::StoreOp::create(b, loc,
                                  f32(-std::numeric_limits<double>::infinity()),
                                  rowMax, ValueRange{r});
          memref::StoreOp::create(b, loc, f32(0.0), rowSum, ValueRange{r});
          vectorLoop(valueDim, [&](Value d, Value mask) {
            vector::MaskedStoreOp::create(b, loc, acc, ValueRange{r, d}, mask,
                                          zerosF32);
          });
        }
        selectBranch(0);
        return SmallVector<Value>{};
      });
}

void KernelGenerator::emitByClass(Value cls, function_ref<void(bool)> body) {
  auto classIs = [&](TileClass c) {
    return arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq, cls,
        arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(int8_t(c))));
  };
  ifThenElse(
      classIs(TileClass::Full), {},
      [&] {
        body(/*withMask=*/false);
        return SmallVector<Value>{};
      },
      [&] {
        ifThenElse(
            classIs(TileClass::Partial), {},
            [&] {
              body(/*withMask=*/true);
              return SmallVector<Value>{};
            },
            [&] { return SmallVector<Value>{}; });
        return SmallVector<Value>{};
      });
}

void KernelGenerator::emitKeyTiles(Value first, Value last) {
  // Empty tiles are skipped, full ones evaluate no mask.
  forLoop(first, last, index(1), {}, [&](Value kt, ValueRange) {
    Value keyBegin = arith::MulIOp::create(b, loc, kt, index(tileKv));
    Value keyEnd = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, keyBegin, index(tileKv)),
        itemKeys);
    if (!flash.hasMask() && !selection) {
      emitKeyTile(keyBegin, keyEnd, /*withMask=*/false);
      return SmallVector<Value>{};
    }
    Value lastKey = arith::SubIOp::create(b, loc, keyEnd, index(1));
    Value cls = emitTileClass(endRow, keyBegin, lastKey);
    // Classes order empty < partial < full: a pair is kept by both.
    if (selection)
      cls = arith::MinUIOp::create(b, loc, cls,
                                   emitSelectionClass(keyBegin, lastKey));
    emitByClass(
        cls, [&](bool withMask) { emitKeyTile(keyBegin, keyEnd, withMask); });
    return SmallVector<Value>{};
  });
}

LogicalResult KernelGenerator::cloneHoisted() {
  for (Operation &op : variant.getBody().front().without_terminator()) {
    if (&op == flash.getOperation())
      continue;
    if (op.getNumRegions() != 0 || !isPure(&op))
      return op.emitError("convert-attn-to-cpu: unexpected operation beside "
                          "attn.flash in variant '")
             << variant.getSymName() << "'";
    b.clone(op, outer);
  }
  return success();
}

LogicalResult KernelGenerator::generate() {
  Type elem = flash.getQuery().getType().getElementType();
  SmallVector<Type> argTypes = {
      rowMajor(4, elem, true), rowMajor(4, elem, true), rowMajor(4, elem, true),
      rowMajor(4, elem, true)};
  if (flash.returnsLse())
    argTypes.push_back(rowMajor(3, b.getF32Type(), true));
  if (decode) {
    argTypes.push_back(rowMajor(2, b.getF32Type(), true)); // parts
    argTypes.push_back(b.getIndexType());                  // splits
  }
  if (paged) {
    argTypes.push_back(rowMajor(2, b.getI32Type(), false)); // page table
    argTypes.push_back(rowMajor(1, b.getI32Type(), false)); // lengths
  }
  if (ragged) {
    argTypes.push_back(rowMajor(1, b.getI32Type(), false)); // cu_seqlens_q
    argTypes.push_back(rowMajor(1, b.getI32Type(), false)); // cu_seqlens_k
    argTypes.push_back(b.getIndexType()); // the longest sequence's queries
  }
  for (BlockArgument param : variant.getParams())
    argTypes.push_back(paramArgType(param));
  argTypes.push_back(MemRefType::get({ShapedType::kDynamic}, b.getI32Type()));
  argTypes.push_back(b.getIndexType());
  argTypes.push_back(b.getIndexType());

  Block *entry = startKernel(getCPUKernelName(variant.getSymName()), argTypes);
  unsigned next = 0;
  q = entry->getArgument(next++);
  k = entry->getArgument(next++);
  v = entry->getArgument(next++);
  out = entry->getArgument(next++);
  if (flash.returnsLse())
    lse = entry->getArgument(next++);
  if (decode) {
    parts = entry->getArgument(next++);
    splits = entry->getArgument(next++);
  }
  if (paged) {
    pageTable = entry->getArgument(next++);
    seqLens = entry->getArgument(next++);
  }
  if (ragged) {
    cuQ = entry->getArgument(next++);
    cuK = entry->getArgument(next++);
    maxQueries = entry->getArgument(next++);
  }
  for (BlockArgument param : variant.getParams())
    outer.map(param, entry->getArgument(next++));
  status = entry->getArgument(next++);
  Value begin = entry->getArgument(next++), end = entry->getArgument(next++);

  // Constants that canonicalization hoisted out of the regions.
  if (failed(cloneHoisted()))
    return failure();

  Value heads = memref::DimOp::create(b, loc, q, 1);
  // Ragged: q holds every sequence's queries; items are sized by the
  // longest, and those past a sequence's rows have none.
  Value queries =
      ragged ? maxQueries : Value(memref::DimOp::create(b, loc, q, 2));
  // Branches: each scores its part of the head dim (attn.flash's verifier
  // and the runtime check that K divides it).
  branches = flash.getBranchCount();
  qkDim = headDim = memref::DimOp::create(b, loc, q, 3);
  if (branches > 1)
    headDim = arith::DivUIOp::create(b, loc, qkDim, index(branches));
  for (int64_t branch = 0; branch < branches; ++branch)
    branchOffsets.push_back(
        arith::MulIOp::create(b, loc, index(branch), headDim));
  headOffset = branchOffsets[0];
  // Paged k is [num_pages, page_size, Hkv, D]; M = max_pages * page_size.
  Value kvHeads = memref::DimOp::create(b, loc, k, paged ? 2 : 1);
  if (paged) {
    numPages = memref::DimOp::create(b, loc, k, 0);
    pageSize = memref::DimOp::create(b, loc, k, 1);
    numKeys = arith::MulIOp::create(
        b, loc, memref::DimOp::create(b, loc, pageTable, 1), pageSize);
  } else {
    numKeys = memref::DimOp::create(b, loc, k, 2);
  }
  valueDim = memref::DimOp::create(b, loc, v, 3);
  group = arith::DivUIOp::create(b, loc, heads, kvHeads);
  // Decode's items are (batch, kv head, tile of group x N packed rows).
  packed = decode ? group : index(1);
  rowsPerItem =
      decode ? Value(arith::MulIOp::create(b, loc, group, queries)) : queries;
  headsPerBatch = decode ? kvHeads : heads;
  numTiles = arith::CeilDivUIOp::create(b, loc, rowsPerItem, index(tileQ));
  if (auto s = flash.getScale()) {
    scale = f32(s->convertToDouble());
  } else {
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim);
    Value df = arith::SIToFPOp::create(b, loc, b.getF32Type(), d);
    scale = arith::DivFOp::create(b, loc, f32(1.0),
                                  math::SqrtOp::create(b, loc, df));
  }
  Type f32Type = b.getF32Type();
  // With 16 lanes (AVX-512, 32 registers) 4 rows x 4 score vectors fit in
  // registers; narrower units get 2 rows.
  rowBlock = width >= 16 ? 4 : 2;
  auto rowState = MemRefType::get({paddedRows()}, f32Type);
  // Buffers sized by a head dim: 64-byte aligned heap blocks, once a call.
  auto heapBuffer = [&](MemRefType type, Value size) -> Value {
    Value buffer = memref::AllocOp::create(b, loc, type, ValueRange{size},
                                           b.getI64IntegerAttr(64));
    heapBuffers.push_back(buffer);
    return buffer;
  };
  for (int64_t branch = 0; branch < branches; ++branch) {
    branchRowMax.push_back(memref::AllocaOp::create(b, loc, rowState));
    branchRowSum.push_back(memref::AllocaOp::create(b, loc, rowState));
    branchAcc.push_back(heapBuffer(
        MemRefType::get({paddedRows(), ShapedType::kDynamic}, f32Type),
        valueDim));
  }
  selectBranch(0);
  qPack = heapBuffer(
      MemRefType::get({paddedRows(), ShapedType::kDynamic}, f32Type), qkDim);
  if (decode) {
    scoreBuf = memref::AllocaOp::create(
        b, loc, MemRefType::get({rowBlock, tileKv}, f32Type));
  } else {
    kPack = heapBuffer(MemRefType::get({ShapedType::kDynamic, tileKv}, f32Type),
                       qkDim);
    vPack = heapBuffer(MemRefType::get({tileKv, ShapedType::kDynamic}, f32Type),
                       valueDim);
  }
  weights = memref::AllocaOp::create(
      b, loc, MemRefType::get({rowBlock, tileKv}, f32Type));
  numKvTiles = arith::CeilDivUIOp::create(b, loc, numKeys, index(tileKv));
  if (branches > 1) {
    branchOut = heapBuffer(MemRefType::get({branches - 1, paddedRows(),
                                            ShapedType::kDynamic},
                                           f32Type),
                           valueDim);
    auto stats = MemRefType::get({branches - 1, paddedRows()}, f32Type);
    branchLse = memref::AllocaOp::create(b, loc, stats);
    branchSum = memref::AllocaOp::create(b, loc, stats);
  }
  if (selection)
    emitSelectionBuffers();
  auto emitReturn = [&] {
    for (Value buffer : heapBuffers)
      memref::DeallocOp::create(b, loc, buffer);
    func::ReturnOp::create(b, loc);
  };

  if (!decode) {
    forLoop(begin, end, index(1), {}, [&](Value work, ValueRange) {
      emitWorkItem(work);
      ifItemHasRows([&] {
        emitStartItem();
        if (selection)
          emitSelection();
        emitKeyTiles(index(0), itemKvTiles);
        // Branches K-1 down to 1 to their buffers, then branch 0, whose
        // output_mod reads them.
        for (int64_t branch = branches - 1; branch > 0; --branch) {
          selectBranch(branch);
          emitStoreBranch(branch);
        }
        selectBranch(0);
        emitFinalize();
      });
      return SmallVector<Value>{};
    });
    emitReturn();
    return success();
  }

  // Decode: items [0, items * splits) are parts, each over a range of the
  // key tiles; with splits > 1, items [items * splits, items * (splits + 1))
  // merge an item's parts (the runtime runs them after every part).
  Value batches =
      ragged ? Value(arith::SubIOp::create(
                   b, loc, memref::DimOp::create(b, loc, cuQ, 0), index(1)))
             : Value(memref::DimOp::create(b, loc, q, 0));
  Value items = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, batches, headsPerBatch), numTiles);
  Value partItems = arith::MulIOp::create(b, loc, items, splits);
  forLoop(begin, end, index(1), {}, [&](Value work, ValueRange) {
    Value isPart = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                         work, partItems);
    ifThenElse(
        isPart, {},
        [&] {
          emitWorkItem(arith::DivUIOp::create(b, loc, work, splits));
          ifItemHasRows([&] {
            emitStartItem();
            if (selection)
              emitSelection();
            Value split = arith::RemUIOp::create(b, loc, work, splits);
            // Paged or ragged, the splits cut the item's own sequence.
            Value tilesPerPart =
                arith::CeilDivUIOp::create(b, loc, itemKvTiles, splits);
            Value first = arith::MinUIOp::create(
                b, loc, arith::MulIOp::create(b, loc, split, tilesPerPart),
                itemKvTiles);
            Value last = arith::MinUIOp::create(
                b, loc, arith::AddIOp::create(b, loc, first, tilesPerPart),
                itemKvTiles);
            emitKeyTiles(first, last);
            Value whole = arith::CmpIOp::create(
                b, loc, arith::CmpIPredicate::eq, splits, index(1));
            ifThenElse(
                whole, {},
                [&] {
                  emitFinalize();
                  return SmallVector<Value>{};
                },
                [&] {
                  emitStoreParts(work);
                  return SmallVector<Value>{};
                });
          });
          return SmallVector<Value>{};
        },
        [&] {
          Value item = arith::SubIOp::create(b, loc, work, partItems);
          emitWorkItem(item);
          ifItemHasRows([&] {
            emitCombineParts(item);
            emitFinalize();
          });
          return SmallVector<Value>{};
        });
    return SmallVector<Value>{};
  });
  emitReturn();
  return success();
}

namespace {
struct ConvertAttnToCPUPass
    : attn::impl::ConvertAttnToCPUBase<ConvertAttnToCPUPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<VariantOp> variants(getOperation().getOps<VariantOp>());
    for (VariantOp variant : variants) {
      auto flashes = variant.getBody().getOps<FlashOp>();
      if (std::distance(flashes.begin(), flashes.end()) != 1) {
        variant.emitError("convert-attn-to-cpu: variant '")
            << variant.getSymName()
            << "' is not fused into one attn.flash; run attn-fuse first";
        return signalPassFailure();
      }
      FlashOp flash = *flashes.begin();
      ScheduleAttr schedule = flash.getScheduleAttr();
      if (!schedule || schedule.isGPU() || !schedule.getVectorWidth()) {
        flash.emitError("convert-attn-to-cpu: attn.flash needs a cpu_tiles "
                        "or cpu_decode schedule with a vector width; run "
                        "attn-select-schedule{target=cpu} first");
        return signalPassFailure();
      }
      if (schedule.getFamily() == KernelFamily::CpuTiles &&
          schedule.getSplits() != 1) {
        flash.emitError("convert-attn-to-cpu: cpu_tiles runs one key split; "
                        "got ")
            << schedule.getSplits();
        return signalPassFailure();
      }
      KernelGenerator generator(variant, flash, schedule);
      if (failed(generator.generate()))
        return signalPassFailure();
      if (backward) {
        if (!flash.isDifferentiated()) {
          flash.emitError("convert-attn-to-cpu: the backward kernel needs "
                          "the derivatives of attn-differentiate");
          return signalPassFailure();
        }
        if (failed(generateBackward(variant, flash, schedule)))
          return signalPassFailure();
      }
      variant.erase();
    }
  }
};
} // namespace
