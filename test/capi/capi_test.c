/*===- capi_test.c - the C API, from C ------------------------------------===*\
|*                                                                            *|
|* Compiles and runs a variant through attnc_c.h and checks the result with a *|
|* direct computation, and its backward against central differences of that  *|
|* computation; every refusal returns its status and a message.              *|
|* `attnc-capi-test --bench` times one small call instead.                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "attnc/attnc_c.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;

/* What binaries built against the first header call (the header's macro
   of that name calls attnc_compile_options_init_size). */
void(attnc_compile_options_init)(attnc_compile_options *options);
void(attnc_run_args_init)(attnc_run_args *args);

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: failed: %s (last error: %s)\n", __FILE__,        \
              __LINE__, #cond, attnc_last_error());                            \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static DLTensor tensor(float *data, int ndim, int64_t *shape) {
  DLTensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.device.device_type = kDLCPU;
  t.ndim = ndim;
  t.dtype.code = kDLFloat;
  t.dtype.bits = 32;
  t.dtype.lanes = 1;
  t.shape = shape;
  return t;
}

static const char *kAlibi =
    "attention alibi(slopes: f32[H], scale: f32 = 1.0) {\n"
    "  score = score * scale + slopes[h] * (kv_idx - q_idx)\n"
    "}\n";

enum { N = 5, D = 4 };

/* out[i] of one head by the definition, in double. */
static void reference(const double *q, const double *k, const double *v,
                      double slope, double scale, double *out) {
  for (int i = 0; i < N; ++i) {
    double s[N], top = -INFINITY, total = 0;
    for (int j = 0; j < N; ++j) {
      double dot = 0;
      for (int d = 0; d < D; ++d)
        dot += q[i * D + d] * k[j * D + d];
      s[j] = dot / sqrt(D) * scale + slope * (j - i);
      top = s[j] > top ? s[j] : top;
    }
    for (int j = 0; j < N; ++j)
      total += s[j] = exp(s[j] - top);
    for (int d = 0; d < D; ++d) {
      out[i * D + d] = 0;
      for (int j = 0; j < N; ++j)
        out[i * D + d] += s[j] / total * v[j * D + d];
    }
  }
}

static void widen(const float *from, double *to, int n) {
  for (int i = 0; i < n; ++i)
    to[i] = from[i];
}

/* The inputs of one reference call: q, k, v, then slope and scale. */
enum { kInputs = 3 * N * D + 2 };

/* sum(dout * out) of the reference at `x` (laid out as kInputs). */
static double loss(const double *x, const float *dout) {
  double out[N * D], total = 0;
  reference(x, x + N * D, x + 2 * N * D, x[3 * N * D], x[3 * N * D + 1], out);
  for (int i = 0; i < N * D; ++i)
    total += dout[i] * out[i];
  return total;
}

/* d loss / d x by central differences, in double. */
static void referenceGradient(double *x, const float *dout, double *grad) {
  const double h = 1e-6;
  for (int i = 0; i < kInputs; ++i) {
    double keep = x[i];
    x[i] = keep + h;
    double up = loss(x, dout);
    x[i] = keep - h;
    double down = loss(x, dout);
    x[i] = keep;
    grad[i] = (up - down) / (2 * h);
  }
}

