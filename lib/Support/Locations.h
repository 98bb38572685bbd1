//===- Locations.h - a source location as a user reads it -------*- C++ -*-===//

#ifndef ATTNC_SUPPORT_LOCATIONS_H
#define ATTNC_SUPPORT_LOCATIONS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"

#include <string>

namespace attnc {

/// "FILE:LINE:COL" of `loc`; an expression inlined from a function (the
/// standard library's, say) is where the call is, then where it was
/// written: "variant.attn:7:10 (inlined from <stdlib>:27:36)". Empty when
/// the location names no file.
inline std::string formatLocation(mlir::Location loc) {
  auto fileLine = [](mlir::Location l) -> std::string {
    if (auto f = mlir::dyn_cast<mlir::FileLineColLoc>(l))
      return f.getFilename().str() + ":" + std::to_string(f.getLine()) + ":" +
             std::to_string(f.getColumn());
    if (auto n = mlir::dyn_cast<mlir::NameLoc>(l))
      return formatLocation(n.getChildLoc());
    return "";
  };
  if (auto call = mlir::dyn_cast<mlir::CallSiteLoc>(loc)) {
    std::string caller = formatLocation(call.getCaller());
    std::string callee = formatLocation(call.getCallee());
    if (caller.empty() || callee.empty())
      return caller.empty() ? callee : caller;
    return caller + " (inlined from " + callee + ")";
  }
  return fileLine(loc);
}

} // namespace attnc

#endif // ATTNC_SUPPORT_LOCATIONS_H
