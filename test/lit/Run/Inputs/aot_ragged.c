/* Calls the generated dense_run of a ragged AOT object (dense.attn,
   compiled with --ragged) on three packed sequences: 2 queries and 4 keys,
   none and 3, 3 and none. Every key is the same and sequence s's value rows
   hold s + 1, so each query's output is its own sequence's value (0 with
   lse -inf for a sequence without keys); then bad offsets, which return
   ATTNC_CPU_BAD_OFFSETS and write nothing. */
#include "ragged.h"

#include <math.h>
#include <stdio.h>

enum { H = 2, TQ = 5, TK = 7, D = 8 };

static float q[H * TQ * D], k[H * TK * D], v[H * TK * D], out[H * TQ * D],
    lse[H * TQ];

static int run(int32_t *cu_q, int32_t *cu_k) {
  attnc_memref4 mq = {q, q, 0, {1, H, TQ, D}, {H * TQ * D, TQ * D, D, 1}};
  attnc_memref4 mk = {k, k, 0, {1, H, TK, D}, {H * TK * D, TK * D, D, 1}};
  attnc_memref4 mv = {v, v, 0, {1, H, TK, D}, {H * TK * D, TK * D, D, 1}};
  attnc_memref4 mo = {out, out, 0, {1, H, TQ, D}, {H * TQ * D, TQ * D, D, 1}};
  attnc_memref3 ml = {lse, lse, 0, {1, H, TQ}, {H * TQ, TQ, 1}};
  attnc_memref1 cq = {cu_q, cu_q, 0, {4}, {1}}, ck = {cu_k, cu_k, 0, {4}, {1}};
  int i;
  for (i = 0; i < H * TQ * D; ++i)
    out[i] = NAN;
  for (i = 0; i < H * TQ; ++i)
    lse[i] = NAN;
  return dense_run(&mq, &mk, &mv, &mo, &ml, &cq, &ck, 3);
}

int main(void) {
  int32_t cu_q[4] = {0, 2, 2, 5}, cu_k[4] = {0, 4, 7, 7};
  int i, h, t, bad = 0, rc;
  for (i = 0; i < H * TQ * D; ++i)
    q[i] = 0.5f;
  for (h = 0; h < H; ++h)
    for (t = 0; t < TK; ++t)
      for (i = 0; i < D; ++i) {
        k[(h * TK + t) * D + i] = 0.25f;
        v[(h * TK + t) * D + i] = t < 4 ? 1.0f : 2.0f;
      }
  rc = run(cu_q, cu_k);
  for (h = 0; h < H; ++h)
    for (t = 0; t < TQ; ++t) {
      for (i = 0; i < D; ++i)
        bad += fabsf(out[(h * TQ + t) * D + i] - (t < 2 ? 1.0f : 0.0f)) > 1e-6f;
      bad += t < 2 ? !isfinite(lse[h * TQ + t])
                   : !(isinf(lse[h * TQ + t]) && lse[h * TQ + t] < 0);
    }
  printf("ragged: rc %d, bad %d\n", rc, bad);
  cu_q[1] = 0, cu_q[2] = 5; /* sequence 1 takes every query: values 2 */
  rc = run(cu_q, cu_k);
  bad = 0;
  for (i = 0; i < H * TQ * D; ++i)
    bad += fabsf(out[i] - 2.0f) > 1e-6f;
  printf("ragged, one sequence of queries: rc %d, bad %d\n", rc, bad);
  cu_k[2] = 3; /* decreasing */
  rc = run(cu_q, cu_k);
  bad = 0;
  for (i = 0; i < H * TQ * D; ++i)
    bad += !isnan(out[i]);
  printf("decreasing offsets: rc %d, written %d\n", rc, bad);
  cu_k[2] = 7, cu_q[3] = 4; /* not the packed length */
  rc = run(cu_q, cu_k);
  printf("last offset short: rc %d\n", rc);
  return 0;
}
