//===- JITTest.cpp - the JIT API: errors, caching, threads ----------------===//

#include "Check/Check.h"
#include "attnc/attnc.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sys/stat.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <functional>
#include <optional>
#include <thread>

using namespace attnc;

namespace {

const char *kAlibi = R"(
attention alibi_causal(slopes: f32[H], cap: f32 = 30.0) {
  score = softcap(cap) + slopes[h] * (kv_idx - q_idx)
  mask = causal()
})";

/// Owned host tensors for one call.
struct Buffers {
  std::vector<float> q, k, v, out, lse, slopes;
  KernelArgs args;
  Buffers(int64_t B, int64_t H, int64_t Hkv, int64_t N, int64_t M, int64_t D) {
    q.assign(B * H * N * D, 0.5f);
    k.assign(B * Hkv * M * D, 0.25f);
    v.assign(B * Hkv * M * D, 1.0f);
    out.assign(B * H * N * D, NAN);
    lse.assign(B * H * N, NAN);
    slopes.assign(H, 0.1f);
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = float(i % 17) / 17.0f;
    args.q = TensorView::contiguous(q.data(), DType::F32, {B, H, N, D});
    args.k = TensorView::contiguous(k.data(), DType::F32, {B, Hkv, M, D});
    args.v = TensorView::contiguous(v.data(), DType::F32, {B, Hkv, M, D});
    args.out = TensorView::contiguous(out.data(), DType::F32, {B, H, N, D});
    args.params.emplace("slopes", ParamValue(TensorView::contiguous(
                                      slopes.data(), DType::F32, {H})));
  }
};

std::string errorOf(llvm::Error e) {
  bool failed = static_cast<bool>(e);
  REQUIRE(failed);
  return llvm::toString(std::move(e));
}

/// A run that fails with `message` and writes nothing to `out`.
void expectRunError(const Kernel &kernel, const KernelArgs &args,
                    const std::vector<float> &out, const char *message) {
  std::string text = errorOf(kernel.run(args));
  INFO(text);
  CHECK(text.find(message) != std::string::npos);
  for (float x : out) // nothing was written
    CHECK(std::isnan(x));
}

/// Runs and fails the test with the message of any error.
void runOrFail(const Kernel &kernel, const KernelArgs &args) {
  if (llvm::Error e = kernel.run(args))
    FAIL(llvm::toString(std::move(e)));
}

Kernel compileOrFail(Compiler &compiler, const char *source,
                     CompileOptions options = {}) {
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options);
  if (!kernel)
    FAIL(llvm::toString(kernel.takeError()));
  return *kernel;
}

/// bf16 at head dim 64 for a GPU target.
CompileOptions gpuOptions(const char *target) {
  CompileOptions options;
  options.target = target;
  options.dtype = DType::BF16;
  options.headDim = 64;
  return options;
}

/// Compiles for a GPU; nothing in a build without the CUDA toolkit, which
/// says so (any other error fails the test).
std::optional<Kernel> compileForGPU(Compiler &compiler, const char *source,
                                    const CompileOptions &options) {
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options);
  if (kernel)
    return *kernel;
  std::string message = llvm::toString(kernel.takeError());
  REQUIRE(message.find("without the CUDA toolkit") != std::string::npos);
  return std::nullopt;
}

} // namespace

TEST_CASE("JIT: a kernel runs and writes every output", "[jit]") {
  Compiler compiler;
  Kernel kernel = compileOrFail(compiler, kAlibi);
  CHECK(kernel.getName() == "alibi_causal");
  CHECK(kernel.returnsLse());
  REQUIRE(kernel.getParams().size() == 2);
  CHECK(kernel.getParams()[1].defaultValue == Approx(30.0));
  Buffers buf(2, 4, 2, 19, 19, 8);
  TensorView lse =
      TensorView::contiguous(buf.lse.data(), DType::F32, {2, 4, 19});
  buf.args.lse = &lse;
  runOrFail(kernel, buf.args);
  for (float x : buf.out)
    CHECK(std::isfinite(x));
  for (float x : buf.lse)
    CHECK(std::isfinite(x));
  // Row 0 sees key 0 only: out = v[0].
  for (int d = 0; d < 8; ++d)
    CHECK(buf.out[d] == Approx(buf.v[d]));
}

