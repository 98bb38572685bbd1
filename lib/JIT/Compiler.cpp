//===- Compiler.cpp - the JIT: variants to executable CPU kernels ---------===//

#include "JIT/KernelImpl.h"
#include "Support/Error.h"
#include "Support/Locations.h"

#include "Conversion/Passes.h"
#include "Frontend/DTypes.h"
#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Frontend/Sema.h"
#include "Pipeline/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "JIT/CudaDriver.h"
#include "Target/CUDATarget.h"
#include "Target/Compilation.h"
#include "Target/KernelSignature.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/TargetSelect.h"

#include "SourceHash.inc" // ATTNC_SOURCE_HASH, made at build time

#include <future>
#include <map>
#include <mutex>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace attnc;

/// Changes whenever the compiler's sources change (a hash of lib/,
/// dialect/, runtime/ and include/ made at build time), so that no cached
/// kernel outlives the code that made it; keys also hold the target's code
/// version (the CUDA templates' hash).
constexpr const char *kCompilerVersion = "attnc-" ATTNC_SOURCE_HASH;

/// The disk cache: one object file per kernel, behind a header that binds
/// it to its key and lets a damaged or truncated entry be told from a good
/// one: the magic, the key, then a SHA-256 of key and payload. An entry
/// copied under another key's name is refused, not run.
class DiskCache {
public:
  explicit DiskCache(std::string dir) : dir(std::move(dir)) {}
  bool enabled() const { return !dir.empty(); }

  enum class Lookup { Miss, Hit, Corrupt };
  Lookup load(llvm::StringRef key, std::string &object) const {
    // Only a regular file, opened without blocking (a FIFO put there would
    // hang a plain open), of a bounded size.
    int fd = ::open(path(key).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      return errno == ENOENT ? Lookup::Miss : Lookup::Corrupt;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > kMaxEntryBytes) {
      ::close(fd);
      return Lookup::Corrupt;
    }
    auto buffer =
        llvm::MemoryBuffer::getOpenFile(fd, path(key), uint64_t(st.st_size),
                                        /*RequiresNullTerminator=*/false);
    ::close(fd);
    if (!buffer)
      return Lookup::Corrupt;
    llvm::StringRef data = (*buffer)->getBuffer();
    if (!data.consume_front(kMagic) || !data.consume_front(key) ||
        !data.consume_front("\n") || data.size() < 32)
      return Lookup::Corrupt;
    llvm::StringRef digest = data.take_front(32), payload = data.drop_front(32);
    if (digest != entryDigest(key, payload))
      return Lookup::Corrupt;
    object = payload.str();
    return Lookup::Hit;
  }

  /// Writes atomically: a reader sees the old entry, the new one, or none.
  void store(llvm::StringRef key, llvm::StringRef object) const {
    if (llvm::sys::fs::create_directories(dir))
      return;
    llvm::SmallString<128> temp;
    int fd;
    if (llvm::sys::fs::createUniqueFile(path(key) + ".tmp-%%%%%%", fd, temp))
      return;
    {
      llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
      out << kMagic << key << "\n" << entryDigest(key, object) << object;
    }
    if (llvm::sys::fs::rename(temp, path(key)))
      llvm::sys::fs::remove(temp);
  }

  std::string path(llvm::StringRef key) const {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, key + ".o");
    return std::string(p);
  }

private:
  static constexpr llvm::StringLiteral kMagic = "ATTNC-KERNEL-2\n";
  static constexpr off_t kMaxEntryBytes = off_t(1) << 30;

  /// SHA-256 of the key and the payload, as 32 raw bytes.
  static std::string entryDigest(llvm::StringRef key, llvm::StringRef payload) {
    llvm::SHA256 hash;
    hash.update(key);
    hash.update("\n");
    hash.update(payload);
    auto digest = hash.final();
    return std::string(reinterpret_cast<const char *>(digest.data()),
                       digest.size());
  }

  std::string dir;
};

/// $ATTNC_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else ~/.cache/attnc.
static std::string defaultCacheDir() {
  if (auto dir = llvm::sys::Process::GetEnv("ATTNC_CACHE_DIR"))
    return *dir;
  llvm::SmallString<128> path;
  if (auto xdg = llvm::sys::Process::GetEnv("XDG_CACHE_HOME"))
    path = *xdg;
  else if (!llvm::sys::path::home_directory(path))
    return "";
  else
    llvm::sys::path::append(path, ".cache");
  llvm::sys::path::append(path, "attnc");
  return std::string(path);
}

