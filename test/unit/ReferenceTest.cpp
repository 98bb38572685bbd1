//===- ReferenceTest.cpp - the float64 reference --------------------------===//
//
// The reference against an independent direct computation, its edge cases
// (fully masked rows, GQA), its errors, and every example's cascade against
// its fused attn.flash: the fuse pass must not change what a variant means.
//
//===----------------------------------------------------------------------===//

#include "Reference/Reference.h"
#include "CompileVariant.h"
#include "Reference/RandomInputs.h"
#include "dialect/AttnOps.h"

#include "mlir/IR/MLIRContext.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

using namespace attnc;
using namespace mlir;

namespace {

using Compiled = test::CompiledVariant;

Compiled compile(const std::string &source, bool fuse) {
  return test::compileVariant(source, fuse);
}

RefOutputs evaluate(attn::VariantOp variant, const RefInputs &inputs) {
  llvm::Expected<RefOutputs> out = evaluateReference(variant, inputs);
  if (!out)
    FAIL(llvm::toString(out.takeError()));
  return std::move(*out);
}

double maxAbsDiff(const RefArray &a, const RefArray &b) {
  REQUIRE(a.shape == b.shape);
  double worst = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (std::isinf(a.data[i]) && a.data[i] == b.data[i])
      continue;
    worst = std::max(worst, std::fabs(a.data[i] - b.data[i]));
  }
  return worst;
}

} // namespace

TEST_CASE("reference: dense softmax matches a direct computation",
          "[reference]") {
  Compiled c = compile("attention dense() {}", /*fuse=*/false);
  AttnSizes sizes{2, 4, 2, 5, 7, 8, 8};
  RefInputs in = makeRandomInputs(c.variant(), sizes, 1);
  RefOutputs out = evaluate(c.variant(), in);
  REQUIRE(out.out.shape == std::vector<int64_t>{2, 4, 5, 8});
  REQUIRE(out.lse.shape == std::vector<int64_t>{2, 4, 5});
  // Direct: softmax(q k^T / sqrt(D)) v, with head h reading kv head h / 2.
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 4; ++h)
      for (int i = 0; i < 5; ++i) {
        std::vector<double> s(7);
        double m = -1e300, l = 0;
        for (int j = 0; j < 7; ++j) {
          double dot = 0;
          for (int d = 0; d < 8; ++d)
            dot += in.q.data[((b * 4 + h) * 5 + i) * 8 + d] *
                   in.k.data[((b * 2 + h / 2) * 7 + j) * 8 + d];
          s[j] = dot / std::sqrt(8.0);
          m = std::max(m, s[j]);
        }
        for (double x : s)
          l += std::exp(x - m);
        CHECK(out.lse.data[(b * 4 + h) * 5 + i] == Approx(m + std::log(l)));
        for (int d = 0; d < 8; ++d) {
          double o = 0;
          for (int j = 0; j < 7; ++j)
            o += std::exp(s[j] - m) / l *
                 in.v.data[((b * 2 + h / 2) * 7 + j) * 8 + d];
          CHECK(out.out.data[((b * 4 + h) * 5 + i) * 8 + d] ==
                Approx(o).margin(1e-12));
        }
      }
}

TEST_CASE("reference: causal row 0 is v[0]; masked rows are 0 and -inf",
          "[reference]") {
  Compiled c = compile(
      "attention a(len: i32[B]) { mask = causal() && key_padding(len) }",
      /*fuse=*/true);
  AttnSizes sizes{2, 1, 1, 3, 3, 4, 4};
  RefInputs in = makeRandomInputs(c.variant(), sizes, 2);
  in.params[0].data = {3, 0}; // batch 1 has no key at all
  RefOutputs out = evaluate(c.variant(), in);
  for (int d = 0; d < 4; ++d)
    CHECK(out.out.data[d] == Approx(in.v.data[d]));
  for (int i = 0; i < 3; ++i) {
    CHECK(std::isinf(out.lse.data[3 + i]));
    CHECK(out.lse.data[3 + i] < 0);
    for (int d = 0; d < 4; ++d)
      CHECK(out.out.data[(3 + i) * 4 + d] == 0.0);
  }
}

