//===- CPUTarget.cpp - CPU kernels as LLVM IR and host objects ------------===//

#include "Support/Error.h"
#include "Target/KernelSignature.h"
#include "Target/Target.h"

#include "Conversion/Passes.h"
#include "Pipeline/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace attnc;

/// Translates a module lowered by buildCPULoweringPipeline to LLVM IR,
/// optimised for the host (at the kernels' vector width: LLVM must not split
/// 512-bit operations on CPUs tuned to prefer 256 bits).
static llvm::Expected<std::unique_ptr<llvm::Module>>
translateCPUModule(mlir::ModuleOp module, llvm::LLVMContext &context) {
  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  int64_t width = 16;
  module.walk([&](mlir::Operation *op) {
    if (auto attr = op->getAttrOfType<mlir::IntegerAttr>("attn.vector_width"))
      width = attr.getInt();
  });
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, context);
  if (!llvmModule)
    return makeError("could not translate the kernel to LLVM IR");
  for (llvm::Function &fn : *llvmModule) {
    if (fn.isDeclaration())
      continue;
    fn.addFnAttr("prefer-vector-width", std::to_string(32 * width));
    fn.addFnAttr("min-legal-vector-width", std::to_string(32 * width));
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvmModule->setTargetTriple(llvm::Triple(llvm::sys::getProcessTriple()));
  if (llvm::Error error =
          mlir::makeOptimizingTransformer(3, 0, nullptr)(llvmModule.get()))
    return error;
  return llvmModule;
}

/// Adds `void <kernel>_packed(void **args)`, which loads each argument of
/// the lowered kernel from args[i] and calls it: one entry point the JIT can
/// call whatever the variant's params.
static void addPackedEntry(llvm::Module &module, llvm::StringRef kernel) {
  llvm::Function *callee = module.getFunction(kernel);
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptr = llvm::PointerType::get(ctx, 0);
  auto *type =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *packed = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                        kernel + "_packed", module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", packed));
  llvm::SmallVector<llvm::Value *> args;
  for (auto [i, arg] : llvm::enumerate(callee->args())) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, packed->getArg(0), i);
    llvm::Value *address = b.CreateLoad(ptr, slot);
    args.push_back(b.CreateLoad(arg.getType(), address));
  }
  b.CreateCall(callee, args);
  b.CreateRetVoid();
}

/// A target machine for this host: its triple, CPU and features.
static llvm::Expected<std::unique_ptr<llvm::TargetMachine>> hostMachine() {
  std::string error;
  std::string triple = llvm::sys::getProcessTriple();
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return makeError("no target for " + triple + ": " + error);
  llvm::SubtargetFeatures features;
  for (const auto &[feature, enabled] : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature, enabled);
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      llvm::Triple(triple), llvm::sys::getHostCPUName(), features.getString(),
      llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}

/// `module` as an object file for the host.
static llvm::Expected<std::string> emitHostObject(llvm::Module &module) {
  auto machine = hostMachine();
  if (!machine)
    return machine.takeError();
  module.setDataLayout((*machine)->createDataLayout());
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream out(buffer);
  llvm::legacy::PassManager pm;
  if ((*machine)->addPassesToEmitFile(pm, out, nullptr,
                                      llvm::CodeGenFileType::ObjectFile))
    return makeError("the host target cannot emit object files");
  pm.run(module);
  return std::string(buffer.begin(), buffer.end());
}

namespace {

class CPUTarget final : public Target {
public:
  CPUTarget() : Target("cpu") {}
  bool isGPU() const override { return false; }

  void buildLoweringPipeline(
      mlir::OpPassManager &pm,
      const mlir::attn::LoweringOptions &options) const override {
    mlir::attn::buildCPULoweringPipeline(pm, options);
  }

  bool canEmit(Artifact artifact) const override {
    return artifact == Artifact::LLVMIR || artifact == Artifact::Object;
  }

  llvm::Expected<std::string> emit(mlir::ModuleOp module,
                                   Artifact artifact) const override {
    if (!canEmit(artifact))
      return makeError("the cpu target writes LLVM IR and object files");
    llvm::LLVMContext context;
    auto llvmModule = translateCPUModule(module, context);
    if (!llvmModule)
      return llvmModule.takeError();
    if (artifact == Artifact::Object)
      return emitHostObject(**llvmModule);
    std::string text;
    llvm::raw_string_ostream os(text);
    (*llvmModule)->print(os, nullptr);
    return text;
  }

  std::string emitCHeader(const KernelSignature &signature) const override {
    return generateCHeader(signature, /*gpu=*/false);
  }

  llvm::Expected<std::string>
  compile(mlir::ModuleOp module,
          const KernelSignature &signature) const override {
    llvm::LLVMContext context;
    auto llvmModule = translateCPUModule(module, context);
    if (!llvmModule)
      return llvmModule.takeError();
    addPackedEntry(**llvmModule, mlir::attn::getCPUKernelName(signature.name));
    std::string backward = mlir::attn::getCPUBackwardKernelName(signature.name);
    if ((*llvmModule)->getFunction(backward))
      addPackedEntry(**llvmModule, backward);
    return emitHostObject(**llvmModule);
  }
};

} // namespace

std::unique_ptr<Target> attnc::createCPUTarget() {
  return std::make_unique<CPUTarget>();
}