static void testRun(attnc_kernel *kernel) {
  float q[N * D], k[N * D], v[N * D], out[N * D], slopes[1] = {0.5f};
  for (int i = 0; i < N * D; ++i) {
    q[i] = sinf(i), k[i] = cosf(i * 0.7f), v[i] = (float)(i % 7) - 3;
    out[i] = 7;
  }
  int64_t shape[4] = {1, 1, N, D}, slopeShape[1] = {1};
  DLTensor tq = tensor(q, 4, shape), tk = tensor(k, 4, shape),
           tv = tensor(v, 4, shape), tout = tensor(out, 4, shape),
           tslopes = tensor(slopes, 1, slopeShape);
  attnc_param_arg params[2] = {{"slopes", &tslopes, 0, 0, 0},
                               {"scale", NULL, 0, 1, 1}};
  attnc_run_args args;
  attnc_run_args_init(&args);
  args.q = &tq, args.k = &tk, args.v = &tv, args.out = &tout;
  args.params = params;

  /* A missing param is refused and nothing is written. */
  args.num_params = 1;
  params[0].name = "scale";
  params[0].tensor = NULL;
  params[0].value = 1;
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "missing param 'slopes'"));
  EXPECT(out[0] == 7);

  /* A wrong dtype is named. */
  params[0].name = "slopes", params[0].tensor = &tslopes;
  tq.dtype.bits = 64;
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "q has dtype float64"));
  tq.dtype.bits = 32;

  /* An int64 a double would round. */
  args.num_params = 2;
  params[1].int_value = ((int64_t)1 << 60) + 1;
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "does not fit a double"));
  params[1].int_value = 1;

  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_OK);
  EXPECT(strcmp(attnc_last_error(), "") == 0);
  double expected[N * D], x[kInputs];
  widen(q, x, N * D), widen(k, x + N * D, N * D),
      widen(v, x + 2 * N * D, N * D);
  reference(x, x + N * D, x + 2 * N * D, 0.5, 1.0, expected);
  for (int i = 0; i < N * D; ++i)
    EXPECT(fabs(out[i] - expected[i]) < 1e-5);
}

static void testCompileErrors(attnc_compiler *compiler) {
  attnc_kernel *kernel = (attnc_kernel *)1;
  const char *bad = "attention x() {\n  mask = causl()\n}\n";
  EXPECT(attnc_compile(compiler, bad, strlen(bad), NULL, NULL, "bad.attn",
                       &kernel) == ATTNC_ERROR_COMPILE);
  EXPECT(kernel == NULL);
  EXPECT(strstr(attnc_last_error(), "bad.attn:2:"));
  EXPECT(strstr(attnc_last_error(), "^"));
  EXPECT(attnc_compile_file(compiler, "/nonexistent.attn", NULL, NULL,
                            &kernel) == ATTNC_ERROR_OTHER);
  EXPECT(strstr(attnc_last_error(), "cannot read '/nonexistent.attn'"));
  attnc_compile_options options;
  attnc_compile_options_init(&options);
  options.dtype = 42;
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, &options, NULL,
                       &kernel) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "unknown dtype 42"));
  options.struct_size = 0;
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, &options, NULL,
                       &kernel) == ATTNC_ERROR_ARGUMENT);
  EXPECT(attnc_kernel_run(NULL, NULL) == ATTNC_ERROR_ARGUMENT);
  EXPECT(attnc_compiler_create(NULL, NULL) == ATTNC_ERROR_ARGUMENT);
}

static void testParams(attnc_kernel *kernel) {
  EXPECT(strcmp(attnc_kernel_name(kernel), "alibi") == 0);
  EXPECT(strcmp(attnc_kernel_target(kernel), "cpu") == 0);
  EXPECT(attnc_kernel_dtype(kernel) == ATTNC_F32);
  EXPECT(attnc_kernel_returns_lse(kernel));
  EXPECT(attnc_kernel_num_params(kernel) == 2);
  attnc_param_info info;
  EXPECT(attnc_kernel_param(kernel, 0, &info) == ATTNC_OK);
  EXPECT(strcmp(info.name, "slopes") == 0 && info.is_tensor && info.rank == 1 &&
         strcmp(info.dims[0], "H") == 0);
  EXPECT(attnc_kernel_param(kernel, 1, &info) == ATTNC_OK);
  EXPECT(!info.is_tensor && info.has_default && info.default_value == 1.0);
  EXPECT(attnc_kernel_param(kernel, 2, &info) == ATTNC_ERROR_ARGUMENT);
}

/* The backward of alibi (slopes, and the scale as a learnable scalar)
   against central differences of the reference; then its refusals, each
   leaving dq as it was. `forwardOnly` was compiled without a backward. */
