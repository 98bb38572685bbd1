/*===- attnc_c.h - the attnc C API -------------------------------*- C -*-===*\
|*                                                                            *|
|* A stable C interface to the attnc JIT (libattnc.so.0): compile a variant   *|
|* and run it on DLPack tensors. It holds no C++ types, so that any language  *|
|* with a C FFI (Python's ctypes, Rust, Julia) can call it.                   *|
|*                                                                            *|
|*   attnc_compiler *c;  attnc_kernel *k;                                     *|
|*   attnc_compiler_create(NULL, &c);                                         *|
|*   if (attnc_compile(c, src, strlen(src), NULL, NULL, NULL, &k))            *|
|*     fprintf(stderr, "%s\n", attnc_last_error());                           *|
|*                                                                            *|
|* Every function that can fail returns an attnc_status; on failure the       *|
|* message is attnc_last_error() (per thread, valid until the thread's next   *|
|* call). Nothing aborts on bad input. Structs that may grow start with       *|
|* `struct_size`, set by their _init function. They grow only at their end,   *|
|* and the library reads a field only when `struct_size` covers it: a caller  *|
|* built against an older header gets the defaults of the newer fields. A     *|
|* struct that has grown is set up by attnc_X_init_size(p, sizeof *p), which  *|
|* the attnc_X_init macro calls and which writes no more than the caller's    *|
|* size; the attnc_X_init symbol stays for old binaries and sets up the old   *|
|* layout.                                                                    *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTNC_ATTNC_C_H
#define ATTNC_ATTNC_C_H

#include <dlpack/dlpack.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The C API's version: a change that breaks callers bumps it (and the
/// library's soname).
#define ATTNC_C_API_VERSION 0

typedef enum attnc_status {
  ATTNC_OK = 0,
  /// The source or the options did not compile: the message is the
  /// compiler's diagnostics (FILE:LINE:COL, the source line and a caret).
  ATTNC_ERROR_COMPILE = 1,
  /// An argument was refused before anything ran (a null or unsupported
  /// tensor, a wrong shape, dtype or param); nothing was written.
  ATTNC_ERROR_ARGUMENT = 2,
  /// Anything else: a file that cannot be read, a GPU that is not there.
  ATTNC_ERROR_OTHER = 3,
} attnc_status;

/// Element types, as the variant's signature names them.
typedef enum attnc_dtype {
  ATTNC_BOOL = 0,
  ATTNC_I32 = 1,
  ATTNC_I64 = 2,
  ATTNC_F16 = 3,
  ATTNC_BF16 = 4,
  ATTNC_F32 = 5,
} attnc_dtype;

typedef struct attnc_compiler attnc_compiler;
typedef struct attnc_kernel attnc_kernel;

/// The library's version, e.g. "0.1.0".
const char *attnc_version(void);
/// ATTNC_C_API_VERSION of the library loaded (which may differ from the
/// header's).
int attnc_c_api_version(void);
/// The message of this thread's last failed call ("" when none).
const char *attnc_last_error(void);

/// `cache_dir`: where compiled kernels are kept between processes; NULL
/// takes the default ($ATTNC_CACHE_DIR, $XDG_CACHE_HOME/attnc, ~/.cache/attnc),
/// "" turns the disk cache off.
attnc_status attnc_compiler_create(const char *cache_dir,
                                   attnc_compiler **compiler);
void attnc_compiler_destroy(attnc_compiler *compiler);

typedef struct attnc_compile_options {
  size_t struct_size;
  const char *target;     /* "cpu" (NULL) or a GPU: "sm_80", "sm_90a" */
  int dtype;              /* of q, k, v and out (attnc_dtype); -1: f32 */
  int64_t head_dim;       /* D when fixed, else 0 (GPUs: required) */
  int64_t value_head_dim; /* Dv when fixed and not D, else 0 */
  /* The schedule: 0 (NULL) lets the target choose, else forced. */
  const char *kernel_family; /* cpu_tiles; GPUs: sm80_mma, sm90_wgmma, split_kv */
  int64_t tile_q, tile_kv, vector_width, warps, stages, splits;
  /* Also compile the backward (attnc_kernel_backward); GPUs take head
     dims 64 and 128. Default 0. */
  int backward;
  /* A paged KV cache (attnc::CompileOptions::pagedKv): k and v are pages
     [num_pages, page_size, Hkv, D] and each run passes
     attnc_run_args.page_table and seq_lens. Default 0. */
  int paged_kv;
} attnc_compile_options;
/// Sets up the first `size` bytes of `options` (sizeof *options: the
/// header's struct) with the defaults.
void attnc_compile_options_init_size(attnc_compile_options *options,
                                     size_t size);
#define attnc_compile_options_init(options)                                    \
  attnc_compile_options_init_size((options), sizeof *(options))

/// Compiles variant `variant` (NULL or "": the only one) of `source`
/// (`length` bytes); `options` NULL takes the defaults; `file_name` (NULL:
/// "<source>") is what diagnostics name.
attnc_status attnc_compile(attnc_compiler *compiler, const char *source,
                           size_t length, const char *variant,
                           const attnc_compile_options *options,
                           const char *file_name, attnc_kernel **kernel);
attnc_status attnc_compile_file(attnc_compiler *compiler, const char *path,
                                const char *variant,
                                const attnc_compile_options *options,
                                attnc_kernel **kernel);
