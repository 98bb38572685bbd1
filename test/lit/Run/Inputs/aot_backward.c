/* Links the object that `attnc --emit=obj --backward` wrote for
   examples/alibi_causal.attn, runs <variant>_backward_run through its
   header with 1 and 3 threads, gradients poisoned first, and checks dq, dk,
   dv and the slopes' gradient against a direct computation in double. */
#include "alibi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, H = 4, HKV = 2, N = 19, M = 23, D = 16 };

static attnc_memref4 view4(float *data, int64_t s0, int64_t s1, int64_t s2,
                           int64_t s3) {
  attnc_memref4 m = {data, data, 0, {s0, s1, s2, s3},
                     {s1 * s2 * s3, s2 * s3, s3, 1}};
  return m;
}

static float q[B * H * N * D], k[B * HKV * M * D], v[B * HKV * M * D],
    out[B * H * N * D], lse[B * H * N], dout[B * H * N * D];
static float dq[B * H * N * D], dk[B * HKV * M * D], dv[B * HKV * M * D];
static float slopes[H], dslopes[H];
static double rq[B * H * N * D], rk[B * HKV * M * D], rv[B * HKV * M * D],
    rslopes[H];

/* The forward's out and lse, and the reference gradients. */
static void reference(void) {
  const double scale = 1 / sqrt((double)D);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        const int hk = h / (H / HKV), row = (b * H + h) * N + i;
        double s[M], p[M], dp[M], m = -INFINITY, l = 0, delta = 0;
        for (int j = 0; j < M; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += q[row * D + d] * k[((b * HKV + hk) * M + j) * D + d];
          s[j] = scale * dot + slopes[h] * (j - i);
          if (j <= i)
            m = fmax(m, s[j]);
        }
        for (int j = 0; j <= i && j < M; ++j)
          l += exp(s[j] - m);
        lse[row] = (float)(m + log(l));
        for (int d = 0; d < D; ++d) {
          double o = 0;
          for (int j = 0; j <= i && j < M; ++j)
            o += exp(s[j] - m) / l * v[((b * HKV + hk) * M + j) * D + d];
          out[row * D + d] = (float)o;
        }
        for (int j = 0; j < M; ++j) {
          p[j] = j <= i ? exp(s[j] - m) / l : 0;
          dp[j] = 0;
          for (int d = 0; d < D; ++d)
            dp[j] += dout[row * D + d] * v[((b * HKV + hk) * M + j) * D + d];
          delta += p[j] * dp[j];
        }
        for (int j = 0; j < M; ++j) {
          const double ds = p[j] * (dp[j] - delta);
          rslopes[h] += ds * (j - i);
          for (int d = 0; d < D; ++d) {
            rv[((b * HKV + hk) * M + j) * D + d] += p[j] * dout[row * D + d];
            rq[row * D + d] += scale * ds * k[((b * HKV + hk) * M + j) * D + d];
            rk[((b * HKV + hk) * M + j) * D + d] += scale * ds * q[row * D + d];
          }
        }
      }
}

static double worst(const float *got, const double *want, int n) {
  double e = 0;
  for (int i = 0; i < n; ++i)
    e = fmax(e, isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]));
  return e;
}

int main(void) {
  for (int i = 0; i < B * H * N * D; ++i)
    q[i] = sinf(0.3f * i), dout[i] = cosf(0.17f * i);
  for (int i = 0; i < B * HKV * M * D; ++i)
    k[i] = cosf(0.7f * i), v[i] = sinf(0.11f * i + 1.0f);
  for (int h = 0; h < H; ++h)
    slopes[h] = 0.5f / (h + 1);
  reference();
  attnc_memref4 qm = view4(q, B, H, N, D), km = view4(k, B, HKV, M, D),
                vm = view4(v, B, HKV, M, D), om = view4(out, B, H, N, D),
                gm = view4(dout, B, H, N, D), dqm = view4(dq, B, H, N, D),
                dkm = view4(dk, B, HKV, M, D), dvm = view4(dv, B, HKV, M, D);
  attnc_memref3 lm = {lse, lse, 0, {B, H, N}, {H * N, N, 1}};
  attnc_memref1 sm = {slopes, slopes, 0, {H}, {1}},
                dsm = {dslopes, dslopes, 0, {H}, {1}};
  for (int threads = 1; threads <= 3; threads += 2) {
    for (int i = 0; i < B * H * N * D; ++i)
      dq[i] = NAN;
    for (int i = 0; i < B * HKV * M * D; ++i)
      dk[i] = dv[i] = NAN;
    for (int h = 0; h < H; ++h)
      dslopes[h] = NAN;
    int rc = alibi_causal_backward_run(&qm, &km, &vm, &om, &gm, &dqm, &dkm,
                                       &dvm, &lm, &sm, &dsm, threads);
    double e = fmax(fmax(worst(dq, rq, B * H * N * D),
                         worst(dk, rk, B * HKV * M * D)),
                    fmax(worst(dv, rv, B * HKV * M * D),
                         worst(dslopes, rslopes, H)));
    printf("backward threads=%d: rc %d, %s (max error %.2g)\n", threads, rc,
           e < 1e-3 ? "ok" : "FAIL", e);
  }
  /* No gradient wanted for the slopes; a dq of the wrong shape. */
  int rc = alibi_causal_backward_run(&qm, &km, &vm, &om, &gm, &dqm, &dkm, &dvm,
                                     &lm, &sm, NULL, 0);
  printf("no slopes gradient: rc %d, %s\n", rc,
         worst(dq, rq, B * H * N * D) < 1e-3 ? "ok" : "FAIL");
  dqm.sizes[2] = N - 1;
  printf("dq of the wrong shape: rc %d\n",
         alibi_causal_backward_run(&qm, &km, &vm, &om, &gm, &dqm, &dkm, &dvm,
                                   &lm, &sm, &dsm, 0));
  return 0;
}