static void testBackward(attnc_compiler *compiler, attnc_kernel *forwardOnly) {
  EXPECT(!attnc_kernel_has_backward(forwardOnly));
  attnc_compile_options options;
  attnc_compile_options_init(&options);
  options.backward = 1;
  attnc_kernel *kernel = NULL;
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, &options, NULL,
                       &kernel) == ATTNC_OK);
  if (!kernel)
    return;
  EXPECT(attnc_kernel_has_backward(kernel));

  const float slope = 0.5f, scale = 0.8f;
  float q[N * D], k[N * D], v[N * D], out[N * D], lse[N], dout[N * D];
  float dq[N * D], dk[N * D], dv[N * D], slopes[1] = {slope};
  float dslopes[2] = {7, 7}, dscale[1] = {7};
  for (int i = 0; i < N * D; ++i) {
    q[i] = sinf(i), k[i] = cosf(i * 0.7f), v[i] = (float)(i % 7) - 3;
    dout[i] = cosf(i * 1.3f);
    dq[i] = 7;
  }
  int64_t shape[4] = {1, 1, N, D}, lseShape[3] = {1, 1, N}, one[1] = {1};
  DLTensor tq = tensor(q, 4, shape), tk = tensor(k, 4, shape),
           tv = tensor(v, 4, shape), tout = tensor(out, 4, shape),
           tlse = tensor(lse, 3, lseShape), tdout = tensor(dout, 4, shape),
           tdq = tensor(dq, 4, shape), tdk = tensor(dk, 4, shape),
           tdv = tensor(dv, 4, shape), tslopes = tensor(slopes, 1, one),
           tdslopes = tensor(dslopes, 1, one), tdscale = tensor(dscale, 1, one);
  attnc_param_arg params[2] = {{"slopes", &tslopes, 0, 0, 0},
                               {"scale", NULL, scale, 0, 0}};
  attnc_run_args run;
  attnc_run_args_init(&run);
  run.q = &tq, run.k = &tk, run.v = &tv, run.out = &tout, run.lse = &tlse;
  run.params = params, run.num_params = 2;
  EXPECT(attnc_kernel_run(kernel, &run) == ATTNC_OK);

  attnc_param_grad grads[2] = {{"slopes", &tdslopes}, {"scale", &tdscale}};
  attnc_backward_args args;
  attnc_backward_args_init(&args);
  args.q = &tq, args.k = &tk, args.v = &tv, args.out = &tout;
  args.dout = &tdout, args.dq = &tdq, args.dk = &tdk, args.dv = &tdv;
  args.params = params, args.num_params = 2;
  args.param_grads = grads, args.num_param_grads = 2;

  /* Refusals first: nothing is written. */
  EXPECT(attnc_kernel_backward(forwardOnly, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "compiled without its backward"));
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "needs the forward's lse"));
  args.lse = &tlse;
  int64_t shorter[4] = {1, 1, N - 1, D};
  tdq.shape = shorter;
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "dq must have shape [B, H, N, D] = "
                                    "[1, 1, 5, 4]; got [1, 1, 4, 4]"));
  tdq.shape = shape;
  int64_t two[1] = {2};
  tdslopes.shape = two;
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(),
                "the gradient of param 'slopes' must have shape [1]"));
  tdslopes.shape = one;
  grads[1].name = "bias";
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "'bias' is not a float param"));
  grads[1].name = "slopes";
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "is given twice"));
  grads[1].name = "scale";
  args.struct_size = 0;
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "attnc_backward_args_init"));
  args.struct_size = sizeof args;
  EXPECT(attnc_kernel_backward(kernel, NULL) == ATTNC_ERROR_ARGUMENT);
  EXPECT(dq[0] == 7 && dslopes[0] == 7 && dscale[0] == 7);

  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_OK);
  EXPECT(strcmp(attnc_last_error(), "") == 0);
  double x[kInputs], expected[kInputs];
  widen(q, x, N * D), widen(k, x + N * D, N * D),
      widen(v, x + 2 * N * D, N * D);
  x[3 * N * D] = slope, x[3 * N * D + 1] = scale;
  referenceGradient(x, dout, expected);
  const float *got[3] = {dq, dk, dv};
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < N * D; ++i)
      EXPECT(fabs(got[t][i] - expected[t * N * D + i]) <
             1e-4 * (1 + fabs(expected[t * N * D + i])));
  EXPECT(fabs(dslopes[0] - expected[3 * N * D]) <
         1e-4 * (1 + fabs(expected[3 * N * D])));
  EXPECT(fabs(dscale[0] - expected[3 * N * D + 1]) <
         1e-4 * (1 + fabs(expected[3 * N * D + 1])));
  /* The gradients are not all zero (the check above could not fail then). */
  EXPECT(fabs(dslopes[0]) > 1e-3 && fabs(dscale[0]) > 1e-3);

  /* Only the gradients asked for are written. */
  dscale[0] = 7;
  args.num_param_grads = 1;
  EXPECT(attnc_kernel_backward(kernel, &args) == ATTNC_OK);
  EXPECT(dscale[0] == 7);
  attnc_kernel_destroy(kernel);

  /* A binary built against the first attnc_compile_options (which ended at
     `splits`) calls the function attnc_compile_options_init: it writes only
     that layout, and what lies past it is not read. */
  memset(&options, 0x55, sizeof options);
  (attnc_compile_options_init)(&options);
  EXPECT(options.struct_size == offsetof(attnc_compile_options, backward));
  EXPECT(options.dtype == -1 && options.tile_q == 0 && options.splits == 0);
  EXPECT(options.backward == 0x55555555);
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, &options, NULL,
                       &kernel) == ATTNC_OK);
  EXPECT(kernel && !attnc_kernel_has_backward(kernel));
  attnc_kernel_destroy(kernel);
  /* A GPU's backward takes head dims 64 and 128. */
  attnc_compile_options_init(&options);
  options.backward = 1;
  options.target = "sm_80";
  options.dtype = ATTNC_BF16;
  options.head_dim = 256;
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, &options, NULL,
                       &kernel) == ATTNC_ERROR_COMPILE);
  EXPECT(strstr(attnc_last_error(),
                "the GPU backward takes head dims 64 and 128; got D = 256"));
}

