//===- Reference.h - float64 evaluation of a variant ------------*- C++ -*-===//
//
// The reference every kernel is checked against: evaluates a variant's
// cascade (or its fused attn.flash) naively in float64, materialising the
// [B, H, N, M] scores, interpreting the regions' arith/math ops one element at
// a time. Slow by design; meant for test-sized shapes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_REFERENCE_REFERENCE_H
#define ATTNC_REFERENCE_REFERENCE_H

#include "mlir/Support/LLVM.h"

#include "llvm/ADT/ArrayRef.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class Region;
namespace attn {
class VariantOp;
} // namespace attn
} // namespace mlir

namespace attnc {

/// A dense row-major array of float64 values with its shape (empty for a
/// scalar). Integer and bool params hold exact integers.
struct RefArray {
  std::vector<int64_t> shape;
  std::vector<double> data;

  int64_t numElements() const;
  int64_t dim(size_t i) const { return shape[i]; }
};

struct RefInputs {
  RefArray q, k, v;             // [B, H, N, D], [B, Hkv, M, D], [B, Hkv, M, Dv]
  std::vector<RefArray> params; // in the variant's order
  /// Keys j >= keyLengths[b] take no part (as if masked), one per batch;
  /// empty: every key (a paged KV cache's sequence lengths).
  std::vector<int64_t> keyLengths;
  /// Added to b where the regions see it: a ragged batch's sequence s,
  /// evaluated as a batch of one, sees b = s.
  int64_t batchOffset = 0;
};

struct RefOutputs {
  RefArray out;          // [B, H, N, Dv]
  RefArray lse;          // [B, H, N]; empty unless the variant returns it
  int64_t keptPairs = 0; // (b, h, q_idx, kv_idx) pairs the mask keeps
};

/// The gradients of a loss L with respect to a variant's inputs, given
/// dL/dout: dq, dk, dv (k and v summed over the query heads that share them)
/// and one array per param, of its shape, holding dL/dparam for float
/// params the score_mod or output_mod reads (zeros for the others: masks,
/// integer and bool params have no gradient).
struct RefGradients {
  RefArray dq, dk, dv;
  /// Per element of dq, dk and dv: the root of the sum of squares of the
  /// terms it sums (e.g. p_ij * dO_i for dv_j), the scale of the noise that
  /// rounding those terms' 16-bit factors adds (checks allow a multiple).
  RefArray dqNoise, dkNoise, dvNoise;
  std::vector<RefArray> dparams; // in the variant's order
};

/// The backward of a fused variant (one attn.flash) on `inputs` for the
/// upstream gradient `dout` ([B, H, N, Dv]), in float64 from the
/// materialised scores: output_mod and score_mod differentiated op by op
/// (the rule of each op of dialect/ScalarOps.def that takes floats), the
/// normalizer's backward (softmax from its probabilities), masked pairs and
/// fully masked rows contributing nothing. Fails with a message on a
/// cascade that is not fused, an op without a rule, or what
/// evaluateReference fails on.
llvm::Expected<RefGradients>
evaluateReferenceBackward(mlir::attn::VariantOp variant,
                          const RefInputs &inputs, const RefArray &dout);

/// Evaluates `variant` on `inputs`. Fails with a message (never aborts) on a
/// shape that does not fit, an out-of-bounds param read, or an op the
/// reference does not know.
llvm::Expected<RefOutputs> evaluateReference(mlir::attn::VariantOp variant,
                                             const RefInputs &inputs);

/// Counts the (b, h, q_idx, kv_idx) pairs the variant's mask keeps, without
/// computing any score; loops over b and h only when the mask reads them.
llvm::Expected<int64_t> countKeptPairs(mlir::attn::VariantOp variant,
                                       const RefInputs &inputs);

/// Evaluates one region of the variant (a mask, a tile_class, ...) whose
/// arguments are all integers, at `args`; returns what it yields as an
/// integer (a bool as 0 or 1).
llvm::Expected<int64_t> evaluateIntRegion(mlir::attn::VariantOp variant,
                                          const RefInputs &inputs,
                                          mlir::Region &region,
                                          llvm::ArrayRef<int64_t> args);

/// Evaluates integer regions of one variant at many points (every tile or
/// pair of a map), binding the params once where evaluateIntRegion binds
/// them per call. `inputs` must outlive it.
class IntRegionEvaluator {
public:
  IntRegionEvaluator(mlir::attn::VariantOp variant, const RefInputs &inputs);
  ~IntRegionEvaluator();

  /// As evaluateIntRegion; after an error every call fails with it.
  llvm::Expected<int64_t> evaluate(mlir::Region &region,
                                   llvm::ArrayRef<int64_t> args);

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace attnc

#endif // ATTNC_REFERENCE_REFERENCE_H