TEST_CASE("JIT: bad arguments are errors, never crashes", "[jit]") {
  Compiler compiler;
  Kernel kernel = compileOrFail(compiler, kAlibi);
  auto expectError = [&](const std::function<void(Buffers &)> &spoil,
                         const char *message) {
    Buffers buf(1, 4, 2, 5, 7, 8);
    spoil(buf);
    expectRunError(kernel, buf.args, buf.out, message);
  };
  expectError([](Buffers &b) { b.args.q.shape = {4, 5, 8}; },
              "q must have rank 4 [B, H, N, D]; got rank 3");
  expectError(
      [](Buffers &b) { b.args.k.shape[3] = 9; },
      "k must have shape [B, Hkv, M, D] = [1, 2, 7, 8]; got [1, 2, 7, 9]");
  expectError([](Buffers &b) { b.args.v.dtype = DType::BF16; },
              "v must be f32; got bf16");
  expectError(
      [](Buffers &b) { b.args.out.shape[2] = 4; },
      "out must have shape [B, H, N, Dv] = [1, 4, 5, 8]; got [1, 4, 4, 8]");
  expectError(
      [](Buffers &b) {
        b.args.q.shape[1] = 3;
        b.args.out.shape[1] = 3;
      },
      "query heads H = 3 are not a multiple of key/value heads Hkv = 2");
  expectError([](Buffers &b) { b.args.params.clear(); },
              "missing param 'slopes' (f32[H])");
  expectError(
      [](Buffers &b) { b.args.params.emplace("slope", ParamValue(1.0)); },
      "unknown param 'slope'; 'alibi_causal' takes slopes, cap");
  expectError(
      [](Buffers &b) {
        b.args.params.erase("slopes");
        b.args.params.emplace("slopes", ParamValue(1.0));
      },
      "param 'slopes' is a tensor f32[H]; got a scalar");
  expectError(
      [](Buffers &b) { b.args.params.at("slopes").tensor->shape = {3}; },
      "param 'slopes' has shape [3]; its type f32[H] wants 4 in dimension 0");
  expectError(
      [](Buffers &b) { b.args.params.emplace("cap", ParamValue(b.args.q)); },
      "param 'cap' is a scalar f32; got a tensor");
  expectError([](Buffers &b) { b.args.q.data = nullptr; }, "q has no data");
  expectError(
      [](Buffers &b) {
        b.args.q.shape[2] = 0;
        b.args.out.shape[2] = 0;
      },
      "q has an empty dimension");
  expectError([](Buffers &b) { b.args.q.strides = {1}; },
              "q has 1 strides for rank 4");

  Kernel sigmoid =
      compileOrFail(compiler, "attention s() { normalize = sigmoid }");
  Buffers buf(1, 1, 1, 3, 3, 8);
  TensorView lse =
      TensorView::contiguous(buf.lse.data(), DType::F32, {1, 1, 3});
  buf.args.lse = &lse;
  buf.args.params.clear();
  CHECK(errorOf(sigmoid.run(buf.args)).find("does not define lse") !=
        std::string::npos);

  CompileOptions fixed;
  fixed.headDim = 16;
  Kernel d16 = compileOrFail(compiler, "attention d() {}", fixed);
  Buffers small(1, 1, 1, 3, 3, 8);
  small.args.params.clear();
  CHECK(
      errorOf(d16.run(small.args))
          .find("compiled for head dims D = 16, Dv = 16; got D = 8, Dv = 8") !=
      std::string::npos);
}

TEST_CASE("JIT: the backward's arguments are checked; nothing is written",
          "[jit][backward]") {
  Compiler compiler;
  Kernel forwardOnly = compileOrFail(compiler, kAlibi);
  CompileOptions withBackward;
  withBackward.backward = true;
  Kernel kernel = compileOrFail(compiler, kAlibi, withBackward);
  CHECK(kernel.hasBackward());
  CHECK_FALSE(forwardOnly.hasBackward());
  const int64_t B = 1, H = 4, Hkv = 2, N = 5, M = 7, D = 8;
  auto expectError = [&](const Kernel &k,
                         const std::function<void(BackwardArgs &)> &spoil,
                         const char *message) {
    Buffers buf(B, H, Hkv, N, M, D);
    TensorView lse =
        TensorView::contiguous(buf.lse.data(), DType::F32, {B, H, N});
    buf.args.lse = &lse;
    runOrFail(kernel, buf.args);
    std::vector<float> dout(buf.out.size(), 1.0f), dq(buf.q.size(), NAN),
        dk(buf.k.size(), NAN), dv(buf.v.size(), NAN), dslopes(H, NAN),
        dcap(1, NAN);
    BackwardArgs args;
    args.q = buf.args.q, args.k = buf.args.k, args.v = buf.args.v;
    args.out = buf.args.out;
    args.dout = TensorView::contiguous(dout.data(), DType::F32, {B, H, N, D});
    args.dq = TensorView::contiguous(dq.data(), DType::F32, {B, H, N, D});
    args.dk = TensorView::contiguous(dk.data(), DType::F32, {B, Hkv, M, D});
    args.dv = TensorView::contiguous(dv.data(), DType::F32, {B, Hkv, M, D});
    args.lse = &lse;
    args.params = buf.args.params;
    args.paramGrads.emplace(
        "slopes", TensorView::contiguous(dslopes.data(), DType::F32, {H}));
    args.paramGrads.emplace(
        "cap", TensorView::contiguous(dcap.data(), DType::F32, {1}));
    spoil(args);
    llvm::Error e = k.backward(args);
    if (!message) {
      if (e)
        FAIL(llvm::toString(std::move(e)));
      for (const std::vector<float> *g : {&dq, &dk, &dv, &dslopes, &dcap})
        for (float x : *g)
          CHECK(std::isfinite(x));
      return;
    }
    std::string text = errorOf(std::move(e));
    INFO(text);
    CHECK(text.find(message) != std::string::npos);
    for (const std::vector<float> *g : {&dq, &dk, &dv, &dslopes, &dcap})
      for (float x : *g)
        CHECK(std::isnan(x));
  };
  expectError(kernel, [](BackwardArgs &) {}, nullptr);
  expectError(
      forwardOnly, [](BackwardArgs &) {},
      "was compiled without its backward; compile it with "
      "CompileOptions::backward");
  expectError(
      kernel, [](BackwardArgs &a) { a.lse = nullptr; },
      "needs the forward's lse");
  expectError(
      kernel, [](BackwardArgs &a) { a.dout.shape[2] = 4; },
      "dout must have shape [B, H, N, Dv] = [1, 4, 5, 8]; got "
      "[1, 4, 4, 8]");
  expectError(
      kernel, [](BackwardArgs &a) { a.dk.dtype = DType::BF16; },
      "dk must be f32; got bf16");
  expectError(
      kernel, [](BackwardArgs &a) { a.dq.data = nullptr; }, "dq has no data");
  expectError(
      kernel, [](BackwardArgs &a) { a.params.clear(); },
      "missing param 'slopes' (f32[H])");
  expectError(
      kernel, [](BackwardArgs &a) { a.paramGrads.at("slopes").shape = {3}; },
      "the gradient of param 'slopes' must have shape [4]; got [3]");
  expectError(
      kernel,
      [](BackwardArgs &a) {
        a.paramGrads.emplace("q", a.paramGrads.at("cap"));
      },
      "'q' is not a float param of 'alibi_causal': it has no gradient");
  expectError(
      kernel, [](BackwardArgs &a) { a.deterministic = true; },
      "a deterministic backward cannot return params' gradients");

  // The GPU's backward compiles through NVRTC here (no device needed) for
  // head dims 64 and 128, as a program of its own; larger ones are refused.
  CompileOptions gpu = withBackward;
  gpu.target = "sm_90a";
  gpu.dtype = DType::BF16;
  gpu.headDim = 64;
  std::optional<Kernel> onGpu = compileForGPU(compiler, kAlibi, gpu);
  if (!onGpu)
    return;
  CHECK(onGpu->hasBackward());
  CHECK(onGpu->getCudaSource().find("alibi_causal_backward_rows") !=
        std::string::npos);
  CHECK(onGpu->getCubin().find("alibi_causal_backward") == std::string::npos);
  gpu.headDim = 256;
  llvm::Expected<Kernel> refused = compiler.compile(kAlibi, "", gpu);
  REQUIRE_FALSE(bool(refused));
  CHECK(llvm::toString(refused.takeError())
            .find("the GPU backward takes head dims 64 and 128; got D = 256") !=
        std::string::npos);
}