TEST_CASE("reference: a sink joins the softmax sum; masked rows give lse = "
          "sink",
          "[reference]") {
  // Scores all 0 (q = 0): p = 1 / (exp(sink) + M) per key; the row sum is
  // M / (exp(sink) + M), lse log(exp(sink) + M). Rows past 2 keep nothing:
  // out 0, row_sum 0, lse = sink, exposed through output statements.
  for (bool fuse : {false, true}) {
    Compiled c = compile(R"(
      attention s(sinks: f32[H]) {
        mask = q_idx < 2
        sink = sinks[h]
        output = o + 10.0 * row_sum + 100.0 * lse
      })",
                         fuse);
    AttnSizes sizes{1, 2, 1, 3, 5, 2, 1};
    RefInputs in = makeRandomInputs(c.variant(), sizes, 3);
    for (double &x : in.q.data)
      x = 0;
    in.v.data = {1, 2, 3, 4, 5};
    in.params[0].data = {0.0, 1.5};
    RefOutputs out = evaluate(c.variant(), in);
    for (int h = 0; h < 2; ++h) {
      double sink = in.params[0].data[h], total = std::exp(sink) + 5;
      for (int i = 0; i < 3; ++i) {
        INFO("h " << h << " row " << i);
        double lse = i < 2 ? std::log(total) : sink;
        double o = i < 2 ? 15 / total : 0, rowSum = i < 2 ? 5 / total : 0;
        CHECK(out.lse.data[h * 3 + i] == Approx(lse));
        CHECK(out.out.data[h * 3 + i] == Approx(o + 10 * rowSum + 100 * lse));
      }
    }
  }
}

TEST_CASE("reference: +inf scores share the row; a NaN score gives NaN",
          "[reference]") {
  // Keys 1 and 3 score +inf: out is the mean of their values, lse +inf,
  // row_sum 1; with a +inf sink too, the sink takes a third and out is
  // two thirds of that. Row 1's key 2 scores NaN: out and lse are NaN.
  for (bool withSink : {false, true}) {
    std::string source = "attention a() {\n"
                         "  score = q_idx == 1 && kv_idx == 2 ? 0.0 / 0.0 : "
                         "(kv_idx % 2 == 1 ? 1.0 / 0.0 : score)\n"
                         "  output = o + 100.0 * row_sum\n";
    if (withSink)
      source += "  sink = 1.0 / 0.0\n";
    Compiled c = compile(source + "}", /*fuse=*/true);
    AttnSizes sizes{1, 1, 1, 2, 5, 2, 1};
    RefInputs in = makeRandomInputs(c.variant(), sizes, 4);
    in.v.data = {1, 2, 3, 4, 5};
    RefOutputs out = evaluate(c.variant(), in);
    double share = withSink ? 1.0 / 3 : 0.5;
    CHECK(out.lse.data[0] == std::numeric_limits<double>::infinity());
    CHECK(out.out.data[0] == Approx(share * (2 + 4) + 100 * 2 * share));
    CHECK(std::isnan(out.lse.data[1]));
    CHECK(std::isnan(out.out.data[1]));
  }
}

TEST_CASE("reference: row_sum is the sum of every normalizer's weights",
          "[reference]") {
  Compiled c = compile(R"(
    attention r() {
      normalize = relu(score * 0.0 + f32(kv_idx) - 1.0)
      output = row_sum
    })",
                       /*fuse=*/true);
  AttnSizes sizes{1, 1, 1, 2, 4, 2, 1};
  RefInputs in = makeRandomInputs(c.variant(), sizes, 3);
  RefOutputs out = evaluate(c.variant(), in);
  // Weights max(j - 1, 0) for j = 0..3: 0 + 0 + 1 + 2.
  CHECK(out.out.data[0] == Approx(3.0));
  CHECK(out.out.data[1] == Approx(3.0));
}

