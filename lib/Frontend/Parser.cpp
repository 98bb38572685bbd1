//===- Parser.cpp - recursive-descent parser of the attnc DSL -------------===//
//
//   module    := (attention | function)*
//   attention := 'attention' NAME '(' params? ')' '{' statement* '}'
//   function  := 'fn' NAME '(' params? ')' '->' type '=' expr ';'?
//   param     := NAME ':' type ('=' expr)?
//   type      := SCALAR ('[' dim (',' dim)* ']')?      dim :=
//   B|H|Hkv|N|M|D|INT|'?' statement := 'let' NAME '=' expr ';'?  |  NAME '='
//   expr ';'? expr      := or ('?' expr ':' expr)? or := and ('||' and)* and :=
//   cmp ('&&' cmp)*    cmp := add (CMP add)? add := mul (('+'|'-') mul)* mul :=
//   unary (('*'|'/'|'%') unary)* unary     := ('-'|'!') unary | primary primary
//   := INT | FLOAT | true | false | NAME | NAME '(' args ')' |
//                NAME '[' args ']' | '(' expr ')'
//
//===----------------------------------------------------------------------===//

#include "Frontend/Parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

using namespace attnc;
using namespace attnc::ast;

Parser::Parser(const SourceFile &file, DiagnosticEngine &diags)
    : file(file), diags(diags), lexer(file, diags) {
  advance();
}

void Parser::advance() {
  if (lookahead) {
    tok = *lookahead;
    lookahead.reset();
  } else {
    tok = lexer.next();
  }
}

const Token &Parser::peek() {
  if (!lookahead)
    lookahead = lexer.next();
  return *lookahead;
}

bool Parser::consumeIf(TokenKind kind) {
  if (!tok.is(kind))
    return false;
  advance();
  return true;
}

void Parser::errorExpected(std::string_view what) {
  // A malformed token was reported by the lexer already.
  if (tok.is(TokenKind::Error))
    return;
  std::string found = tok.is(TokenKind::Eof)
                          ? "end of file"
                          : "'" + std::string(tok.text) + "'";
  diags.error(tok.range(),
              "expected " + std::string(what) + ", found " + found);
}

bool Parser::expect(TokenKind kind, std::string_view what) {
  if (consumeIf(kind))
    return true;
  errorExpected(what.empty() ? describe(kind) : what);
  return false;
}

Module Parser::parseModule() {
  Module module;
  while (!tok.is(TokenKind::Eof) && !diags.tooManyErrors()) {
    bool ok;
    if (tok.is(TokenKind::KwAttention)) {
      ok = parseAttention(module);
    } else if (tok.is(TokenKind::KwFn)) {
      ok = parseFunction(module);
    } else {
      errorExpected("'attention' or 'fn'");
      ok = false;
    }
    if (!ok)
      skipToItem();
  }
  return module;
}

void Parser::skipToItem() {
  // Always make progress, then stop before the next item.
  if (!tok.is(TokenKind::Eof))
    advance();
  while (!tok.is(TokenKind::Eof) && !tok.is(TokenKind::KwAttention) &&
         !tok.is(TokenKind::KwFn))
    advance();
}

static bool isStatementName(std::string_view name) {
  return name == "score" || name == "mask" || name == "normalize" ||
         name == "output" || name == "scale" || name == "select" ||
         name == "branches";
}

bool Parser::atStatementStart() {
  return tok.is(TokenKind::KwLet) ||
         (tok.is(TokenKind::Identifier) && isStatementName(tok.text) &&
          peek().is(TokenKind::Assign));
}

void Parser::skipToStatement() {
  while (!tok.is(TokenKind::Eof) && !tok.is(TokenKind::RBrace) &&
         !tok.is(TokenKind::KwAttention) && !tok.is(TokenKind::KwFn) &&
         !atStatementStart()) {
    if (consumeIf(TokenKind::Semicolon))
      return;
    advance();
  }
}

