//===- CheckVariant.h - one fuzzed variant through the pipeline --*- C++
//-*-===//

#ifndef ATTNC_TEST_FUZZ_CHECKVARIANT_H
#define ATTNC_TEST_FUZZ_CHECKVARIANT_H

#include "attnc/attnc.h"

#include <cstdint>
#include <string>

namespace attnc::fuzz {

/// Compiles `source` for the CPU with 4 x 4 tiles and checks it against the
/// float64 reference on a tiny shape drawn from `seed`; false (printing
/// why) when they disagree or the pipeline fails after the checker accepted
/// the source. Sources the checker refuses count as `rejected`.
bool checkVariant(Compiler &compiler, const std::string &source, uint64_t seed,
                  int &rejected);

} // namespace attnc::fuzz

#endif // ATTNC_TEST_FUZZ_CHECKVARIANT_H