namespace {
/// A paged call: B = 2, H = 4, Hkv = 2, N = 1, D = 8; 5 pages of 4 keys,
/// 2 a sequence (M = 8), lengths 8 and 3.
struct PagedBuffers {
  std::vector<float> q, k, v, out, lse;
  std::vector<int32_t> table = {4, 1, 0, -1}, lens = {8, 3};
  KernelArgs args;
  TensorView lseView;
  PagedBuffers() {
    q.assign(2 * 4 * 1 * 8, 0.5f);
    k.assign(5 * 4 * 2 * 8, 0.25f);
    v.assign(5 * 4 * 2 * 8, 1.0f);
    out.assign(2 * 4 * 1 * 8, NAN);
    lse.assign(2 * 4, NAN);
    args.q = TensorView::contiguous(q.data(), DType::F32, {2, 4, 1, 8});
    args.k = TensorView::contiguous(k.data(), DType::F32, {5, 4, 2, 8});
    args.v = TensorView::contiguous(v.data(), DType::F32, {5, 4, 2, 8});
    args.out = TensorView::contiguous(out.data(), DType::F32, {2, 4, 1, 8});
    lseView = TensorView::contiguous(lse.data(), DType::F32, {2, 4, 1});
    args.lse = &lseView;
    args.paged =
        PagedKV{TensorView::contiguous(table.data(), DType::I32, {2, 2}),
                TensorView::contiguous(lens.data(), DType::I32, {2})};
  }
};
} // namespace