bool Parser::parseAttention(Module &module) {
  advance(); // 'attention'
  Attention attention;
  attention.range = tok.range();
  attention.name = std::string(tok.text);
  if (!expect(TokenKind::Identifier, "the attention's name") ||
      !expect(TokenKind::LParen, "'(' to open the params") ||
      !parseParams(attention.params))
    return false;
  SourceRange open = tok.range();
  if (!expect(TokenKind::LBrace, "'{' to open the body"))
    return false;
  while (!tok.is(TokenKind::RBrace)) {
    if (tok.is(TokenKind::Eof) || tok.is(TokenKind::KwAttention) ||
        tok.is(TokenKind::KwFn)) {
      errorExpected("'}' to close the body of attention '" + attention.name +
                    "'");
      diags.note(open, "the body opened here");
      module.attentions.push_back(std::move(attention));
      return true; // already at the next item
    }
    if (diags.tooManyErrors())
      return false;
    uint32_t start = tok.loc.offset;
    if (!parseStatement(attention.body)) {
      skipToStatement();
      if (tok.loc.offset == start && !tok.is(TokenKind::Eof))
        advance(); // always make progress
    }
  }
  advance(); // '}'
  module.attentions.push_back(std::move(attention));
  return true;
}

bool Parser::parseFunction(Module &module) {
  advance(); // 'fn'
  Function fn;
  fn.range = tok.range();
  fn.name = std::string(tok.text);
  if (!expect(TokenKind::Identifier, "the function's name") ||
      !expect(TokenKind::LParen, "'(' to open the parameters") ||
      !parseParams(fn.params) ||
      !expect(TokenKind::Arrow, "'->' and the result type") ||
      !parseType(fn.result) ||
      !expect(TokenKind::Assign, "'=' and the function's body"))
    return false;
  fn.body = parseExpr();
  if (!fn.body)
    return false;
  consumeIf(TokenKind::Semicolon);
  module.functions.push_back(std::move(fn));
  return true;
}

bool Parser::parseParams(std::vector<Param> &params) {
  while (!consumeIf(TokenKind::RParen)) {
    Param param;
    param.range = tok.range();
    param.name = std::string(tok.text);
    if (!expect(TokenKind::Identifier, "a parameter name or ')'") ||
        !expect(TokenKind::Colon, "':' and the parameter's type") ||
        !parseType(param.type))
      return false;
    if (consumeIf(TokenKind::Assign)) {
      param.defaultValue = parseExpr();
      if (!param.defaultValue)
        return false;
    }
    params.push_back(std::move(param));
    if (!tok.is(TokenKind::RParen) &&
        !expect(TokenKind::Comma, "',' or ')' after a parameter"))
      return false;
  }
  return true;
}

bool Parser::parseType(TypeSpec &type) {
  type.range = tok.range();
  std::optional<ScalarType> scalar;
  if (tok.is(TokenKind::Identifier))
    scalar = parseScalarType(tok.text);
  if (!scalar) {
    errorExpected("a type (bool, i32, i64, f16, bf16 or f32)");
    return false;
  }
  type.elem = *scalar;
  advance();
  if (!consumeIf(TokenKind::LBracket))
    return true;
  type.isTensor = true;
  do {
    Dim dim;
    if (tok.is(TokenKind::Question)) {
      dim.kind = Dim::Kind::Any;
    } else if (tok.is(TokenKind::Integer)) {
      dim.kind = Dim::Kind::Static;
      dim.size = std::strtoll(std::string(tok.text).c_str(), nullptr, 10);
      if (dim.size <= 0 || dim.size > (int64_t(1) << 40)) {
        diags.error(tok.range(), "a dimension must be a positive size");
        return false;
      }
    } else if (tok.is(TokenKind::Identifier) &&
               (tok.text == "B" || tok.text == "H" || tok.text == "Hkv" ||
                tok.text == "N" || tok.text == "M" || tok.text == "D" ||
                tok.text == "Dv")) {
      dim.kind = Dim::Kind::Symbol;
      dim.symbol = std::string(tok.text);
    } else {
      errorExpected("a dimension (B, H, Hkv, N, M, D, Dv, a number or ?)");
      return false;
    }
    type.dims.push_back(dim);
    advance();
  } while (consumeIf(TokenKind::Comma));
  type.range.length = tok.loc.offset > type.range.begin.offset
                          ? tok.loc.offset - type.range.begin.offset + 1
                          : 1;
  return expect(TokenKind::RBracket, "',' or ']' in the shape");
}

