//===- ScalarOps.h - the vocabulary of the scalar-op table ------*- C++ -*-===//
//
// ScalarOps.def lists the arith and math ops that the variant regions may
// hold; this header names the values of its columns. It includes neither
// dialect, so that what includes it stays light.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_DIALECT_SCALAROPS_H
#define ATTNC_DIALECT_SCALAROPS_H

namespace mlir::attn {

/// How the CPU kernels compute a math op of the table (its CPU column).
enum class CPUMath {
  Standard,   // MLIR's math-to-llvm and math-to-libm
  Polynomial, // attn-approximate-math, before those
};

} // namespace mlir::attn

#endif // ATTNC_DIALECT_SCALAROPS_H