/// Loads a kernel's object file into a JIT of its own.
static llvm::Error loadObject(const std::string &object,
                              const std::string &name, bool backward,
                              Kernel::Impl &impl) {
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit)
    return jit.takeError();
  // libm's expf and logf, for the few scalar math calls.
  auto generator =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
          (*jit)->getDataLayout().getGlobalPrefix());
  if (!generator)
    return generator.takeError();
  (*jit)->getMainJITDylib().addGenerator(std::move(*generator));
  if (llvm::Error e = (*jit)->addObjectFile(
          llvm::MemoryBuffer::getMemBufferCopy(object, name)))
    return e;
  auto entry = (*jit)->lookup(mlir::attn::getCPUKernelName(name) + "_packed");
  if (!entry)
    return entry.takeError();
  impl.entry = entry->toPtr<void (*)(void **)>();
  if (backward) {
    auto backwardEntry =
        (*jit)->lookup(mlir::attn::getCPUBackwardKernelName(name) + "_packed");
    if (!backwardEntry)
      return backwardEntry.takeError();
    impl.backwardEntry = backwardEntry->toPtr<void (*)(void **)>();
  }
  impl.jit = std::move(*jit);
  return llvm::Error::success();
}

mlir::attn::ScheduleOptions
attnc::scheduleOptions(const CompileOptions &options) {
  mlir::attn::ScheduleOptions o;
  o.target = options.target;
  o.family = options.kernelFamily;
  o.tileQ = options.tileQ, o.tileKv = options.tileKv, o.warps = options.warps;
  o.stages = options.stages, o.splits = options.splits;
  o.vectorWidth = options.vectorWidth;
  o.pagedKv = options.pagedKv;
  o.ragged = options.ragged;
  return o;
}

struct Compiler::Impl {
  std::mutex mutex; // one compilation at a time: the context is shared
  mlir::MLIRContext ctx;
  std::map<std::string, Kernel> cache; // by key(), see below
  DiskCache disk;
  Stats stats;

  explicit Impl(const CompilerOptions &options)
      : disk(options.cacheDir ? *options.cacheDir : defaultCacheDir()) {
    static std::once_flag nativeTarget;
    std::call_once(nativeTarget, [] {
      llvm::InitializeNativeTarget();
      llvm::InitializeNativeTargetAsmPrinter();
    });
    loadAttnDialects(ctx);
  }

  llvm::Expected<Kernel> compile(const sema::VariantSpec &spec,
                                 CompileOptions options);
};

/// Loads what Target::compile produced into `impl`: a host object into a
/// JIT of its own, or a CUDA bundle whose cubins load on the first run.
static llvm::Error loadCode(const Target &target, const std::string &code,
                            bool backward, Kernel::Impl &impl) {
  if (!target.isGPU())
    return loadObject(code, impl.name, backward, impl);
  std::optional<CUDACode> cuda = CUDACode::parse(code);
  if (!cuda)
    return makeError("a damaged CUDA bundle");
  impl.cudaSource = std::move(cuda->source);
  impl.cubin = std::move(cuda->cubin);
  impl.blockMapCubin = std::move(cuda->blockMapCubin);
  impl.backwardCubin = std::move(cuda->backwardCubin);
  impl.cudaSpec = cuda->spec;
  if (backward != !impl.cudaSpec.backwardName.empty())
    return makeError("a CUDA bundle with or without the backward, against "
                     "its key");
  return llvm::Error::success();
}

