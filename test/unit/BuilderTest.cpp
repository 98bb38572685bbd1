//===- BuilderTest.cpp - the C++ builder gives the DSL's IR ---------------===//
//
// Every example variant, written again with attnc::VariantBuilder, must print
// exactly the IR that the example's .attn file prints, cascade and fused.
//
//===----------------------------------------------------------------------===//

#include "attnc/Builder.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace attnc;

namespace {

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(ATTNC_SOURCE_DIR) + "/examples/" + name);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string expectText(llvm::Expected<std::string> result) {
  if (!result) {
    std::string message = llvm::toString(result.takeError());
    FAIL(message);
  }
  return *result;
}

/// Compares the builder's IR with the example's, plain and fused, in the
/// default f32 and in bf16 with static head dims (Dv = D and Dv != D).
void checkSameIR(const std::string &example, const VariantBuilder &builder) {
  std::string source = readExample(example);
  for (VariantOptions options :
       {VariantOptions{DType::F32, std::nullopt, false, std::nullopt},
        VariantOptions{DType::BF16, 128, true, std::nullopt},
        VariantOptions{DType::BF16, 192, true, 128}}) {
    std::string fromDSL = expectText(emitMLIR(source, example, options));
    std::string fromBuilder = expectText(emitMLIR({builder}, options));
    CHECK(fromDSL.find("attn.variant") != std::string::npos);
    CHECK(fromBuilder == fromDSL);
  }
}

Expr causalMask() { return call("causal"); }

} // namespace

TEST_CASE("builder and DSL agree: dense", "[builder]") {
  checkSameIR("dense.attn", VariantBuilder("dense"));
}

TEST_CASE("builder and DSL agree: causal", "[builder]") {
  VariantBuilder v("causal_attention");
  v.mask(causalMask());
  checkSameIR("causal.attn", v);
}

TEST_CASE("builder and DSL agree: sliding window", "[builder]") {
  VariantBuilder v("sliding_window_attention");
  Param window = v.scalar("window", DType::I64, 1024);
  v.mask(call("sliding_window", {window}));
  checkSameIR("sliding_window.attn", v);
}

TEST_CASE("builder and DSL agree: prefix-LM", "[builder]") {
  VariantBuilder v("prefix_lm_attention");
  Param prefix = v.scalar("prefix", DType::I64, 2048);
  v.mask(call("prefix_lm", {prefix}));
  checkSameIR("prefix_lm.attn", v);
}

TEST_CASE("builder and DSL agree: document masking", "[builder]") {
  VariantBuilder v("document_causal");
  Param doc = v.tensor("doc", DType::I32, {"N"});
  v.mask(call("document", {doc}) && causalMask());
  checkSameIR("document.attn", v);
}

TEST_CASE("builder and DSL agree: ALiBi", "[builder]") {
  VariantBuilder v("alibi_causal");
  Param slopes = v.tensor("slopes", DType::F32, {"H"});
  v.score(score() + slopes[h()] * (kv_idx() - q_idx()));
  v.mask(q_idx() >= kv_idx());
  // The DSL writes causal(), which inlines to the same comparison.
  checkSameIR("alibi_causal.attn", v);
}

TEST_CASE("builder and DSL agree: tanh softcap", "[builder]") {
  VariantBuilder v("softcap_attention");
  Param cap = v.scalar("cap", DType::F32, 30.0);
  v.score(cap * call("tanh", {score() / cap}));
  checkSameIR("softcap.attn", v);
}

TEST_CASE("builder and DSL agree: relative position bias", "[builder]") {
  VariantBuilder v("relative_bias_causal");
  Param table = v.tensor("table", DType::F32, {"H", "?"});
  Param maxDistance = v.scalar("max_distance", DType::I64, 128);
  v.score(call("relative_bias", {table, maxDistance}));
  v.mask(causalMask());
  checkSameIR("relative_bias.attn", v);
}

