//===- attnc.h - the attnc JIT API ------------------------------*- C++ -*-===//
//
// Compile an attention variant (attnc source or a VariantBuilder) and run it
// on tensors in memory. No MLIR types appear here.
//
//   attnc::Compiler compiler;
//   llvm::Expected<attnc::Kernel> kernel = compiler.compile(source);
//   llvm::Error err = kernel->run({q, k, v, out, &lse, {{"slopes", slopes}}});
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_ATTNC_H
#define ATTNC_ATTNC_H

#include "attnc/Builder.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnc {

/// The size in bytes of one element.
size_t getSizeInBytes(DType type);
std::string_view toString(DType type);

/// Where a tensor's memory lives.
enum class Device { CPU, CUDA };

/// A strided view of a tensor; strides count elements. For Device::CUDA,
/// `data` is a device pointer (CUdeviceptr) of the current context.
struct TensorView {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  Device device = Device::CPU;

  /// A row-major view of `shape`.
  static TensorView contiguous(void *data, DType dtype,
                               std::vector<int64_t> shape,
                               Device device = Device::CPU);
  int64_t numElements() const;
};

/// A param's value: a tensor, or a scalar (converted to the param's type).
struct ParamValue {
  ParamValue(const TensorView &tensor) : tensor(tensor) {}
  ParamValue(double scalar) : scalar(scalar) {}
  std::optional<TensorView> tensor;
  double scalar = 0;
};

/// A paged KV cache (the layout of vLLM and FlashInfer), for kernels
/// compiled with CompileOptions::pagedKv: k and v are pages
/// `[num_pages, page_size, Hkv, D]` (and Dv), and key j of sequence b is row
/// j % page_size of page pageTable[b, j / page_size]. M is max_pages *
/// page_size; keys j >= seqLens[b] are not kept (as if masked: a sequence
/// of length 0 gives out 0 and lse -inf). Entries of the table past a
/// sequence's last page are not read.
struct PagedKV {
  TensorView pageTable; // i32 [B, max_pages]
  TensorView seqLens;   // i32 [B], each in [0, max_pages * page_size]
};

/// A ragged batch (FlashAttention's varlen convention), for kernels
/// compiled with CompileOptions::ragged: S sequences of their own lengths
/// packed along the token axis, q `[1, H, total_q, D]`, k and v `[1, Hkv,
/// total_k, D]` (and Dv), out `[1, H, total_q, Dv]`, lse `[1, H, total_q]`.
/// Sequence s holds queries cuSeqlensQ[s] .. cuSeqlensQ[s + 1] - 1 and keys
/// cuSeqlensK[s] .. cuSeqlensK[s + 1] - 1; it attends to its own keys only.
/// The regions see b = s and q_idx, kv_idx as positions within the
/// sequence (so causal() is q_idx >= kv_idx from each sequence's first
/// token: top-left aligned; write `kv_idx <= q_idx + (M - N)` for
/// FlashAttention's bottom-right alignment), and the call's sizes N and M
/// read in expressions are the sequence's lengths; B is S, and a tensor
/// param's dimensions named N and M are the longest sequence's lengths.
/// Offsets start at 0, never decrease and end at the packed length; a
/// sequence may be empty (no queries: nothing written; no keys: out 0 and
/// lse -inf).
struct RaggedBatch {
  TensorView cuSeqlensQ; // i32 [S + 1]
  TensorView cuSeqlensK; // i32 [S + 1]
};

/// What a kernel reads and writes. `lse` may be null (it is then computed
/// into scratch memory); it must be null for variants that define no lse.
struct KernelArgs {
  TensorView q, k, v, out;
  TensorView *lse = nullptr;
  std::map<std::string, ParamValue> params;
  /// The page table and lengths of a paged kernel (required then, and
  /// refused otherwise); k and v are its pages.
  std::optional<PagedKV> paged;
  /// The offsets of a ragged kernel's sequences (required then, and
  /// refused otherwise); q, k, v, out and lse pack them.
  std::optional<RaggedBatch> ragged;
  /// Worker threads; 0 uses every core (CPU kernels).
  int threads = 0;
  /// GPU kernels: the CUstream / cudaStream_t to run on (null: the default
  /// stream), and whether run() waits for the kernel. Only a synchronous run
  /// reports out-of-bounds param reads and faults; an asynchronous one
  /// returns once the work is queued.
  void *stream = nullptr;
  bool synchronize = true;
};

/// What the backward reads and writes (Kernel::backward): the forward's
/// inputs, its out and lse, and dL/dout; it writes dL/dq, dL/dk, dL/dv (k
/// and v summed over the query heads that share them) in q's dtype, and
/// the gradients of float params.
struct BackwardArgs {
  TensorView q, k, v, out, dout;
  TensorView dq, dk, dv;
  /// The forward's lse [B, H, N] (f32): required for softmax, which the
  /// backward recomputes its weights from; null for other normalizers.
  const TensorView *lse = nullptr;
  std::map<std::string, ParamValue> params;
  /// Where to write the gradient of float params, by name: f32 of the
  /// param's shape ([1] for a scalar). Params not named are not returned.
  /// On the GPU the gradients must be contiguous, in device memory.
  std::map<std::string, TensorView> paramGrads;
  int threads = 0; // as KernelArgs::threads
  /// GPU kernels: as KernelArgs::stream and synchronize.
  void *stream = nullptr;
  bool synchronize = true;
  /// The same bits from every call with the same inputs: on the GPU dq's
  /// parts are added key tile by key tile in turn (slower where a query
  /// tile meets many key tiles); dk and dv, and the CPU's gradients, are
  /// deterministic anyway. Float params' gradients are summed in no fixed
  /// order, so asking for any is refused.
  bool deterministic = false;
};