TEST_CASE("JIT: a paged KV cache's bad tables and lengths are errors",
          "[jit]") {
  Compiler compiler;
  for (const char *family : {"cpu_decode", "cpu_tiles"}) {
    CompileOptions options;
    options.kernelFamily = family;
    options.pagedKv = true;
    Kernel kernel = compileOrFail(compiler, "attention d() {}", options);
    INFO(family);
    {
      PagedBuffers ok;
      runOrFail(kernel, ok.args);
      for (float x : ok.out)
        CHECK(x == Approx(1.0f)); // every kept value row is 1
      // A sequence of length 0 keeps no key: out 0 and lse -inf.
      PagedBuffers empty;
      empty.lens[1] = 0;
      runOrFail(kernel, empty.args);
      for (int i = 32; i < 64; ++i) // batch 1
        CHECK(empty.out[i] == 0.0f);
      for (int i = 4; i < 8; ++i)
        CHECK(std::isinf(empty.lse[i]));
      CHECK(empty.lse[4] < 0);
    }
    auto expectError = [&](const std::function<void(PagedBuffers &)> &spoil,
                           const char *message) {
      PagedBuffers buf;
      spoil(buf);
      expectRunError(kernel, buf.args, buf.out, message);
    };
    expectError([](PagedBuffers &b) { b.table[1] = 5; },
                "page table entry [0, 1] is 5, which names no page of k and v "
                "(0 to 4)");
    expectError([](PagedBuffers &b) { b.table[2] = -3; },
                "page table entry [1, 0] is -3");
    expectError([](PagedBuffers &b) { b.lens[1] = 9; },
                "sequence length 1 is 9; it must be between 0 and max_pages "
                "* page_size = 8");
    expectError([](PagedBuffers &b) { b.lens[0] = -1; },
                "sequence length 0 is -1");
    expectError([](PagedBuffers &b) { b.args.paged.reset(); },
                "was compiled for a paged KV cache");
    expectError(
        [](PagedBuffers &b) { b.args.paged->seqLens.dtype = DType::I64; },
        "the sequence lengths must be i32; got i64");
    expectError([](PagedBuffers &b) { b.args.paged->pageTable.shape = {4}; },
                "the page table must have rank 2 [B, max_pages]; got rank 1");
    expectError(
        [](PagedBuffers &b) {
          b.args.paged->pageTable.shape = {1, 4};
          b.args.paged->pageTable.strides = {4, 1};
        },
        "the page table must have shape [B, max_pages] = [2, 4]; got [1, 4]");
    expectError([](PagedBuffers &b) { b.args.paged->seqLens.shape = {3}; },
                "the sequence lengths must have shape [B] = [2]; got [3]");
    expectError(
        [](PagedBuffers &b) { b.args.v.shape[1] = 2; },
        "v must have shape [num_pages, page_size, Hkv, Dv] = [5, 4, 2, 8]; "
        "got [5, 2, 2, 8]");
    expectError([](PagedBuffers &b) { b.args.k.dtype = DType::BF16; },
                "k must be f32; got bf16");
  }
  // A contiguous kernel refuses pages.
  Kernel contiguous = compileOrFail(compiler, "attention d() {}");
  PagedBuffers buf;
  CHECK(errorOf(contiguous.run(buf.args))
            .find("takes contiguous k and v; compile it with "
                  "CompileOptions::pagedKv") != std::string::npos);
}

namespace {
/// A ragged call: H = 4, Hkv = 2, D = 8; sequences of 2, 0 and 3 queries
/// and 4, 3 and 0 keys (q [1, 4, 5, 8], k and v [1, 2, 7, 8]); every key
/// is the same and value rows of sequence s hold s + 1.
struct RaggedBuffers {
  std::vector<float> q, k, v, out, lse;
  std::vector<int32_t> cuQ = {0, 2, 2, 5}, cuK = {0, 4, 7, 7};
  KernelArgs args;
  TensorView lseView;
  RaggedBuffers() {
    q.assign(4 * 5 * 8, 0.5f);
    k.assign(2 * 7 * 8, 0.25f);
    v.assign(2 * 7 * 8, 1.0f);
    for (int h = 0; h < 2; ++h)
      for (int j = 4; j < 7; ++j)
        for (int d = 0; d < 8; ++d)
          v[(h * 7 + j) * 8 + d] = 2.0f;
    out.assign(4 * 5 * 8, NAN);
    lse.assign(4 * 5, NAN);
    args.q = TensorView::contiguous(q.data(), DType::F32, {1, 4, 5, 8});
    args.k = TensorView::contiguous(k.data(), DType::F32, {1, 2, 7, 8});
    args.v = TensorView::contiguous(v.data(), DType::F32, {1, 2, 7, 8});
    args.out = TensorView::contiguous(out.data(), DType::F32, {1, 4, 5, 8});
    lseView = TensorView::contiguous(lse.data(), DType::F32, {1, 4, 5});
    args.lse = &lseView;
    args.ragged =
        RaggedBatch{TensorView::contiguous(cuQ.data(), DType::I32, {4}),
                    TensorView::contiguous(cuK.data(), DType::I32, {4})};
  }
};
} // namespace