TEST_CASE("builder and DSL agree: sigmoid attention", "[builder]") {
  VariantBuilder v("sigmoid_attention");
  Param bias = v.scalar("bias", DType::F32, -8.0);
  v.normalize("sigmoid", score() + bias);
  checkSameIR("sigmoid.attn", v);
}

TEST_CASE("builder and DSL agree: neighborhood 2-D", "[builder]") {
  VariantBuilder v("neighborhood_2d_attention");
  Param width = v.scalar("width", DType::I64, 64);
  v.mask(call("neighborhood_2d", {width, 3, 3}));
  checkSameIR("neighborhood_2d.attn", v);
}

TEST_CASE("builder and DSL agree: block-sparse map", "[builder]") {
  VariantBuilder v("block_sparse");
  Param map = v.tensor("map", DType::Bool, {"H", "?", "?"});
  v.mask(call("block_map", {map, 128, 128}));
  checkSameIR("block_sparse.attn", v);
}

TEST_CASE("builder and DSL agree: a mask tensor", "[builder]") {
  VariantBuilder v("tensor_mask");
  Param allowed = v.tensor("allowed", DType::Bool, {"N", "M"});
  v.mask(allowed(q_idx(), kv_idx()));
  checkSameIR("tensor_mask.attn", v);
}

TEST_CASE("builder and DSL agree: GQA + causal + softcap", "[builder]") {
  VariantBuilder v("gqa_causal_softcap");
  Param cap = v.scalar("cap", DType::F32, 50.0);
  v.score(call("softcap", {cap}));
  v.mask(causalMask());
  checkSameIR("gqa_causal_softcap.attn", v);
}

TEST_CASE("builder and DSL agree: chunked causal", "[builder]") {
  VariantBuilder v("chunked_causal");
  Param chunk = v.scalar("chunk", DType::I64, 8192);
  v.mask(call("chunked", {chunk}) && causalMask());
  checkSameIR("chunked_causal.attn", v);
}

TEST_CASE("builder and DSL agree: gated output", "[builder]") {
  VariantBuilder v("gated_output");
  Param gate = v.tensor("gate", DType::F32, {"B", "H", "N", "Dv"});
  v.mask(causalMask());
  v.output(o() * call("sigmoid", {gate(b(), h(), q_idx(), d())}));
  checkSameIR("gated_output.attn", v);
}

TEST_CASE("builder and DSL agree: attention sinks", "[builder]") {
  VariantBuilder v("sinks");
  Param sinks = v.tensor("sinks", DType::F32, {"H"});
  v.mask(causalMask());
  v.sink(sinks[h()]);
  checkSameIR("sinks.attn", v);
}

TEST_CASE("builder and DSL agree: quiet softmax", "[builder]") {
  VariantBuilder v("quiet_softmax");
  v.sink(Expr(0.0));
  checkSameIR("quiet_softmax.attn", v);
}

TEST_CASE("builder and DSL agree: sigmoid normalized by its row sum",
          "[builder]") {
  VariantBuilder v("sigmoid_normalized");
  v.normalize("sigmoid", score() - 4.0);
  v.mask(causalMask());
  v.output(o() / call("max", {row_sum(), Expr(1.0)}));
  checkSameIR("sigmoid_normalized.attn", v);
}

TEST_CASE("builder and DSL agree: the row's statistics", "[builder]") {
  VariantBuilder v("stats");
  v.normalize("softmax");
  v.output(o() * call("sigmoid", {lse()}) + row_sum());
  std::string fromBuilder = expectText(emitMLIR({v}));
  std::string fromDSL =
      expectText(emitMLIR("attention stats() {\n  normalize = softmax\n"
                          "  output = o * sigmoid(lse) + row_sum\n}\n",
                          "stats.attn"));
  CHECK(fromBuilder == fromDSL);
  CHECK(fromDSL.find("%lse") != std::string::npos);
}

