//===- BackwardTest.cpp - the reference's gradients, by finite differences ===//
//
// evaluateReferenceBackward against central differences of
// evaluateReference, on tiny shapes: every example (odd sizes, GQA 2:1, N !=
// M where the variant allows it) for dq, dk, dv and the gradient of every
// float param, a learnable bias of its own, a sink, and fully masked rows.
//
//===----------------------------------------------------------------------===//

#include "CompileVariant.h"
#include "Reference/RandomInputs.h"
#include "Reference/Reference.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace attnc;

namespace {

/// L = sum(out * dout), in float64.
double loss(mlir::attn::VariantOp variant, const RefInputs &in,
            const RefArray &dout) {
  llvm::Expected<RefOutputs> out = evaluateReference(variant, in);
  REQUIRE(bool(out));
  double l = 0;
  for (size_t i = 0; i < dout.data.size(); ++i)
    l += out->out.data[i] * dout.data[i];
  return l;
}

/// Compares `grad` with central differences of the loss in every element
/// of `array` (a part of `in`).
void checkArray(const std::string &what, mlir::attn::VariantOp variant,
                RefInputs &in, RefArray &array, const RefArray &grad,
                const RefArray &dout) {
  REQUIRE(grad.data.size() == array.data.size());
  const double h = 1e-6;
  // Large params (a table indexed by a `?` size): the elements read, and a
  // sample of the others.
  const bool sample = array.data.size() > 256;
  for (size_t i = 0; i < array.data.size(); ++i) {
    if (sample && grad.data[i] == 0 && i % 37 != 0)
      continue;
    const double x = array.data[i];
    array.data[i] = x + h;
    const double up = loss(variant, in, dout);
    array.data[i] = x - h;
    const double down = loss(variant, in, dout);
    array.data[i] = x;
    const double numeric = (up - down) / (2 * h), analytic = grad.data[i];
    INFO(what << "[" << i << "]: finite differences " << numeric
              << ", backward " << analytic);
    CHECK(std::isfinite(analytic));
    CHECK(std::fabs(numeric - analytic) <= 1e-6 + 1e-5 * std::fabs(numeric));
  }
}

/// Checks every gradient of `variant` at random inputs of `sizes`.
void checkGradients(const std::string &name, mlir::attn::VariantOp variant,
                    const AttnSizes &sizes, uint64_t seed) {
  INFO(name);
  RefInputs in = makeRandomInputs(variant, sizes, seed, /*anySize=*/300,
                                  /*idRange=*/3);
  RefArray dout;
  dout.shape = {sizes.batch, sizes.heads, sizes.queries, sizes.valueDim};
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> uniform(-1, 1);
  dout.data.resize(dout.numElements());
  for (double &x : dout.data)
    x = uniform(rng);
  llvm::Expected<RefGradients> grads =
      evaluateReferenceBackward(variant, in, dout);
  INFO((grads ? "" : llvm::toString(grads.takeError())));
  REQUIRE(bool(grads));
  checkArray("dq", variant, in, in.q, grads->dq, dout);
  checkArray("dk", variant, in, in.k, grads->dk, dout);
  checkArray("dv", variant, in, in.v, grads->dv, dout);
  for (auto [i, param] : llvm::enumerate(variant.getParams())) {
    mlir::Type type = param.getType();
    if (auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(type))
      type = tensor.getElementType();
    if (!llvm::isa<mlir::FloatType>(type))
      continue;
    checkArray("d" + variant.getArgumentName(param.getArgNumber()), variant, in,
               in.params[i], grads->dparams[i], dout);
  }
}

/// The backward at random inputs of `sizes` for dout = 1 everywhere.
llvm::Expected<RefGradients> backwardOfOnes(mlir::attn::VariantOp variant,
                                            const AttnSizes &sizes) {
  RefInputs in = makeRandomInputs(variant, sizes, 5);
  RefArray dout;
  dout.shape = {sizes.batch, sizes.heads, sizes.queries, sizes.valueDim};
  dout.data.assign(dout.numElements(), 1.0);
  return evaluateReferenceBackward(variant, in, dout);
}

std::string read(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

TEST_CASE("backward reference: every example against finite differences",
          "[reference][backward]") {
  for (const auto &entry : std::filesystem::directory_iterator(
           std::string(ATTNC_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".attn")
      continue;
    const std::string name = entry.path().filename().string();
    // A block selection is a hard mask whose blocks finite differences
    // would flip at the check's exact ties; its backward is refused.
    // Branches have no backward yet (refused: NumericsTest).
    if (name == "moba.attn" || name == "differential.attn")
      continue;
    std::string source = read(entry.path());
    test::CompiledVariant c = test::compileVariant(source, /*fuse=*/true);
    // Document ids have shape [N] and are read at kv_idx: M <= N there.
    const bool byPosition = name == "document.attn";
    checkGradients(name, c.variant(), {1, 2, 1, 6, byPosition ? 6 : 9, 4, 3},
                   7);
  }
}

TEST_CASE("backward reference: a learnable bias and scalar",
          "[reference][backward]") {
  test::CompiledVariant c = test::compileVariant(R"(
    attention learned(bias: f32[H, N, M], gain: f32 = 0.7) {
      score = gain * tanh(score) + bias[h, q_idx, kv_idx] * (q_idx - kv_idx)
      mask = causal()
      output = o * gain + exp(-o)
    })",
                                                 /*fuse=*/true);
  checkGradients("learned", c.variant(), {2, 2, 2, 5, 5, 3, 4}, 11);
}

TEST_CASE("backward reference: a sink's gradient, through its region",
          "[reference][backward]") {
  // A per-head sink times a scalar, and rows that keep nothing (their
  // weight all on the sink: no gradient).
  test::CompiledVariant c = test::compileVariant(R"(
    attention sinks(sinks: f32[H], w: f32 = 0.8) {
      mask = kv_idx <= q_idx && q_idx != 2
      sink = sinks[h] * w - 0.5
      output = o * o
    })",
                                                 /*fuse=*/true);
  checkGradients("sinks", c.variant(), {2, 2, 1, 5, 6, 3, 4}, 13);
}

TEST_CASE("backward reference: output statements that read lse and row_sum",
          "[reference][backward]") {
  // Softmax with and without a sink (rows that keep nothing: the sink
  // alone, or lse -inf, where a param times lse would have the derivative
  // 0 * inf), and the other normalizers' row sums.
  const char *sources[] = {
      R"(attention a(g: f32 = 0.5) {
        mask = kv_idx <= q_idx && q_idx != 2
        output = o * sigmoid(lse) * g + g * row_sum * o
      })",
      R"(attention b(sinks: f32[H], g: f32 = 0.7) {
        mask = kv_idx <= q_idx && q_idx != 2
        sink = sinks[h] * g
        output = o * tanh(lse) + row_sum * row_sum + g * lse
      })",
      R"(attention c(bias: f32[H]) {
        normalize = sigmoid(score + bias[h])
        output = o / (1.0 + row_sum) + 0.1 * row_sum
      })",
      R"(attention d() {
        normalize = relu(score - 0.1)
        output = o * row_sum
      })",
  };
  for (const char *source : sources) {
    test::CompiledVariant c = test::compileVariant(source, /*fuse=*/true);
    checkGradients(source, c.variant(), {2, 2, 1, 5, 6, 3, 4}, 17);
  }
}