TEST_CASE("JIT: ragged batches' offsets are checked; sequences stay apart",
          "[jit]") {
  Compiler compiler;
  for (const char *family : {"cpu_decode", "cpu_tiles"}) {
    CompileOptions options;
    options.kernelFamily = family;
    options.ragged = true;
    options.tileQ = 2, options.tileKv = 2;
    Kernel kernel = compileOrFail(compiler, "attention d() {}", options);
    INFO(family);
    {
      RaggedBuffers ok;
      runOrFail(kernel, ok.args);
      // Sequence 0 (tokens 0, 1) reads its own values (1); sequence 2
      // (tokens 2..4) has no keys: out 0, lse -inf.
      for (int h = 0; h < 4; ++h)
        for (int t = 0; t < 5; ++t)
          for (int d = 0; d < 8; ++d)
            CHECK(ok.out[(h * 5 + t) * 8 + d] == (t < 2 ? 1.0f : 0.0f));
      for (int h = 0; h < 4; ++h) {
        CHECK(std::isfinite(ok.lse[h * 5]));
        CHECK(std::isinf(ok.lse[h * 5 + 3]));
        CHECK(ok.lse[h * 5 + 3] < 0);
      }
      // Sequence 1 now holds the queries: it reads only values of 2.
      RaggedBuffers second;
      second.cuQ = {0, 0, 5, 5};
      runOrFail(kernel, second.args);
      for (float x : second.out)
        CHECK(x == Approx(2.0f));
    }
    auto expectError = [&](const std::function<void(RaggedBuffers &)> &spoil,
                           const char *message) {
      RaggedBuffers buf;
      spoil(buf);
      expectRunError(kernel, buf.args, buf.out, message);
    };
    expectError([](RaggedBuffers &b) { b.cuQ[0] = 1; },
                "cu_seqlens_q[0] = 1; the offsets start at 0");
    expectError([](RaggedBuffers &b) { b.cuK[2] = 3; },
                "cu_seqlens_k[2] = 3 is less than cu_seqlens_k[1] = 4: "
                "offsets must not decrease");
    expectError([](RaggedBuffers &b) { b.cuQ[3] = 4; },
                "cu_seqlens_q[3] = 4; the last offset must be the packed "
                "length total_q (q's dimension 2) = 5");
    expectError([](RaggedBuffers &b) { b.cuK[3] = 9; },
                "cu_seqlens_k[3] = 9; the last offset must be the packed "
                "length total_k (k's dimension 2) = 7");
    expectError(
        [](RaggedBuffers &b) { b.args.ragged->cuSeqlensQ.dtype = DType::I64; },
        "cu_seqlens_q must be i32; got i64");
    expectError(
        [](RaggedBuffers &b) { b.args.ragged->cuSeqlensK.shape = {2, 2}; },
        "cu_seqlens_k must have rank 1 [S + 1]; got rank 2");
    expectError([](RaggedBuffers &b) { b.args.ragged->cuSeqlensK.shape = {3}; },
                "cu_seqlens_k has 3 offsets and cu_seqlens_q 4");
    expectError([](RaggedBuffers &b) { b.args.ragged->cuSeqlensQ.shape = {1}; },
                "cu_seqlens_q must hold S + 1 >= 2 offsets");
    expectError([](RaggedBuffers &b) { b.args.ragged.reset(); },
                "was compiled for ragged batches (CompileOptions::ragged)");
    expectError(
        [](RaggedBuffers &b) {
          b.args.q.shape = {5, 4, 1, 8};
          b.args.q.strides = {32, 8, 8, 1};
        },
        "q of a ragged batch packs its sequences as [1, H, total_q, D]; got "
        "[5, 4, 1, 8]");
    expectError(
        [](RaggedBuffers &b) { b.args.out.shape = {1, 4, 4, 8}; },
        "out must have shape [1, H, total_q, Dv] = [1, 4, 5, 8]; got [1, 4, "
        "4, 8]");
    expectError(
        [](RaggedBuffers &b) { b.lseView.shape = {1, 4, 4}; },
        "lse must have shape [1, H, total_q] = [1, 4, 5]; got [1, 4, 4]");
  }
  // A dense kernel refuses offsets; GPU targets and the backward refuse
  // ragged batches when compiling.
  Kernel dense = compileOrFail(compiler, "attention d() {}");
  RaggedBuffers buf;
  CHECK(errorOf(dense.run(buf.args))
            .find("takes a dense batch; compile it with "
                  "CompileOptions::ragged") != std::string::npos);
  CompileOptions gpu;
  gpu.ragged = true;
  gpu.target = "sm_80";
  gpu.dtype = DType::BF16;
  gpu.headDim = 64;
  llvm::Expected<Kernel> refused =
      compiler.compile("attention d() {}", "", gpu);
  REQUIRE_FALSE(bool(refused));
  CHECK(llvm::toString(refused.takeError())
            .find("ragged batches (cu_seqlens) run on the CPU") !=
        std::string::npos);
  CompileOptions backward;
  backward.ragged = true;
  backward.backward = true;
  llvm::Expected<Kernel> noBackward =
      compiler.compile("attention d() {}", "", backward);
  REQUIRE_FALSE(bool(noBackward));
  CHECK(llvm::toString(noBackward.takeError()).find("have no backward yet") !=
        std::string::npos);
}

TEST_CASE("JIT: the call's sizes read in expressions are set at run time",
          "[jit]") {
  // Memory only: a warm disk cache would leave nothing to compile.
  Compiler compiler(CompilerOptions{std::string()});
  const char *source =
      "attention logm() { normalize = sigmoid(score - log(M)) }";
  Kernel kernel = compileOrFail(compiler, source);
  CHECK(kernel.getParams().empty()); // M is not the caller's to give
  for (int64_t M : {5, 40}) {
    CheckOptions check;
    check.sizes = {1, 2, 2, 7, M, 8, 8};
    llvm::Expected<CheckResult> result = checkKernel(kernel, source, "", check);
    REQUIRE(bool(result));
    CHECK(result->passed);
  }
  CHECK(compiler.getStats().compilations == 1);
  Buffers buf(1, 4, 2, 5, 7, 8);
  buf.args.params.clear();
  buf.args.params.emplace("M", ParamValue(3.0));
  CHECK(errorOf(kernel.run(buf.args)).find("unknown param 'M'") !=
        std::string::npos);
}

