//===- Selection.cpp - the reference's dynamic block selection ------------===//
//
// #attn.select from its definition (dialect/AttnAttrs.td): per (b, kv
// head) the keys' block sums in float64; per query, the gate of each
// candidate block, the always-kept blocks, then the best gates until top_k
// blocks are kept, of equal gates the lower block first.
//
// The gate is <q, sum of the block's keys> / (its key count), which is
// <q, mean> as written, rounded to f32 before blocks are compared: the
// kernels compare f32 gates, and the check draws q and k on a grid of
// multiples of 1/8 (RandomInputs.cpp) on which their dot products and sums
// are exact in f32, so both then round the same quotient once and select
// the same blocks, ties included. (Double rounding through f64 is harmless
// for a quotient: f64 carries more than twice f32's bits.)
//
//===----------------------------------------------------------------------===//

#include "Reference/Interpreter.h"

#include <cmath>
#include <limits>

using namespace attnc::reference;

void Interpreter::applySelection(Tensor &s, SelectAttr selection, Value qv,
                                 Value kv) {
  const RefArray &q = *arrays.lookup(qv), &k = *arrays.lookup(kv);
  const int64_t B = q.dim(0), H = q.dim(1), N = q.dim(2), D = q.dim(3);
  const int64_t Hkv = k.dim(1), M = k.dim(2), group = H / Hkv;
  const int64_t block = selection.getBlock(), topK = selection.getTopK();
  const int64_t sinks = selection.getSinks(), local = selection.getLocal();
  std::vector<double> sums, gates;
  std::vector<char> selected;
  for (int64_t b = 0; b < B; ++b) {
    // A paged sequence's blocks end at its length.
    int64_t keys = inputs.keyLengths.empty()
                       ? M
                       : std::clamp<int64_t>(inputs.keyLengths[b], 0, M);
    int64_t blocks = (keys + block - 1) / block;
    for (int64_t hk = 0; hk < Hkv; ++hk) {
      sums.assign(blocks * D, 0.0);
      for (int64_t j = 0; j < keys; ++j)
        for (int64_t d = 0; d < D; ++d)
          sums[(j / block) * D + d] += k.data[((b * Hkv + hk) * M + j) * D + d];
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
        for (int64_t i = 0; i < N; ++i) {
          const int64_t current = i / block;
          const int64_t candidates =
              selection.getCausal() ? std::min(blocks, current + 1) : blocks;
          const double *qr = &q.data[((b * H + h) * N + i) * D];
          gates.assign(candidates, 0.0);
          for (int64_t c = 0; c < candidates; ++c) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d)
              dot += qr[d] * sums[c * D + d];
            int64_t count = std::min(block, keys - c * block);
            float gate = static_cast<float>(dot / double(count));
            gates[c] = std::isnan(gate)
                           ? -std::numeric_limits<double>::infinity()
                           : double(gate);
          }
          selected.assign(blocks, 0);
          int64_t kept = 0;
          for (int64_t c = 0; c < candidates; ++c)
            if (c == current || c < sinks || std::abs(c - current) <= local) {
              selected[c] = 1;
              ++kept;
            }
          for (; kept < topK; ++kept) {
            int64_t best = -1;
            for (int64_t c = 0; c < candidates; ++c)
              if (!selected[c] && (best < 0 || gates[c] > gates[best]))
                best = c;
            if (best < 0)
              break;
            selected[best] = 1;
          }
          char *row = &s.keep[((b * H + h) * N + i) * M];
          for (int64_t j = 0; j < M; ++j)
            if (j >= keys || !selected[j / block])
              row[j] = 0;
        }
    }
  }
}
