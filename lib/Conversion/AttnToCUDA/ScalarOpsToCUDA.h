//===- ScalarOpsToCUDA.h - the table's scalar ops as CUDA C++ ---*- C++ -*-===//
//
// The C++ spelling of the scalars of a region and of the ops of
// dialect/ScalarOps.def, one expression per op, over the types the regions
// use (f32, bf16/f16 held as float, i1, i8, i32, i64, and index as 32-bit
// int: sizes on the GPU stay below 2^31). Used by RegionEmitter; private to
// AttnToCUDA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CONVERSION_ATTNTOCUDA_SCALAROPSTOCUDA_H
#define ATTNC_CONVERSION_ATTNTOCUDA_SCALAROPSTOCUDA_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// A float as a C++ literal of type float.
std::string floatLiteral(double v);

/// The C++ type that holds values of `type`; an error at `loc` for a type
/// the CUDA backend does not support.
FailureOr<std::string> scalarCType(Location loc, Type type);

/// A constant's value as a C++ literal, for `user` to read.
FailureOr<std::string> constantLiteral(Operation *user, Attribute value);

/// The C++ expression of `op` over its operands spelled `in`, as the table's
/// CUDA column says; std::nullopt when `op` is not in the table.
std::optional<FailureOr<std::string>> spellScalarOp(Operation &op,
                                                    ArrayRef<std::string> in);

} // namespace mlir::attn

#endif // ATTNC_CONVERSION_ATTNTOCUDA_SCALAROPSTOCUDA_H