TEST_CASE("JIT: the value head dim may differ from the query/key head dim",
          "[jit]") {
  Compiler compiler;
  CompileOptions fixed;
  fixed.headDim = 24;
  fixed.valueHeadDim = 40;
  Kernel kernel = compileOrFail(compiler, kAlibi, fixed);
  CheckOptions check;
  check.sizes = AttnSizes{2, 4, 2, 37, 29, 24, 40};
  llvm::Expected<CheckResult> result = checkKernel(kernel, kAlibi, "", check);
  if (!result)
    FAIL(llvm::toString(result.takeError()));
  INFO(result->firstBad);
  CHECK(result->passed);
  // Both dims are checked at run time.
  check.sizes.valueDim = 24;
  llvm::Expected<CheckResult> wrong = checkKernel(kernel, kAlibi, "", check);
  REQUIRE(!wrong);
  CHECK(
      llvm::toString(wrong.takeError())
          .find(
              "compiled for head dims D = 24, Dv = 40; got D = 24, Dv = 24") !=
      std::string::npos);
  // A value head dim alone (the head dim at run time) is refused.
  CompileOptions valueOnly;
  valueOnly.valueHeadDim = 40;
  llvm::Expected<Kernel> bad = compiler.compile(kAlibi, "", valueOnly);
  REQUIRE(!bad);
  CHECK(llvm::toString(bad.takeError()).find("only together with headDim") !=
        std::string::npos);
}

TEST_CASE("JIT: compile errors carry the diagnostics", "[jit]") {
  Compiler compiler;
  llvm::Expected<Kernel> kernel =
      compiler.compile("attention f() { mask = q_idx + 1 }", "", {}, "f.attn");
  REQUIRE(!kernel);
  std::string text = llvm::toString(kernel.takeError());
  CHECK(text.find("f.attn:1:24: error: type mismatch: the mask must be bool") !=
        std::string::npos);
  llvm::Expected<Kernel> two =
      compiler.compile("attention a() {} attention b() {}", "", {}, "two.attn");
  REQUIRE(!two);
  CHECK(llvm::toString(two.takeError()).find("several variants (a, b)") !=
        std::string::npos);
}

TEST_CASE("JIT: kernels are cached, also across threads", "[jit]") {
  Compiler compiler(CompilerOptions{std::string()}); // memory only
  Kernel first = compileOrFail(compiler, kAlibi);
  Kernel again = compileOrFail(compiler, kAlibi);
  CHECK(compiler.getStats().compilations == 1);
  CHECK(compiler.getStats().cacheHits == 1);
  CompileOptions bf16;
  bf16.dtype = DType::BF16;
  compileOrFail(compiler, kAlibi, bf16);
  CHECK(compiler.getStats().compilations == 2);

  // Eight threads compile one new variant at once, then run it at once.
  const char *source = "attention w(w: i64 = 5) { mask = sliding_window(w) }";
  std::vector<std::thread> threads;
  std::vector<std::string> failures(8);
  std::vector<std::vector<float>> outs(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      llvm::Expected<Kernel> kernel = compiler.compile(source);
      if (!kernel) {
        failures[t] = llvm::toString(kernel.takeError());
        return;
      }
      Buffers buf(1, 2, 2, 33, 33, 16);
      buf.args.params.clear();
      buf.args.threads = 1;
      if (llvm::Error e = kernel->run(buf.args))
        failures[t] = llvm::toString(std::move(e));
      outs[t] = buf.out;
    });
  for (std::thread &t : threads)
    t.join();
  for (const std::string &f : failures)
    CHECK(f.empty());
  CHECK(compiler.getStats().compilations == 3);
  for (int t = 1; t < 8; ++t)
    CHECK(outs[t] == outs[0]);
}

TEST_CASE("JIT: a variant built in C++ compiles and runs", "[jit]") {
  Compiler compiler;
  VariantBuilder v("builder_causal");
  Param slopes = v.tensor("slopes", DType::F32, {"H"});
  v.score(score() + slopes[h()] * (kv_idx() - q_idx()));
  v.mask(call("causal"));
  llvm::Expected<Kernel> kernel = compiler.compile(v);
  if (!kernel)
    FAIL(llvm::toString(kernel.takeError()));
  Buffers buf(1, 2, 1, 4, 4, 8);
  runOrFail(*kernel, buf.args);
  for (int d = 0; d < 8; ++d)
    CHECK(buf.out[d] == Approx(buf.v[d]));
}

