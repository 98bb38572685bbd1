//===- CallOptions.h - what attnc's subcommands parse alike -----*- C++ -*-===//
//
// The pieces `attnc run` and `attnc mask` share: the --shape and --param
// texts, the input file and the choice of one variant of a module.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_CALLOPTIONS_H
#define ATTNC_TOOLS_CALLOPTIONS_H

#include "Reference/RandomInputs.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <vector>

namespace attnc {

/// Parses `B=1,H=16,N=4096,...`; a size left out takes `defaults`' (the
/// sizes of loaded inputs), else B=1 H=8 Hkv=H N=256 M=N D=64 Dv=D.
llvm::Expected<AttnSizes>
parseShape(llvm::StringRef text,
           const std::map<std::string, int64_t> &defaults = {});

/// Parses repeated `NAME=S1,S2,...` items (--dim) into the sizes of params'
/// `?` dims.
llvm::Expected<std::map<std::string, std::vector<int64_t>>>
parseParamDims(llvm::ArrayRef<std::string> items);

/// Parses repeated `NAME=VALUE` items into scalar param values.
llvm::Expected<std::map<std::string, double>>
parseParamValues(llvm::ArrayRef<std::string> items);

/// The whole of `path` (`-` for standard input).
llvm::Expected<std::string> readInputFile(llvm::StringRef path);

/// Keeps only the variant named `name` (or the only one) in `module`; fails
/// when that is not exactly one.
llvm::Error selectOneVariant(mlir::ModuleOp module, llvm::StringRef name);

/// Prints `error` as `attnc: error: ...`; returns the exit status, 1.
int reportError(llvm::Error error);

} // namespace attnc

#endif // ATTNC_TOOLS_CALLOPTIONS_H
