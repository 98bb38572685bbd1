//===- Check.h - a kernel against the float64 reference ---------*- C++ -*-===//
//
// Runs a compiled kernel on fresh random inputs (outputs poisoned with NaN
// first, so that an unwritten element fails) and compares it with the
// float64 reference of the same variant. Used by `attnc run --check`, the
// numerics suite and the benchmark.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CHECK_CHECK_H
#define ATTNC_CHECK_CHECK_H

#include "Reference/RandomInputs.h"
#include "attnc/attnc.h"

#include <map>
#include <string>
#include <vector>

namespace attnc {

/// The tolerance of each dtype, in one place: |kernel - reference| must stay
/// within atol + rtol * |reference| for every output element and lse.
struct Tolerance {
  double atol, rtol;
};
Tolerance getTolerance(DType dtype);

struct CheckOptions {
  AttnSizes sizes;
  /// The source's file name, in messages that point into it.
  std::string sourceName = "<check>";
  uint64_t seed = 1;
  /// Give q, k, v and out non-contiguous strides (a padded layout, with the
  /// head dim strided too).
  bool strided = false;
  int threads = 0;
  /// Compare with the reference (otherwise only run, e.g. to time).
  bool compare = true;
  /// Timed repetitions after the checked run (0: none).
  int repeats = 0;
  /// Count the kept pairs even without comparing (for FLOP rates).
  bool countPairs = false;
  /// Integer params are drawn from [0, idRange) (e.g. document ids).
  int64_t idRange = 4;
  /// When set, the inputs and the kernel's outputs are written there (see
  /// saveTensors in Check.cpp), for comparisons with other implementations.
  std::string saveDir;
  /// A paged KV cache (for kernels compiled with CompileOptions::pagedKv):
  /// k and v laid out in shuffled pages of this many keys (sizes.keys must
  /// be a multiple: M = max_pages * pageSize), the pages no sequence uses
  /// and the keys past each sequence's length poisoned with NaN, the table
  /// entries past a sequence's pages -1. 0: contiguous.
  int64_t pageSize = 0;
  /// Paged: every sequence holds M keys (otherwise random lengths in
  /// [1, M], one of them M).
  bool fullLengths = false;
  /// A ragged batch (for kernels compiled with CompileOptions::ragged): the
  /// query and key count of each sequence (as many of each; empty: a dense
  /// batch). The sequences are drawn as a dense batch of sizes.batch = S
  /// sequences of the longest lengths (sizes.queries and sizes.keys are
  /// set from them), packed into q [1, H, total_q, D] and k, v [1, Hkv,
  /// total_k, D]; the reference runs each sequence as a batch of one, with
  /// b = s and the call's N and M its lengths.
  std::vector<int64_t> raggedQueries, raggedKeys;
  /// When set, the inputs are read from there (the files saveDir writes,
  /// Check/SavedTensors.h); those it lacks are drawn at random, with a note.
  std::string loadDir;
  /// The sizes of a param's `?` dims, in order (by default from its reads,
  /// Reference/ParamShapes.h).
  std::map<std::string, std::vector<int64_t>> paramDims;
  /// Values for scalar params by name (the others take their default, or
  /// 3 without one).
  std::map<std::string, double> scalarParams;
  /// Also run the backward (the kernel must have one) for a random dL/dout
  /// after the forward, and compare dq, dk, dv and every float param's
  /// gradient with the reference's (CPU kernels).
  bool backward = false;
  /// With backward: run it deterministic (no params' gradients then), and
  /// a second time, and require the same bits.
  bool deterministic = false;
};

struct CheckResult {
  double maxAbsError = 0, maxRelError = 0;
  int64_t badElements = 0; // out of tolerance, NaN or poisoned
  bool passed = true;
  std::string firstBad;             // where and what, when not passed
  int64_t keptPairs = 0;            // from the reference's mask
  double medianSeconds = 0;         // when timed
  double backwardMedianSeconds = 0; // the backward alone, when timed
  /// What the user may want to know of the inputs: the shapes given to `?`
  /// dims, the inputs --load drew at random.
  std::vector<std::string> notes;
};

/// Compiles `variant` of `source` for the reference, makes inputs, runs
/// `kernel`, and compares.
llvm::Expected<CheckResult> checkKernel(const Kernel &kernel,
                                        std::string_view source,
                                        std::string_view variant,
                                        const CheckOptions &options);

} // namespace attnc

#endif // ATTNC_CHECK_CHECK_H
