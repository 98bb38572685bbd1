/* Links the object that `attnc --emit=obj` wrote for examples/causal.attn,
   calls it through its generated header, and checks every output against a
   direct computation. */
#include "causal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, H = 4, HKV = 2, N = 37, D = 24 };

static attnc_memref4 view4(float *data, int64_t s0, int64_t s1, int64_t s2,
                           int64_t s3) {
  attnc_memref4 m = {data, data, 0, {s0, s1, s2, s3},
                     {s1 * s2 * s3, s2 * s3, s3, 1}};
  return m;
}

int main(void) {
  static float q[B * H * N * D], k[B * HKV * N * D], v[B * HKV * N * D],
      out[B * H * N * D], lse[B * H * N];
  for (int i = 0; i < B * H * N * D; ++i)
    q[i] = sinf(0.3f * i), out[i] = NAN;
  for (int i = 0; i < B * HKV * N * D; ++i)
    k[i] = cosf(0.7f * i), v[i] = sinf(0.11f * i + 1.0f);
  attnc_memref4 qm = view4(q, B, H, N, D), km = view4(k, B, HKV, N, D),
                vm = view4(v, B, HKV, N, D), om = view4(out, B, H, N, D);
  attnc_memref3 lm = {lse, lse, 0, {B, H, N}, {H * N, N, 1}};
  int32_t status = 0;
  attnc_memref1 sm = {&status, &status, 0, {1}, {1}};
  int64_t work = (int64_t)B * H * ((N + ATTNC_CAUSAL_ATTENTION_TILE_Q - 1) /
                                   ATTNC_CAUSAL_ATTENTION_TILE_Q);
  _mlir_ciface_causal_attention_kernel(&qm, &km, &vm, &om, &lm, &sm, 0, work);

  double worst = 0;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        int hk = h / (H / HKV);
        double s[N], m = -INFINITY, l = 0;
        for (int j = 0; j <= i; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += q[((b * H + h) * N + i) * D + d] * k[((b * HKV + hk) * N + j) * D + d];
          s[j] = dot / sqrt((double)D);
          m = fmax(m, s[j]);
        }
        for (int j = 0; j <= i; ++j)
          l += exp(s[j] - m);
        worst = fmax(worst, fabs(lse[(b * H + h) * N + i] - (m + log(l))));
        for (int d = 0; d < D; ++d) {
          double o = 0;
          for (int j = 0; j <= i; ++j)
            o += exp(s[j] - m) / l * v[((b * HKV + hk) * N + j) * D + d];
          double e = fabs(out[((b * H + h) * N + i) * D + d] - o);
          worst = isnan(e) ? INFINITY : fmax(worst, e);
        }
      }
  printf("status %d, max error %.3g\n", status, worst);
  return status == 0 && worst < 1e-4 ? 0 : 1;
}
