//===- Typed.h - checked variants, ready to emit ----------------*- C++ -*-===//
//
// What the checker produces from the AST: one VariantSpec per `attention`,
// whose expressions are typed DAGs with every name resolved, every function
// call inlined and every implicit conversion explicit. The emitter maps each
// node to one or a few arith/math ops.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_FRONTEND_TYPED_H
#define ATTNC_FRONTEND_TYPED_H

#include "Frontend/AST.h"

#include "attnc/abi.h" // attnc_normalizer

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnc::sema {

using ast::ScalarType;

/// The variables a region sees: the score (score_mod), the output element
/// and the row's statistics (output_mod) and the indices. The Branch ones
/// are `o[i]`, `lse[i]` and `row_sum[i]` for i >= 1 in a variant with
/// branches (TExpr::intValue holds i; o[0] is Output).
enum class Var {
  Score,
  Batch,
  Head,
  QIdx,
  KvIdx,
  Output,
  Dim,
  Lse,
  RowSum,
  BranchOutput,
  BranchLse,
  BranchRowSum
};

enum class MathFn {
  Exp,
  Exp2,
  Log,
  Log2,
  Sqrt,
  Rsqrt,
  Tanh,
  Sigmoid,
  Floor,
  Ceil,
  Abs,
  Min,
  Max,
  Pow,
};

struct TExpr;
using TExprPtr = std::shared_ptr<const TExpr>;

struct TExpr {
  enum class Kind {
    Const,  // intValue / floatValue / boolValue by type
    Var,    // var
    Param,  // a scalar param of the variant: param
    Load,   // param[operands...], indices are i64
    Unary,  // op: Neg or Not
    Binary, // op; operands share one type (comparisons yield bool)
    Select, // operands: cond, then, else
    Cast,   // operands[0] converted to `type`
    Math,   // fn(operands...)
  };
  TExpr(Kind kind, ScalarType type, SourceRange range)
      : kind(kind), type(type), range(range) {}

  Kind kind;
  ScalarType type;
  SourceRange range;
  /// For nodes inlined from a function: the outermost call in the variant,
  /// so that a location can say "in the library, called from here".
  SourceRange callSite;
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  bool untypedLiteral = false; // an integer literal, still free to adapt
  Var var = Var::Score;
  unsigned param = 0;
  ast::Op op = ast::Op::Add;
  MathFn fn = MathFn::Exp;
  std::vector<TExprPtr> operands;
};

/// How scores become weights: the kernels' enum (attnc/abi.h), whose
/// values the dialect's NormalizerKind shares.
using Normalizer = attnc_normalizer;

/// `select = topk(K, block = B, sinks = S, local = L, causal = C)`: each
/// query keeps its top-K key blocks by the gate <q, mean of the block's keys>
/// (the dialect's #attn.select says exactly how).
struct SelectSpec {
  int64_t topK = 1, block = 64, sinks = 0, local = 0;
  bool causal = true;
  SourceRange range;
};

/// A param of the variant, in signature order after q, k and v.
struct ParamSpec {
  std::string name;
  ast::TypeSpec type;
  SourceRange range;
  std::optional<TExprPtr> defaultValue; // a Const, scalars only
  /// A call size read in an expression (B, H, Hkv, N, M, D, Dv): an i64
  /// param the runtime sets from the call's shapes, never given by a caller,
  /// so that a new N or M needs no new kernel.
  bool isSize = false;
};

struct VariantSpec {
  std::string name;
  SourceRange range;
  std::vector<ParamSpec> params;
  std::optional<double> scale; // default: 1/sqrt(D)
  SourceRange scaleRange;
  std::vector<TExprPtr> scoreMods; // each reads Var::Score
  std::vector<SourceRange> scoreModRanges;
  TExprPtr mask; // bool; null keeps every pair
  SourceRange maskRange;
  std::optional<SelectSpec> select; // none: no block selection
  Normalizer normalizer = ATTNC_NORMALIZE_SOFTMAX;
  SourceRange normalizerRange;
  TExprPtr sink; // f32 of b and h (softmax only); null: no sink
  SourceRange sinkRange;
  /// `branches = split(K)`: K branches, each over part i of q's and k's
  /// head dimension; the first output statement combines them.
  int64_t branches = 1;
  SourceRange branchesRange;
  std::vector<TExprPtr> outputMods; // each reads Var::Output
  std::vector<SourceRange> outputModRanges;
};

} // namespace attnc::sema

#endif // ATTNC_FRONTEND_TYPED_H
