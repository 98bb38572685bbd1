//===- CAPI.cpp - the C API over attnc::Compiler and attnc::Kernel --------===//
//
// Each entry point catches what the C++ API reports (llvm::Error) and turns
// it into a status and this thread's last error; no C++ exception or abort
// crosses the boundary.
//
//===----------------------------------------------------------------------===//

#include "attnc/attnc_c.h"

#include "CAPI/DLPack.h"
#include "Support/Error.h"
#include "attnc/attnc.h"

#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

struct attnc_compiler {
  attnc::Compiler compiler;
  explicit attnc_compiler(const attnc::CompilerOptions &options)
      : compiler(options) {}
};

struct attnc_kernel {
  attnc::Kernel kernel;
  // What attnc_kernel_param hands out, kept as long as the kernel.
  std::vector<std::vector<const char *>> dims;
};

namespace {

thread_local std::string lastError;

attnc_status fail(attnc_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

attnc_status fail(attnc_status status, llvm::Error error) {
  return fail(status, llvm::toString(std::move(error)));
}

attnc_status succeed() {
  lastError.clear();
  return ATTNC_OK;
}

/// The size of the first attnc_compile_options, which ended at `splits`.
constexpr size_t kFirstCompileOptionsSize =
    offsetof(attnc_compile_options, splits) + sizeof(int64_t);

/// The size of the first attnc_run_args, which ended at `synchronize`.
constexpr size_t kFirstRunArgsSize =
    offsetof(attnc_run_args, synchronize) + sizeof(int);

/// The size of the first attnc_backward_args, which ended at `threads`.
constexpr size_t kFirstBackwardArgsSize =
    offsetof(attnc_backward_args, threads) + sizeof(int);

/// Sets up the first `size` bytes of a call's arguments (attnc_run_args,
/// attnc_backward_args) with the defaults: zeros, and a call that waits.
template <typename Args> void initCallArgs(Args *args, size_t size) {
  if (!args)
    return;
  Args defaults{};
  defaults.struct_size = std::min(size, sizeof defaults);
  defaults.synchronize = 1;
  std::memcpy(args, &defaults, defaults.struct_size);
}

/// Whether a struct's `struct_size` covers `field` (a field added after the
/// caller's header was written is not there).
template <typename Struct, typename Field>
bool covers(const Struct *s, const Field *field) {
  return reinterpret_cast<const char *>(field) + sizeof(Field) <=
         reinterpret_cast<const char *>(s) + s->struct_size;
}

/// The options of `c` (NULL: the defaults), or an error message.
std::optional<std::string> toOptions(const attnc_compile_options *c,
                                     attnc::CompileOptions &options) {
  if (!c)
    return std::nullopt;
  if (c->struct_size < kFirstCompileOptionsSize)
    return std::string("attnc_compile_options was not set up by "
                       "attnc_compile_options_init");
  if (c->target)
    options.target = c->target;
  if (c->dtype != -1) {
    if (c->dtype < ATTNC_BOOL || c->dtype > ATTNC_F32)
      return "unknown dtype " + std::to_string(c->dtype);
    options.dtype = static_cast<attnc::DType>(c->dtype);
  }
  if (c->head_dim)
    options.headDim = c->head_dim;
  if (c->value_head_dim)
    options.valueHeadDim = c->value_head_dim;
  if (c->kernel_family)
    options.kernelFamily = c->kernel_family;
  options.tileQ = c->tile_q;
  options.tileKv = c->tile_kv;
  options.vectorWidth = c->vector_width;
  options.warps = c->warps;
  options.stages = c->stages;
  options.splits = c->splits;
  if (covers(c, &c->backward))
    options.backward = c->backward != 0;
  if (covers(c, &c->paged_kv))
    options.pagedKv = c->paged_kv != 0;
  return std::nullopt;
}

attnc_status compileSource(attnc_compiler *compiler, std::string_view source,
                           const char *variant, const attnc_compile_options *c,
                           std::string_view fileName, attnc_kernel **kernel) {
  if (!compiler || !kernel)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_compile: compiler and kernel "
                                      "must not be null");
  *kernel = nullptr;
  attnc::CompileOptions options;
  if (auto message = toOptions(c, options))
    return fail(ATTNC_ERROR_ARGUMENT, *message);
  llvm::Expected<attnc::Kernel> compiled = compiler->compiler.compile(
      source, variant ? variant : "", options, fileName);
  if (!compiled)
    return fail(ATTNC_ERROR_COMPILE, compiled.takeError());
  auto *result = new (std::nothrow) attnc_kernel{*compiled, {}};
  if (!result)
    return fail(ATTNC_ERROR_OTHER, "out of memory");
  for (const attnc::ParamInfo &p : result->kernel.getParams()) {
    std::vector<const char *> &dims = result->dims.emplace_back();
    for (const std::string &d : p.dims)
      dims.push_back(d.c_str());
  }
  *kernel = result;
  return succeed();
}

/// The scalar or tensor that `arg` passes.
llvm::Expected<attnc::ParamValue> toParam(const attnc_param_arg &arg) {
  std::string what = "param '" + std::string(arg.name) + "'";
  if (arg.tensor) {
    auto view = attnc::viewOfDLTensor(what.c_str(), arg.tensor, false);
    if (!view)
      return view.takeError();
    return attnc::ParamValue(*view);
  }
  if (!arg.is_int)
    return attnc::ParamValue(arg.value);
  // ParamValue holds a double: refuse what it would round.
  double value = static_cast<double>(arg.int_value);
  if (std::fabs(value) >= 0x1p63 ||
      static_cast<int64_t>(value) != arg.int_value)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   what + " = " +
                                       std::to_string(arg.int_value) +
                                       " does not fit a double exactly");
  return attnc::ParamValue(value);
}

