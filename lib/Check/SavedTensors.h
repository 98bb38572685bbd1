//===- SavedTensors.h - the files of attnc run --save and --load -*- C++
//-*-===//
//
// A directory of tensors: `NAME.f64` holds one tensor's row-major float64
// values, `manifest.txt` a line `NAME d0 d1 ...` per tensor (no dims for a
// scalar). docs/run.md documents the names.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CHECK_SAVEDTENSORS_H
#define ATTNC_CHECK_SAVEDTENSORS_H

#include "Reference/Reference.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace attnc {

/// A directory's manifest.txt, read.
struct Manifest {
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
  };
  std::string dir;
  std::vector<Entry> entries;

  /// The entry named `name`, or null.
  const Entry *find(llvm::StringRef name) const;
};

/// Reads `dir`/manifest.txt; fails with a message naming the file and line.
llvm::Expected<Manifest> readManifest(llvm::StringRef dir);

/// Reads the values of `entry` from its NAME.f64, which must hold exactly
/// its manifest shape's elements.
llvm::Expected<RefArray> loadTensor(const Manifest &manifest,
                                    const Manifest::Entry &entry);

/// The call sizes (B, H, N, D from q; Hkv, M from k; Dv from v) that the
/// manifest's q, k and v give, for `--shape` to default to; fails on a q, k
/// or v that is not 4-d.
llvm::Expected<std::map<std::string, int64_t>>
getSavedSizes(const Manifest &manifest);

/// The sizes of the `?` dims of each param the manifest lists (as
/// `param.NAME`), by name, for ParamSizing::dims.
std::map<std::string, std::vector<int64_t>>
getSavedParamDims(const Manifest &manifest, mlir::attn::VariantOp variant);

/// Replaces the inputs the manifest lists (q, k, v, `param.NAME`) with its
/// values: each must have the shape the call gives it, an integer param
/// integers, a bool param 0 or 1. Scalars named in `keep` (--param) keep
/// their value; sizes of the call are not read. Adds a note for each input
/// the manifest lacks (drawn at random). Fails on a tensor of the wrong
/// shape and on an entry that is not an input of `variant` (out and lse are
/// outputs, and skipped).
llvm::Error loadSavedInputs(const Manifest &manifest,
                            mlir::attn::VariantOp variant,
                            const std::map<std::string, double> &keep,
                            RefInputs &inputs, std::vector<std::string> &notes);

/// Writes each tensor as `dir`/NAME.f64 and its line of manifest.txt.
llvm::Error
saveTensors(llvm::StringRef dir,
            llvm::ArrayRef<std::pair<std::string, RefArray>> tensors);

/// "[1, 2, 5, 64]".
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace attnc

#endif // ATTNC_CHECK_SAVEDTENSORS_H
