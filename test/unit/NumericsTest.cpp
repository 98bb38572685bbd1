//===- NumericsTest.cpp - every example on the CPU against the reference --===//
//
// Each example, in f32 and bf16, on shapes that are not multiples of the
// tiles, with N = 1, N = M = 1, N != M, GQA, non-contiguous strides and rows
// whose keys are all masked; outputs are poisoned before every run and
// compared with the float64 reference under the dtype's tolerance
// (attnc::getTolerance).
//
//===----------------------------------------------------------------------===//

#include "Check/Check.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace attnc;

namespace {

struct Case {
  const char *what;
  AttnSizes sizes;
  bool strided;
};

// M <= N keeps document ids (one per query position) in bounds for keys.
const Case kCases[] = {
    {"odd sizes", {2, 3, 3, 37, 37, 24, 24}, false},
    {"N = 1", {1, 2, 1, 1, 1, 16, 16}, false},
    {"N = M = 1, tiny D", {1, 1, 1, 1, 1, 3, 3}, false},
    {"N != M (M < N)", {1, 4, 2, 45, 19, 32, 32}, false},
    {"GQA 8:2, D = 64", {1, 8, 2, 33, 33, 64, 64}, false},
    {"strided, Dv != D", {2, 2, 1, 17, 17, 20, 12}, true},
};

std::string read(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void checkAll(Compiler &compiler, const std::string &name,
              const std::string &source, DType dtype) {
  CompileOptions options;
  options.dtype = dtype;
  // Small tiles: several work items, and empty, partial and full key tiles,
  // even at these sizes.
  options.tileQ = 8;
  options.tileKv = 8;
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, name);
  if (!kernel)
    FAIL(name << ": " << llvm::toString(kernel.takeError()));
  for (const Case &c : kCases) {
    CheckOptions check;
    check.sizes = c.sizes;
    check.strided = c.strided;
    check.seed = 11;
    llvm::Expected<CheckResult> result = checkKernel(*kernel, source, "", check);
    INFO(name << " " << toString(dtype) << " " << c.what);
    if (!result)
      FAIL(llvm::toString(result.takeError()));
    INFO("first bad: " << result->firstBad << "; bad elements: "
                       << result->badElements << "; max abs error "
                       << result->maxAbsError);
    CHECK(result->passed);
  }
}

} // namespace

TEST_CASE("numerics: every example on the CPU, f32 and bf16", "[numerics]") {
  Compiler compiler;
  for (const auto &entry : std::filesystem::directory_iterator(
           std::string(ATTNC_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".attn")
      continue;
    std::string source = read(entry.path());
    for (DType dtype : {DType::F32, DType::BF16})
      checkAll(compiler, entry.path().filename().string(), source, dtype);
  }
}

TEST_CASE("numerics: fully masked rows give 0 and lse -inf, never NaN",
          "[numerics]") {
  Compiler compiler;
  // Odd rows and rows past 5 keep no key at all.
  checkAll(compiler, "masked_rows",
           "attention masked_rows() { mask = q_idx % 2 == 0 && q_idx < 5 && "
           "kv_idx <= q_idx }",
           DType::F32);
  // A score_mod that makes every kept score -inf behaves as masked.
  checkAll(compiler, "minus_inf",
           "attention minus_inf() { score = q_idx > 3 ? -1.0 / 0.0 : score }",
           DType::F32);
  // f16, and the other normalizers with temperature and bias.
  checkAll(compiler, "relu_f16",
           "attention relu_f16() { normalize = relu(score / 2.0 - 0.1) mask = "
           "causal() }",
           DType::F16);
}
