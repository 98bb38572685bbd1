//===- Compiler.cpp - the JIT: variants to executable CPU kernels ---------===//

#include "JIT/KernelImpl.h"

#include "Conversion/Passes.h"
#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Frontend/Sema.h"
#include "Transforms/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/TargetSelect.h"

#include <map>

#include <mutex>

using namespace attnc;

namespace {
llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

ast::ScalarType toScalarType(DType type) {
  switch (type) {
  case DType::Bool: return ast::ScalarType::Bool;
  case DType::I32: return ast::ScalarType::I32;
  case DType::I64: return ast::ScalarType::I64;
  case DType::F16: return ast::ScalarType::F16;
  case DType::BF16: return ast::ScalarType::BF16;
  case DType::F32: return ast::ScalarType::F32;
  }
  return ast::ScalarType::F32;
}

DType toDType(ast::ScalarType type) {
  switch (type) {
  case ast::ScalarType::Bool: return DType::Bool;
  case ast::ScalarType::I32: return DType::I32;
  case ast::ScalarType::I64: return DType::I64;
  case ast::ScalarType::F16: return DType::F16;
  case ast::ScalarType::BF16: return DType::BF16;
  case ast::ScalarType::F32: return DType::F32;
  }
  return DType::F32;
}
} // namespace

/// The f32 lanes the generated kernels use (attn-select-schedule's choice).
static int64_t kernelVectorWidth(mlir::ModuleOp module) {
  int64_t width = 16;
  module.walk([&](mlir::Operation *op) {
    if (auto attr = op->getAttrOfType<mlir::IntegerAttr>("attn.vector_width"))
      width = attr.getInt();
  });
  return width;
}

/// Changes whenever generated code may change for the same input.
constexpr const char *kCompilerVersion = "attnc-cpu-3";

struct Compiler::Impl {
  std::mutex mutex; // one compilation at a time: the context is shared
  mlir::MLIRContext ctx;
  std::map<std::string, Kernel> cache; // by key(), see below
  Stats stats;

  Impl() {
    static std::once_flag nativeTarget;
    std::call_once(nativeTarget, [] {
      llvm::InitializeNativeTarget();
      llvm::InitializeNativeTargetAsmPrinter();
    });
    mlir::registerBuiltinDialectTranslation(ctx);
    mlir::registerLLVMDialectTranslation(ctx);
    loadAttnDialects(ctx);
  }

  llvm::Expected<Kernel> compile(const sema::VariantSpec &spec,
                                 const CompileOptions &options);
};

llvm::Expected<Kernel> Compiler::Impl::compile(const sema::VariantSpec &spec,
                                               const CompileOptions &options) {
  if (!ast::isFloat(toScalarType(options.dtype)))
    return makeError("the dtype of q, k and v must be f32, bf16 or f16");
  if (options.tileQ < 1 || options.tileQ > 4096)
    return makeError("tileQ must be between 1 and 4096");
  if (options.tileKv < 0 || options.tileKv > 4096)
    return makeError("tileKv must be between 1 and 4096 (0: the default)");
  std::lock_guard<std::mutex> lock(mutex);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return mlir::success();
  });

  auto impl = std::make_shared<Kernel::Impl>();
  impl->name = spec.name;
  impl->hasLse = spec.normalizer == sema::Normalizer::Softmax;
  impl->dtype = options.dtype;
  impl->headDim = options.headDim;
  impl->tileQ = options.tileQ;
  for (const sema::ParamSpec &p : spec.params) {
    ParamInfo info{p.name, toDType(p.type.elem), p.type.isTensor, {}, std::nullopt};
    for (const ast::Dim &dim : p.type.dims)
      info.dims.push_back(dim.toString());
    if (p.defaultValue) {
      const sema::TExpr &def = **p.defaultValue;
      info.defaultValue = ast::isFloat(def.type) ? def.floatValue
                          : def.type == ast::ScalarType::Bool
                              ? double(def.boolValue)
                              : double(def.intValue);
    }
    impl->params.push_back(std::move(info));
  }

  EmitOptions emitOptions{toScalarType(options.dtype), options.headDim};
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModule(ctx, {spec}, emitOptions, /*fuse=*/true);
  if (!module)
    return makeError("attnc: could not fuse '" + spec.name + "':\n" + diagnostics);

  // The fused IR in generic form says everything about the variant.
  std::string key;
  {
    llvm::raw_string_ostream os(key);
    module->print(os, mlir::OpPrintingFlags().printGenericOpForm());
    os << "|" << kCompilerVersion << "|dtype=" << toString(options.dtype)
       << "|D=" << (options.headDim ? *options.headDim : -1)
       << "|tileQ=" << options.tileQ << "|tileKv=" << options.tileKv;
  }
  key = llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(key)));
  if (auto hit = cache.find(key); hit != cache.end()) {
    ++stats.cacheHits;
    return hit->second;
  }
  mlir::PassManager pm(&ctx);
  mlir::attn::buildCPUPipeline(pm, options.tileQ, options.tileKv,
                                /*vectorWidth=*/0);
  if (mlir::failed(pm.run(*module)))
    return makeError("attnc: could not lower '" + spec.name +
                     "' for the CPU:\n" + diagnostics);

  mlir::ExecutionEngineOptions engineOptions;
  auto optimize = mlir::makeOptimizingTransformer(3, 0, nullptr);
  auto transformer = [&](llvm::Module *llvmModule) -> llvm::Error {
    // The kernels' vectors are as wide as the host's: without this, LLVM
    // splits 512-bit operations in two on CPUs tuned to prefer 256 bits.
    for (llvm::Function &fn : *llvmModule) {
      std::string bits = std::to_string(32 * kernelVectorWidth(*module));
      fn.addFnAttr("prefer-vector-width", bits);
      fn.addFnAttr("min-legal-vector-width", bits);
    }
    return optimize(llvmModule);
  };
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = mlir::ExecutionEngine::create(*module, engineOptions);
  if (!engine)
    return makeError("attnc: JIT compilation failed: " +
                     llvm::toString(engine.takeError()));
  auto entry = (*engine)->lookupPacked(mlir::attn::getCPUKernelName(spec.name));
  if (!entry)
    return makeError("attnc: the kernel has no entry point: " +
                     llvm::toString(entry.takeError()));
  impl->entry = *entry;
  impl->engine = std::move(*engine);
  ++stats.compilations;
  Kernel kernel(std::move(impl));
  cache.emplace(key, kernel);
  return kernel;
}

Compiler::Compiler() : impl(std::make_unique<Impl>()) {}

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
