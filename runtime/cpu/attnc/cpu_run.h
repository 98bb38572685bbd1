/*===- cpu_run.h - running a CPU kernel: staging and work items ---*- C -*-===//
//
// What runs an attnc CPU kernel around its entry point, shared by the JIT
// (lib/JIT/Kernel.cpp) and the C headers `attnc --emit=obj` writes (this
// text is pasted there, as the CUDA path pastes its templates):
// - staging: the kernel's vector loads need q, k, v, out and lse with a unit
//   innermost stride; other views go through a dense copy and back;
// - work items: the kernel computes items [begin, end) of B * H * query
//   tiles (B * Hkv * tiles of H / Hkv x N packed rows for cpu_decode
//   kernels, which pack the query heads of a kv head; when those are fewer
//   than the threads, each is cut into key splits that write parts, and a
//   second round of items merges them); threads claim them one at a time from a shared counter, which
//   balances causal rows whose cost grows with the tile;
// - for C callers, attnc_cpu_call_begin/end: a whole call's checks and
//   staging, which the generated <variant>_run uses.
// Header only, C99 and C++. Threads are POSIX threads; with
// ATTNC_CPU_SERIAL defined (or without GCC/Clang atomics) every call runs
// on the calling thread.
//
//===----------------------------------------------------------------------===*/

#ifndef ATTNC_CPU_RUN_H
#define ATTNC_CPU_RUN_H

#include "attnc/memref.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(ATTNC_CPU_SERIAL) && !(defined(__GNUC__) || defined(__clang__))
#define ATTNC_CPU_SERIAL
#endif
#ifndef ATTNC_CPU_SERIAL
#include <pthread.h>
#include <unistd.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* What attnc_cpu_call_begin, attnc_cpu_stage and the generated <variant>_run
   return besides 0 and (for _run) 1 + the position of a param read out of
   bounds. */
enum {
  ATTNC_CPU_INVALID = -1,    /* views whose sizes the kernel cannot take */
  ATTNC_CPU_NO_MEMORY = -2,  /* a dense copy could not be allocated */
  ATTNC_CPU_BAD_LENGTH = -3, /* paged: a length outside [0, M] */
  ATTNC_CPU_BAD_PAGE = -4,   /* paged: a used table entry names no page */
  ATTNC_CPU_BAD_OFFSETS = -5 /* ragged: offsets not 0, ..., total, increasing */
};

/* The largest rank the copies take (q, k, v, out: 4; lse: 3). */
#define ATTNC_CPU_MAX_RANK 8

/*===-- Staging -----------------------------------------------------------===*/

static inline int64_t attnc_cpu_elements(const int64_t *sizes, int rank) {
  int64_t n = 1;
  int d;
  for (d = 0; d < rank; ++d)
    n *= sizes[d];
  return n;
}

/* The strides of a dense view of `sizes`. */
static inline void attnc_cpu_dense_strides(const int64_t *sizes, int rank, int64_t *strides) {
  int d;
  strides[rank - 1] = 1;
  for (d = rank - 1; d > 0; --d)
    strides[d - 1] = strides[d] * sizes[d];
}

/* Copies a view to another of the same sizes; `to` and `from` point at
   element 0, strides are in elements. Rows with unit strides on both sides
   copy in one memcpy. */
static inline void attnc_cpu_copy_strided(void *to, const int64_t *to_strides, const void *from,
                                          const int64_t *from_strides, const int64_t *sizes, int rank,
                                          size_t elem_bytes) {
  int64_t index[ATTNC_CPU_MAX_RANK] = {0};
  int64_t rows = attnc_cpu_elements(sizes, rank - 1);
  int64_t n = sizes[rank - 1];
  int64_t ts = to_strides[rank - 1] * (int64_t)elem_bytes;
  int64_t fs = from_strides[rank - 1] * (int64_t)elem_bytes;
  int64_t r, i;
  int d;
  for (r = 0; r < rows; ++r) {
    char *t = (char *)to;
    const char *f = (const char *)from;
    for (d = 0; d < rank - 1; ++d) {
      t += index[d] * to_strides[d] * (int64_t)elem_bytes;
      f += index[d] * from_strides[d] * (int64_t)elem_bytes;
    }
    if (ts == (int64_t)elem_bytes && fs == (int64_t)elem_bytes)
      memcpy(t, f, (size_t)n * elem_bytes);
    else
      for (i = 0; i < n; ++i)
        memcpy(t + i * ts, f + i * fs, elem_bytes);
    for (d = rank - 1; d-- > 0;) {
      if (++index[d] < sizes[d])
        break;
      index[d] = 0;
    }
  }
}