TEST_CASE("JIT: the disk cache serves other compilers and survives damage",
          "[jit][cache]") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("attnc-cache", dir));
  CompilerOptions options{std::string(dir)};
  auto runAndCheck = [](const Kernel &kernel) {
    Buffers buf(1, 2, 1, 9, 9, 8);
    runOrFail(kernel, buf.args);
    for (int d = 0; d < 8; ++d)
      CHECK(buf.out[d] == Approx(buf.v[d]));
  };
  {
    Compiler first(options);
    runAndCheck(compileOrFail(first, kAlibi));
    CHECK(first.getStats().compilations == 1);
  }
  std::vector<std::string> entries;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    entries.push_back(it->path());
  REQUIRE(entries.size() == 1);
  {
    Compiler second(options);
    runAndCheck(compileOrFail(second, kAlibi));
    CHECK(second.getStats().compilations == 0);
    CHECK(second.getStats().diskHits == 1);
  }
  auto damage = [&](const std::function<void(std::string &)> &edit) {
    auto buffer = llvm::MemoryBuffer::getFile(entries[0], false);
    REQUIRE(buffer);
    std::string bytes = (*buffer)->getBuffer().str();
    edit(bytes);
    llvm::raw_fd_ostream out(entries[0], ec);
    out << bytes;
  };
  // Truncated, then one flipped byte: each is detected and rebuilt.
  for (auto edit : {std::function<void(std::string &)>(
                        [](std::string &b) { b.resize(b.size() / 2); }),
                    std::function<void(std::string &)>(
                        [](std::string &b) { b[b.size() - 100] ^= 0x5a; })}) {
    damage(edit);
    Compiler repair(options);
    runAndCheck(compileOrFail(repair, kAlibi));
    CHECK(repair.getStats().corruptEntries == 1);
    CHECK(repair.getStats().compilations == 1);
    Compiler after(options);
    compileOrFail(after, kAlibi);
    CHECK(after.getStats().diskHits == 1);
  }
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE(
    "JIT: a cache entry runs only under its own key; only regular files load",
    "[jit][cache]") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("attnc-cache", dir));
  CompilerOptions options{std::string(dir)};
  auto entries = [&] {
    std::vector<std::string> found;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
         it.increment(ec))
      found.push_back(it->path());
    std::sort(found.begin(), found.end());
    return found;
  };
  const char *kDense = "attention dense() { }";
  {
    Compiler first(options);
    compileOrFail(first, kAlibi);
    compileOrFail(first, kDense);
  }
  std::vector<std::string> two = entries();
  REQUIRE(two.size() == 2);
  // Each entry under the other's name: both refused as corrupt, rebuilt,
  // and the kernels compute their own variant.
  std::string a = two[0] + ".swap";
  REQUIRE(!llvm::sys::fs::rename(two[0], a));
  REQUIRE(!llvm::sys::fs::rename(two[1], two[0]));
  REQUIRE(!llvm::sys::fs::rename(a, two[1]));
  {
    Compiler swapped(options);
    compileOrFail(swapped, kAlibi);
    compileOrFail(swapped, kDense);
    CHECK(swapped.getStats().corruptEntries == 2);
    CHECK(swapped.getStats().diskHits == 0);
    CHECK(swapped.getStats().compilations == 2);
  }
  // A FIFO (or any non-regular file) in an entry's place neither hangs nor
  // loads.
  for (const std::string &entry : entries())
    llvm::sys::fs::remove(entry);
  {
    Compiler once(options);
    compileOrFail(once, kAlibi);
  }
  std::vector<std::string> one = entries();
  REQUIRE(one.size() == 1);
  llvm::sys::fs::remove(one[0]);
  REQUIRE(::mkfifo(one[0].c_str(), 0600) == 0);
  {
    Compiler fifo(options);
    compileOrFail(fifo, kAlibi);
    CHECK(fifo.getStats().corruptEntries == 1);
  }
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("JIT: the GPU backward compiles for every kind of variant",
          "[jit][gpu][backward]") {
  // NVRTC needs no GPU: every hook the backward calls (score_mod_grad with
  // params to learn, output_mod_grad, sink_grad, a classifier that reads
  // params, the other normalizers, output statements that read the row's
  // statistics) through both archs, dtypes and head dims.
  struct Case {
    const char *example, *target;
    DType dtype;
    int64_t headDim, valueHeadDim;
  };
  const Case cases[] = {
      {"alibi_causal.attn", "sm_90a", DType::BF16, 128, 128},
      {"gated_output.attn", "sm_80", DType::F16, 64, 128},
      {"sinks.attn", "sm_90a", DType::BF16, 64, 64},
      {"document.attn", "sm_80", DType::BF16, 128, 64},
      {"sigmoid.attn", "sm_90a", DType::F16, 128, 128},
      {"relative_bias.attn", "sm_80", DType::BF16, 64, 64},
      // Output statements that read row_sum (and lse, through sinks').
      {"sigmoid_normalized.attn", "sm_90a", DType::BF16, 128, 128},
  };
  Compiler compiler(CompilerOptions{std::string()}); // compiles every time
  for (const Case &c : cases) {
    INFO(c.example << " " << c.target);
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
        llvm::MemoryBuffer::getFile(std::string(ATTNC_SOURCE_DIR) +
                                    "/examples/" + c.example);
    REQUIRE(file);
    std::string source = (*file)->getBuffer().str();
    CompileOptions options = gpuOptions(c.target);
    options.dtype = c.dtype;
    options.headDim = c.headDim;
    options.valueHeadDim = c.valueHeadDim;
    options.backward = true;
    std::optional<Kernel> kernel =
        compileForGPU(compiler, source.c_str(), options);
    if (!kernel)
      return;
    CHECK(kernel->hasBackward());
  }
}

