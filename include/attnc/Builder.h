//===- Builder.h - attention variants written in C++ ------------*- C++ -*-===//
//
// FlexAttention's score_mod / mask_mod lambdas, in C++: build a variant from
// expressions over score, b, h, q_idx, kv_idx and params, and get the same IR
// as the DSL gives for the same variant. No MLIR types appear here.
//
//   attnc::VariantBuilder v("alibi_causal");
//   attnc::Param slopes = v.tensor("slopes", attnc::DType::F32, {"H"});
//   v.score(attnc::score() + slopes[attnc::h()] *
//                                (attnc::kv_idx() - attnc::q_idx()));
//   v.mask(attnc::q_idx() >= attnc::kv_idx());
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_BUILDER_H
#define ATTNC_BUILDER_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnc {

namespace ast {
struct Expr;
struct Attention;
} // namespace ast

/// Element types of params, and of q, k, v and out.
enum class DType { Bool, I32, I64, F16, BF16, F32 };

/// An expression of the variant language; cheap to copy.
class Expr {
public:
  Expr(double value);
  Expr(int value);
  Expr(int64_t value);
  static Expr boolean(bool value);

  /// Internal: wraps a syntax tree node.
  explicit Expr(std::shared_ptr<const ast::Expr> node)
      : node(std::move(node)) {}
  const std::shared_ptr<const ast::Expr> &getNode() const { return node; }

private:
  std::shared_ptr<const ast::Expr> node;
};

Expr operator+(const Expr &a, const Expr &b);
Expr operator-(const Expr &a, const Expr &b);
Expr operator*(const Expr &a, const Expr &b);
/// Floor division on integers, true division on floats.
Expr operator/(const Expr &a, const Expr &b);
/// Floor remainder (the divisor's sign), integers only.
Expr operator%(const Expr &a, const Expr &b);
Expr operator==(const Expr &a, const Expr &b);
Expr operator!=(const Expr &a, const Expr &b);
Expr operator<(const Expr &a, const Expr &b);
Expr operator<=(const Expr &a, const Expr &b);
Expr operator>(const Expr &a, const Expr &b);
Expr operator>=(const Expr &a, const Expr &b);
Expr operator&&(const Expr &a, const Expr &b);
Expr operator||(const Expr &a, const Expr &b);
Expr operator-(const Expr &a);
Expr operator!(const Expr &a);

/// The variables: the score (score statements), the output element (output
/// statements), and the batch, head, query, key and head-dim indices.
Expr score();
Expr b();
Expr h();
Expr q_idx();
Expr kv_idx();
Expr o();
Expr d();
/// The row's statistics, in output statements: its lse (softmax) and the
/// sum of its weights.
Expr lse();
Expr row_sum();
/// Branch `branch`'s output element, lse and row sum, in the first output
/// statement of a variant with branches (VariantBuilder::branches).
Expr o(int64_t branch);
Expr lse(int64_t branch);
Expr row_sum(int64_t branch);

/// `cond ? a : b`.
Expr select(const Expr &cond, const Expr &a, const Expr &b);
/// A call of a standard library function (causal, sliding_window, alibi, ...),
/// a math function (exp, tanh, min, ...) or a cast (f32, i64, ...).
Expr call(std::string_view function, std::vector<Expr> args = {});

/// A param of a variant: index tensors with [] or (), use scalars as values.
class Param {
public:
  Param(std::string name) : name(std::move(name)) {}
  Expr operator[](const Expr &index) const { return at({index}); }
  template <typename... Indices>
  Expr operator()(const Indices &...indices) const {
    return at({Expr(indices)...});
  }
  Expr at(std::vector<Expr> indices) const;
  operator Expr() const;
  const std::string &getName() const { return name; }

private:
  std::string name;
};

/// Collects one variant, statement by statement, in the DSL's order.
/// A dynamic block selection (MoBA): `select = topk(topK, block = .., sinks
/// = .., local = .., causal = ..)` (docs/language.md).
struct Selection {
  int64_t topK = 8;
  int64_t block = 64;
  int64_t sinks = 0;
  int64_t local = 0;
  bool causal = true;
};

class VariantBuilder {
public:
  explicit VariantBuilder(std::string name);
  ~VariantBuilder();
  VariantBuilder(const VariantBuilder &other);
  VariantBuilder &operator=(const VariantBuilder &other);

  /// A tensor param; dims name the sizes B, H, Hkv, N, M, D, Dv, or are numbers
  /// or "?".
  Param tensor(std::string name, DType elem, std::vector<std::string> dims);
  /// A scalar param, optionally with a default.
  Param scalar(std::string name, DType type,
               std::optional<double> defaultValue = std::nullopt);

  /// `let name = value`; returns the name, to use in later statements.
  Expr let(std::string name, const Expr &value);
  VariantBuilder &score(const Expr &value);
  VariantBuilder &mask(const Expr &value);
  /// softmax, sigmoid, relu or none, optionally applied to an expression of
  /// the score.
  VariantBuilder &normalize(std::string_view kind);
  VariantBuilder &normalize(std::string_view kind, const Expr &argument);
  /// `sink = value`: softmax's sink logit, an expression of b, h and params.
  VariantBuilder &sink(const Expr &value);
  VariantBuilder &output(const Expr &value);
  VariantBuilder &scale(double value);
  VariantBuilder &select(const Selection &selection);
  /// `branches = split(count)`: q's and k's head dim cut into `count`
  /// branches, which the first output statement combines (o(i), lse(i),
  /// row_sum(i)).
  VariantBuilder &branches(int64_t count);

  /// Internal: the syntax tree built so far.
  const ast::Attention &getAttention() const { return *attention; }

private:
  std::unique_ptr<ast::Attention> attention;
};

/// How variants are instantiated for emission.
struct VariantOptions {
  DType dtype = DType::F32;            // of q, k, v and out
  std::optional<int64_t> headDim;      // D, when known at compile time
  bool fuse = false;                   // print after canonicalize + attn-fuse
  std::optional<int64_t> valueHeadDim; // Dv, when known and not D
};

/// Checks the variants against the standard library and prints them in the
/// attn dialect; an error carries every diagnostic.
llvm::Expected<std::string>
emitMLIR(const std::vector<VariantBuilder> &variants,
         const VariantOptions &options = {});

/// The same for variants written in the attnc language; `fileName` names the
/// source in diagnostics.
llvm::Expected<std::string> emitMLIR(std::string_view source,
                                     std::string_view fileName,
                                     const VariantOptions &options = {});

} // namespace attnc

#endif // ATTNC_BUILDER_H