/* Makes a view one the kernel can take. When its innermost stride is not 1
   (and the innermost size is not 1), points *data at a dense malloc'ed copy,
   returned in *scratch, and rewrites `strides` to the copy's; the elements
   are copied in when `copy_in`. Otherwise leaves the view and sets *scratch
   to NULL. Returns 0 or ATTNC_CPU_NO_MEMORY. */
static inline int attnc_cpu_stage(void **data, int64_t *strides, const int64_t *sizes, int rank, size_t elem_bytes,
                                  int copy_in, void **scratch) {
  int64_t dense[ATTNC_CPU_MAX_RANK];
  *scratch = NULL;
  if (strides[rank - 1] == 1 || sizes[rank - 1] == 1)
    return 0;
  *scratch = malloc((size_t)attnc_cpu_elements(sizes, rank) * elem_bytes);
  if (!*scratch)
    return ATTNC_CPU_NO_MEMORY;
  attnc_cpu_dense_strides(sizes, rank, dense);
  if (copy_in)
    attnc_cpu_copy_strided(*scratch, dense, *data, strides, sizes, rank, elem_bytes);
  *data = *scratch;
  memcpy(strides, dense, (size_t)rank * sizeof(int64_t));
  return 0;
}

/* Ends attnc_cpu_stage: copies a staged view's elements back to the
   caller's (`to`, `to_strides`) when `copy_back`, and frees the copy. */
static inline void attnc_cpu_unstage(void *scratch, void *to, const int64_t *to_strides, const int64_t *sizes, int rank,
                                     size_t elem_bytes, int copy_back) {
  int64_t dense[ATTNC_CPU_MAX_RANK];
  if (!scratch)
    return;
  if (copy_back) {
    attnc_cpu_dense_strides(sizes, rank, dense);
    attnc_cpu_copy_strided(to, to_strides, scratch, dense, sizes, rank, elem_bytes);
  }
  free(scratch);
}

/*===-- Work items and threads --------------------------------------------===*/

/* How a kernel cuts its work, from its schedule. */
typedef struct {
  int64_t tile_q, tile_kv; /* rows and keys per tile */
  int64_t max_splits;      /* cpu_decode: the most key splits per item */
  int packs_heads;         /* cpu_decode: a tile packs a kv head's heads */
  int paged_kv;            /* k and v are pages read through a table */
  int ragged;              /* packed sequences given by cu_seqlens offsets */
} attnc_cpu_schedule;

/* The kernel's work items: (batch, head, tile_q-row query tile); or, when
   it packs heads (cpu_decode), (batch, kv head, tile_q of the (H / Hkv) * N
   rows of the heads that share the kv head). */
static inline int64_t attnc_cpu_work_items(const attnc_cpu_schedule *s, int64_t B, int64_t H, int64_t Hkv, int64_t N) {
  if (s->packs_heads)
    return B * Hkv * ((H / Hkv * N + s->tile_q - 1) / s->tile_q);
  return B * H * ((N + s->tile_q - 1) / s->tile_q);
}

/* The key splits of each item: 1, unless a cpu_decode kernel has fewer
   items than `threads`; then enough for two parts per thread (claimed one
   at a time, they balance), at most max_splits and one per key tile. */