TEST_CASE("reference: sigmoid, relu and integer semantics", "[reference]") {
  Compiled c = compile(R"(
    attention s() {
      score = score * 0.0 + f32((q_idx - 2 * kv_idx) / 3) + f32((q_idx - 5) % 3)
      normalize = relu
    })",
                       /*fuse=*/true);
  AttnSizes sizes{1, 1, 1, 4, 3, 2, 1};
  RefInputs in = makeRandomInputs(c.variant(), sizes, 3);
  in.v.data = {1, 1, 1};
  RefOutputs out = evaluate(c.variant(), in);
  CHECK(out.lse.data.empty());
  for (int i = 0; i < 4; ++i) {
    double expected = 0;
    for (int j = 0; j < 3; ++j) {
      // floor division and floor remainder, as in Python
      double t = std::floor((i - 2.0 * j) / 3) + ((i - 5) % 3 + 3) % 3;
      expected += std::max(t, 0.0);
    }
    CHECK(out.out.data[i] == Approx(expected));
  }
}

TEST_CASE("reference: errors are values", "[reference]") {
  Compiled c =
      compile("attention d(doc: i32[N]) { mask = document(doc) }", true);
  AttnSizes sizes{1, 1, 1, 4, 9, 4, 4}; // doc has N = 4 entries, keys go to 8
  RefInputs in = makeRandomInputs(c.variant(), sizes, 4);
  llvm::Expected<RefOutputs> out = evaluateReference(c.variant(), in);
  REQUIRE(!out);
  std::string message = llvm::toString(out.takeError());
  CHECK(message.find("param 'doc' read out of bounds") != std::string::npos);

  in.params.clear();
  llvm::Expected<RefOutputs> missing = evaluateReference(c.variant(), in);
  REQUIRE(!missing);
  CHECK(llvm::toString(missing.takeError()).find("1 params; 0 were given") !=
        std::string::npos);
}

