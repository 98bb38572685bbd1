//===- AttnDialect.h - the attn dialect -------------------------*- C++ -*-===//
//
// The dialect class only; include AttnOps.h for the operations.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_DIALECT_ATTNDIALECT_H
#define ATTNC_DIALECT_ATTNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialect/AttnDialect.h.inc"

#endif // ATTNC_DIALECT_ATTNDIALECT_H