TEST_CASE("builder and DSL agree: key padding with a let", "[builder]") {
  VariantBuilder v("key_padding_causal");
  Param len = v.tensor("len", DType::I32, {"B"});
  Param temperature = v.scalar("temperature", DType::F32, 1.0);
  Expr inverse = v.let("inverse", Expr(1.0) / temperature);
  v.score(score() * inverse);
  // The example names this mask with a user function; the builder writes it
  // inline, and inlining makes them the same IR.
  v.mask(call("key_padding", {len}) && causalMask());
  checkSameIR("key_padding.attn", v);
}

TEST_CASE("builder and DSL agree: MoBA's block selection", "[builder]") {
  VariantBuilder v("moba");
  v.mask(causalMask());
  v.select({/*topK=*/3, /*block=*/16, /*sinks=*/1});
  checkSameIR("moba.attn", v);
}

TEST_CASE("builder and DSL agree: differential attention's branches",
          "[builder][branches]") {
  VariantBuilder v("differential");
  Param lambda = v.scalar("lambda", DType::F32, 0.8);
  v.mask(causalMask());
  v.branches(2);
  v.output(o(0) - lambda * o(1));
  checkSameIR("differential.attn", v);
}

TEST_CASE("builder errors are diagnostics, not crashes", "[builder]") {
  VariantBuilder v("broken");
  Param slopes = v.tensor("slopes", DType::F32, {"H"});
  v.score(score() + slopes(h(), q_idx()));
  v.mask(q_idx() + 1);
  v.normalize("softermax");
  llvm::Expected<std::string> result = emitMLIR({v});
  REQUIRE(!result);
  std::string message = llvm::toString(result.takeError());
  CHECK(message.find("'slopes' has rank 1 (f32[H]) but is indexed with 2 "
                     "index(es)") != std::string::npos);
  CHECK(message.find("the mask must be bool; got i64") != std::string::npos);
  CHECK(message.find("expected a normalizer") != std::string::npos);
}

TEST_CASE("builder and DSL agree: the cookbook's masks", "[builder]") {
  {
    VariantBuilder v("dilated_window_attention");
    Param window = v.scalar("window", DType::I64, 8);
    Param dilation = v.scalar("dilation", DType::I64, 3);
    v.mask(call("dilated_window", {window, dilation}));
    checkSameIR("dilated.attn", v);
  }
  {
    VariantBuilder v("global_local");
    Param radius = v.scalar("radius", DType::I64, 8);
    Param globals = v.scalar("globals", DType::I64, 2);
    v.mask(call("neighborhood_1d", {radius}) || q_idx() < globals ||
           kv_idx() < globals);
    checkSameIR("global_local.attn", v);
  }
  {
    VariantBuilder v("strided_attention");
    Param stride = v.scalar("stride", DType::I64, 8);
    v.mask(causalMask() && (q_idx() - kv_idx() < stride ||
                            (q_idx() - kv_idx()) % stride == Expr(0)));
    checkSameIR("strided.attn", v);
  }
}

TEST_CASE("builder and DSL agree: the cookbook's score caps", "[builder]") {
  {
    VariantBuilder v("gemma2_local");
    Param cap = v.scalar("cap", DType::F32, 50.0);
    Param window = v.scalar("window", DType::I64, 4096);
    v.score(call("softcap", {cap}));
    v.mask(call("sliding_window", {window}));
    checkSameIR("gemma2_local.attn", v);
  }
  {
    VariantBuilder v("grok1_softcap");
    v.scale(0.08838834764831845);
    v.score(Expr(30.0) * call("tanh", {score() / Expr(30.0)}));
    v.mask(causalMask());
    checkSameIR("grok1_softcap.attn", v);
  }
  {
    VariantBuilder v("ssmax");
    Param s = v.scalar("s", DType::F32, 0.43);
    v.score(score() * (s * call("log", {call("f32", {q_idx() + Expr(1)})})));
    v.mask(causalMask());
    checkSameIR("ssmax.attn", v);
  }
}
