//===- CUDATarget.cpp - GPU kernels as CUDA C++, PTX and cubins -----------===//

#include "Target/CUDATarget.h"
#include "Target/KernelSignature.h"
#include "Target/Target.h"

#include "Pipeline/Pipeline.h"
#include "Support/Error.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <future>
#include <optional>
#include <vector>

#if ATTNC_HAVE_CUDA
#include "Target/NVRTC.h"
#endif

using namespace attnc;

namespace attnc {
/// The text of runtime/cuda/attnc/flash_fwd.cuh, embedded at build time.
std::string_view getCudaRuntimeHeader();
} // namespace attnc

namespace {
enum class CudaOutput { PTX, Cubin };
} // namespace

/// The compute capability of sm_XX or sm_XXa, e.g. 90 for sm_90a.
static std::optional<unsigned> parseArch(std::string_view target) {
  llvm::StringRef t(target.data(), target.size());
  unsigned arch;
  if (!t.consume_front("sm_") ||
      (t.consume_back("a"), t.getAsInteger(10, arch)))
    return std::nullopt;
  return arch;
}

/// Checks that `target` is a GPU attnc can compile for: sm_80 and up, with
/// NVRTC in this build (getTarget's check).
llvm::Error attnc::checkGPUTarget(llvm::StringRef t) {
  std::string_view target(t.data(), t.size());
  std::optional<unsigned> arch = parseArch(target);
  if (!arch || *arch < 80)
    return makeError("unknown target '" + t +
                     "'; expected cpu or a GPU from sm_80 up (sm_80, sm_86, "
                     "sm_89, sm_90, sm_90a, ...)");
#if !ATTNC_HAVE_CUDA
  return makeError("this attnc was built without the CUDA toolkit; GPU targets "
                   "need NVRTC");
#else
  return llvm::Error::success();
#endif
}

/// The CUDA C++ of the one prepared variant of `module`.
static llvm::FailureOr<mlir::attn::CUDAKernelSpec>
translate(mlir::ModuleOp module, std::string &source, bool backward = false) {
  llvm::raw_string_ostream os(source);
  return mlir::attn::translateToCUDA(module, os, backward);
}

/// `source` with the tile templates pasted in place of their include, so
/// that nvcc compiles it on its own.
static std::string pasteCudaRuntime(std::string source) {
  std::string name = mlir::attn::getCUDARuntimeHeaderName().str();
  std::string include = "#include \"" + name + "\"\n";
  size_t at = source.find(include);
  if (at != std::string::npos)
    source.replace(at, include.size(),
                   "// " + name + " (attnc's tile templates), pasted:\n" +
                       std::string(getCudaRuntimeHeader()) + "\n");
  return source;
}

