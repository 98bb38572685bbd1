//===- AST.cpp - the syntax tree of the attnc DSL -------------------------===//

#include "Frontend/AST.h"

#include <algorithm>

using namespace attnc;
using namespace attnc::ast;

std::string_view ast::toString(ScalarType type) {
  switch (type) {
  case ScalarType::Bool:
    return "bool";
  case ScalarType::I32:
    return "i32";
  case ScalarType::I64:
    return "i64";
  case ScalarType::F16:
    return "f16";
  case ScalarType::BF16:
    return "bf16";
  case ScalarType::F32:
    return "f32";
  }
  return "?";
}

std::optional<ScalarType> ast::parseScalarType(std::string_view name) {
  for (ScalarType t : {ScalarType::Bool, ScalarType::I32, ScalarType::I64,
                       ScalarType::F16, ScalarType::BF16, ScalarType::F32})
    if (name == toString(t))
      return t;
  return std::nullopt;
}

std::string Dim::toString() const {
  switch (kind) {
  case Kind::Symbol:
    return symbol;
  case Kind::Static:
    return std::to_string(size);
  case Kind::Any:
    return "?";
  }
  return "?";
}

bool Dim::operator==(const Dim &other) const {
  return kind == other.kind && symbol == other.symbol && size == other.size;
}

std::string TypeSpec::toString() const {
  std::string s(ast::toString(elem));
  if (!isTensor)
    return s;
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + dims[i].toString();
  return s + "]";
}

std::string_view ast::toString(Op op) {
  switch (op) {
  case Op::Add:
    return "+";
  case Op::Sub:
    return "-";
  case Op::Mul:
    return "*";
  case Op::Div:
    return "/";
  case Op::Rem:
    return "%";
  case Op::Eq:
    return "==";
  case Op::Ne:
    return "!=";
  case Op::Lt:
    return "<";
  case Op::Le:
    return "<=";
  case Op::Gt:
    return ">";
  case Op::Ge:
    return ">=";
  case Op::And:
    return "&&";
  case Op::Or:
    return "||";
  case Op::Neg:
    return "-";
  case Op::Not:
    return "!";
  }
  return "?";
}

/// Sets `e`'s depth from its operands'.
static void updateDepth(Expr &e) {
  for (const ExprPtr &operand : e.operands)
    if (operand)
      e.depth = std::max(e.depth, operand->depth + 1);
}

static std::shared_ptr<Expr> make(Expr::Kind kind, SourceRange range) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->range = range;
  return e;
}

ExprPtr ast::makeInt(int64_t value, SourceRange range) {
  auto e = make(Expr::Kind::IntLit, range);
  e->intValue = value;
  return e;
}
ExprPtr ast::makeFloat(double value, SourceRange range) {
  auto e = make(Expr::Kind::FloatLit, range);
  e->floatValue = value;
  return e;
}
ExprPtr ast::makeBool(bool value, SourceRange range) {
  auto e = make(Expr::Kind::BoolLit, range);
  e->boolValue = value;
  return e;
}
ExprPtr ast::makeName(std::string name, SourceRange range) {
  auto e = make(Expr::Kind::Name, range);
  e->name = std::move(name);
  return e;
}
ExprPtr ast::makeCall(std::string callee, std::vector<ExprPtr> args,
                      SourceRange range) {
  auto e = make(Expr::Kind::Call, range);
  e->name = std::move(callee);
  e->operands = std::move(args);
  updateDepth(*e);
  return e;
}
ExprPtr ast::makeKeyword(std::string name, ExprPtr value, SourceRange range) {
  auto e = make(Expr::Kind::Keyword, range);
  e->name = std::move(name);
  e->operands = {std::move(value)};
  updateDepth(*e);
  return e;
}
ExprPtr ast::makeIndex(std::string param, std::vector<ExprPtr> indices,
                       SourceRange range) {
  auto e = make(Expr::Kind::Index, range);
  e->name = std::move(param);
  e->operands = std::move(indices);
  updateDepth(*e);
  return e;
}
ExprPtr ast::makeUnary(Op op, ExprPtr operand, SourceRange range,
                       SourceRange opRange) {
  auto e = make(Expr::Kind::Unary, range);
  e->op = op;
  e->opRange = opRange;
  e->operands = {std::move(operand)};
  updateDepth(*e);
  return e;
}
ExprPtr ast::makeBinary(Op op, ExprPtr lhs, ExprPtr rhs, SourceRange opRange) {
  auto e = make(Expr::Kind::Binary, lhs->range);
  e->op = op;
  e->opRange = opRange;
  e->operands = {std::move(lhs), std::move(rhs)};
  updateDepth(*e);
  return e;
}
ExprPtr ast::makeTernary(ExprPtr cond, ExprPtr lhs, ExprPtr rhs,
                         SourceRange opRange) {
  auto e = make(Expr::Kind::Ternary, cond->range);
  e->opRange = opRange;
  e->operands = {std::move(cond), std::move(lhs), std::move(rhs)};
  updateDepth(*e);
  return e;
}