llvm::Expected<Kernel> Compiler::Impl::compile(const sema::VariantSpec &spec,
                                               CompileOptions options) {
  if (!ast::isFloat(toScalarType(options.dtype)))
    return makeError("the dtype of q, k and v must be f32, bf16 or f16");
  if (options.target == "gpu") {
    llvm::Expected<std::string> device = cuda::getDeviceTarget();
    if (!device)
      return makeError("target gpu: " + llvm::toString(device.takeError()));
    options.target = *device;
  }
  llvm::Expected<std::unique_ptr<Target>> target = getTarget(options.target);
  if (!target)
    return target.takeError();
  bool gpu = (*target)->isGPU();
  if (gpu) {
    if (options.dtype != DType::BF16 && options.dtype != DType::F16)
      return makeError("GPU kernels take bf16 or f16 q, k and v; got " +
                       std::string(toString(options.dtype)) +
                       " (f32 runs on the cpu target)");
    if (!options.headDim)
      return makeError("GPU kernels need the head dim at compile time "
                       "(CompileOptions::headDim)");
  }
  if (options.ragged && options.backward)
    return makeError("ragged batches (CompileOptions::ragged) have no "
                     "backward yet; compile the forward alone");
  if (options.ragged && options.pagedKv)
    return makeError("ragged batches over a paged KV cache "
                     "(CompileOptions::ragged and pagedKv) are not supported "
                     "yet");
  if (options.valueHeadDim && !options.headDim)
    return makeError("valueHeadDim is fixed only together with headDim");
  for (std::optional<int64_t> dim : {options.headDim, options.valueHeadDim})
    if (dim && (*dim < 1 || *dim > 1024))
      return makeError("head dims must be between 1 and 1024; got " +
                       llvm::Twine(*dim));
  for (auto [name, value] : {std::make_pair("tileQ", options.tileQ),
                             std::make_pair("tileKv", options.tileKv),
                             std::make_pair("stages", options.stages),
                             std::make_pair("splits", options.splits)})
    if (value < 0 || value > 4096)
      return makeError(llvm::Twine(name) +
                       " must be between 1 and 4096 (0: the default)");
  if (!llvm::is_contained({0, 4, 8, 16}, options.vectorWidth))
    return makeError("vectorWidth must be 4, 8 or 16 (0: the host's)");
  if (!llvm::is_contained({0, 1, 2, 4, 8}, options.warps))
    return makeError("warps must be 1, 2, 4 or 8 (0: the default)");
  std::lock_guard<std::mutex> lock(mutex);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return mlir::success();
  });

  auto impl = std::make_shared<Kernel::Impl>();
  impl->name = spec.name;
  // A variant with branches returns no lse (MLIRGen).
  impl->hasLse =
      spec.normalizer == ATTNC_NORMALIZE_SOFTMAX && spec.branches == 1;
  impl->branches = spec.branches;
  impl->dtype = options.dtype;
  impl->headDim = options.headDim;
  impl->target = options.target;
  for (const sema::ParamSpec &p : spec.params) {
    ParamInfo info{
        p.name, toDType(p.type.elem), p.type.isTensor, {}, std::nullopt};
    for (const ast::Dim &dim : p.type.dims)
      info.dims.push_back(dim.toString());
    if (p.defaultValue) {
      const sema::TExpr &def = **p.defaultValue;
      info.defaultValue = ast::isFloat(def.type) ? def.floatValue
                          : def.type == ast::ScalarType::Bool
                              ? double(def.boolValue)
                              : double(def.intValue);
    }
    if (!p.isSize)
      impl->callerParams.push_back(info);
    impl->isSizeParam.push_back(p.isSize);
    impl->params.push_back(std::move(info));
  }

  EmitOptions emitOptions{toScalarType(options.dtype), options.headDim,
                          options.valueHeadDim};
  impl->valueHeadDim = emitOptions.valueDim();
  Compilation compilation(**target, scheduleOptions(options),
                          mlir::attn::LoweringOptions{options.backward});
  if (mlir::failed(compilation.build(ctx, {spec}, emitOptions)) ||
      mlir::failed(compilation.advanceTo(Stage::Fused)))
    return makeError("attnc: could not fuse '" + spec.name + "':\n" +
                     diagnostics);
  if (mlir::failed(compilation.advanceTo(Stage::Scheduled)))
    return makeError("attnc: could not schedule '" + spec.name + "' for " +
                     options.target + ":\n" + diagnostics);
  mlir::ModuleOp module = compilation.getModule();
  // Each param read gets an id, which a read out of bounds reports (CPU
  // kernels, runtime/attnc/abi.h), and its place in the source.
  mlir::Builder builder(&ctx);
  std::string readPlaces;
  module.walk([&](mlir::attn::LoadOp load) {
    load->setAttr("attn.read", builder.getI64IntegerAttr(impl->reads.size()));
    impl->reads.push_back(formatLocation(load.getLoc()));
    readPlaces += "|" + impl->reads.back();
  });
  llvm::Expected<KernelSignature> signature = readKernelSignature(module);
  if (!signature)
    return signature.takeError();
  signature->backward = options.backward;
  impl->cpuSchedule = {signature->tileQ,     signature->tileKv,
                       signature->maxSplits, signature->packsHeads,
                       signature->pagedKv,   signature->ragged};
  impl->pagedKv = signature->pagedKv;
  impl->ragged = signature->ragged;

  // The scheduled IR in generic form says everything about the kernel.
  std::string key;
  {
    llvm::raw_string_ostream os(key);
    module->print(os, mlir::OpPrintingFlags().printGenericOpForm());
    os << "|" << kCompilerVersion << "|target=" << options.target
       << "|code=" << (*target)->getCodeVersion()
       << "|backward=" << options.backward;
  }
  key = llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(key)));
  // In memory the kernel keeps its reads' places: the same code read from
  // elsewhere in a source is another Kernel (the disk holds code alone).
  if (auto hit = cache.find(key + readPlaces); hit != cache.end()) {
    ++stats.cacheHits;
    return hit->second;
  }
  std::string code;
  DiskCache::Lookup found =
      disk.enabled() ? disk.load(key, code) : DiskCache::Lookup::Miss;
  if (found == DiskCache::Lookup::Hit) {
    if (llvm::Error e = loadCode(**target, code, options.backward, *impl)) {
      // An entry that loads badly is as good as corrupt.
      llvm::consumeError(std::move(e));
      found = DiskCache::Lookup::Corrupt;
    } else {
      ++stats.diskHits;
    }
  }
  if (found != DiskCache::Lookup::Hit) {
    stats.corruptEntries += found == DiskCache::Lookup::Corrupt;
    if (mlir::failed(compilation.advanceTo(Stage::Lowered)))
      return makeError("attnc: could not lower '" + spec.name + "' for " +
                       options.target + ":\n" + diagnostics);
    llvm::Expected<std::string> compiled =
        (*target)->compile(module, *signature);
    if (!compiled)
      return makeError("attnc: " + llvm::toString(compiled.takeError()) +
                       (diagnostics.empty() ? "" : ":\n" + diagnostics));
    code = std::move(*compiled);
    if (llvm::Error e = loadCode(**target, code, options.backward, *impl))
      return makeError("attnc: could not load the kernel: " +
                       llvm::toString(std::move(e)));
    if (disk.enabled())
      disk.store(key, code);
    ++stats.compilations;
  }
  Kernel kernel(std::move(impl));
  cache.emplace(key + readPlaces, kernel);
  return kernel;
}

