// Compiles ALiBi + causal attention with the JIT API, twice: once from attnc
// source and once from a C++ builder; runs both on the same inputs, checks
// them against a direct computation written out below, and prints what it
// found. Exit status 0 when everything agrees.
//
//   build/bin/attnc-example-alibi
#include "attnc/attnc.h"

#include <cmath>
#include <cstdio>
#include <vector>

namespace {
constexpr int64_t B = 2, H = 4, Hkv = 2, N = 50, D = 32;

/// softmax(q k^T / sqrt(D) + slopes[h] * (j - i)) v over j <= i, directly.
float direct(const std::vector<float> &q, const std::vector<float> &k,
             const std::vector<float> &v, const std::vector<float> &slopes,
             int64_t b, int64_t h, int64_t i, int64_t d) {
  int64_t hk = h / (H / Hkv);
  std::vector<double> s(i + 1);
  double m = -INFINITY, l = 0, o = 0;
  for (int64_t j = 0; j <= i; ++j) {
    double dot = 0;
    for (int64_t c = 0; c < D; ++c)
      dot += q[((b * H + h) * N + i) * D + c] *
             k[((b * Hkv + hk) * N + j) * D + c];
    s[j] = dot / std::sqrt(double(D)) + slopes[h] * double(j - i);
    m = std::max(m, s[j]);
  }
  for (int64_t j = 0; j <= i; ++j) {
    double p = std::exp(s[j] - m);
    l += p;
    o += p * v[((b * Hkv + hk) * N + j) * D + d];
  }
  return float(o / l);
}
} // namespace

int main() {
  std::vector<float> q(B * H * N * D), k(B * Hkv * N * D), v(B * Hkv * N * D),
      out(B * H * N * D), slopes(H);
  for (size_t i = 0; i < q.size(); ++i)
    q[i] = std::sin(0.37f * float(i));
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = std::cos(0.11f * float(i));
    v[i] = std::sin(0.05f * float(i) + 1.0f);
  }
  for (int64_t h = 0; h < H; ++h)
    slopes[h] = std::exp2(-8.0f * float(h + 1) / float(H));

  attnc::Compiler compiler;
  llvm::Expected<attnc::Kernel> fromSource = compiler.compile(R"(
    attention alibi_causal(slopes: f32[H]) {
      score = score + slopes[h] * (kv_idx - q_idx)
      mask  = causal()
    })");
  attnc::VariantBuilder builder("alibi_causal");
  attnc::Param slopesParam = builder.tensor("slopes", attnc::DType::F32, {"H"});
  builder.score(attnc::score() +
                slopesParam[attnc::h()] * (attnc::kv_idx() - attnc::q_idx()));
  builder.mask(attnc::call("causal"));
  llvm::Expected<attnc::Kernel> fromBuilder = compiler.compile(builder);
  for (llvm::Expected<attnc::Kernel> *kernel : {&fromSource, &fromBuilder})
    if (!*kernel) {
      std::fprintf(stderr, "%s\n", llvm::toString(kernel->takeError()).c_str());
      return 1;
    }
  std::printf("compiled %s; the builder's variant was a cache hit: %s\n",
              fromSource->getName().c_str(),
              compiler.getStats().cacheHits == 1 ? "yes" : "no");

  attnc::KernelArgs args;
  args.q =
      attnc::TensorView::contiguous(q.data(), attnc::DType::F32, {B, H, N, D});
  args.k = attnc::TensorView::contiguous(k.data(), attnc::DType::F32,
                                         {B, Hkv, N, D});
  args.v = attnc::TensorView::contiguous(v.data(), attnc::DType::F32,
                                         {B, Hkv, N, D});
  args.out = attnc::TensorView::contiguous(out.data(), attnc::DType::F32,
                                           {B, H, N, D});
  args.params.emplace("slopes", attnc::ParamValue(attnc::TensorView::contiguous(
                                    slopes.data(), attnc::DType::F32, {H})));
  double worst = 0;
  for (llvm::Expected<attnc::Kernel> *kernel : {&fromSource, &fromBuilder}) {
    std::fill(out.begin(), out.end(), NAN);
    if (llvm::Error e = (*kernel)->run(args)) {
      std::fprintf(stderr, "%s\n", llvm::toString(std::move(e)).c_str());
      return 1;
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < N; ++i)
          for (int64_t d = 0; d < D; ++d) {
            float want = direct(q, k, v, slopes, b, h, i, d);
            float got = out[((b * H + h) * N + i) * D + d];
            double error = std::fabs(double(got) - want);
            worst = std::isnan(error) ? INFINITY : std::max(worst, error);
          }
  }
  std::printf("max |attnc - direct| = %.3g over %lld outputs, twice\n", worst,
              (long long)(B * H * N * D));
  // Also show what a wrong argument gives.
  args.params.clear();
  llvm::Error missing = fromSource->run(args);
  std::printf("without slopes: %s\n",
              llvm::toString(std::move(missing)).c_str());
  return worst < 1e-4 ? 0 : 1;
}
