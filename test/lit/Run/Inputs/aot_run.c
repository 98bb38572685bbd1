/* Calls the generated <variant>_run of three AOT objects (alibi_causal: a
   tensor param and lse; sigmoid_attention: a scalar param, no lse, in the
   cpu_decode family;
   document_causal: a param read out of bounds) on dense and strided views
   with several thread counts, every output poisoned first, and checks them
   against a direct computation in double. */
#include "alibi.h"
#include "document.h"
#include "sigmoid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, H = 4, HKV = 2, N = 70, D = 24 };

/* How a view lies in memory. */
enum layout {
  DENSE,
  /* heads inside rows ([b, n, h, d] storage), an offset, unit innermost
     stride: the kernel takes it as it is */
  PERMUTED,
  /* the same with every other element of a padded row: staged */
  STRIDED
};

static attnc_memref4 make4(int64_t s0, int64_t s1, int64_t s2, int64_t s3,
                           enum layout layout) {
  int64_t step = layout == STRIDED ? 2 : 1, row = s3 * step + (layout == STRIDED);
  int64_t offset = layout == DENSE ? 0 : 5;
  int64_t count = offset + s0 * s1 * s2 * row, i;
  float *data = (float *)malloc((size_t)count * sizeof(float));
  attnc_memref4 m = {data, data, offset, {s0, s1, s2, s3}, {0, 0, 0, step}};
  for (i = 0; i < count; ++i)
    data[i] = NAN;
  if (layout == DENSE) {
    m.strides[0] = s1 * s2 * s3, m.strides[1] = s2 * s3, m.strides[2] = s3;
  } else {
    m.strides[0] = s1 * s2 * row, m.strides[1] = row, m.strides[2] = s1 * row;
  }
  return m;
}

static attnc_memref3 make3(int64_t s0, int64_t s1, int64_t s2, enum layout layout) {
  int64_t step = layout == DENSE ? 1 : 3, count = s0 * s1 * s2 * step, i;
  float *data = (float *)malloc((size_t)count * sizeof(float));
  attnc_memref3 m = {data, data, 0, {s0, s1, s2}, {s1 * s2 * step, s2 * step, step}};
  for (i = 0; i < count; ++i)
    data[i] = NAN;
  return m;
}

static float *at4(attnc_memref4 *m, int b, int h, int i, int d) {
  return (float *)m->aligned + m->offset + b * m->strides[0] +
         h * m->strides[1] + i * m->strides[2] + d * m->strides[3];
}

static float *at3(attnc_memref3 *m, int b, int h, int i) {
  return (float *)m->aligned + b * m->strides[0] + h * m->strides[1] +
         i * m->strides[2];
}

static void fill(attnc_memref4 *m, float a, float c) {
  int b, h, i, d;
  for (b = 0; b < m->sizes[0]; ++b)
    for (h = 0; h < m->sizes[1]; ++h)
      for (i = 0; i < m->sizes[2]; ++i)
        for (d = 0; d < m->sizes[3]; ++d)
          *at4(m, b, h, i, d) =
              sinf(a * (float)(((b * m->sizes[1] + h) * m->sizes[2] + i) * D + d) + c);
}

static void poison(attnc_memref4 *out, attnc_memref3 *lse) {
  int b, h, i, d;
  for (b = 0; b < B; ++b)
    for (h = 0; h < H; ++h)
      for (i = 0; i < N; ++i) {
        for (d = 0; d < D; ++d)
          *at4(out, b, h, i, d) = NAN;
        if (lse)
          *at3(lse, b, h, i) = NAN;
      }
}

/* The largest error of out (and lse) against the variant computed directly:
   alibi (slopes, causal, softmax) or sigmoid (bias, no mask). */