TEST_CASE("reference: every example's cascade equals its fused form",
          "[reference][fuse]") {
  for (const auto &entry : std::filesystem::directory_iterator(
           std::string(ATTNC_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".attn")
      continue;
    std::ifstream stream(entry.path());
    std::stringstream text;
    text << stream.rdbuf();
    INFO(entry.path().filename().string());
    Compiled cascade = compile(text.str(), /*fuse=*/false);
    Compiled fused = compile(text.str(), /*fuse=*/true);
    // M <= N: doc[kv_idx] must stay within doc's N entries.
    for (AttnSizes sizes :
         {AttnSizes{1, 2, 1, 33, 33, 8, 8}, AttnSizes{2, 4, 2, 1, 1, 4, 4},
          AttnSizes{1, 3, 3, 20, 20, 16, 16},
          AttnSizes{1, 2, 2, 19, 7, 8, 8}}) {
      RefInputs in = makeRandomInputs(cascade.variant(), sizes, 5);
      RefOutputs a = evaluate(cascade.variant(), in);
      RefOutputs b = evaluate(fused.variant(), in);
      CHECK(maxAbsDiff(a.out, b.out) < 1e-12);
      CHECK(a.lse.data.size() == b.lse.data.size());
      if (!a.lse.data.empty())
        CHECK(maxAbsDiff(a.lse, b.lse) < 1e-12);
    }
  }
}

TEST_CASE("reference: a block selection by hand (always-kept blocks, ties, "
          "causal candidates, a short last block)",
          "[reference][select]") {
  // D = Dv = 1, q = 1: the gate of a block is the mean of its keys. v holds
  // each key's block index, and `normalize = none` with scale 1 makes out
  // the sum over kept keys of k * v: which blocks are kept shows in it.
  auto run = [](const std::string &select, std::vector<double> blockKeys,
                int64_t queries, int64_t keys) {
    Compiled c =
        compile("attention s() { scale = 1.0 normalize = none " + select + " }",
                /*fuse=*/true);
    RefInputs in = makeRandomInputs(c.variant(),
                                    AttnSizes{1, 1, 1, queries, keys, 1, 1}, 1);
    for (double &x : in.q.data)
      x = 1;
    for (int64_t j = 0; j < keys; ++j) {
      in.k.data[j] = blockKeys[j / 16];
      in.v.data[j] = double(j / 16);
    }
    return evaluate(c.variant(), in);
  };
  auto keptBlocks = [](const RefOutputs &out, int64_t row,
                       std::vector<double> blockKeys,
                       std::vector<int64_t> blocks, int64_t keys) {
    double expected = 0;
    for (int64_t blk : blocks)
      for (int64_t j = blk * 16; j < std::min(keys, (blk + 1) * 16); ++j)
        expected += blockKeys[blk] * double(blk);
    CHECK(out.out.data[row] == Approx(expected));
  };
  std::vector<double> keys = {0.25, 0.5, 0.5, 0.5};
  // Query 0 keeps its own block 0, then of three equal gates block 1.
  RefOutputs a =
      run("select = topk(2, block = 16, causal = false)", keys, 1, 64);
  keptBlocks(a, 0, keys, {0, 1}, 64);
  // Sinks and the local window are kept beyond K: query 40 (block 2) keeps
  // blocks 0 (sink), 1 and 3 (local 1) and 2 (current), though K = 1.
  RefOutputs b = run("select = topk(1, block = 16, sinks = 1, local = 1, "
                     "causal = false)",
                     keys, 41, 64);
  keptBlocks(b, 40, keys, {0, 1, 2, 3}, 64);
  // Causal: query 40's candidates are blocks 0..2; K = 2 keeps block 2 and
  // the better of 0 and 1.
  RefOutputs c = run("select = topk(2, block = 16)", keys, 41, 64);
  keptBlocks(c, 40, keys, {1, 2}, 64);
  // The last block is short (M = 40): its gate is the mean of its 8 keys
  // (0.4 beats block 1's 0.3; by the sums, 3.2 would lose to 4.8).
  std::vector<double> shortLast = {0.5, 0.3, 0.4};
  RefOutputs d =
      run("select = topk(2, block = 16, causal = false)", shortLast, 1, 40);
  keptBlocks(d, 0, shortLast, {0, 2}, 40);
}

TEST_CASE("reference: branches are the variant over each part of the head "
          "dim, combined by output_mod",
          "[reference][branches]") {
  const char *source = "attention diff(lambda: f32 = 0.8) {\n"
                       "  mask = causal()\n"
                       "  branches = split(2)\n"
                       "  output = o[0] - lambda * o[1] + 0.125 * lse[1] +\n"
                       "           0.5 * row_sum[0]\n"
                       "}";
  Compiled plain = compile("attention c() { mask = causal() }", true);
  AttnSizes sizes{2, 4, 2, 5, 7, 8, 6};
  for (bool fuse : {false, true}) {
    Compiled c = compile(source, fuse);
    RefInputs in = makeRandomInputs(c.variant(), sizes, 7);
    RefOutputs out = evaluate(c.variant(), in);
    REQUIRE(out.lse.data.empty()); // each branch has its own
    // Branch i: the plain variant on part i of q's and k's head dim (whose
    // default scale 1/sqrt(4) is the branch's).
    RefOutputs parts[2];
    for (int part = 0; part < 2; ++part) {
      RefInputs slice = in;
      slice.params.clear();
      for (RefArray *x : {&slice.q, &slice.k}) {
        const RefArray &whole = x == &slice.q ? in.q : in.k;
        x->shape[3] = 4;
        x->data.clear();
        for (size_t row = 0; row < whole.data.size() / 8; ++row)
          for (int d = 0; d < 4; ++d)
            x->data.push_back(whole.data[row * 8 + part * 4 + d]);
      }
      parts[part] = evaluate(plain.variant(), slice);
    }
    double lambda = in.params[0].data[0];
    for (size_t e = 0; e < out.out.data.size(); ++e) {
      size_t row = e / 6;
      double expected = parts[0].out.data[e] - lambda * parts[1].out.data[e] +
                        0.125 * parts[1].lse.data[row] + 0.5;
      CHECK(out.out.data[e] == Approx(expected).margin(1e-12));
    }
  }
}
