// Runs the consumer's variant through the installed JIT (C++ API) and
// through its AOT object, on the same inputs, and checks both against a
// direct computation. Exit status 0 when all three agree.
#include "attnc/attnc.h"
#include "window.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace {
constexpr int64_t B = 1, H = 2, N = 37, D = 16, W = 8;

float direct(const std::vector<float> &q, const std::vector<float> &k,
             const std::vector<float> &v, int64_t h, int64_t i, int64_t d) {
  double m = -INFINITY, l = 0, o = 0;
  std::vector<double> s(N, -INFINITY);
  for (int64_t j = 0; j <= i; ++j) {
    if (i - j >= W)
      continue;
    double dot = 0;
    for (int64_t c = 0; c < D; ++c)
      dot += q[(h * N + i) * D + c] * k[(h * N + j) * D + c];
    s[j] = dot / std::sqrt(double(D));
    m = std::max(m, s[j]);
  }
  for (int64_t j = 0; j <= i; ++j)
    if (s[j] > -INFINITY) {
      l += std::exp(s[j] - m);
      o += std::exp(s[j] - m) * v[(h * N + j) * D + d];
    }
  return float(o / l);
}

attnc_memref4 view(float *p) {
  return {p, p, 0, {B, H, N, D}, {H * N * D, N * D, D, 1}};
}
} // namespace

int main() {
  std::vector<float> q(B * H * N * D), k(q.size()), v(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    q[i] = std::sin(0.31f * float(i));
    k[i] = std::cos(0.17f * float(i));
    v[i] = std::sin(0.07f * float(i) + 0.5f);
  }
  std::ifstream file(VARIANT_FILE);
  std::stringstream source;
  source << file.rdbuf();
  attnc::Compiler compiler;
  llvm::Expected<attnc::Kernel> kernel = compiler.compile(source.str());
  if (!kernel) {
    std::fprintf(stderr, "%s\n", llvm::toString(kernel.takeError()).c_str());
    return 1;
  }
  std::vector<float> jitOut(q.size(), NAN), aotOut(q.size(), NAN);
  attnc::KernelArgs args;
  args.q = attnc::TensorView::contiguous(q.data(), attnc::DType::F32, {B, H, N, D});
  args.k = attnc::TensorView::contiguous(k.data(), attnc::DType::F32, {B, H, N, D});
  args.v = attnc::TensorView::contiguous(v.data(), attnc::DType::F32, {B, H, N, D});
  args.out = attnc::TensorView::contiguous(jitOut.data(), attnc::DType::F32, {B, H, N, D});
  if (llvm::Error e = kernel->run(args)) {
    std::fprintf(stderr, "%s\n", llvm::toString(std::move(e)).c_str());
    return 1;
  }
  attnc_memref4 mq = view(q.data()), mk = view(k.data()), mv = view(v.data()),
                mo = view(aotOut.data());
  std::vector<float> lse(B * H * N);
  attnc_memref3 ml = {lse.data(), lse.data(), 0, {B, H, N}, {H * N, N, 1}};
  int rc = consumer_window_run(&mq, &mk, &mv, &mo, &ml, int32_t(W), 2);
  double jitError = 0, aotError = 0;
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t d = 0; d < D; ++d) {
        const size_t at = (h * N + i) * D + d;
        const double want = direct(q, k, v, h, i, d);
        const double j = std::fabs(jitOut[at] - want), a = std::fabs(aotOut[at] - want);
        jitError = std::isnan(j) ? INFINITY : std::max(jitError, j);
        aotError = std::isnan(a) ? INFINITY : std::max(aotError, a);
      }
  std::printf("jit: %s, max error %.3g; aot: rc %d, max error %.3g\n",
              kernel->getName().c_str(), jitError, rc, aotError);
  return rc == 0 && jitError < 1e-4 && aotError < 1e-4 ? 0 : 1;
}