bool Parser::parseStatement(std::vector<Stmt> &body) {
  Stmt stmt;
  if (consumeIf(TokenKind::KwLet)) {
    stmt.kind = Stmt::Kind::Let;
    stmt.targetRange = tok.range();
    stmt.target = std::string(tok.text);
    if (!expect(TokenKind::Identifier, "a name after 'let'"))
      return false;
  } else if (tok.is(TokenKind::Identifier)) {
    stmt.targetRange = tok.range();
    stmt.target = std::string(tok.text);
    advance();
  } else {
    errorExpected(
        "a statement (score, mask, normalize, select, branches, output, scale "
        "or let)");
    return false;
  }
  if (!expect(TokenKind::Assign, "'=' after '" + stmt.target + "'"))
    return false;
  stmt.value = parseExpr();
  if (!stmt.value)
    return false;
  consumeIf(TokenKind::Semicolon);
  body.push_back(std::move(stmt));
  return true;
}

ExprPtr Parser::checkDepth(ExprPtr e) {
  if (e && e->depth > kMaxExprDepth) {
    diags.error(e->range, "expression nested too deeply (more than " +
                              std::to_string(kMaxExprDepth) + " levels)");
    return nullptr;
  }
  return e;
}

namespace {
/// Counts the parser's recursion and refuses to go deeper than the bound.
struct NestingGuard {
  uint32_t &nesting;
  explicit NestingGuard(uint32_t &n) : nesting(++n) {}
  ~NestingGuard() { --nesting; }
  bool tooDeep() const { return nesting > kMaxExprDepth; }
};
} // namespace

ExprPtr Parser::parseExpr() {
  NestingGuard guard(nesting);
  if (guard.tooDeep()) {
    diags.error(tok.range(), "expression nested too deeply (more than " +
                                 std::to_string(kMaxExprDepth) + " levels)");
    // Every enclosing level now unwinds without reporting more; statement
    // recovery then skips the rest of the nest.
    return nullptr;
  }
  return parseTernary();
}

ExprPtr Parser::parseTernary() {
  ExprPtr cond = parseBinary(1);
  if (!cond || !tok.is(TokenKind::Question))
    return cond;
  SourceRange opRange = tok.range();
  advance();
  ExprPtr lhs = parseExpr();
  if (!lhs || !expect(TokenKind::Colon, "':' in the conditional expression"))
    return nullptr;
  ExprPtr rhs = parseExpr();
  if (!rhs)
    return nullptr;
  return checkDepth(makeTernary(cond, lhs, rhs, opRange));
}

/// Binary operators and their precedence (higher binds tighter).
static int precedence(TokenKind kind, Op &op) {
  switch (kind) {
  case TokenKind::OrOr:
    op = Op::Or;
    return 1;
  case TokenKind::AndAnd:
    op = Op::And;
    return 2;
  case TokenKind::Equal:
    op = Op::Eq;
    return 3;
  case TokenKind::NotEqual:
    op = Op::Ne;
    return 3;
  case TokenKind::Less:
    op = Op::Lt;
    return 3;
  case TokenKind::LessEqual:
    op = Op::Le;
    return 3;
  case TokenKind::Greater:
    op = Op::Gt;
    return 3;
  case TokenKind::GreaterEqual:
    op = Op::Ge;
    return 3;
  case TokenKind::Plus:
    op = Op::Add;
    return 4;
  case TokenKind::Minus:
    op = Op::Sub;
    return 4;
  case TokenKind::Star:
    op = Op::Mul;
    return 5;
  case TokenKind::Slash:
    op = Op::Div;
    return 5;
  case TokenKind::Percent:
    op = Op::Rem;
    return 5;
  default:
    return 0;
  }
}

/// Python's spelling of a logical operator, as attnc writes it ("" if none).
static const char *pythonOperator(std::string_view name) {
  return name == "and" ? "&&" : name == "or" ? "||" : name == "not" ? "!" : "";
}

ExprPtr Parser::parseBinary(int minPrecedence) {
  ExprPtr lhs = parseUnary();
  while (lhs) {
    // `a and b` would otherwise end the statement at `a` and fail later,
    // far from the cause.
    if (tok.is(TokenKind::Identifier) && *pythonOperator(tok.text) &&
        tok.text != "not" && !peek().is(TokenKind::Assign)) {
      diags.error(tok.range(),
                  "'" + std::string(tok.text) +
                      "' is not an operator in attnc; did you mean '" +
                      pythonOperator(tok.text) + "'?");
      return nullptr;
    }
    Op op;
    int prec = precedence(tok.kind, op);
    if (prec == 0 || prec < minPrecedence)
      return lhs;
    SourceRange opRange = tok.range();
    advance();
    ExprPtr rhs = parseBinary(prec + 1);
    if (!rhs)
      return nullptr;
    lhs = checkDepth(makeBinary(op, lhs, rhs, opRange));
    Op next;
    if (lhs && prec == 3 && precedence(tok.kind, next) == 3) {
      diags.error(tok.range(),
                  "comparisons do not chain; write 'a < b && b < c'");
      return nullptr;
    }
  }
  return nullptr;
}