/// Compiles generated CUDA C++ with NVRTC for `target`; the tile templates
/// come from memory, not from the file system. `defines` are NAME or
/// NAME=VALUE macros. Thread-safe: programs compile in parallel.
static llvm::Expected<std::string>
compileWithNVRTC(std::string_view source, std::string_view target,
                 CudaOutput output, llvm::ArrayRef<std::string> defines = {}) {
  if (llvm::Error e = checkGPUTarget(target))
    return e;
#if !ATTNC_HAVE_CUDA
  return makeError("no NVRTC in this build");
#else
  llvm::Expected<const NVRTC &> loaded = getNVRTC();
  if (!loaded)
    return loaded.takeError();
  const NVRTC &rtc = *loaded;
  std::string header(getCudaRuntimeHeader());
  std::string headerName = mlir::attn::getCUDARuntimeHeaderName().str();
  const char *headers[] = {header.c_str()};
  const char *includeNames[] = {headerName.c_str()};
  std::string src(source);
  nvrtcProgram program;
  if (rtc.nvrtcCreateProgram(&program, src.c_str(), "attnc_kernel.cu", 1,
                             headers, includeNames) != NVRTC_SUCCESS)
    return makeError("NVRTC could not create a program");
  // A real architecture gives a cubin; its virtual one, PTX.
  std::string arch(target);
  std::string archOption =
      "--gpu-architecture=" +
      (output == CudaOutput::Cubin ? arch : "compute_" + arch.substr(3));
  std::vector<const char *> options = {archOption.c_str(), "-std=c++17",
                                       "--dopt=on", "-default-device"};
  std::vector<std::string> defineOptions;
  for (const std::string &define : defines)
    defineOptions.push_back("-D" + define);
  for (const std::string &option : defineOptions)
    options.push_back(option.c_str());
  // ATTNC_NVRTC_VERBOSE=1 prints ptxas's register and spill report and the
  // time of each compilation phase.
  bool verbose = std::getenv("ATTNC_NVRTC_VERBOSE") != nullptr;
  if (verbose) {
    options.push_back("--ptxas-options=-v");
    options.push_back("--time=/dev/stderr");
  }
  nvrtcResult status =
      rtc.nvrtcCompileProgram(program, int(options.size()), options.data());
  size_t logSize = 0;
  rtc.nvrtcGetProgramLogSize(program, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    rtc.nvrtcGetProgramLog(program, log.data());
  if (verbose)
    llvm::errs() << log << "\n";
  if (status != NVRTC_SUCCESS) {
    rtc.nvrtcDestroyProgram(&program);
    return makeError("NVRTC failed to compile the generated CUDA (" +
                     llvm::Twine(rtc.nvrtcGetErrorString(status)) + "):\n" +
                     log);
  }
  std::string code;
  size_t size = 0;
  if (output == CudaOutput::Cubin) {
    rtc.nvrtcGetCUBINSize(program, &size);
    code.resize(size);
    rtc.nvrtcGetCUBIN(program, code.data());
  } else {
    rtc.nvrtcGetPTXSize(program, &size);
    code.resize(size);
    rtc.nvrtcGetPTX(program, code.data());
    if (!code.empty() && code.back() == '\0')
      code.pop_back();
  }
  rtc.nvrtcDestroyProgram(&program);
  return code;
#endif
}

std::string CUDACode::serialize() const {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << spec.kernelName << " "
     << (spec.blockMapName.empty() ? "-" : spec.blockMapName) << " "
     << spec.headDim << " " << spec.tileQ << " " << spec.tileKv << " "
     << spec.threads << " " << spec.sharedBytes << " " << spec.numParams << " "
     << spec.blockMapUsesBatch << " " << spec.blockMapUsesHead << " "
     << (spec.combineName.empty() ? "-" : spec.combineName) << " "
     << spec.maxSplits << " " << spec.tensorMaps << " " << spec.pagedKv << " "
     << (spec.backwardName.empty() ? "-" : spec.backwardName) << " "
     << spec.backwardSharedBytes << " " << spec.recomputeSharedBytes << " "
     << spec.hasOutputMod << " " << spec.backwardTileQ << " "
     << spec.backwardTileKv << " " << spec.backwardThreads << " "
     << spec.selectBlock << " " << spec.selectTopK << "\n"
     << source.size() << " " << cubin.size() << " " << blockMapCubin.size()
     << "\n"
     << source << cubin << blockMapCubin << backwardCubin;
  return out;
}

std::optional<CUDACode> CUDACode::parse(llvm::StringRef data) {
  auto [specLine, rest] = data.split('\n');
  auto [sizeLine, payload] = rest.split('\n');
  llvm::SmallVector<llvm::StringRef> f, sizes;
  specLine.split(f, ' ');
  sizeLine.split(sizes, ' ');
  size_t sourceSize, cubinSize, mapSize;
  if (f.size() != 23 || sizes.size() != 3 ||
      sizes[0].getAsInteger(10, sourceSize) ||
      sizes[1].getAsInteger(10, cubinSize) ||
      sizes[2].getAsInteger(10, mapSize) || sourceSize > payload.size() ||
      cubinSize > payload.size() - sourceSize ||
      mapSize > payload.size() - sourceSize - cubinSize)
    return std::nullopt;
  CUDACode code;
  mlir::attn::CUDAKernelSpec &s = code.spec;
  s.kernelName = f[0].str();
  s.blockMapName = f[1] == "-" ? "" : f[1].str();
  int64_t *numbers[] = {&s.headDim, &s.tileQ,       &s.tileKv,
                        &s.threads, &s.sharedBytes, &s.numParams};
  for (size_t i = 0; i < std::size(numbers); ++i)
    if (f[2 + i].getAsInteger(10, *numbers[i]))
      return std::nullopt;
  s.blockMapUsesBatch = f[8] == "1";
  s.blockMapUsesHead = f[9] == "1";
  s.combineName = f[10] == "-" ? "" : f[10].str();
  if (f[11].getAsInteger(10, s.maxSplits) || s.maxSplits < 1)
    return std::nullopt;
  s.tensorMaps = f[12] == "1";
  s.pagedKv = f[13] == "1";
  s.backwardName = f[14] == "-" ? "" : f[14].str();
  if (f[15].getAsInteger(10, s.backwardSharedBytes) ||
      f[16].getAsInteger(10, s.recomputeSharedBytes))
    return std::nullopt;
  s.hasOutputMod = f[17] == "1";
  if (f[18].getAsInteger(10, s.backwardTileQ) ||
      f[19].getAsInteger(10, s.backwardTileKv) ||
      f[20].getAsInteger(10, s.backwardThreads) ||
      f[21].getAsInteger(10, s.selectBlock) ||
      f[22].getAsInteger(10, s.selectTopK))
    return std::nullopt;
  code.source = payload.take_front(sourceSize).str();
  code.cubin = payload.drop_front(sourceSize).take_front(cubinSize).str();
  code.blockMapCubin =
      payload.drop_front(sourceSize + cubinSize).take_front(mapSize).str();
  code.backwardCubin =
      payload.drop_front(sourceSize + cubinSize + mapSize).str();
  if (code.cubin.empty() ||
      s.blockMapName.empty() != code.blockMapCubin.empty() ||
      s.backwardName.empty() != code.backwardCubin.empty())
    return std::nullopt;
  return code;
}

namespace {

class CUDATarget final : public Target {
public:
  explicit CUDATarget(llvm::StringRef arch) : Target(arch.str()) {}
  bool isGPU() const override { return true; }

  std::string getCodeVersion() const override {
    static const std::string hash = llvm::toHex(llvm::SHA256::hash(
        llvm::arrayRefFromStringRef(llvm::StringRef(getCudaRuntimeHeader()))));
    return hash;
  }

  void buildLoweringPipeline(
      mlir::OpPassManager &pm,
      const mlir::attn::LoweringOptions &options) const override {
    mlir::attn::buildCUDAPreparePipeline(pm, options);
  }

  bool canEmit(Artifact artifact) const override {
    return artifact == Artifact::CUDA || artifact == Artifact::PTX ||
           artifact == Artifact::Cubin;
  }

  llvm::Expected<std::string> emit(mlir::ModuleOp module,
                                   Artifact artifact) const override {
    if (!canEmit(artifact))
      return makeError("GPU targets write CUDA, PTX and cubins");
    std::string source;
    if (mlir::failed(translate(module, source)))
      return makeError("could not generate CUDA");
    if (artifact == Artifact::CUDA)
      return pasteCudaRuntime(std::move(source));
    return compileWithNVRTC(source, getName(),
                            artifact == Artifact::PTX ? CudaOutput::PTX
                                                      : CudaOutput::Cubin);
  }

  std::string emitCHeader(const KernelSignature &signature) const override {
    return generateCHeader(signature, /*gpu=*/true);
  }

  llvm::Expected<std::string>
  compile(mlir::ModuleOp module,
          const KernelSignature &signature) const override {
    CUDACode code;
    llvm::FailureOr<mlir::attn::CUDAKernelSpec> spec =
        translate(module, code.source, signature.backward);
    if (mlir::failed(spec))
      return makeError("could not generate CUDA");
    code.spec = *spec;
    // The block map and the backward compile as programs of their own
    // beside the forward kernel's, in parallel: NVRTC's optimiser and
    // ptxas run one kernel at a time.
    const std::string &source = code.source;
    using mlir::attn::kSkipBackwardMacro;
    using mlir::attn::kSkipBlockMapMacro;
    using mlir::attn::kSkipForwardMacro;
    auto start = [&](std::vector<std::string> skipped) {
      return std::async(std::launch::async, [&, skipped] {
        return compileWithNVRTC(source, getName(), CudaOutput::Cubin, skipped);
      });
    };
    std::future<llvm::Expected<std::string>> mapCubin, backwardCubin;
    if (!spec->blockMapName.empty())
      mapCubin = start({kSkipForwardMacro, kSkipBackwardMacro});
    if (!spec->backwardName.empty())
      backwardCubin = start({kSkipForwardMacro, kSkipBlockMapMacro});
    llvm::Expected<std::string> cubin =
        compileWithNVRTC(source, getName(), CudaOutput::Cubin,
                         {kSkipBlockMapMacro, kSkipBackwardMacro});
    // Every program's result is taken, so that no error goes unread.
    llvm::Error error = cubin ? llvm::Error::success() : cubin.takeError();
    for (auto [future, into] :
         {std::make_pair(&mapCubin, &code.blockMapCubin),
          std::make_pair(&backwardCubin, &code.backwardCubin)}) {
      if (!future->valid())
        continue;
      llvm::Expected<std::string> part = future->get();
      if (!part)
        error = llvm::joinErrors(std::move(error), part.takeError());
      else
        *into = std::move(*part);
    }
    if (error)
      return error;
    code.cubin = std::move(*cubin);
    return code.serialize();
  }
};

} // namespace

std::unique_ptr<Target> attnc::createCUDATarget(llvm::StringRef arch) {
  return std::make_unique<CUDATarget>(arch);
}
