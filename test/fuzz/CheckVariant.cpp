//===- CheckVariant.cpp - one fuzzed variant through the pipeline ---------===//
//
// The differential oracle of the pipeline fuzzers: the reference checks the
// kernel and, through the tiles' classes, the block analysis (a wrong empty
// or full tile gives a wrong output).
//
//===----------------------------------------------------------------------===//

#include "CheckVariant.h"
#include "Check/Check.h"
#include "Frontend/Frontend.h"

#include "llvm/Support/raw_ostream.h"

#include <random>

bool attnc::fuzz::checkVariant(Compiler &compiler, const std::string &source,
                               uint64_t seed, int &rejected) {
  // The checker's own answer first: what it refuses (a constant divisor 0,
  // a literal past f32, ...) is the language's; once it accepts, any failure
  // of the pipeline is a finding.
  attnc::SourceFile file("fuzz.attn", source);
  attnc::DiagnosticEngine diags;
  if (!attnc::parseAndCheck(file, diags)) {
    ++rejected;
    return true;
  }
  // The family and the dtype from the seed too: the decode family (a kv
  // head's query heads packed in a tile, keys split across threads) and
  // bf16 storage beside the tiles in f32.
  std::mt19937_64 rng(seed);
  attnc::CompileOptions options;
  options.tileQ = 4;
  options.tileKv = 4;
  // cpu_decode refuses branches (the generator's `branches =`).
  const bool decode = rng() % 3 == 0 &&
                      source.find("branches =") == std::string::npos;
  if (decode)
    options.kernelFamily = "cpu_decode";
  if (rng() % 4 == 0)
    options.dtype = attnc::DType::BF16;
  llvm::Expected<attnc::Kernel> kernel = compiler.compile(source, "", options);
  if (!kernel) {
    llvm::errs() << "pipeline failure:\n"
                 << source << llvm::toString(kernel.takeError()) << "\n";
    return false;
  }
  attnc::CheckOptions check;
  // doc is read at kv_idx: M = N.
  int64_t n = std::uniform_int_distribution<int64_t>(1, 13)(rng);
  check.sizes = {1 + int64_t(rng() % 2), 2, 1 + int64_t(rng() % 2), n, n, 4, 3};
  check.sizes.heads = check.sizes.kvHeads * 2;
  check.seed = seed;
  check.threads = decode ? 1 + int(rng() % 3) : 1;
  check.idRange = 3;
  check.strided = rng() % 2;
  llvm::Expected<attnc::CheckResult> result =
      attnc::checkKernel(*kernel, source, kernel->getName(), check);
  if (!result) {
    llvm::errs() << "check failure:\n"
                 << source << llvm::toString(result.takeError()) << "\n";
    return false;
  }
  if (!result->passed) {
    llvm::errs() << "mismatch (seed " << seed << ", N = " << n << ", "
                 << (decode ? "cpu_decode" : "cpu_tiles") << ", "
                 << attnc::toString(options.dtype) << "):\n"
                 << source << result->firstBad << "\n";
    return false;
  }
  return true;
}