static double check(int alibi, attnc_memref4 *q, attnc_memref4 *k,
                    attnc_memref4 *v, attnc_memref4 *out, attnc_memref3 *lse,
                    const float *slopes, float bias) {
  double worst = 0;
  int b, h, i, j, d;
  for (b = 0; b < B; ++b)
    for (h = 0; h < H; ++h)
      for (i = 0; i < N; ++i) {
        int hk = h / (H / HKV), last = alibi ? i : N - 1;
        double s[N], w[N], m = -INFINITY, l = 0;
        for (j = 0; j <= last; ++j) {
          double dot = 0;
          for (d = 0; d < D; ++d)
            dot += (double)*at4(q, b, h, i, d) * *at4(k, b, hk, j, d);
          s[j] = dot / sqrt((double)D) +
                 (alibi ? slopes[h] * (double)(j - i) : bias);
          m = fmax(m, s[j]);
        }
        for (j = 0; j <= last; ++j)
          l += exp(s[j] - m);
        for (j = 0; j <= last; ++j)
          w[j] = alibi ? exp(s[j] - m) / l : 1 / (1 + exp(-s[j]));
        if (lse) {
          double e = fabs(*at3(lse, b, h, i) - (m + log(l)));
          worst = e == e ? fmax(worst, e) : INFINITY;
        }
        for (d = 0; d < D; ++d) {
          double o = 0, e;
          for (j = 0; j <= last; ++j)
            o += w[j] * *at4(v, b, hk, j, d);
          e = fabs(*at4(out, b, h, i, d) - o);
          worst = e == e ? fmax(worst, e) : INFINITY;
        }
      }
  return worst;
}

static int failures = 0;

static void report(const char *what, int rc, int expected, double worst) {
  int ok = rc == expected && worst < 1e-4;
  printf("%s: rc %d, max error %.3g%s\n", what, rc, worst, ok ? "" : " FAIL");
  failures += !ok;
}

int main(void) {
  static const enum layout layouts[] = {DENSE, PERMUTED, STRIDED};
  static const char *names[] = {"dense", "permuted", "strided"};
  static const int threads[] = {3, 1, 0};
  float slopes[H] = {0.5f, 0.25f, 0.125f, 0.0625f};
  attnc_memref1 slopesView = {slopes, slopes, 0, {H}, {1}};
  int32_t doc[N + 10];
  attnc_memref1 docView = {doc, doc, 0, {N}, {1}};
  char what[64];
  int t, i;

  for (t = 0; t < 3; ++t) {
    enum layout l = layouts[t];
    attnc_memref4 q = make4(B, H, N, D, l), k = make4(B, HKV, N, D, l),
                  v = make4(B, HKV, N, D, l), out = make4(B, H, N, D, l);
    attnc_memref3 lse = make3(B, H, N, l);
    int rc;
    fill(&q, 0.3f, 0), fill(&k, 0.7f, 0.5f), fill(&v, 0.11f, 1);

    poison(&out, &lse);
    rc = alibi_causal_run(&q, &k, &v, &out, &lse, &slopesView, threads[t]);
    sprintf(what, "alibi %s threads=%d", names[t], threads[t]);
    report(what, rc, 0, check(1, &q, &k, &v, &out, &lse, slopes, 0));

    /* No lse: the runtime writes it to scratch. */
    poison(&out, &lse);
    rc = alibi_causal_run(&q, &k, &v, &out, NULL, &slopesView, 2);
    sprintf(what, "alibi %s no lse", names[t]);
    report(what, rc, 0, check(1, &q, &k, &v, &out, NULL, slopes, 0));

    poison(&out, NULL);
    rc = sigmoid_attention_run(&q, &k, &v, &out, 0.5f, threads[t]);
    sprintf(what, "sigmoid %s threads=%d", names[t], threads[t]);
    report(what, rc, 0, check(0, &q, &k, &v, &out, NULL, slopes, 0.5f));

    /* sigmoid is a cpu_decode object: more threads than its items split
       the keys into parts, merged in a second round. */
    poison(&out, NULL);
    rc = sigmoid_attention_run(&q, &k, &v, &out, 0.5f, 16);
    sprintf(what, "sigmoid %s key splits", names[t]);
    report(what, rc, 0, check(0, &q, &k, &v, &out, NULL, slopes, 0.5f));

    free(q.allocated), free(k.allocated), free(v.allocated);
    free(out.allocated), free(lse.allocated);
  }

  {
    attnc_memref4 q = make4(B, H, N, D, DENSE), k = make4(B, HKV, N + 10, D, DENSE),
                  v = make4(B, HKV, N + 10, D, DENSE), out = make4(B, H, N, D, DENSE);
    fill(&q, 0.3f, 0), fill(&k, 0.7f, 0.5f), fill(&v, 0.11f, 1);
    for (i = 0; i < N + 10; ++i)
      doc[i] = i / 16;
    /* doc holds N entries; keys past them read out of bounds. */
    report("document, M > N", document_causal_run(&q, &k, &v, &out, NULL, &docView, 4),
           1, 0);
    report("sizes that disagree", sigmoid_attention_run(&q, &k, &out, &out, 0, 2),
           ATTNC_CPU_INVALID, 0);
    free(q.allocated), free(k.allocated), free(v.allocated), free(out.allocated);
  }
  return failures != 0;
}
