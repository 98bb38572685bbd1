//===- CopyBandwidth.h - what a plain copy reaches on this machine -*- C++
//-*-===//
//
// The yardstick for memory-bound kernels (decode reads the whole K/V cache
// once): the bandwidth of memcpy over a buffer far larger than the caches,
// on the same threads, measured in the same run as the kernel.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CHECK_COPYBANDWIDTH_H
#define ATTNC_CHECK_COPYBANDWIDTH_H

#include <cstddef>

namespace attnc {

/// Bytes copied per second by memcpy of `bytes` split across `threads`
/// threads, the median of `repeats` copies (pages touched first).
double measureCopyBandwidth(size_t bytes, int threads, int repeats);

} // namespace attnc

#endif // ATTNC_CHECK_COPYBANDWIDTH_H