/// The params of a call, by name.
llvm::Error toParams(const char *entry, const attnc_param_arg *params,
                     size_t count,
                     std::map<std::string, attnc::ParamValue> &result) {
  if (count && !params)
    return attnc::makeError(std::string(entry) + ": null params");
  for (size_t i = 0; i < count; ++i) {
    const attnc_param_arg &arg = params[i];
    if (!arg.name)
      return attnc::makeError("param " + std::to_string(i) + " has no name");
    auto value = toParam(arg);
    if (!value)
      return value.takeError();
    if (!result.emplace(arg.name, *value).second)
      return attnc::makeError("param '" + std::string(arg.name) +
                              "' is given twice");
  }
  return llvm::Error::success();
}

/// The views of DLPack tensors, each named for its errors.
struct NamedTensor {
  const char *what;
  const DLTensor *from;
  attnc::TensorView *to;
  bool isOutput;
};
llvm::Error toViews(std::initializer_list<NamedTensor> tensors) {
  for (const NamedTensor &t : tensors) {
    auto view = attnc::viewOfDLTensor(t.what, t.from, t.isOutput);
    if (!view)
      return view.takeError();
    *t.to = std::move(*view);
  }
  return llvm::Error::success();
}

} // namespace

extern "C" {

const char *attnc_version(void) { return ATTNC_VERSION_STRING; }
int attnc_c_api_version(void) { return ATTNC_C_API_VERSION; }
const char *attnc_last_error(void) { return lastError.c_str(); }

attnc_status attnc_compiler_create(const char *cacheDir,
                                   attnc_compiler **compiler) {
  if (!compiler)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_compiler_create: null result");
  attnc::CompilerOptions options;
  if (cacheDir)
    options.cacheDir = cacheDir;
  *compiler = new (std::nothrow) attnc_compiler(options);
  if (!*compiler)
    return fail(ATTNC_ERROR_OTHER, "out of memory");
  return succeed();
}

void attnc_compiler_destroy(attnc_compiler *compiler) { delete compiler; }

void attnc_compile_options_init_size(attnc_compile_options *options,
                                     size_t size) {
  if (!options)
    return;
  attnc_compile_options defaults{};
  defaults.struct_size = std::min(size, sizeof defaults);
  defaults.dtype = -1;
  std::memcpy(options, &defaults, defaults.struct_size);
}

// The function that binaries built before `backward` call (the header's
// macro of that name calls the _size one): it sets up the first layout.
void(attnc_compile_options_init)(attnc_compile_options *options) {
  attnc_compile_options_init_size(options, kFirstCompileOptionsSize);
}

attnc_status attnc_compile(attnc_compiler *compiler, const char *source,
                           size_t length, const char *variant,
                           const attnc_compile_options *options,
                           const char *fileName, attnc_kernel **kernel) {
  if (!source && length)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_compile: null source");
  return compileSource(compiler, std::string_view(source ? source : "", length),
                       variant, options, fileName ? fileName : "<source>",
                       kernel);
}

attnc_status attnc_compile_file(attnc_compiler *compiler, const char *path,
                                const char *variant,
                                const attnc_compile_options *options,
                                attnc_kernel **kernel) {
  if (!path)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_compile_file: null path");
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fail(ATTNC_ERROR_OTHER, "cannot read '" + std::string(path) +
                                       "': " + buffer.getError().message());
  return compileSource(compiler, (*buffer)->getBuffer(), variant, options, path,
                       kernel);
}

void attnc_kernel_destroy(attnc_kernel *kernel) { delete kernel; }

const char *attnc_kernel_name(const attnc_kernel *kernel) {
  return kernel ? kernel->kernel.getName().c_str() : "";
}
const char *attnc_kernel_target(const attnc_kernel *kernel) {
  return kernel ? kernel->kernel.getTarget().c_str() : "";
}
attnc_dtype attnc_kernel_dtype(const attnc_kernel *kernel) {
  return kernel ? static_cast<attnc_dtype>(kernel->kernel.getDType())
                : ATTNC_F32;
}
int attnc_kernel_returns_lse(const attnc_kernel *kernel) {
  return kernel && kernel->kernel.returnsLse();
}
size_t attnc_kernel_num_params(const attnc_kernel *kernel) {
  return kernel ? kernel->kernel.getParams().size() : 0;
}

attnc_status attnc_kernel_param(const attnc_kernel *kernel, size_t index,
                                attnc_param_info *info) {
  if (!kernel || !info)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_kernel_param: null argument");
  const auto &params = kernel->kernel.getParams();
  if (index >= params.size())
    return fail(ATTNC_ERROR_ARGUMENT, "param index " + std::to_string(index) +
                                          " out of range; '" +
                                          kernel->kernel.getName() + "' has " +
                                          std::to_string(params.size()));
  const attnc::ParamInfo &p = params[index];
  info->name = p.name.c_str();
  info->dtype = static_cast<attnc_dtype>(p.dtype);
  info->is_tensor = p.isTensor;
  info->rank = static_cast<int>(p.dims.size());
  info->dims = kernel->dims[index].data();
  info->has_default = p.defaultValue.has_value();
  info->default_value = p.defaultValue.value_or(0);
  return succeed();
}

void attnc_run_args_init_size(attnc_run_args *args, size_t size) {
  initCallArgs(args, size);
}

// The function that binaries built before `page_table` call (the header's
// macro of that name calls the _size one): it sets up the first layout.
void(attnc_run_args_init)(attnc_run_args *args) {
  attnc_run_args_init_size(args, kFirstRunArgsSize);
}

attnc_status attnc_kernel_run(const attnc_kernel *kernel,
                              const attnc_run_args *c) {
  if (!kernel || !c)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_kernel_run: null argument");
  if (c->struct_size < kFirstRunArgsSize)
    return fail(ATTNC_ERROR_ARGUMENT,
                "attnc_run_args was not set up by attnc_run_args_init");
  attnc::KernelArgs args;
  if (llvm::Error e = toViews({{"q", c->q, &args.q, false},
                               {"k", c->k, &args.k, false},
                               {"v", c->v, &args.v, false},
                               {"out", c->out, &args.out, true}}))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  attnc::TensorView lse;
  if (c->lse) {
    if (llvm::Error e = toViews({{"lse", c->lse, &lse, true}}))
      return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
    args.lse = &lse;
  }
  if (llvm::Error e =
          toParams("attnc_kernel_run", c->params, c->num_params, args.params))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  const DLTensor *pageTable =
      covers(c, &c->page_table) ? c->page_table : nullptr;
  const DLTensor *seqLens = covers(c, &c->seq_lens) ? c->seq_lens : nullptr;
  if (pageTable || seqLens) {
    if (!pageTable || !seqLens)
      return fail(ATTNC_ERROR_ARGUMENT,
                  std::string("attnc_kernel_run: a paged call needs ") +
                      (pageTable ? "seq_lens" : "page_table") + " too");
    attnc::PagedKV paged;
    if (llvm::Error e =
            toViews({{"the page table", pageTable, &paged.pageTable, false},
                     {"the sequence lengths", seqLens, &paged.seqLens, false}}))
      return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
    args.paged = std::move(paged);
  }
  args.threads = c->threads;
  args.stream = c->stream;
  args.synchronize = c->synchronize != 0;
  // Kernel::run checks every argument before anything runs.
  if (llvm::Error e = kernel->kernel.run(args))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  return succeed();
}

int attnc_kernel_has_backward(const attnc_kernel *kernel) {
  return kernel && kernel->kernel.hasBackward();
}

void attnc_backward_args_init_size(attnc_backward_args *args, size_t size) {
  initCallArgs(args, size);
}

// The function that binaries built before `stream` call (the header's
// macro of that name calls the _size one): it sets up the first layout.
void(attnc_backward_args_init)(attnc_backward_args *args) {
  attnc_backward_args_init_size(args, kFirstBackwardArgsSize);
}

attnc_status attnc_kernel_backward(const attnc_kernel *kernel,
                                   const attnc_backward_args *c) {
  if (!kernel || !c)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_kernel_backward: null argument");
  if (c->struct_size < kFirstBackwardArgsSize)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_backward_args was not set up by "
                                      "attnc_backward_args_init");
  // Refused first, with Kernel::backward's message (its first check):
  // without a backward no argument could be right.
  if (!kernel->kernel.hasBackward())
    return fail(ATTNC_ERROR_ARGUMENT,
                kernel->kernel.backward(attnc::BackwardArgs{}));
  attnc::BackwardArgs args;
  if (llvm::Error e = toViews({{"q", c->q, &args.q, false},
                               {"k", c->k, &args.k, false},
                               {"v", c->v, &args.v, false},
                               {"out", c->out, &args.out, false},
                               {"dout", c->dout, &args.dout, false},
                               {"dq", c->dq, &args.dq, true},
                               {"dk", c->dk, &args.dk, true},
                               {"dv", c->dv, &args.dv, true}}))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  attnc::TensorView lse;
  if (c->lse) {
    if (llvm::Error e = toViews({{"lse", c->lse, &lse, false}}))
      return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
    args.lse = &lse;
  }
  if (llvm::Error e = toParams("attnc_kernel_backward", c->params,
                               c->num_params, args.params))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  if (c->num_param_grads && !c->param_grads)
    return fail(ATTNC_ERROR_ARGUMENT, "attnc_kernel_backward: null "
                                      "param_grads");
  for (size_t i = 0; i < c->num_param_grads; ++i) {
    const attnc_param_grad &grad = c->param_grads[i];
    if (!grad.name)
      return fail(ATTNC_ERROR_ARGUMENT,
                  "param gradient " + std::to_string(i) + " has no name");
    std::string what = "the gradient of param '" + std::string(grad.name) + "'";
    auto view = attnc::viewOfDLTensor(what.c_str(), grad.grad, true);
    if (!view)
      return fail(ATTNC_ERROR_ARGUMENT, view.takeError());
    if (!args.paramGrads.emplace(grad.name, std::move(*view)).second)
      return fail(ATTNC_ERROR_ARGUMENT, what + " is given twice");
  }
  args.threads = c->threads;
  if (covers(c, &c->synchronize)) {
    args.stream = c->stream;
    args.synchronize = c->synchronize != 0;
  }
  if (covers(c, &c->deterministic))
    args.deterministic = c->deterministic != 0;
  // Kernel::backward checks every argument before anything runs.
  if (llvm::Error e = kernel->kernel.backward(args))
    return fail(ATTNC_ERROR_ARGUMENT, std::move(e));
  return succeed();
}

} // extern "C"
