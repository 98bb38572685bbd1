//===- ParamShapes.h - the shapes of a variant's tensor params --*- C++ -*-===//
//
// A param dim named B, H, Hkv, N, M, D or Dv takes that size of the call; a
// `?` dim is sized from the reads of the param: the largest index any read
// can take, bounded by intervals over b, h, q_idx, kv_idx and d (block
// map[h, q_idx / 128, kv_idx / 128] over N = 300 keys: ceil(300 / 128) = 3),
// unless the caller gives it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_REFERENCE_PARAMSHAPES_H
#define ATTNC_REFERENCE_PARAMSHAPES_H

#include "Reference/RandomInputs.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attnc {

/// What sizes the `?` dims of params beside the reads.
struct ParamSizing {
  /// Scalar params' values by name (the others: their default, or 3); the
  /// reads' bounds use them (relative_bias's table has 2 * max_distance + 1
  /// columns).
  std::map<std::string, double> scalars;
  /// Integer params hold ids in [0, idRange): a read indexed by one is
  /// bounded by it.
  int64_t idRange = 4;
  /// The sizes of a param's `?` dims, in order (`attnc run --dim`).
  std::map<std::string, std::vector<int64_t>> dims;
  /// The size of a `?` dim whose reads are not bounded (an index computed
  /// from a float); none: an error that names the param and the read.
  std::optional<int64_t> unbounded;
};

/// The shape of each param of `variant` in its order (empty for a scalar).
/// Fails on a `dims` entry that names no param with `?` dims or gives the
/// wrong count, and on a `?` dim it cannot size.
llvm::Expected<ParamShapes> sizeParams(mlir::attn::VariantOp variant,
                                       const AttnSizes &sizes,
                                       const ParamSizing &sizing);

/// Every `?` dim `anySize`, whatever the reads (tests that draw random
/// variants).
ParamShapes fixedParamShapes(mlir::attn::VariantOp variant,
                             const AttnSizes &sizes, int64_t anySize);

} // namespace attnc

#endif // ATTNC_REFERENCE_PARAMSHAPES_H