TEST_CASE("JIT: a GPU block map compiles as its own program and is cached",
          "[jit][gpu]") {
  const char *document = R"(
attention document_causal(doc: i32[N]) {
  mask = document(doc) && causal()
}
)";
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("attnc-gpu-cache", dir));
  CompileOptions options = gpuOptions("sm_80");
  {
    Compiler compiler(CompilerOptions{std::string(dir)});
    std::optional<Kernel> kernel = compileForGPU(compiler, document, options);
    if (!kernel)
      return;
    // The forward kernel's cubin holds it alone; the block map has its own.
    CHECK(kernel->getCudaSource().find("document_causal_blockmap") !=
          std::string::npos);
    CHECK(kernel->getCubin().find("document_causal_kernel") !=
          std::string::npos);
    CHECK(kernel->getCubin().find("document_causal_blockmap") ==
          std::string::npos);
    CHECK(compiler.getStats().compilations == 1);
  }
  // Both cubins come back from the disk cache (an entry without the block
  // map's would count as corrupt and compile again).
  Compiler compiler(CompilerOptions{std::string(dir)});
  llvm::Expected<Kernel> again = compiler.compile(document, "", options);
  REQUIRE(bool(again));
  CHECK(compiler.getStats().diskHits == 1);
  CHECK(compiler.getStats().corruptEntries == 0);
  CHECK(compiler.getStats().compilations == 0);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("JIT: GPU targets refuse i64 scalar params outside i32",
          "[jit][gpu]") {
  // The GPU kernels keep i64 values in 32 bits: checked before the launch,
  // so no device is needed (the views claim GPU memory; nothing reads them).
  Compiler compiler(CompilerOptions{std::string()});
  const char *source =
      "attention far(shift: i64 = 0) { mask = kv_idx + shift >= q_idx }";
  std::optional<Kernel> kernel =
      compileForGPU(compiler, source, gpuOptions("sm_80"));
  if (!kernel)
    return;
  std::vector<uint16_t> q(64 * 4, 0x3f80), out(64 * 4);
  KernelArgs args;
  args.q = TensorView::contiguous(q.data(), DType::BF16, {1, 1, 4, 64},
                                  Device::CUDA);
  args.k = args.v = args.q;
  args.out = TensorView::contiguous(out.data(), DType::BF16, {1, 1, 4, 64},
                                    Device::CUDA);
  for (double shift : {3e9, -2147483649.0}) {
    args.params.insert_or_assign("shift", ParamValue(shift));
    CHECK(errorOf(kernel->run(args)) ==
          "param 'shift' is i64, which sm_80 kernels keep in 32 bits: it "
          "takes an integer from -2147483648 to 2147483647 on the GPU; got " +
              llvm::formatv("{0:f0}", shift).str());
  }
  // The CPU takes it.
  Kernel cpu = compileOrFail(compiler, source);
  Buffers buf(1, 1, 1, 4, 4, 8);
  buf.args.params.clear();
  buf.args.params.emplace("shift", ParamValue(3e9));
  llvm::Error ran = cpu.run(buf.args);
  CHECK_FALSE(bool(ran));
  llvm::consumeError(std::move(ran));
}

TEST_CASE("JIT: GPU kernels compile through NVRTC and are cached as cubins",
          "[jit][gpu]") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("attnc-gpu-cache", dir));
  CompileOptions options = gpuOptions("sm_90a");
  {
    Compiler compiler(CompilerOptions{std::string(dir)});
    std::optional<Kernel> kernel = compileForGPU(compiler, kAlibi, options);
    if (!kernel)
      return;
    CHECK(kernel->getTarget() == "sm_90a");
    CHECK(kernel->getCudaSource().find("alibi_causal_kernel") !=
          std::string::npos);
    CHECK(kernel->getCubin().substr(0, 4) == "\x7f"
                                             "ELF");
    CHECK(compiler.getStats().compilations == 1);

    // Host memory is refused before anything runs (with or without a GPU).
    std::vector<uint16_t> q(64 * 4, 0x3f80), out(64 * 4);
    std::vector<float> slopes(1, 0.5f);
    KernelArgs args;
    args.q = TensorView::contiguous(q.data(), DType::BF16, {1, 1, 4, 64});
    args.k = args.v = args.q;
    args.out = TensorView::contiguous(out.data(), DType::BF16, {1, 1, 4, 64});
    args.params.emplace("slopes", ParamValue(TensorView::contiguous(
                                      slopes.data(), DType::F32, {1})));
    llvm::Error error = kernel->run(args);
    REQUIRE(bool(error));
    CHECK(llvm::toString(std::move(error)) ==
          "q is in host memory; this kernel runs on the GPU");
  }
  // A second compiler (another process, say) loads the cubin from disk.
  Compiler compiler(CompilerOptions{std::string(dir)});
  llvm::Expected<Kernel> again = compiler.compile(kAlibi, "", options);
  REQUIRE(bool(again));
  CHECK(compiler.getStats().diskHits == 1);
  CHECK(compiler.getStats().compilations == 0);
  CHECK(again->getCubin().substr(0, 4) == "\x7f"
                                          "ELF");
  // GPU-only requirements are compile errors with their reason.
  CompileOptions f32 = options;
  f32.dtype = DType::F32;
  auto bad = compiler.compile(kAlibi, "", f32);
  REQUIRE(!bad);
  CHECK(llvm::toString(bad.takeError()).find("bf16 or f16") !=
        std::string::npos);
  CompileOptions noHead = options;
  noHead.headDim.reset();
  bad = compiler.compile(kAlibi, "", noHead);
  REQUIRE(!bad);
  CHECK(llvm::toString(bad.takeError()).find("head dim") != std::string::npos);
  llvm::sys::fs::remove_directories(dir);
}
