//===- PipelineFuzz.cpp - random well-typed variants, the whole pipeline
//---===//
//
// A grammar-driven generator of well-typed variants (score_mods over score,
// params and index math; masks of comparisons, the standard library's masks
// and their logic; sinks; output_mods, some reading the row's lse and
// row_sum) that drives each through the whole pipeline
// down to a CPU run on a tiny shape with small tiles, compared against the
// float64 reference (checkKernel). The reference is the differential
// oracle for the kernel and, through the tiles' classes, for the block
// analysis (a wrong empty or full tile gives a wrong output). Integer
// constants include values near the edges of int64.
//
//   attn-pipeline-fuzz SECONDS [SEED] [CORPUS_DIR] [MAX_VARIANTS]
// replays every .attn of CORPUS_DIR first (variants that once failed), then
// generates variants for SECONDS or until MAX_VARIANTS (the sequence is a
// function of SEED: a bounded run checks a prefix of it, the same on every
// machine). A failing variant is printed with its
// shape and seed; exit status 1 then.
//
//===----------------------------------------------------------------------===//

#include "Check/Check.h"
#include "Frontend/Frontend.h"
#include "attnc/attnc.h"

#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace {

class Generator {
public:
  explicit Generator(uint64_t seed) : rng(seed) {}

  std::string variant() {
    std::string text = "attention fuzz(slopes: f32[H], doc: i32[N], w: i32 = " +
                       std::to_string(pick(0, 9)) + ", g: f32 = 0.5) {\n";
    if (chance(0.8))
      text += "  score = " + floating(3) + "\n";
    if (chance(0.85))
      text += "  mask = " + boolean(3) + "\n";
    if (chance(0.2))
      text += "  sink = slopes[h] * (" + floatConst() + ")\n";
    if (chance(0.25))
      text += "  output = o * (" + floatConst() + ") + slopes[h]" +
              (chance(0.3) ? " + row_sum * sigmoid(lse)" : "") + "\n";
    return text + "}\n";
  }

private:
  std::mt19937_64 rng;
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

  std::string intConst() {
    // Mostly small; sometimes near the edges of int64.
    if (chance(0.1)) {
      const char *edges[] = {"9223372036854775807", "4611686018427387904",
                             "9223372036854775800", "3074457345618258603",
                             "2147483647",          "2147483648"};
      return std::string(chance(0.5) ? "-" : "") + edges[pick(0, 5)];
    }
    return std::to_string(pick(-3, 20));
  }
  std::string floatConst() {
    const char *values[] = {"0.5", "2.0", "-1.25", "0.1", "3.0"};
    return values[pick(0, 4)];
  }
  std::string index(int depth) {
    if (depth <= 0 || chance(0.35)) {
      const char *leaves[] = {"q_idx", "kv_idx",     "h",          "b",
                              "w",     "doc[q_idx]", "doc[kv_idx]"};
      return chance(0.3) ? intConst() : leaves[pick(0, 6)];
    }
    switch (pick(0, 6)) {
    case 0:
      return "(" + index(depth - 1) + " + " + index(depth - 1) + ")";
    case 1:
      return "(" + index(depth - 1) + " - " + index(depth - 1) + ")";
    case 2:
      return "(" + index(depth - 1) + " * " + index(depth - 1) + ")";
    case 3:
      return "(" + index(depth - 1) + " / " + index(depth - 1) + ")";
    case 4:
      return "(" + index(depth - 1) + " % " + index(depth - 1) + ")";
    case 5:
      return std::string(chance(0.5) ? "min(" : "max(") + index(depth - 1) +
             ", " + index(depth - 1) + ")";
    default:
      return "abs(" + index(depth - 1) + ")";
    }
  }
  std::string boolean(int depth) {
    if (depth <= 0 || chance(0.3)) {
      switch (pick(0, 4)) {
      case 0:
        return "causal()";
      case 1:
        return "sliding_window(" + std::to_string(pick(1, 8)) + ")";
      case 2:
        return "document(doc)";
      default: {
        const char *ops[] = {"<", "<=", "==", "!=", ">", ">="};
        return "(" + index(2) + " " + ops[pick(0, 5)] + " " + index(2) + ")";
      }
      }
    }
    switch (pick(0, 3)) {
    case 0:
      return "(" + boolean(depth - 1) + " && " + boolean(depth - 1) + ")";
    case 1:
      return "(" + boolean(depth - 1) + " || " + boolean(depth - 1) + ")";
    case 2:
      return "!" + boolean(depth - 1);
    default:
      return "(" + boolean(depth - 1) + " ? " + boolean(depth - 1) + " : " +
             boolean(depth - 1) + ")";
    }
  }
  std::string floating(int depth) {
    if (depth <= 0 || chance(0.3)) {
      switch (pick(0, 3)) {
      case 0:
        return "score";
      case 1:
        return floatConst();
      case 2:
        return "slopes[h]";
      default:
        // Index math as a float, kept small: the kernel's f32 must agree.
        return "(" + index(1) + " % 7)";
      }
    }
    switch (pick(0, 5)) {
    case 0:
      return "(" + floating(depth - 1) + " + " + floating(depth - 1) + ")";
    case 1:
      return "(" + floating(depth - 1) + " - " + floating(depth - 1) + ")";
    case 2:
      return "(" + floating(depth - 1) + " * g)";
    case 3:
      return "tanh(" + floating(depth - 1) + ")";
    case 4:
      return "(" + boolean(1) + " ? " + floating(depth - 1) + " : " +
             floating(depth - 1) + ")";
    default:
      return std::string(chance(0.5) ? "min(" : "max(") + floating(depth - 1) +
             ", " + floating(depth - 1) + ")";
    }
  }
};

