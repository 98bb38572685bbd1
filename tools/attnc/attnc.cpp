//===- attnc.cpp - the attnc command-line compiler ------------------------===//

#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Transforms/Passes.h"
#include "Transforms/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace {
enum class Emit { MLIR, Fused };

cl::OptionCategory attncCategory("attnc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<FILE.attn>"),
                               cl::Required, cl::cat(attncCategory));
cl::opt<std::string> outputFile("o", cl::desc("Write the output to <file> "
                                              "(default: standard output)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(attncCategory));
cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::MLIR),
    cl::values(clEnumValN(Emit::MLIR, "mlir",
                          "the cascade in the attn dialect, as written"),
               clEnumValN(Emit::Fused, "fused",
                          "the IR after canonicalize and attn-fuse: one "
                          "attn.flash per variant")),
    cl::cat(attncCategory));
cl::opt<std::string> dtype("dtype",
                           cl::desc("Element type of q, k, v and out: f32 "
                                    "(default), bf16 or f16"),
                           cl::init("f32"), cl::cat(attncCategory));
cl::opt<int64_t> headDim("head-dim",
                         cl::desc("Fix the head dim D at compile time "
                                  "(default: given at run time)"),
                         cl::init(0), cl::cat(attncCategory));

constexpr const char *kOverview = R"(attnc: compiles attention variants.

  attnc FILE.attn                  print the variants of FILE as the attn cascade
  attnc FILE.attn --emit=fused     print them fused, one attn.flash each
  attnc FILE.attn -o out.mlir      write to a file

A variant is written in the attnc language (docs/language.md), e.g.

  attention alibi_causal(slopes: f32[H]) {
    score = score + slopes[h] * (kv_idx - q_idx)
    mask  = causal()
  }

Errors are reported as FILE:LINE:COL with the source line and a caret; the
exit status is 1 when there is any. MLIR's own flags (--mlir-print-ir-after-all,
--mlir-timing, --mlir-print-debuginfo, ...) are accepted as well; --help-hidden
lists them.
)";
} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // Pass names for --mlir-print-ir-after=... and friends, registered before
  // the options that parse them.
  mlir::registerCanonicalizerPass();
  mlir::attn::registerAttnPasses();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions(attncCategory);
  cl::ParseCommandLineOptions(argc, argv, kOverview);

  std::optional<attnc::ast::ScalarType> elem = attnc::ast::parseScalarType(dtype);
  if (!elem || !attnc::ast::isFloat(*elem)) {
    errs() << "attnc: error: --dtype must be f32, bf16 or f16; got '" << dtype
           << "'\n";
    return 1;
  }
  if (headDim < 0 || headDim > 1024) {
    errs() << "attnc: error: --head-dim must be between 1 and 1024\n";
    return 1;
  }

  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/true);
  if (std::error_code ec = buffer.getError()) {
    errs() << "attnc: error: cannot read '" << inputFile << "': "
           << ec.message() << "\n";
    return 1;
  }
  attnc::SourceFile file(inputFile, (*buffer)->getBuffer().str());
  attnc::DiagnosticEngine diags;
  auto variants = attnc::parseAndCheck(file, diags);
  if (!variants) {
    errs() << diags.render();
    return 1;
  }

  mlir::MLIRContext ctx;
  // Errors found after the frontend still point into the user's file.
  SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), SMLoc());
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);

  attnc::EmitOptions options{*elem, headDim ? std::optional<int64_t>(headDim)
                                            : std::nullopt};
  auto configure = [](mlir::PassManager &pm) {
    mlir::applyDefaultTimingPassManagerCLOptions(pm);
    return mlir::applyPassManagerCLOptions(pm);
  };
  mlir::OwningOpRef<mlir::ModuleOp> module =
      attnc::buildModule(ctx, *variants, options, emit == Emit::Fused, configure);
  if (!module)
    return 1;

  std::string error;
  std::unique_ptr<ToolOutputFile> output = mlir::openOutputFile(outputFile, &error);
  if (!output) {
    errs() << "attnc: error: " << error << "\n";
    return 1;
  }
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