static inline int64_t attnc_cpu_splits(const attnc_cpu_schedule *s, int64_t items, int64_t M, int threads) {
  int64_t splits, tiles = (M + s->tile_kv - 1) / s->tile_kv;
  if (!s->packs_heads || items >= threads)
    return 1;
  splits = (2 * (int64_t)threads + items - 1) / items;
  if (splits > s->max_splits)
    splits = s->max_splits;
  if (splits > tiles)
    splits = tiles;
  return splits < 1 ? 1 : splits;
}

/* The rows of the parts buffer [rows, Dv + 2] that `splits` > 1 needs: a
   row (m, l, then Dv accumulators) per query row of every part. */
static inline int64_t attnc_cpu_part_rows(const attnc_cpu_schedule *s, int64_t items, int64_t splits) {
  return splits > 1 ? items * splits * s->tile_q : 0;
}

/* The threads a call runs on: `requested`, or one per online CPU when it is
   0 or less; never more than `items`, never fewer than one. */
static inline int attnc_cpu_thread_count(int requested, int64_t items) {
  int64_t n = requested;
#ifdef ATTNC_CPU_SERIAL
  n = 1;
#else
  if (n <= 0)
    n = (int64_t)sysconf(_SC_NPROCESSORS_ONLN);
#endif
  if (n > items)
    n = items;
  return n < 1 ? 1 : (int)n;
}

/* Computes work items [begin, end) on thread `thread` (0 .. threads - 1);
   disjoint ranges run at once on different threads. */
typedef void (*attnc_cpu_body)(void *context, int thread, int64_t begin, int64_t end);

typedef struct {
  int64_t next, count; /* the next item and the end of the range */
  attnc_cpu_body body;
  void *context;
} attnc_cpu_queue;

typedef struct {
  attnc_cpu_queue *queue;
  int thread;
} attnc_cpu_worker;

/* Claims the next item of `queue` as [*begin, *end); 0 when none is left. */
static inline int attnc_cpu_claim(attnc_cpu_queue *queue, int64_t *begin, int64_t *end) {
#ifdef ATTNC_CPU_SERIAL
  int64_t item = queue->next++;
#else
  /* Relaxed: thread creation and join order the data, not the counter. */
  int64_t item = __atomic_fetch_add(&queue->next, 1, __ATOMIC_RELAXED);
#endif
  if (item >= queue->count)
    return 0;
  *begin = item;
  *end = item + 1;
  return 1;
}

static inline void *attnc_cpu_work(void *worker) {
  attnc_cpu_worker *w = (attnc_cpu_worker *)worker;
  int64_t begin, end;
  while (attnc_cpu_claim(w->queue, &begin, &end))
    w->queue->body(w->queue->context, w->thread, begin, end);
  return NULL;
}

/* Runs `body` over items [begin, end) on `threads` threads (the caller's
   and threads - 1 more; see attnc_cpu_thread_count). A thread that cannot
   be started leaves its items to the others. */
static inline void attnc_cpu_run(int64_t begin, int64_t end, int threads, attnc_cpu_body body, void *context) {
  attnc_cpu_queue queue;
  attnc_cpu_worker self;
#ifndef ATTNC_CPU_SERIAL
  pthread_t *ids = NULL;
  attnc_cpu_worker *workers = NULL;
  int t, started = 0;
#endif
  queue.next = begin;
  queue.count = end;
  queue.body = body;
  queue.context = context;
  self.queue = &queue;
  self.thread = 0;
#ifndef ATTNC_CPU_SERIAL
  if (threads > 1) {
    ids = (pthread_t *)malloc((size_t)threads * sizeof(pthread_t));
    workers = (attnc_cpu_worker *)malloc((size_t)threads * sizeof(*workers));
  }
  if (ids && workers)
    for (t = 1; t < threads; ++t) {
      workers[t].queue = &queue;
      workers[t].thread = t;
      if (pthread_create(&ids[t], NULL, attnc_cpu_work, &workers[t]) != 0)
        break;
      started = t;
    }
#endif
  attnc_cpu_work(&self);
#ifndef ATTNC_CPU_SERIAL
  for (t = 1; t <= started; ++t)
    pthread_join(ids[t], NULL);
  free(ids);
  free(workers);
#else
  (void)threads;
#endif
}

