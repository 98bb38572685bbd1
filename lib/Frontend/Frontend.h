//===- Frontend.h - from .attn source to checked variants -------*- C++ -*-===//

#ifndef ATTNC_FRONTEND_FRONTEND_H
#define ATTNC_FRONTEND_FRONTEND_H

#include "Frontend/AST.h"
#include "Frontend/Typed.h"

#include <optional>
#include <vector>

namespace attnc {

/// The standard library, parsed once and shared (it is immutable).
const ast::Module &getStdlibModule();

/// Parses and checks `file` against the standard library. On failure every
/// error is in `diags` and std::nullopt is returned.
std::optional<std::vector<sema::VariantSpec>>
parseAndCheck(const SourceFile &file, DiagnosticEngine &diags);

} // namespace attnc

#endif // ATTNC_FRONTEND_FRONTEND_H
