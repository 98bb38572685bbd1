//===- Interpreter.h - the float64 reference's interpreter ------*- C++ -*-===//
//
// Private to lib/Reference: the interpreter that Reference.cpp (the forward,
// the counts, integer regions) and Backward.cpp (the gradients) share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_REFERENCE_INTERPRETER_H
#define ATTNC_REFERENCE_INTERPRETER_H

#include "Reference/Reference.h"
#include "dialect/AttnOps.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnc::reference {

using namespace mlir;
using namespace mlir::attn;

/// One scalar of a region: floats in `f`, integers, indices and bools in `i`.
struct Scalar {
  double f = 0;
  int64_t i = 0;
};

/// A tensor of the cascade: scores (with which pairs are kept), weights or
/// outputs, row-major.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
  std::vector<char> keep; // scores only: 1 where the pair is kept
};
using TensorPtr = std::shared_ptr<Tensor>;

class ScalarEvaluator;

class Interpreter {
  friend class ScalarEvaluator;

public:
  /// Counting pairs and integer regions need q, k and v's shapes only:
  /// their values may be absent then (`qkvValues` false).
  Interpreter(VariantOp variant, const RefInputs &inputs, bool qkvValues = true)
      : variant(variant), inputs(inputs), qkvValues(qkvValues) {}
  llvm::Expected<RefOutputs> run();
  llvm::Expected<int64_t> countKept();
  llvm::Expected<int64_t> evalIntRegion(Region &region, ArrayRef<int64_t> args);
  /// The gradients for `dout` (Backward.cpp).
  llvm::Expected<RefGradients> backward(const RefArray &dout);
  /// A value of a region (in `values`) or of the variant's body.
  Scalar lookup(Value v, const llvm::DenseMap<Value, Scalar> &values);

private:
  bool fail(const std::string &message) {
    if (error.empty())
      error = message;
    return false;
  }
  bool bindArguments();
  bool execute(Operation &op);
  Scalar evalRegion(Region &region, ArrayRef<Scalar> args);
  bool evalScalarOp(Operation &op, llvm::DenseMap<Value, Scalar> &values);

  /// `headPart` [p, n]: over part p of n of the head dimension only.
  TensorPtr score(Value q, Value k, std::optional<APFloat> scale,
                  std::optional<ArrayRef<int64_t>> headPart = std::nullopt);
  void applyScoreMod(Tensor &s, Region &region);
  void applyMask(Tensor &s, Region &region);
  /// The weights of `s`; softmax's `sink` region (may be empty) joins each
  /// row's sum. Sets rowLse and rowSum.
  /// Masks the pairs whose key block `selection` does not pick for their
  /// query (Selection.cpp).
  void applySelection(Tensor &s, SelectAttr selection, Value q, Value k);
  TensorPtr normalize(const Tensor &s, NormalizerKind kind,
                      std::optional<APFloat> bias,
                      std::optional<APFloat> temperature, Region &sink);
  /// rowLse as a [B, H, N] tensor.
  TensorPtr lseTensor(const Tensor &s) const;
  TensorPtr aggregate(const Tensor &p, Value v);
  /// attn.flash's score_mod, mask and selection, on its scores `s`.
  void applyScoreSteps(FlashOp flash, Tensor &s);
  /// One branch's output and its rows' statistics.
  struct BranchResult {
    TensorPtr out;
    std::vector<double> lse, rowSum;
  };
  /// Applies output_mod with the rows' statistics of the last normalize;
  /// `branches` (branches 1..K-1 of a multi-branch cascade) are what its
  /// attn.branch ops read.
  void applyOutputMod(Tensor &o, Region &region,
                      ArrayRef<BranchResult> branches = {});
  /// The sink of row (b, h); -inf without one.
  double sinkOf(Region &sink, int64_t b, int64_t h);

  // The backward (Backward.cpp).
  Scalar evalRegion(Region &region, ArrayRef<Scalar> args,
                    llvm::DenseMap<Value, Scalar> &values);
  /// Adds `seed` times the derivative of `region`'s result (evaluated into
  /// `values`) to the params' gradients; returns its derivative with
  /// respect to the region's first argument. With `rowStats` (output_mod),
  /// adds those with respect to its lse and row_sum to rowStats[0], [1].
  double reverseRegion(Region &region,
                       const llvm::DenseMap<Value, Scalar> &values, double seed,
                       RefGradients &grads, double *rowStats = nullptr);
  bool bindBodyScalars();

  VariantOp variant;
  const RefInputs &inputs;
  bool qkvValues;
  bool boundScalars = false; // evalIntRegion's binding, done once
  std::string error;
  llvm::DenseMap<Value, Scalar> scalars;          // defined in the body
  llvm::DenseMap<Value, const RefArray *> arrays; // q, k, v, tensor params
  llvm::DenseMap<Value, std::string> paramNames;
  llvm::DenseMap<Value, TensorPtr> tensors;
  // Per row of the last normalize: lse (softmax; -inf otherwise) and the
  // sum of the weights.
  std::vector<double> rowLse, rowSum;
  // Each branch output's statistics (the cascade's aggregates), and while
  // an output_mod runs, its other branches and the element it is at.
  llvm::DenseMap<Value, BranchResult> branchResults;
  ArrayRef<BranchResult> currentBranches;
  int64_t currentElement = 0;
  RefOutputs outputs;
};

} // namespace attnc::reference

#endif // ATTNC_REFERENCE_INTERPRETER_H
