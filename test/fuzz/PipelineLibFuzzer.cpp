//===- PipelineLibFuzzer.cpp - coverage-guided variants, whole pipeline ---===//
//
// libFuzzer's bytes make the decisions of VariantGenerator.h's grammar
// (ByteChoices), so every input is a well-typed variant and the compiler's
// coverage steers which variants are tried; each goes through the whole
// pipeline to a CPU run checked against the reference (CheckVariant.h),
// under ASan and UBSan (scripts/sanitize.sh's build). A mismatch or a
// pipeline failure prints the variant and traps, and libFuzzer keeps the
// input; its variant belongs in test/fuzz/pipeline-corpus as a .attn file.
// ATTNC_FUZZ_PRINT=1 prints every variant (to read a reproducer back).
// Seeds: test/fuzz/pipeline-seeds, random bytes (any bytes are a variant).
// Run by scripts/sanitize.sh fuzz.
//
//===----------------------------------------------------------------------===//

#include "CheckVariant.h"
#include "VariantGenerator.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Kernels stay in the compiler's memory cache: a fresh compiler now and
  // then bounds the process. No disk cache: every variant is new.
  static std::unique_ptr<attnc::Compiler> compiler;
  static int uses = 0;
  if (!compiler || ++uses % 32 == 0) {
    attnc::CompilerOptions options;
    options.cacheDir = "";
    compiler.reset();
    compiler = std::make_unique<attnc::Compiler>(options);
  }
  static const bool print = std::getenv("ATTNC_FUZZ_PRINT");
  attnc::fuzz::Generator<attnc::fuzz::ByteChoices> generator({data, size});
  std::string source = generator.variant();
  if (print)
    llvm::errs() << source;
  // The shape and the inputs from the bytes too: FNV-1a of the input.
  uint64_t seed = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i)
    seed = (seed ^ data[i]) * 1099511628211ull;
  int rejected = 0;
  if (!attnc::fuzz::checkVariant(*compiler, source, seed, rejected))
    __builtin_trap();
  return 0;
}