ExprPtr Parser::parseUnary() {
  if (!tok.is(TokenKind::Minus) && !tok.is(TokenKind::Not))
    return parsePrimary();
  NestingGuard guard(nesting);
  if (guard.tooDeep()) {
    diags.error(tok.range(), "expression nested too deeply (more than " +
                                 std::to_string(kMaxExprDepth) + " levels)");
    while (tok.is(TokenKind::Minus) || tok.is(TokenKind::Not))
      advance();
    return nullptr;
  }
  SourceRange opRange = tok.range();
  Op op = tok.is(TokenKind::Minus) ? Op::Neg : Op::Not;
  advance();
  ExprPtr operand = parseUnary();
  if (!operand)
    return nullptr;
  return checkDepth(makeUnary(op, operand, opRange, opRange));
}

bool Parser::parseArgs(TokenKind close, std::vector<ExprPtr> &args) {
  if (consumeIf(close))
    return true;
  do {
    // `name = value`: a keyword argument (Sema admits them in select only).
    SourceRange keywordRange = tok.range();
    std::string keyword;
    if (close == TokenKind::RParen && tok.is(TokenKind::Identifier) &&
        peek().is(TokenKind::Assign)) {
      keyword = std::string(tok.text);
      advance();
      advance();
    }
    ExprPtr arg = parseExpr();
    if (!arg)
      return false;
    args.push_back(keyword.empty()
                       ? arg
                       : makeKeyword(keyword, std::move(arg), keywordRange));
  } while (consumeIf(TokenKind::Comma));
  return expect(close,
                close == TokenKind::RParen ? "',' or ')'" : "',' or ']'");
}

ExprPtr Parser::parsePrimary() {
  Token start = tok;
  SourceRange range = tok.range();
  switch (tok.kind) {
  case TokenKind::Integer: {
    errno = 0;
    std::string text(tok.text);
    long long value = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) {
      diags.error(range, "integer '" + text.substr(0, 40) + "' is too large");
      return nullptr;
    }
    advance();
    return makeInt(value, range);
  }
  case TokenKind::Float: {
    std::string text(tok.text);
    double value = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(value)) {
      diags.error(range, "number '" + text.substr(0, 40) + "' is out of range");
      return nullptr;
    }
    advance();
    return makeFloat(value, range);
  }
  case TokenKind::KwTrue:
  case TokenKind::KwFalse:
    advance();
    return makeBool(start.is(TokenKind::KwTrue), range);
  case TokenKind::LParen: {
    advance();
    ExprPtr inner = parseExpr();
    if (!inner || !expect(TokenKind::RParen, "')'"))
      return nullptr;
    return inner;
  }
  case TokenKind::Identifier: {
    // `score =` starts the next statement: the previous one is incomplete.
    if (atStatementStart()) {
      errorExpected("an expression");
      return nullptr;
    }
    std::string name(tok.text);
    advance();
    if (name == "not" &&
        (tok.is(TokenKind::Identifier) || tok.is(TokenKind::LParen) ||
         tok.is(TokenKind::Integer) || tok.is(TokenKind::KwTrue) ||
         tok.is(TokenKind::KwFalse))) {
      diags.error(range,
                  "'not' is not an operator in attnc; did you mean '!'?");
      return nullptr;
    }
    std::vector<ExprPtr> args;
    if (consumeIf(TokenKind::LParen)) {
      if (!parseArgs(TokenKind::RParen, args))
        return nullptr;
      return checkDepth(makeCall(name, std::move(args), range));
    }
    if (consumeIf(TokenKind::LBracket)) {
      if (!parseArgs(TokenKind::RBracket, args))
        return nullptr;
      if (args.empty()) {
        diags.error(range, "'" + name + "[]' needs at least one index");
        return nullptr;
      }
      return checkDepth(makeIndex(name, std::move(args), range));
    }
    return makeName(name, range);
  }
  default:
    errorExpected("an expression");
    return nullptr;
  }
}
