//===- VariantGenerator.h - random well-typed variants -----------*- C++
//-*-===//
//
// The grammar of the pipeline fuzzers: score_mods over score, params and
// index math; masks of comparisons, the standard library's masks and their
// logic; sinks; output_mods, some reading the row's lse and row_sum; two
// branches combined by the output.
// Integer constants include values near the edges of int64. Every decision
// comes from `Choices`: a seeded generator (attn-pipeline-fuzz) or the
// bytes of a libFuzzer input (attn-pipeline-libfuzzer), so that libFuzzer's
// mutations of bytes are mutations of the variant's syntax tree.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TEST_FUZZ_VARIANTGENERATOR_H
#define ATTNC_TEST_FUZZ_VARIANTGENERATOR_H

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>

namespace attnc::fuzz {

/// Decisions drawn from a seeded sequence.
class RandomChoices {
public:
  explicit RandomChoices(uint64_t seed) : rng(seed) {}
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

private:
  std::mt19937_64 rng;
};

/// Decisions read from bytes, one byte each; past the end every choice is
/// the first (the smallest value, no further branch), so any input is a
/// variant and a short one a small variant.
class ByteChoices {
public:
  ByteChoices(const uint8_t *data, size_t size) : data(data), size(size) {}
  int64_t pick(int64_t lo, int64_t hi) {
    return lo + int64_t(next() % uint64_t(hi - lo + 1));
  }
  bool chance(double p) { return pos < size && next() < p * 256; }

private:
  const uint8_t *data;
  size_t size, pos = 0;
  uint8_t next() { return pos < size ? data[pos++] : 0; }
};

template <typename Choices> class Generator {
public:
  explicit Generator(Choices choices) : choices(std::move(choices)) {}

  std::string variant() {
    std::string text = "attention fuzz(slopes: f32[H], doc: i32[N], w: i32 = " +
                       std::to_string(pick(0, 9)) + ", g: f32 = 0.5) {\n";
    if (chance(0.8))
      text += "  score = " + floating(3) + "\n";
    if (chance(0.85))
      text += "  mask = " + boolean(3) + "\n";
    if (chance(0.2))
      text += "  sink = slopes[h] * (" + floatConst() + ")\n";
    std::string output;
    if (chance(0.25))
      output = "o * (" + floatConst() + ") + slopes[h]" +
               (chance(0.3) ? " + row_sum * sigmoid(lse)" : "");
    // Branches are decided last, so that the inputs of before keep their
    // variants.
    if (chance(0.15)) {
      text += "  branches = split(2)\n";
      output = "o[0] * (" + floatConst() + ") - o[1] * (" + floatConst() +
               ")" + (chance(0.3) ? " + row_sum[1] * sigmoid(lse[0])" : "");
    }
    if (!output.empty())
      text += "  output = " + output + "\n";
    return text + "}\n";
  }

private:
  Choices choices;
  int64_t pick(int64_t lo, int64_t hi) { return choices.pick(lo, hi); }
  bool chance(double p) { return choices.chance(p); }

  std::string intConst() {
    // Mostly small; sometimes near the edges of int64.
    if (chance(0.1)) {
      const char *edges[] = {"9223372036854775807", "4611686018427387904",
                             "9223372036854775800", "3074457345618258603",
                             "2147483647",          "2147483648"};
      return std::string(chance(0.5) ? "-" : "") + edges[pick(0, 5)];
    }
    return std::to_string(pick(-3, 20));
  }
  std::string floatConst() {
    const char *values[] = {"0.5", "2.0", "-1.25", "0.1", "3.0"};
    return values[pick(0, 4)];
  }
  std::string index(int depth) {
    if (depth <= 0 || chance(0.35)) {
      const char *leaves[] = {"q_idx", "kv_idx",     "h",          "b",
                              "w",     "doc[q_idx]", "doc[kv_idx]"};
      return chance(0.3) ? intConst() : leaves[pick(0, 6)];
    }
    switch (pick(0, 6)) {
    case 0:
      return "(" + index(depth - 1) + " + " + index(depth - 1) + ")";
    case 1:
      return "(" + index(depth - 1) + " - " + index(depth - 1) + ")";
    case 2:
      return "(" + index(depth - 1) + " * " + index(depth - 1) + ")";
    case 3:
      return "(" + index(depth - 1) + " / " + index(depth - 1) + ")";
    case 4:
      return "(" + index(depth - 1) + " % " + index(depth - 1) + ")";
    case 5:
      return std::string(chance(0.5) ? "min(" : "max(") + index(depth - 1) +
             ", " + index(depth - 1) + ")";
    default:
      return "abs(" + index(depth - 1) + ")";
    }
  }
  std::string boolean(int depth) {
    if (depth <= 0 || chance(0.3)) {
      switch (pick(0, 4)) {
      case 0:
        return "causal()";
      case 1:
        return "sliding_window(" + std::to_string(pick(1, 8)) + ")";
      case 2:
        return "document(doc)";
      default: {
        const char *ops[] = {"<", "<=", "==", "!=", ">", ">="};
        return "(" + index(2) + " " + ops[pick(0, 5)] + " " + index(2) + ")";
      }
      }
    }
    switch (pick(0, 3)) {
    case 0:
      return "(" + boolean(depth - 1) + " && " + boolean(depth - 1) + ")";
    case 1:
      return "(" + boolean(depth - 1) + " || " + boolean(depth - 1) + ")";
    case 2:
      return "!" + boolean(depth - 1);
    default:
      return "(" + boolean(depth - 1) + " ? " + boolean(depth - 1) + " : " +
             boolean(depth - 1) + ")";
    }
  }
  std::string floating(int depth) {
    if (depth <= 0 || chance(0.3)) {
      switch (pick(0, 3)) {
      case 0:
        return "score";
      case 1:
        return floatConst();
      case 2:
        return "slopes[h]";
      default:
        // Index math as a float, kept small: the kernel's f32 must agree.
        return "(" + index(1) + " % 7)";
      }
    }
    switch (pick(0, 5)) {
    case 0:
      return "(" + floating(depth - 1) + " + " + floating(depth - 1) + ")";
    case 1:
      return "(" + floating(depth - 1) + " - " + floating(depth - 1) + ")";
    case 2:
      return "(" + floating(depth - 1) + " * g)";
    case 3:
      return "tanh(" + floating(depth - 1) + ")";
    case 4:
      return "(" + boolean(1) + " ? " + floating(depth - 1) + " : " +
             floating(depth - 1) + ")";
    default:
      return std::string(chance(0.5) ? "min(" : "max(") + floating(depth - 1) +
             ", " + floating(depth - 1) + ")";
    }
  }
};

} // namespace attnc::fuzz

#endif // ATTNC_TEST_FUZZ_VARIANTGENERATOR_H
