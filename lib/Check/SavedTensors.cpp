//===- SavedTensors.cpp - the files of attnc run --save and --load --------===//

#include "Check/SavedTensors.h"
#include "Support/Error.h"
#include "dialect/AttnOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <cmath>
#include <cstring>
#include <set>

using namespace attnc;

const Manifest::Entry *Manifest::find(llvm::StringRef name) const {
  for (const Entry &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

std::string attnc::formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

llvm::Expected<Manifest> attnc::readManifest(llvm::StringRef dir) {
  std::string path = (dir + "/manifest.txt").str();
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (std::error_code ec = buffer.getError())
    return makeError("--load: cannot read '" + path + "': " + ec.message() +
                     " (attnc run --save DIR writes it)");
  Manifest manifest;
  manifest.dir = dir.str();
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  for (auto [number, line] : llvm::enumerate(lines)) {
    llvm::SmallVector<llvm::StringRef> words;
    line.split(words, ' ', -1, /*KeepEmpty=*/false);
    if (words.empty())
      continue;
    Manifest::Entry entry{words[0].str(), {}};
    for (llvm::StringRef word : llvm::ArrayRef(words).drop_front()) {
      int64_t d;
      if (word.trim().getAsInteger(10, d) || d < 0 || d > (int64_t(1) << 40))
        return makeError("--load: " + path + ":" + llvm::Twine(number + 1) +
                         ": expected NAME d0 d1 ... with sizes >= 0; got '" +
                         line.trim() + "'");
      entry.shape.push_back(d);
    }
    if (manifest.find(entry.name))
      return makeError("--load: " + path + ":" + llvm::Twine(number + 1) +
                       ": '" + entry.name + "' is listed twice");
    manifest.entries.push_back(std::move(entry));
  }
  return manifest;
}

llvm::Expected<RefArray> attnc::loadTensor(const Manifest &manifest,
                                           const Manifest::Entry &entry) {
  std::string path = manifest.dir + "/" + entry.name + ".f64";
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (std::error_code ec = buffer.getError())
    return makeError("--load: cannot read '" + path + "' (listed in " +
                     manifest.dir + "/manifest.txt): " + ec.message());
  RefArray array{entry.shape, {}};
  size_t count = size_t(array.numElements());
  size_t bytes = (*buffer)->getBufferSize();
  if (bytes != count * sizeof(double))
    return makeError("--load: '" + path + "' holds " + std::to_string(bytes) +
                     " bytes; " + entry.name + " of shape " +
                     formatShape(entry.shape) + " (manifest.txt) takes " +
                     std::to_string(count) + " float64 values, " +
                     std::to_string(count * sizeof(double)) + " bytes");
  array.data.resize(count);
  std::memcpy(array.data.data(), (*buffer)->getBufferStart(), bytes);
  return array;
}

llvm::Expected<std::map<std::string, int64_t>>
attnc::getSavedSizes(const Manifest &manifest) {
  std::map<std::string, int64_t> sizes;
  // Which sizes each of q, k and v gives, by axis ("" for none).
  const std::pair<const char *, std::array<const char *, 4>> axes[] = {
      {"q", {"B", "H", "N", "D"}},
      {"k", {"B", "Hkv", "M", "D"}},
      {"v", {"B", "Hkv", "M", "Dv"}}};
  for (const auto &[name, names] : axes) {
    const Manifest::Entry *entry = manifest.find(name);
    if (!entry)
      continue;
    if (entry->shape.size() != 4 ||
        llvm::is_contained(entry->shape, int64_t(0)))
      return makeError("--load: " + manifest.dir + "/manifest.txt gives " +
                       name + " the shape " + formatShape(entry->shape) + "; " +
                       name + " is 4-d, " +
                       (name[0] == 'q'   ? "[B, H, N, D]"
                        : name[0] == 'k' ? "[B, Hkv, M, D]"
                                         : "[B, Hkv, M, Dv]") +
                       ", every size >= 1");
    for (size_t axis = 0; axis < 4; ++axis)
      sizes.emplace(names[axis], entry->shape[axis]);
  }
  return sizes;
}

std::map<std::string, std::vector<int64_t>>
attnc::getSavedParamDims(const Manifest &manifest,
                         mlir::attn::VariantOp variant) {
  std::map<std::string, std::vector<int64_t>> dims;
  for (mlir::BlockArgument arg : variant.getParams()) {
    auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(arg.getType());
    auto names = variant.getArgAttrOfType<mlir::ArrayAttr>(arg.getArgNumber(),
                                                           "attn.shape");
    std::string name = variant.getArgumentName(arg.getArgNumber());
    const Manifest::Entry *entry = manifest.find("param." + name);
    if (!tensor || !names || !entry ||
        int64_t(entry->shape.size()) != tensor.getRank())
      continue; // loadSavedInputs names what does not fit
    std::vector<int64_t> any;
    for (auto [d, n] : llvm::enumerate(names))
      if (mlir::cast<mlir::StringAttr>(n).getValue() == "?")
        any.push_back(entry->shape[d]);
    if (!any.empty())
      dims[name] = any;
  }
  return dims;
}

llvm::Error attnc::loadSavedInputs(const Manifest &manifest,
                                   mlir::attn::VariantOp variant,
                                   const std::map<std::string, double> &keep,
                                   RefInputs &inputs,
                                   std::vector<std::string> &notes) {
  const std::string where = manifest.dir + "/manifest.txt";
  // One input: checked against the call's shape, then replaced.
  auto load = [&](const std::string &name, RefArray &input,
                  mlir::Type elem) -> llvm::Error {
    const Manifest::Entry *entry = manifest.find(name);
    if (!entry) {
      notes.push_back(name + ": not in " + where + ", drawn at random");
      return llvm::Error::success();
    }
    if (entry->shape != input.shape)
      return makeError("--load: " + where + " gives " + name + " the shape " +
                       formatShape(entry->shape) + "; the call's " + name +
                       " is " + formatShape(input.shape) +
                       (name.size() == 1
                            ? " (--shape, by default the saved q, k, v)"
                            : " (its dims from --shape, --dim and the saved "
                              "q, k, v)"));
    llvm::Expected<RefArray> values = loadTensor(manifest, *entry);
    if (!values)
      return values.takeError();
    if (elem && elem.isInteger()) {
      bool boolean = elem.isInteger(1);
      for (auto [i, x] : llvm::enumerate(values->data))
        if (boolean ? (x != 0 && x != 1)
                    : (x != std::trunc(x) || std::isnan(x)))
          return makeError("--load: " + manifest.dir + "/" + name + ".f64[" +
                           std::to_string(i) + "] is " + std::to_string(x) +
                           "; " + name + " holds " +
                           (boolean ? "bools (0 or 1)" : "integers"));
    }
    input.data = std::move(values->data);
    return llvm::Error::success();
  };
  // What the manifest lists must be the variant's: another variant's
  // directory is refused, not half read.
  std::string inputNames = "q, k, v";
  std::set<std::string> known = {"q", "k", "v", "out", "lse"};
  for (mlir::BlockArgument arg : variant.getParams()) {
    std::string name = variant.getArgumentName(arg.getArgNumber());
    inputNames += ", param." + name;
    known.insert("param." + name);
  }
  for (const Manifest::Entry &entry : manifest.entries) {
    if (llvm::StringRef(entry.name).starts_with("cu_seqlens"))
      return makeError("--load: " + where + " lists " + entry.name +
                       ", saved from a ragged batch; --load takes a dense "
                       "one");
    if (!known.count(entry.name))
      return makeError("--load: " + where + " lists '" + entry.name +
                       "', which is not an input of variant " +
                       variant.getSymName() + " (its inputs: " + inputNames +
                       ")");
  }
  if (llvm::Error e = load("q", inputs.q, {}))
    return e;
  if (llvm::Error e = load("k", inputs.k, {}))
    return e;
  if (llvm::Error e = load("v", inputs.v, {}))
    return e;
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    unsigned index = arg.getArgNumber();
    std::string name = variant.getArgumentName(index);
    if (variant.getArgAttr(index, "attn.size") || keep.count(name))
      continue;
    if (llvm::Error e = load("param." + name, inputs.params[i],
                             mlir::getElementTypeOrSelf(arg.getType())))
      return e;
  }
  return llvm::Error::success();
}

llvm::Error
attnc::saveTensors(llvm::StringRef dir,
                   llvm::ArrayRef<std::pair<std::string, RefArray>> tensors) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return makeError("cannot create '" + dir + "': " + ec.message());
  std::error_code ec;
  llvm::raw_fd_ostream manifest((dir + "/manifest.txt").str(), ec);
  if (ec)
    return makeError("cannot write to '" + dir + "': " + ec.message());
  for (const auto &[name, array] : tensors) {
    llvm::raw_fd_ostream data((dir + "/" + name + ".f64").str(), ec);
    if (ec)
      return makeError("cannot write to '" + dir + "': " + ec.message());
    data.write(reinterpret_cast<const char *>(array.data.data()),
               array.data.size() * sizeof(double));
    manifest << name;
    for (int64_t d : array.shape)
      manifest << " " << d;
    manifest << "\n";
  }
  return llvm::Error::success();
}