/*===-- A paged KV cache ---------------------------------------------------===*/

/* Checks a paged call's page table [B, max_pages] and lengths [B] (int32_t,
   strides in elements) against k and v of `num_pages` pages of `page_size`
   keys: every length must lie in [0, max_pages * page_size] (else
   ATTNC_CPU_BAD_LENGTH, *batch its sequence) and every entry a sequence
   uses (the first ceil(length / page_size) of its row) in [0, num_pages)
   (else ATTNC_CPU_BAD_PAGE, *batch and *slot where). Entries past a
   sequence's pages are not read, so they may hold anything. Returns 0. */
static inline int attnc_cpu_check_pages(const int32_t *table, const int64_t *table_strides, int64_t max_pages,
                                        const int32_t *lens, int64_t lens_stride, int64_t B, int64_t num_pages,
                                        int64_t page_size, int64_t *batch, int64_t *slot) {
  int64_t b, p;
  for (b = 0; b < B; ++b) {
    int64_t length = lens[b * lens_stride];
    *batch = b;
    *slot = 0;
    if (length < 0 || length > max_pages * page_size)
      return ATTNC_CPU_BAD_LENGTH;
    for (p = 0; p * page_size < length; ++p) {
      int64_t page = table[b * table_strides[0] + p * table_strides[1]];
      *slot = p;
      if (page < 0 || page >= num_pages)
        return ATTNC_CPU_BAD_PAGE;
    }
  }
  return 0;
}

/*===-- Ragged batches -----------------------------------------------------===*/

/* Checks a ragged call's offsets `cu` [S + 1] (int32_t, `stride` in
   elements) against the packed length `total`: cu[0] = 0, each at least
   the one before, cu[S] = total. Returns 0 with the longest sequence in
   *longest; or ATTNC_CPU_BAD_OFFSETS with *at the first offset that is
   wrong. A ragged item space is S x heads x the longest sequence's tiles
   (the kernel takes that longest query count; items past a sequence's rows
   do nothing). */
static inline int attnc_cpu_check_offsets(const int32_t *cu, int64_t stride, int64_t S, int64_t total, int64_t *longest,
                                          int64_t *at) {
  int64_t s;
  *longest = 0;
  for (s = 0; s <= S; ++s) {
    int64_t here = cu[s * stride];
    *at = s;
    if (s == 0 ? here != 0 : here < cu[(s - 1) * stride])
      return ATTNC_CPU_BAD_OFFSETS;
    if (s > 0 && here - cu[(s - 1) * stride] > *longest)
      *longest = here - cu[(s - 1) * stride];
  }
  *at = S;
  return cu[S * stride] == total ? 0 : ATTNC_CPU_BAD_OFFSETS;
}

/*===-- A whole call, for C callers ---------------------------------------===*/

/* One call's views as the kernel takes them, its work and the threads'
   statuses; see attnc_cpu_call_begin. */
typedef struct {
  attnc_memref4 q, k, v, out;
  attnc_memref3 lse;
  attnc_memref4 caller_out;
  attnc_memref3 caller_lse;
  attnc_memref2 parts; /* cpu_decode's key splits (none: 0 rows) */
  attnc_memref2 page_table; /* paged: [B, max_pages] int32_t */
  attnc_memref1 seq_lens;   /* paged: [B] int32_t */
  attnc_memref1 cu_q, cu_k; /* ragged: [S + 1] int32_t */
  int64_t max_q;            /* ragged: the longest sequence's queries */
  void *scratch[6];    /* q, k, v, out, lse, parts */
  int has_lse, lse_given;
  size_t elem_bytes;
  int64_t items, splits; /* items [0, items * splits) are parts... */
  int64_t merges;        /* ...then [items * splits, + merges) merge them */
  int threads;
  int32_t *status; /* one per thread */
} attnc_cpu_call;

