//===- AST.h - the syntax tree of the attnc DSL -----------------*- C++ -*-===//
//
// What the parser produces and the C++ builder constructs: untyped, with
// source ranges. The checker (Sema) turns it into typed variants.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_FRONTEND_AST_H
#define ATTNC_FRONTEND_AST_H

#include "Frontend/Diagnostics.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnc::ast {

enum class ScalarType { Bool, I32, I64, F16, BF16, F32 };

std::string_view toString(ScalarType type);
std::optional<ScalarType> parseScalarType(std::string_view name);
inline bool isFloat(ScalarType t) {
  return t == ScalarType::F16 || t == ScalarType::BF16 || t == ScalarType::F32;
}
inline bool isInteger(ScalarType t) {
  return t == ScalarType::I32 || t == ScalarType::I64;
}

/// One dimension of a param's shape: a symbolic size (B, H, Hkv, N, M, D, Dv),
/// a constant, or `?` (any size, known at run time).
struct Dim {
  enum class Kind { Symbol, Static, Any };
  Kind kind = Kind::Any;
  std::string symbol;
  int64_t size = 0;
  std::string toString() const;
  bool operator==(const Dim &other) const;
};

/// `f32`, or `i32[N]`, or `bool[H, ?, ?]`.
struct TypeSpec {
  ScalarType elem = ScalarType::F32;
  bool isTensor = false;
  std::vector<Dim> dims;
  SourceRange range;
  std::string toString() const;
};

enum class Op {
  Add,
  Sub,
  Mul,
  Div,
  Rem,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  And,
  Or,
  Neg,
  Not,
};
std::string_view toString(Op op);

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    IntLit,
    FloatLit,
    BoolLit,
    Name,
    Call,
    Index,
    Unary,
    Binary,
    Ternary,
    Keyword, // `name = value` among a call's arguments (select's topk)
  };
  Kind kind;
  SourceRange range;   // the whole expression's first token
  SourceRange opRange; // the operator, for Unary/Binary/Ternary
  std::string name;    // Name; Call's callee; Index's param; Keyword's name
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  Op op = Op::Add;
  std::vector<ExprPtr>
      operands; // Call args; Index indices; Unary/Binary/Ternary; Keyword
  /// Height of the tree below this node, bounded by the parser (and checked
  /// again by Sema for builder input) so that no recursion over it overflows.
  uint32_t depth = 1;
};

/// The deepest expression tree the frontend accepts.
constexpr uint32_t kMaxExprDepth = 256;

struct Param {
  std::string name;
  SourceRange range;
  TypeSpec type;
  ExprPtr defaultValue; // scalars only
};

/// `let x = e`, or `score = e` / `mask = e` / `normalize = e` / `output = e` /
/// `scale = e`.
struct Stmt {
  enum class Kind { Let, Assign };
  Kind kind = Kind::Assign;
  std::string target;
  SourceRange targetRange;
  ExprPtr value;
};

struct Attention {
  std::string name;
  SourceRange range;
  std::vector<Param> params;
  std::vector<Stmt> body;
};

/// `fn name(params) -> type = expr`: a mask, score or helper function,
/// inlined at each call.
struct Function {
  std::string name;
  SourceRange range;
  std::vector<Param> params;
  TypeSpec result;
  ExprPtr body;
};

struct Module {
  std::vector<Attention> attentions;
  std::vector<Function> functions;
};

/// Expression constructors shared by the parser and the C++ builder.
ExprPtr makeInt(int64_t value, SourceRange range = {});
ExprPtr makeFloat(double value, SourceRange range = {});
ExprPtr makeBool(bool value, SourceRange range = {});
ExprPtr makeName(std::string name, SourceRange range = {});
ExprPtr makeCall(std::string callee, std::vector<ExprPtr> args,
                 SourceRange range = {});
ExprPtr makeIndex(std::string param, std::vector<ExprPtr> indices,
                  SourceRange range = {});
ExprPtr makeUnary(Op op, ExprPtr operand, SourceRange range = {},
                  SourceRange opRange = {});
ExprPtr makeBinary(Op op, ExprPtr lhs, ExprPtr rhs, SourceRange opRange = {});
ExprPtr makeTernary(ExprPtr cond, ExprPtr lhs, ExprPtr rhs,
                    SourceRange opRange = {});
ExprPtr makeKeyword(std::string name, ExprPtr value, SourceRange range = {});

} // namespace attnc::ast

#endif // ATTNC_FRONTEND_AST_H