/* A paged KV cache: B = 2 sequences of 5 and 3 keys in pages of 2 rows
   (H = Hkv = 1, D = 4, two queries each), against softmax attention over
   each sequence's keys gathered from its pages, in double. */
static void testPaged(attnc_compiler *compiler) {
  enum { B = 2, NQ = 2, PS = 2, PAGES = 5, MAXP = 3, DD = 4 };
  const char *dense = "attention dense() {}";
  attnc_compile_options options;
  attnc_compile_options_init(&options);
  options.paged_kv = 1;
  attnc_kernel *kernel = NULL, *contiguous = NULL;
  EXPECT(attnc_compile(compiler, dense, strlen(dense), NULL, &options, NULL,
                       &kernel) == ATTNC_OK);
  EXPECT(attnc_compile(compiler, dense, strlen(dense), NULL, NULL, NULL,
                       &contiguous) == ATTNC_OK);
  if (!kernel || !contiguous)
    return;
  float q[B * NQ * DD], k[PAGES * PS * DD], v[PAGES * PS * DD],
      out[B * NQ * DD];
  for (int i = 0; i < B * NQ * DD; ++i)
    q[i] = sinf(i * 0.3f), out[i] = 7;
  for (int i = 0; i < PAGES * PS * DD; ++i)
    k[i] = cosf(i * 0.7f), v[i] = (float)(i % 5) - 2;
  int32_t table[B * MAXP] = {3, 0, 4, 1, 2, 0}, lens[B] = {5, 3};
  int64_t qShape[4] = {B, 1, NQ, DD}, kShape[4] = {PAGES, PS, 1, DD},
          tableShape[2] = {B, MAXP}, lensShape[1] = {B};
  DLTensor tq = tensor(q, 4, qShape), tk = tensor(k, 4, kShape),
           tv = tensor(v, 4, kShape), tout = tensor(out, 4, qShape),
           ttable = tensor(NULL, 2, tableShape), tlens = tensor(NULL, 1,
                                                                lensShape);
  ttable.data = table, tlens.data = lens;
  ttable.dtype.code = tlens.dtype.code = kDLInt;
  attnc_run_args args;
  attnc_run_args_init(&args);
  EXPECT(args.page_table == NULL && args.seq_lens == NULL);
  args.q = &tq, args.k = &tk, args.v = &tv, args.out = &tout;
  args.threads = 1;

  /* Without its table, with half of it, or from the first layout (which
     has no table), a paged kernel refuses the call and writes nothing. */
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "paged KV cache"));
  args.page_table = &ttable;
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "needs seq_lens too"));
  args.seq_lens = &tlens;
  attnc_run_args old;
  memset(&old, 0x55, sizeof old);
  (attnc_run_args_init)(&old);
  EXPECT(old.struct_size ==
         offsetof(attnc_run_args, synchronize) + sizeof(int));
  EXPECT(old.synchronize == 1 && old.q == NULL);
  old.q = &tq, old.k = &tk, old.v = &tv, old.out = &tout, old.threads = 1;
  EXPECT(attnc_kernel_run(kernel, &old) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "paged KV cache"));
  /* A contiguous kernel refuses a table. */
  EXPECT(attnc_kernel_run(contiguous, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "contiguous k and v"));
  /* A page the table names that k and v do not have. */
  table[1] = PAGES;
  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_ERROR_ARGUMENT);
  EXPECT(strstr(attnc_last_error(), "names no page"));
  table[1] = 0;
  for (int i = 0; i < B * NQ * DD; ++i)
    EXPECT(out[i] == 7);

  EXPECT(attnc_kernel_run(kernel, &args) == ATTNC_OK);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < NQ; ++i) {
      const float *qi = q + (b * NQ + i) * DD;
      double s[MAXP * PS], top = -INFINITY, total = 0;
      for (int j = 0; j < lens[b]; ++j) {
        const float *kj = k + (table[b * MAXP + j / PS] * PS + j % PS) * DD;
        double dot = 0;
        for (int d = 0; d < DD; ++d)
          dot += (double)qi[d] * kj[d];
        s[j] = dot / sqrt(DD);
        top = s[j] > top ? s[j] : top;
      }
      for (int j = 0; j < lens[b]; ++j)
        total += s[j] = exp(s[j] - top);
      for (int d = 0; d < DD; ++d) {
        double expected = 0;
        for (int j = 0; j < lens[b]; ++j)
          expected += s[j] / total *
                      v[(table[b * MAXP + j / PS] * PS + j % PS) * DD + d];
        EXPECT(fabs(out[(b * NQ + i) * DD + d] - expected) < 1e-5);
      }
    }
  attnc_kernel_destroy(kernel);
  attnc_kernel_destroy(contiguous);
}

