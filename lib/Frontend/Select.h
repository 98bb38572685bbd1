//===- Select.h - the select and branches statements of the DSL -*- C++ -*-===//

#ifndef ATTNC_FRONTEND_SELECT_H
#define ATTNC_FRONTEND_SELECT_H

#include "Frontend/Typed.h"

namespace attnc {

/// Checks the value of `select = ...`: `topk(K, block = B, sinks = S,
/// local = L, causal = true|false)` with integer constants (block 64, sinks
/// and local 0, causal true by default). Reports every misuse at its
/// argument and returns std::nullopt after any.
std::optional<sema::SelectSpec> checkSelect(const ast::Stmt &stmt,
                                            DiagnosticEngine &diags);

/// Checks the value of `branches = split(K)`: K an integer constant from 2
/// to ATTNC_MAX_BRANCHES. Returns K, or std::nullopt after reporting.
std::optional<int64_t> checkBranches(const ast::Stmt &stmt,
                                     DiagnosticEngine &diags);

} // namespace attnc

#endif // ATTNC_FRONTEND_SELECT_H