Compiler::Compiler(const CompilerOptions &options)
    : impl(std::make_unique<Impl>(options)) {}

Compiler::Stats Compiler::getStats() const {
  std::lock_guard<std::mutex> lock(impl->mutex);
  return impl->stats;
}
Compiler::~Compiler() = default;

llvm::Expected<Kernel> Compiler::compile(std::string_view source,
                                         std::string_view variant,
                                         const CompileOptions &options,
                                         std::string_view fileName) {
  SourceFile file{std::string(fileName), std::string(source)};
  DiagnosticEngine diags;
  auto specs = parseAndCheck(file, diags);
  if (!specs)
    return makeError(diags.render());
  const sema::VariantSpec *chosen = nullptr;
  std::string names;
  for (const sema::VariantSpec &spec : *specs) {
    names += (names.empty() ? "" : ", ") + spec.name;
    if (spec.name == variant || (variant.empty() && specs->size() == 1))
      chosen = &spec;
  }
  if (!chosen)
    return makeError(variant.empty()
                         ? "the source defines several variants (" + names +
                               "); name the one to compile"
                         : "no variant named '" + std::string(variant) +
                               "'; the source defines " + names);
  return impl->compile(*chosen, options);
}

llvm::Expected<Kernel> Compiler::compile(const VariantBuilder &variant,
                                         const CompileOptions &options) {
  ast::Module module;
  module.attentions.push_back(variant.getAttention());
  DiagnosticEngine diags;
  auto specs = checkModule(module, &getStdlibModule(), diags);
  if (!specs)
    return makeError(diags.render());
  return impl->compile(specs->front(), options);
}
