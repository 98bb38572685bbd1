//===- CallOptions.cpp - what attnc's subcommands parse alike -------------===//

#include "CallOptions.h"
#include "Support/Error.h"
#include "dialect/AttnOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

Expected<attnc::AttnSizes>
attnc::parseShape(StringRef text,
                  const std::map<std::string, int64_t> &defaults) {
  std::map<std::string, int64_t> given;
  SmallVector<StringRef> items;
  if (!text.trim().empty())
    text.split(items, ',', -1, /*KeepEmpty=*/true);
  for (StringRef item : items) {
    if (item.trim().empty())
      return makeError("--shape: an empty entry in '" + text +
                       "' (entries are NAME=SIZE, separated by commas)");
    auto [key, value] = item.split('=');
    int64_t n;
    key = key.trim();
    if (value.trim().getAsInteger(10, n) || n < 1 ||
        !StringSwitch<bool>(key)
             .Cases({"B", "H", "Hkv", "N", "M", "D", "Dv"}, true)
             .Default(false))
      return makeError("--shape: expected NAME=SIZE with NAME one of B, H, "
                       "Hkv, N, M, D, Dv and SIZE >= 1; got '" +
                       item + "'");
    if (!given.emplace(key.str(), n).second)
      return makeError("--shape: " + key + " is given twice in '" + text + "'");
  }
  auto get = [&](const char *key, int64_t fallback) {
    if (auto it = given.find(key); it != given.end())
      return it->second;
    auto it = defaults.find(key);
    return it == defaults.end() ? fallback : it->second;
  };
  AttnSizes sizes;
  sizes.batch = get("B", 1);
  sizes.heads = get("H", 8);
  sizes.kvHeads = get("Hkv", sizes.heads);
  sizes.queries = get("N", 256);
  sizes.keys = get("M", sizes.queries);
  sizes.headDim = get("D", 64);
  sizes.valueDim = get("Dv", sizes.headDim);
  return sizes;
}

Expected<std::map<std::string, double>>
attnc::parseParamValues(ArrayRef<std::string> items) {
  std::map<std::string, double> values;
  for (const std::string &item : items) {
    auto [name, text] = StringRef(item).split('=');
    double value;
    if (name.empty() || text.empty() || text.trim().getAsDouble(value))
      return makeError("--param: expected NAME=VALUE with a number, e.g. "
                       "--param window=128; got '" +
                       item + "'");
    if (!values.emplace(name.trim().str(), value).second)
      return makeError("--param " + name.trim() + " is given twice");
  }
  return values;
}

Expected<std::map<std::string, std::vector<int64_t>>>
attnc::parseParamDims(ArrayRef<std::string> items) {
  std::map<std::string, std::vector<int64_t>> dims;
  for (const std::string &item : items) {
    auto [name, text] = StringRef(item).split('=');
    SmallVector<StringRef> sizes;
    text.split(sizes, ',');
    std::vector<int64_t> &out = dims[name.trim().str()];
    out.clear();
    for (StringRef size : sizes) {
      int64_t n;
      if (size.trim().getAsInteger(10, n) || n < 1 || n > (int64_t(1) << 40))
        return makeError("--dim: expected NAME=SIZE[,SIZE...], the sizes of "
                         "param NAME's `?` dims in order, each >= 1, e.g. "
                         "--dim map=2,2; got '" +
                         item + "'");
      out.push_back(n);
    }
    if (name.trim().empty() || out.empty())
      return makeError("--dim: expected NAME=SIZE[,SIZE...], e.g. --dim "
                       "map=2,2; got '" +
                       item + "'");
  }
  return dims;
}

Expected<std::string> attnc::readInputFile(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (std::error_code ec = buffer.getError())
    return makeError("cannot read '" + path + "': " + ec.message());
  return (*buffer)->getBuffer().str();
}

Error attnc::selectOneVariant(mlir::ModuleOp module, StringRef name) {
  SmallVector<mlir::attn::VariantOp> variants(
      module.getOps<mlir::attn::VariantOp>());
  std::string names;
  for (mlir::attn::VariantOp v : variants)
    names += (names.empty() ? "" : ", ") + v.getSymName().str();
  for (mlir::attn::VariantOp v : variants)
    if (!name.empty() && v.getSymName() != name)
      v.erase();
  if (!module.getOps<mlir::attn::VariantOp>().empty() &&
      std::next(module.getOps<mlir::attn::VariantOp>().begin()) ==
          module.getOps<mlir::attn::VariantOp>().end())
    return Error::success();
  return makeError(name.empty() ? "the file defines several variants (" +
                                      names + "); choose one with --variant"
                                : "no variant named '" + name +
                                      "'; the file defines " + names);
}

int attnc::reportError(Error error) {
  std::string message = toString(std::move(error));
  // Diagnostics of the source come rendered (FILE:LINE:COL: error: ...);
  // the library's own messages may start with its name.
  if (message.find(": error: ") == std::string::npos) {
    StringRef text = message;
    text.consume_front("attnc: ");
    message = "attnc: error: " + text.str();
  }
  errs() << message << (StringRef(message).ends_with("\n") ? "" : "\n");
  return 1;
}