/// A param of a compiled variant, as its signature declares it.
struct ParamInfo {
  std::string name;
  DType dtype;
  bool isTensor;
  std::vector<std::string> dims; // "B", "H", ..., "64", or "?"
  std::optional<double> defaultValue;
};

struct CompileOptions {
  /// "cpu" (the host), or a GPU: "sm_80", "sm_86", "sm_89", "sm_90a", ...
  std::string target = "cpu";
  DType dtype = DType::F32;            // of q, k, v and out (bf16/f16 on GPUs)
  std::optional<int64_t> headDim;      // D, when fixed (GPUs: required)
  std::optional<int64_t> valueHeadDim; // Dv, when fixed and not D

  /// The schedule (`#attn.schedule`): every field the target chooses when
  /// 0 (empty), and is forced otherwise, for comparisons and sweeps.
  std::string kernelFamily; // CPU: cpu_tiles, cpu_decode (decode: heads
                            // of a kv head packed); GPUs: sm80_mma,
                            // sm90_wgmma (sm_90a), split_kv (decode)
  int64_t tileQ = 0;        // query rows per tile
  int64_t tileKv = 0;       // keys per tile
  int64_t vectorWidth = 0;  // CPU: f32 lanes, 4, 8 or 16
  int64_t warps = 0;        // GPU: warps per CTA, 1, 2, 4 or 8
  int64_t stages = 0;       // GPU: K/V tiles in flight
  int64_t splits = 0;       // split_kv: most key ranges (per call: by GPU size)

  /// Also compile the backward (Kernel::backward): the compiler
  /// differentiates the score_mod and output_mod. CPU only so far.
  bool backward = false;
  /// A paged KV cache: the kernel takes k and v as pages and runs with
  /// KernelArgs::paged (see PagedKV). sm_90a then runs sm80_mma or
  /// split_kv (sm90_wgmma's tensor maps cannot follow a page table).
  bool pagedKv = false;
  /// Ragged batches: the kernel takes packed sequences and runs with
  /// KernelArgs::ragged (see RaggedBatch). CPU targets only so far; not
  /// with pagedKv or backward.
  bool ragged = false;
};

/// A compiled variant; cheap to copy, safe to run from several threads.
class Kernel {
public:
  /// Checks every argument (dtype, rank, shape, strides, params) and runs the
  /// kernel; an error says what is wrong and nothing is written then.
  llvm::Error run(const KernelArgs &args) const;
  /// The gradients of a loss given dL/dout (BackwardArgs); the kernel must
  /// be compiled with CompileOptions::backward. Checks every argument as
  /// run() does; nothing is written on an error.
  llvm::Error backward(const BackwardArgs &args) const;
  bool hasBackward() const;

  const std::string &getName() const;
  const std::vector<ParamInfo> &getParams() const;
  bool returnsLse() const;
  /// `branches = split(K)`: K, which must divide the call's D (1 without).
  int64_t getBranchCount() const;
  DType getDType() const;
  /// "cpu" or the GPU it was compiled for.
  const std::string &getTarget() const;
  /// The CUDA C++ and cubin of a GPU kernel (empty for the CPU).
  const std::string &getCudaSource() const;
  const std::string &getCubin() const;

  struct Impl;
  explicit Kernel(std::shared_ptr<const Impl> impl) : impl(std::move(impl)) {}

private:
  std::shared_ptr<const Impl> impl;
};

struct CompilerOptions {
  /// Where compiled kernels are kept between processes, as object files
  /// checked by a SHA-256 of their contents; an empty string turns the disk
  /// cache off. Default: $ATTNC_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else
  /// ~/.cache/attnc.
  std::optional<std::string> cacheDir;
};

/// Owns the compiler's state (the MLIR context); thread-safe.
class Compiler {
public:
  explicit Compiler(const CompilerOptions &options = {});
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  /// Compiles variant `variant` of `source` (the only one when empty).
  llvm::Expected<Kernel> compile(std::string_view source,
                                 std::string_view variant = {},
                                 const CompileOptions &options = {},
                                 std::string_view fileName = "<source>");
  /// Compiles a variant built in C++.
  llvm::Expected<Kernel> compile(const VariantBuilder &variant,
                                 const CompileOptions &options = {});

  /// Kernels are cached in memory and on disk, keyed by a hash of the fused
  /// variant, the options and the compiler's version: compiling the same
  /// variant again (from any thread, or another process) skips LLVM.
  struct Stats {
    int64_t compilations = 0;   // variants compiled (LLVM or NVRTC)
    int64_t cacheHits = 0;      // served from memory
    int64_t diskHits = 0;       // loaded from the disk cache
    int64_t corruptEntries = 0; // disk entries found damaged and rebuilt
  };
  Stats getStats() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl;
};

} // namespace attnc

#endif // ATTNC_ATTNC_H
