//===- CopyBandwidth.cpp - memcpy's bandwidth over a large buffer ---------===//

#include "Check/CopyBandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

double attnc::measureCopyBandwidth(size_t bytes, int threads, int repeats) {
  threads = std::max(1, threads);
  repeats = std::max(1, repeats);
  std::unique_ptr<char[]> from(new char[bytes]), to(new char[bytes]);
  // First touch: page faults are not part of the copy.
  std::memset(from.get(), 1, bytes);
  std::memset(to.get(), 0, bytes);
  size_t chunk = (bytes + threads - 1) / threads;
  auto copyPart = [&](int t) {
    size_t begin = std::min(bytes, t * chunk);
    size_t end = std::min(bytes, begin + chunk);
    std::memcpy(to.get() + begin, from.get() + begin, end - begin);
  };
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t)
      others.emplace_back(copyPart, t);
    copyPart(0);
    for (std::thread &t : others)
      t.join();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return double(bytes) / times[times.size() / 2];
}
