//===- RandomInputs.h - random inputs for a variant -------------*- C++ -*-===//

#ifndef ATTNC_REFERENCE_RANDOMINPUTS_H
#define ATTNC_REFERENCE_RANDOMINPUTS_H

#include "Reference/Reference.h"

#include "mlir/IR/Value.h"

#include <map>
#include <string>
#include <vector>

namespace attnc {

/// The sizes of one call.
struct AttnSizes {
  int64_t batch = 1, heads = 1, kvHeads = 1, queries = 1, keys = 1,
          headDim = 16, valueDim = 16;
};

/// The shape of each param in the variant's order (empty for a scalar).
using ParamShapes = std::vector<std::vector<int64_t>>;

/// The call size named B, H, Hkv, N, M, D or Dv; -1 for another name.
int64_t getCallSize(const AttnSizes &sizes, llvm::StringRef name);

/// A tensor param's shape with its dims named B, H, Hkv, N, M, D or Dv
/// sized by the call and its `?` dims -1 (ParamShapes.h sizes those).
std::vector<int64_t> paramCallShape(mlir::attn::VariantOp variant,
                                    mlir::BlockArgument param,
                                    const AttnSizes &sizes);

/// A scalar param's value before --param: the call's size for a size,
/// else its default, else 3.
double scalarParamValue(mlir::attn::VariantOp variant, unsigned argNumber,
                        const AttnSizes &sizes);

/// Fresh random q, k, v (uniform in [-1, 1]; q and k rounded to multiples
/// of 1/8 when the variant selects key blocks, on which kernels and the
/// reference compute the same selection) and params: float params uniform in
/// [-1, 1], integer params in [0, idRange) (sorted along a single axis, so that
/// document ids come in contiguous runs), bool params fair coins, scalar params
/// their default (or 3), tensor params of `shapes`. Without `withQKV`, q, k and
/// v get their shapes and no values (for a timing run, which makes its own,
/// never the reference's doubles); the params are the same either way.
RefInputs makeRandomInputs(mlir::attn::VariantOp variant,
                           const AttnSizes &sizes, uint64_t seed,
                           const ParamShapes &shapes, int64_t idRange = 4,
                           bool withQKV = true);

/// As above with every `?` dim of a param `anySize` (tests).
RefInputs makeRandomInputs(mlir::attn::VariantOp variant,
                           const AttnSizes &sizes, uint64_t seed,
                           int64_t anySize = 300, int64_t idRange = 4,
                           bool withQKV = true);

/// How many elements makeRandomInputs would make (q, k, v when `withQKV`,
/// and the params of `shapes`), saturating at INT64_MAX: callers check it
/// before asking for them.
int64_t countRandomInputs(const AttnSizes &sizes, const ParamShapes &shapes,
                          bool withQKV = true);

/// Sets scalar params of `inputs` by name (`attnc run --param`); fails with
/// a message naming the variant's scalar params on a name it lacks or a
/// tensor param.
llvm::Error setScalarParams(mlir::attn::VariantOp variant,
                            const std::map<std::string, double> &values,
                            RefInputs &inputs);

} // namespace attnc

#endif // ATTNC_REFERENCE_RANDOMINPUTS_H
