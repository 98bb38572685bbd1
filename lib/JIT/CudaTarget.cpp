//===- CudaTarget.cpp - GPU kernels as CUDA C++, PTX and cubins -----------===//

#include "JIT/CudaTarget.h"

#include "Pipeline/Pipeline.h"
#include "Support/Error.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <optional>
#include <vector>

#if ATTNC_HAVE_CUDA
#include <nvrtc.h>
#endif

using namespace attnc;

/// The compute capability of sm_XX or sm_XXa, e.g. 90 for sm_90a.
static std::optional<unsigned> parseArch(std::string_view target) {
  llvm::StringRef t(target.data(), target.size());
  unsigned arch;
  if (!t.consume_front("sm_") || (t.consume_back("a"), t.getAsInteger(10, arch)))
    return std::nullopt;
  return arch;
}

llvm::Error attnc::checkGPUTarget(std::string_view target) {
  llvm::StringRef t(target.data(), target.size());
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

llvm::Expected<GeneratedCUDA> attnc::generateCUDA(mlir::ModuleOp module) {
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(),
                                        [&](mlir::Diagnostic &diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << diag.getLocation() << ": " << diag.str() << "\n";
    return mlir::success();
  });
  if (mlir::failed(mlir::attn::runPipeline(
          module, mlir::attn::buildCUDAPreparePipeline)))
    return makeError("attnc: could not prepare the CUDA:\n" + diagnostics);
  GeneratedCUDA result;
  llvm::raw_string_ostream os(result.source);
  llvm::FailureOr<mlir::attn::CUDAKernelSpec> spec =
      mlir::attn::translateToCUDA(module, os);
  if (mlir::failed(spec))
    return makeError("attnc: could not generate CUDA:\n" + diagnostics);
  result.spec = *spec;
  return result;
}

std::string attnc::pasteCudaRuntime(std::string source) {
  std::string name = mlir::attn::getCUDARuntimeHeaderName().str();
  std::string include = "#include \"" + name + "\"\n";
  size_t at = source.find(include);
  if (at != std::string::npos)
    source.replace(at, include.size(),
                   "// " + name + " (attnc's tile templates), pasted:\n" +
                       std::string(getCudaRuntimeHeader()) + "\n");
  return source;
}

llvm::Expected<std::string>
attnc::compileWithNVRTC(std::string_view source, std::string_view target,
                        CudaOutput output, llvm::ArrayRef<std::string> defines) {
  if (llvm::Error e = checkGPUTarget(target))
    return e;
#if !ATTNC_HAVE_CUDA
  return makeError("no NVRTC in this build");
#else
  std::string header(getCudaRuntimeHeader());
  std::string headerName = mlir::attn::getCUDARuntimeHeaderName().str();
  const char *headers[] = {header.c_str()};
  const char *includeNames[] = {headerName.c_str()};
  std::string src(source);
  nvrtcProgram program;
  if (nvrtcCreateProgram(&program, src.c_str(), "attnc_kernel.cu", 1, headers,
                         includeNames) != NVRTC_SUCCESS)
    return makeError("NVRTC could not create a program");
  // A real architecture gives a cubin; its virtual one, PTX.
  std::string arch(target);
  std::string archOption = "--gpu-architecture=" +
                           (output == CudaOutput::Cubin
                                ? arch
                                : "compute_" + arch.substr(3));
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
      nvrtcCompileProgram(program, int(options.size()), options.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(program, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(program, log.data());
  if (verbose)
    llvm::errs() << log << "\n";
  if (status != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&program);
    return makeError("NVRTC failed to compile the generated CUDA (" +
                     llvm::Twine(nvrtcGetErrorString(status)) + "):\n" + log);
  }
  std::string code;
  size_t size = 0;
  if (output == CudaOutput::Cubin) {
    nvrtcGetCUBINSize(program, &size);
    code.resize(size);
    nvrtcGetCUBIN(program, code.data());
  } else {
    nvrtcGetPTXSize(program, &size);
    code.resize(size);
    nvrtcGetPTX(program, code.data());
    if (!code.empty() && code.back() == '\0')
      code.pop_back();
  }
  nvrtcDestroyProgram(&program);
  return code;
#endif
}