/// A kernel outlives the compiler that made it.
void attnc_kernel_destroy(attnc_kernel *kernel);

/// The kernel's strings live as long as the kernel.
const char *attnc_kernel_name(const attnc_kernel *kernel);
const char *attnc_kernel_target(const attnc_kernel *kernel);
attnc_dtype attnc_kernel_dtype(const attnc_kernel *kernel);
int attnc_kernel_returns_lse(const attnc_kernel *kernel);
size_t attnc_kernel_num_params(const attnc_kernel *kernel);

typedef struct attnc_param_info {
  const char *name;
  attnc_dtype dtype;
  int is_tensor;
  int rank;                /* tensors: the number of dims */
  const char *const *dims; /* "B", "H", "N", "M", "D", "Dv", "64", or "?" */
  int has_default;         /* scalars */
  double default_value;
} attnc_param_info;
/// Param `index` (< attnc_kernel_num_params) in declaration order.
attnc_status attnc_kernel_param(const attnc_kernel *kernel, size_t index,
                                attnc_param_info *info);

/// A param's value by name: a tensor when `tensor` is set, else a scalar,
/// `int_value` when `is_int` (refused if a double cannot hold it exactly),
/// else `value`.
typedef struct attnc_param_arg {
  const char *name;
  const DLTensor *tensor;
  double value;
  int64_t int_value;
  int is_int;
} attnc_param_arg;

typedef struct attnc_run_args {
  size_t struct_size;
  const DLTensor *q, *k, *v; /* [B, H, N, D], [B, Hkv, M, D], [B, Hkv, M, Dv] */
  DLTensor *out;             /* [B, H, N, Dv] */
  DLTensor *lse;             /* [B, H, N] f32, or NULL */
  const attnc_param_arg *params;
  size_t num_params;
  int threads;     /* CPU: worker threads, 0 for every core */
  void *stream;    /* GPU: the CUstream / cudaStream_t, NULL the default */
  int synchronize; /* GPU: wait for the kernel (reports its faults); default 1
                    */
  /* A paged kernel's (attnc_compile_options.paged_kv) page table
     [B, max_pages] and sequence lengths [B], int32 (see attnc::PagedKV):
     key j of sequence b is row j % page_size of page
     page_table[b, j / page_size], and keys j >= seq_lens[b] are not kept.
     k and v are then the pages [num_pages, page_size, Hkv, D] (and Dv).
     Both NULL (the default) for other kernels. */
  const DLTensor *page_table, *seq_lens;
} attnc_run_args;
/// Sets up the first `size` bytes of `args` (sizeof *args) with the
/// defaults.
void attnc_run_args_init_size(attnc_run_args *args, size_t size);
#define attnc_run_args_init(args)                                              \
  attnc_run_args_init_size((args), sizeof *(args))

/// Checks every argument and runs the kernel (see attnc::Kernel::run).
/// Tensors are DLPack views (strides in elements, NULL: row-major), on the
/// CPU or, for GPU kernels, on the current CUDA context's device.
attnc_status attnc_kernel_run(const attnc_kernel *kernel,
                              const attnc_run_args *args);

/// Whether the kernel was compiled with its backward
/// (attnc_compile_options.backward).
int attnc_kernel_has_backward(const attnc_kernel *kernel);

/// Where the backward writes a float param's gradient: f32, of the param's
/// shape ([1] for a scalar).
typedef struct attnc_param_grad {
  const char *name;
  DLTensor *grad;
} attnc_param_grad;

typedef struct attnc_backward_args {
  size_t struct_size;
  /* The forward's inputs and its out: as attnc_run_args. */
  const DLTensor *q, *k, *v, *out;
  const DLTensor *dout;   /* dL/dout [B, H, N, Dv] */
  DLTensor *dq, *dk, *dv; /* written: shaped as q, k, v, in their dtype */
  /* The forward's lse [B, H, N] f32: required for softmax (the backward
     recomputes its weights from it), NULL for other normalizers. */
  const DLTensor *lse;
  const attnc_param_arg *params; /* as the forward's */
  size_t num_params;
  /* The float params whose gradients to write; the others are not. */
  const attnc_param_grad *param_grads;
  size_t num_param_grads;
  int threads; /* worker threads, 0 for every core */
  void *stream;    /* GPU: as attnc_run_args.stream */
  int synchronize; /* GPU: as attnc_run_args.synchronize; default 1 */
  /* Nonzero: the same bits from every call (attnc::BackwardArgs::
     deterministic; no params' gradients then); default 0. */
  int deterministic;
} attnc_backward_args;
/// Sets up the first `size` bytes of `args` (sizeof *args) with the
/// defaults.
void attnc_backward_args_init_size(attnc_backward_args *args, size_t size);
#define attnc_backward_args_init(args)                                         \
  attnc_backward_args_init_size((args), sizeof *(args))

/// The gradients of a loss given dL/dout (see attnc::Kernel::backward); the
/// kernel must be compiled with attnc_compile_options.backward. Every
/// argument is checked as attnc_kernel_run checks them; nothing is written
/// on an error. dk and dv sum over the query heads that share a kv head.
attnc_status attnc_kernel_backward(const attnc_kernel *kernel,
                                   const attnc_backward_args *args);

#ifdef __cplusplus
}
#endif

#endif /* ATTNC_ATTNC_C_H */
