//===- Sema.h - the checker of the attnc DSL --------------------*- C++ -*-===//

#ifndef ATTNC_FRONTEND_SEMA_H
#define ATTNC_FRONTEND_SEMA_H

#include "Frontend/AST.h"
#include "Frontend/Typed.h"

#include <optional>
#include <vector>

namespace attnc {

/// The standard library's source, written in the DSL and compiled into the
/// frontend.
std::string_view getStdlibSource();

/// Checks `module` against the standard library `stdlib` (may be null) and
/// returns its variants, or std::nullopt after reporting every error found.
std::optional<std::vector<sema::VariantSpec>>
checkModule(const ast::Module &module, const ast::Module *stdlib,
            DiagnosticEngine &diags);

} // namespace attnc

#endif // ATTNC_FRONTEND_SEMA_H