/* The median time of one B=1, H=1, N=16, D=64 dense call, in microseconds. */
static int bench(attnc_compiler *compiler) {
  const char *dense = "attention dense() {}";
  attnc_kernel *kernel;
  if (attnc_compile(compiler, dense, strlen(dense), NULL, NULL, NULL, &kernel))
    return fprintf(stderr, "%s\n", attnc_last_error()), 1;
  static float q[16 * 64], out[16 * 64];
  int64_t shape[4] = {1, 1, 16, 64};
  DLTensor t = tensor(q, 4, shape), tout = tensor(out, 4, shape);
  attnc_run_args args;
  attnc_run_args_init(&args);
  args.q = args.k = args.v = &t;
  args.out = &tout;
  args.threads = 1;
  enum { kRuns = 20001 };
  static double times[kRuns];
  for (int i = 0; i < kRuns; ++i) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    attnc_kernel_run(kernel, &args);
    clock_gettime(CLOCK_MONOTONIC, &b);
    times[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) * 1e-3;
  }
  int lessThan(const void *, const void *);
  qsort(times, kRuns, sizeof(double), lessThan);
  printf("C API call, B=1 H=1 N=16 D=64, 1 thread: median %.2f us\n",
         times[kRuns / 2]);
  attnc_kernel_destroy(kernel);
  return 0;
}

int lessThan(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  attnc_compiler *compiler;
  if (attnc_compiler_create(NULL, &compiler) != ATTNC_OK)
    return fprintf(stderr, "%s\n", attnc_last_error()), 1;
  if (argc > 1 && strcmp(argv[1], "--bench") == 0)
    return bench(compiler);
  EXPECT(attnc_c_api_version() == ATTNC_C_API_VERSION);
  EXPECT(strlen(attnc_version()) > 0);
  testCompileErrors(compiler);
  testPaged(compiler);
  attnc_kernel *kernel = NULL;
  EXPECT(attnc_compile(compiler, kAlibi, strlen(kAlibi), NULL, NULL, NULL,
                       &kernel) == ATTNC_OK);
  if (kernel)
    testBackward(compiler, kernel);
  /* A kernel outlives its compiler. */
  attnc_compiler_destroy(compiler);
  if (kernel) {
    testParams(kernel);
    testRun(kernel);
    attnc_kernel_destroy(kernel);
  }
  if (failures)
    fprintf(stderr, "%d failures\n", failures);
  else
    printf("capi: all checks passed\n");
  return failures != 0;
}
