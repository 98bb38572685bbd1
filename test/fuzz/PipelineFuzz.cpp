//===- PipelineFuzz.cpp - random variants through the whole pipeline ------===//
//
// Variants from the grammar of VariantGenerator.h, drawn from a seed, each
// compiled for the CPU and run on a tiny shape with small tiles against the
// float64 reference (CheckVariant.h).
//
//   attn-pipeline-fuzz SECONDS [SEED] [CORPUS_DIR] [MAX_VARIANTS]
// replays every .attn of CORPUS_DIR first (variants that once failed), then
// generates variants for SECONDS or until MAX_VARIANTS (the sequence is a
// function of SEED: a bounded run checks a prefix of it, the same on every
// machine). A failing variant is printed with its
// shape and seed; exit status 1 then.
//
//===----------------------------------------------------------------------===//

#include "CheckVariant.h"
#include "VariantGenerator.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using attnc::fuzz::checkVariant;

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const long maxVariants = argc > 4 ? std::atol(argv[4]) : -1;
  // No disk cache: every variant is new.
  attnc::CompilerOptions compilerOptions;
  compilerOptions.cacheDir = "";
  attnc::Compiler compiler(compilerOptions);
  int checked = 0, rejected = 0, failed = 0;
  if (argc > 3)
    for (const auto &entry : std::filesystem::directory_iterator(argv[3])) {
      if (entry.path().extension() != ".attn")
        continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      failed += !checkVariant(compiler, text.str(), seed, rejected);
      ++checked;
    }
  attnc::fuzz::Generator generator(attnc::fuzz::RandomChoices{seed});
  const auto start = std::chrono::steady_clock::now();
  int generated = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                 .count() < seconds &&
         (maxVariants < 0 || generated < maxVariants)) {
    ++generated;
    std::string source = generator.variant();
    failed += !checkVariant(compiler, source, seed + checked, rejected);
    ++checked;
    if (failed >= 5)
      break;
  }
  std::printf("pipeline fuzz: %d variants (%d refused by the checker), %d "
              "failed\n",
              checked, rejected, failed);
  return failed ? 1 : 0;
}
