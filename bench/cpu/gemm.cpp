// The machine's fp32 GEMM throughput, measured with OpenBLAS on all cores:
// the roofline the CPU attention kernels are compared against.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2048;
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = float(i % 13) * 0.01f;
    b[i] = float(i % 7) * 0.02f;
  }
  double best = 1e30;
  for (int r = 0; r < 6; ++r) {
    auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             start)
                   .count();
    if (r > 0)
      best = std::min(best, s);
  }
  std::printf("sgemm %dx%dx%d: %.1f GFLOP/s\n", n, n, n,
              2.0 * n * n * double(n) / best * 1e-9);
  return 0;
}