/* The element 0 of a memref. */
#define ATTNC_CPU_ELEMENT0(m, elem_bytes) ((void *)((char *)(m).aligned + (m).offset * (int64_t)(elem_bytes)))

/* Stages view `m` (a memref of `rank`) in scratch slot `slot` of `c`. */
#define ATTNC_CPU_STAGE(c, m, rank, bytes, copy_in, slot)                                                              \
  attnc_cpu_stage_memref(&(m).allocated, &(m).aligned, &(m).offset, (m).sizes, (m).strides, rank, bytes, copy_in,      \
                         &(c)->scratch[slot])

static inline int attnc_cpu_stage_memref(void **allocated, void **aligned, int64_t *offset, const int64_t *sizes,
                                         int64_t *strides, int rank, size_t elem_bytes, int copy_in, void **scratch) {
  void *data = (char *)*aligned + *offset * (int64_t)elem_bytes;
  int rc = attnc_cpu_stage(&data, strides, sizes, rank, elem_bytes, copy_in, scratch);
  if (rc == 0 && *scratch) {
    *allocated = *aligned = data;
    *offset = 0;
  }
  return rc;
}

static inline int attnc_cpu_sizes_are(const int64_t *sizes, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int rank) {
  int64_t expected[4];
  int d;
  expected[0] = s0, expected[1] = s1, expected[2] = s2, expected[3] = s3;
  for (d = 0; d < rank; ++d)
    if (sizes[d] != expected[d])
      return 0;
  return 1;
}

/* Releases what attnc_cpu_call_begin holds, copying out and lse back to the
   caller's views when `copy_back`. */
static inline void attnc_cpu_call_release(attnc_cpu_call *c, int copy_back) {
  attnc_cpu_unstage(c->scratch[0], NULL, NULL, NULL, 4, c->elem_bytes, 0);
  attnc_cpu_unstage(c->scratch[1], NULL, NULL, NULL, 4, c->elem_bytes, 0);
  attnc_cpu_unstage(c->scratch[2], NULL, NULL, NULL, 4, c->elem_bytes, 0);
  attnc_cpu_unstage(c->scratch[3], ATTNC_CPU_ELEMENT0(c->caller_out, c->elem_bytes), c->caller_out.strides,
                    c->out.sizes, 4, c->elem_bytes, copy_back);
  attnc_cpu_unstage(c->scratch[4], c->lse_given ? ATTNC_CPU_ELEMENT0(c->caller_lse, sizeof(float)) : NULL,
                    c->caller_lse.strides, c->lse.sizes, 3, sizeof(float), copy_back && c->lse_given);
  free(c->scratch[5]);
  free(c->status);
  memset(c->scratch, 0, sizeof(c->scratch));
  c->status = NULL;
}

/* Checks one call's views against each other and the kernel's head dims
   (0 or less: any), stages them and sizes its work (items and key splits
   by `schedule`) and threads (`threads` as attnc_cpu_thread_count takes
   it). `lse` may be NULL: then a kernel that writes lse (`has_lse`)
   writes it to scratch. A paged kernel (schedule->paged_kv) takes k and v
   as pages [num_pages, page_size, Hkv, D] and `page_table` and `seq_lens`
   (see attnc_cpu_check_pages); others take NULL for both. A ragged kernel
   (schedule->ragged) takes q [1, H, total_q, D], k and v [1, Hkv,
   total_k, D] and out likewise, and the offsets `cu_q` and `cu_k` [S + 1]
   (see attnc_cpu_check_offsets); others take NULL for both. Returns 0,
   with everything to release by attnc_cpu_call_end; or ATTNC_CPU_INVALID,
   ATTNC_CPU_BAD_LENGTH, ATTNC_CPU_BAD_PAGE, ATTNC_CPU_BAD_OFFSETS or
   ATTNC_CPU_NO_MEMORY, with nothing held. */
