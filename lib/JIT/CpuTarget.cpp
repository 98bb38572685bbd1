//===- CpuTarget.cpp - CPU kernels as LLVM IR, objects and C headers ------===//

#include "JIT/CpuTarget.h"
#include "Support/Error.h"

#include "Conversion/Passes.h"
#include "dialect/AttnOps.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace attnc;

static std::string cTypeOf(mlir::Type type) {
  if (type.isF32()) return "float";
  if (type.isF16() || type.isBF16()) return "uint16_t";
  if (type.isInteger(1)) return "bool";
  if (type.isInteger(32)) return "int32_t";
  return "int64_t";
}

llvm::Expected<KernelSignature> attnc::readKernelSignature(mlir::ModuleOp module) {
  auto variants = module.getOps<mlir::attn::VariantOp>();
  if (std::distance(variants.begin(), variants.end()) != 1)
    return makeError("expected one variant to compile; name it with --variant");
  mlir::attn::VariantOp variant = *variants.begin();
  auto flashes = variant.getBody().getOps<mlir::attn::FlashOp>();
  if (flashes.empty())
    return makeError("variant '" + variant.getSymName() + "' is not fused");
  mlir::attn::FlashOp flash = *flashes.begin();
  KernelSignature sig;
  sig.name = variant.getSymName().str();
  sig.elemCType = cTypeOf(flash.getQuery().getType().getElementType());
  sig.hasLse = flash.returnsLse();
  if (mlir::attn::ScheduleAttr schedule = flash.getScheduleAttr())
    sig.tileQ = schedule.getTileQ();
  sig.headDim = flash.getQuery().getType().getDimSize(3);
  sig.valueHeadDim = flash.getValue().getType().getDimSize(3);
  for (mlir::BlockArgument param : variant.getParams()) {
    KernelSignature::Param p;
    p.name = variant.getArgumentName(param.getArgNumber());
    auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(param.getType());
    p.cType = cTypeOf(tensor ? tensor.getElementType() : param.getType());
    p.rank = tensor ? tensor.getRank() : 0;
    sig.params.push_back(p);
  }
  return sig;
}

llvm::Expected<std::unique_ptr<llvm::Module>>
attnc::translateCPUModule(mlir::ModuleOp module, llvm::LLVMContext &context) {
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

void attnc::addPackedEntry(llvm::Module &module, llvm::StringRef kernel) {
  llvm::Function *callee = module.getFunction(kernel);
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptr = llvm::PointerType::get(ctx, 0);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
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

llvm::Expected<std::string> attnc::emitHostObject(llvm::Module &module) {
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

llvm::Error attnc::writeHostObject(llvm::Module &module, llvm::StringRef path) {
  llvm::Expected<std::string> object = emitHostObject(module);
  if (!object)
    return object.takeError();
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  out << *object;
  return llvm::Error::success();
}

namespace attnc {
/// The text of runtime/attnc/memref.h, embedded at build time.
std::string_view getMemRefHeader();
} // namespace attnc

std::string attnc::generateCHeader(const KernelSignature &sig, bool gpu) {
  std::string entry = gpu ? sig.name + "_cuda"
                          : "_mlir_ciface_" + mlir::attn::getCPUKernelName(sig.name);
  std::string guard = "ATTNC_" + llvm::StringRef(sig.name).upper() + "_H";
  std::string h;
  llvm::raw_string_ostream os(h);
  os << "/* Generated by attnc for the variant '" << sig.name << "'. */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n"
     << "#include <stdbool.h>\n#include <stdint.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << "/* A strided view: element pointer (twice), offset, sizes and strides\n"
     << "   in elements. The kernel needs unit innermost strides for q, k, v,\n"
     << "   out and lse. */\n";
  // The typedefs are the runtime's, so that this header and the AOT objects
  // agree.
  os << getMemRefHeader();
  os << "\n/* q [B, H, N, D], k [B, Hkv, M, D], v [B, Hkv, M, Dv] and out\n"
     << "   [B, H, N, Dv] hold " << sig.elemCType
     << (sig.elemCType == "uint16_t" ? " (f16 or bf16 bits)" : "") << ";";
  if (sig.hasLse)
    os << " lse [B, H, N] holds float;";
  os << " status[0] must be 0\n   on entry and names (1 + the param's position) "
     << "when a param was read\n   out of bounds. ";
  if (gpu)
    os << "Every view, status included, is in device memory;\n"
       << "   16-bit float scalars pass as their bits. The kernels run on `stream`\n"
       << "   (a cudaStream_t; 0 for the default stream); the call returns 0 or\n"
       << "   a cudaError_t: cudaErrorInvalidValue (1) for views the kernel\n"
       << "   cannot take (sizes that disagree, head dims other than D = " << sig.headDim
       << " and Dv = " << sig.valueHeadDim
       << ",\n   q, k or v rows not 16-byte aligned or out rows not 4-byte aligned,\n"
       << "   a non-unit innermost stride)";
  else
    os << "The kernel computes work items "
       << "[begin, end) of\n   B * H * ceil(N / " << sig.tileQ
       << ") (batch, head, " << sig.tileQ << "-row query tile); disjoint\n"
       << "   ranges may run on different threads at once";
  if (gpu && sig.hasLse)
    os << ";\n   lse may be null";
  os << ". */\n"
     << "#define ATTNC_" << llvm::StringRef(sig.name).upper() << "_TILE_Q "
     << sig.tileQ << "\n"
     << (gpu ? "int " : "void ") << entry << "(attnc_memref4 *q, attnc_memref4 *k, "
     << "attnc_memref4 *v, attnc_memref4 *out";
  if (sig.hasLse)
    os << ", attnc_memref3 *lse";
  for (const KernelSignature::Param &p : sig.params) {
    if (p.rank)
      os << ", attnc_memref" << p.rank << " *" << p.name << " /* " << p.cType
         << " */";
    else
      os << ", " << p.cType << " " << p.name;
  }
  os << ", attnc_memref1 *status /* int32_t */"
     << (gpu ? ", void *stream);\n\n" : ", int64_t begin, int64_t end);\n\n")
     << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h;
}