TEST_CASE("backward reference: the other normalizers",
          "[reference][backward]") {
  for (const char *normalizer : {"sigmoid", "relu", "none"}) {
    test::CompiledVariant c = test::compileVariant(
        std::string("attention norm(slopes: f32[H]) {\n"
                    "  score = score + slopes[h] * (kv_idx - q_idx)\n"
                    "  normalize = ") +
            normalizer + "\n}\n",
        /*fuse=*/true);
    checkGradients(normalizer, c.variant(), {1, 2, 1, 4, 7, 5, 3}, 3);
  }
}

TEST_CASE("backward reference: fully masked rows give zero gradients",
          "[reference][backward]") {
  test::CompiledVariant c = test::compileVariant(R"(
    attention none_kept() {
      mask = q_idx < 0
    })",
                                                 /*fuse=*/true);
  llvm::Expected<RefGradients> grads =
      backwardOfOnes(c.variant(), {1, 2, 1, 3, 4, 4, 4});
  REQUIRE(bool(grads));
  for (const RefArray *g : {&grads->dq, &grads->dk, &grads->dv})
    for (double x : g->data)
      CHECK(x == 0.0);
}

TEST_CASE("backward reference: an unfused cascade is refused",
          "[reference][backward]") {
  test::CompiledVariant c = test::compileVariant(
      "attention plain() {\n  mask = causal()\n}\n", /*fuse=*/false);
  llvm::Expected<RefGradients> grads =
      backwardOfOnes(c.variant(), {1, 1, 1, 2, 2, 4, 4});
  REQUIRE(!bool(grads));
  CHECK(llvm::toString(grads.takeError()).find("fused") != std::string::npos);
}