static inline int attnc_cpu_call_begin(attnc_cpu_call *c, const attnc_memref4 *q, const attnc_memref4 *k,
                                       const attnc_memref4 *v, const attnc_memref4 *out, const attnc_memref3 *lse,
                                       int has_lse, size_t elem_bytes, int64_t head_dim, int64_t value_head_dim,
                                       const attnc_cpu_schedule *schedule, const attnc_memref2 *page_table,
                                       const attnc_memref1 *seq_lens, const attnc_memref1 *cu_q,
                                       const attnc_memref1 *cu_k, int threads) {
  int paged = schedule->paged_kv, ragged = schedule->ragged;
  int64_t seqs = 0, max_q = 0, max_k = 0, bad_at = 0;
  int64_t B = q->sizes[0], H = q->sizes[1], N = q->sizes[2], D = q->sizes[3];
  int64_t Hkv = k->sizes[paged ? 2 : 1], Dv = v->sizes[3];
  int64_t P = k->sizes[0], S = k->sizes[1]; /* paged: pages, page size */
  int64_t M = paged ? (page_table ? page_table->sizes[1] * S : 0) : k->sizes[2];
  int64_t bad_b, bad_slot;
  int d, rc = 0;
  memset(c, 0, sizeof(*c));
  for (d = 0; d < 4; ++d)
    if (q->sizes[d] < 1 || k->sizes[d] < 1 || v->sizes[d] < 1)
      return ATTNC_CPU_INVALID;
  if (paged != (page_table != NULL) || paged != (seq_lens != NULL))
    return ATTNC_CPU_INVALID;
  if (ragged != (cu_q != NULL) || ragged != (cu_k != NULL))
    return ATTNC_CPU_INVALID;
  if (ragged) {
    seqs = cu_q->sizes[0] - 1;
    if (B != 1 || seqs < 1 || cu_k->sizes[0] != seqs + 1)
      return ATTNC_CPU_INVALID;
    rc = attnc_cpu_check_offsets((const int32_t *)ATTNC_CPU_ELEMENT0(*cu_q, 4), cu_q->strides[0], seqs, N, &max_q,
                                 &bad_at);
    if (!rc)
      rc = attnc_cpu_check_offsets((const int32_t *)ATTNC_CPU_ELEMENT0(*cu_k, 4), cu_k->strides[0], seqs, M, &max_k,
                                   &bad_at);
    if (rc)
      return rc;
    c->cu_q = *cu_q, c->cu_k = *cu_k, c->max_q = max_q;
  }
  if (paged) {
    if (page_table->sizes[0] != B || page_table->sizes[1] < 1 || seq_lens->sizes[0] != B ||
        !attnc_cpu_sizes_are(k->sizes, P, S, Hkv, D, 4) || !attnc_cpu_sizes_are(v->sizes, P, S, Hkv, Dv, 4))
      return ATTNC_CPU_INVALID;
    rc = attnc_cpu_check_pages((const int32_t *)ATTNC_CPU_ELEMENT0(*page_table, 4), page_table->strides,
                               page_table->sizes[1], (const int32_t *)ATTNC_CPU_ELEMENT0(*seq_lens, 4),
                               seq_lens->strides[0], B, P, S, &bad_b, &bad_slot);
    if (rc)
      return rc;
    c->page_table = *page_table, c->seq_lens = *seq_lens;
  } else if (!attnc_cpu_sizes_are(k->sizes, B, Hkv, M, D, 4) || !attnc_cpu_sizes_are(v->sizes, B, Hkv, M, Dv, 4)) {
    return ATTNC_CPU_INVALID;
  }
  if (!attnc_cpu_sizes_are(out->sizes, B, H, N, Dv, 4) || H % Hkv != 0 || (head_dim > 0 && D != head_dim) ||
      (value_head_dim > 0 && Dv != value_head_dim) ||
      (has_lse && lse && !attnc_cpu_sizes_are(lse->sizes, B, H, N, 0, 3)))
    return ATTNC_CPU_INVALID;
  c->q = *q, c->k = *k, c->v = *v, c->out = c->caller_out = *out;
  c->elem_bytes = elem_bytes;
  c->has_lse = has_lse;
  c->lse_given = has_lse && lse;
  if (c->lse_given) {
    c->lse = c->caller_lse = *lse;
  } else if (has_lse) {
    /* Where the caller wants no lse, a dense one nobody reads. */
    c->lse.sizes[0] = B, c->lse.sizes[1] = H, c->lse.sizes[2] = N;
    attnc_cpu_dense_strides(c->lse.sizes, 3, c->lse.strides);
    c->scratch[4] = malloc((size_t)(B * H * N) * sizeof(float));
    c->lse.allocated = c->lse.aligned = c->scratch[4];
    if (!c->scratch[4])
      rc = ATTNC_CPU_NO_MEMORY;
  }
  if (!rc)
    rc = ATTNC_CPU_STAGE(c, c->q, 4, elem_bytes, 1, 0);
  if (!rc)
    rc = ATTNC_CPU_STAGE(c, c->k, 4, elem_bytes, 1, 1);
  if (!rc)
    rc = ATTNC_CPU_STAGE(c, c->v, 4, elem_bytes, 1, 2);
  if (!rc)
    rc = ATTNC_CPU_STAGE(c, c->out, 4, elem_bytes, 0, 3);
  if (!rc && c->lse_given)
    rc = ATTNC_CPU_STAGE(c, c->lse, 3, sizeof(float), 0, 4);
  /* Ragged: sequences x heads x the longest sequence's tiles. */
  c->items =
      ragged ? attnc_cpu_work_items(schedule, seqs, H, Hkv, max_q) : attnc_cpu_work_items(schedule, B, H, Hkv, N);
  c->splits = attnc_cpu_splits(schedule, c->items, ragged ? max_k : M, attnc_cpu_thread_count(threads, INT64_MAX));
  c->merges = c->splits > 1 ? c->items : 0;
  c->threads = attnc_cpu_thread_count(threads, c->items * c->splits);
  c->parts.sizes[0] = attnc_cpu_part_rows(schedule, c->items, c->splits);
  c->parts.sizes[1] = Dv + 2;
  attnc_cpu_dense_strides(c->parts.sizes, 2, c->parts.strides);
  if (!rc && c->parts.sizes[0] > 0) {
    c->scratch[5] = malloc((size_t)attnc_cpu_elements(c->parts.sizes, 2) * sizeof(float));
    c->parts.allocated = c->parts.aligned = c->scratch[5];
    if (!c->scratch[5])
      rc = ATTNC_CPU_NO_MEMORY;
  }
  if (!rc) {
    c->status = (int32_t *)calloc((size_t)c->threads, sizeof(int32_t));
    if (!c->status)
      rc = ATTNC_CPU_NO_MEMORY;
  }
  if (rc)
    attnc_cpu_call_release(c, 0);
  return rc;
}

/* Thread `thread`'s status view, which the kernel's status argument takes. */
static inline attnc_memref1 attnc_cpu_call_status(attnc_cpu_call *c, int thread) {
  attnc_memref1 s;
  s.allocated = s.aligned = &c->status[thread];
  s.offset = 0;
  s.sizes[0] = 1;
  s.strides[0] = 1;
  return s;
}

/* Ends a call begun by attnc_cpu_call_begin: copies out and lse back to
   strided caller views and releases the rest. Returns 0, or 1 + the
   position of a param that was read out of bounds (then out is not
   valid). */
static inline int attnc_cpu_call_end(attnc_cpu_call *c) {
  int t, rc = 0;
  for (t = 0; t < c->threads && !rc; ++t)
    rc = c->status[t];
  attnc_cpu_call_release(c, 1);
  return rc;
}

#ifdef __cplusplus
}
#endif

#endif /* ATTNC_CPU_RUN_H */