/// Compiles and checks one variant; false (printing why) when the kernel
/// and the reference disagree or the pipeline fails after the checker
/// accepted the source. Sources the checker refuses count as `rejected`.
bool check(attnc::Compiler &compiler, const std::string &source, uint64_t seed,
           int &rejected) {
  // The checker's own answer first: what it refuses (a constant divisor 0,
  // a literal past f32, ...) is the language's; once it accepts, any failure
  // of the pipeline is a finding.
  attnc::SourceFile file("fuzz.attn", source);
  attnc::DiagnosticEngine diags;
  if (!attnc::parseAndCheck(file, diags)) {
    ++rejected;
    return true;
  }
  attnc::CompileOptions options;
  options.tileQ = 4;
  options.tileKv = 4;
  llvm::Expected<attnc::Kernel> kernel = compiler.compile(source, "", options);
  if (!kernel) {
    llvm::errs() << "pipeline failure:\n"
                 << source << llvm::toString(kernel.takeError()) << "\n";
    return false;
  }
  std::mt19937_64 rng(seed);
  attnc::CheckOptions check;
  // doc is read at kv_idx: M = N.
  int64_t n = std::uniform_int_distribution<int64_t>(1, 13)(rng);
  check.sizes = {1 + int64_t(rng() % 2), 2, 1 + int64_t(rng() % 2), n, n, 4, 3};
  check.sizes.heads = check.sizes.kvHeads * 2;
  check.seed = seed;
  check.threads = 1;
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
    llvm::errs() << "mismatch (seed " << seed << ", N = " << n << "):\n"
                 << source << result->firstBad << "\n";
    return false;
  }
  return true;
}

} // namespace

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
      failed += !check(compiler, text.str(), seed, rejected);
      ++checked;
    }
  Generator generator(seed);
  const auto start = std::chrono::steady_clock::now();
  int generated = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                 .count() < seconds &&
         (maxVariants < 0 || generated < maxVariants)) {
    ++generated;
    std::string source = generator.variant();
    failed += !check(compiler, source, seed + checked, rejected);
    ++checked;
    if (failed >= 5)
      break;
  }
  std::printf("pipeline fuzz: %d variants (%d refused by the checker), %d "
              "failed\n",
              checked, rejected, failed);
  return failed ? 1 : 0;
}
