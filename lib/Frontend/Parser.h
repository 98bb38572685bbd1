//===- Parser.h - recursive-descent parser of the attnc DSL -----*- C++ -*-===//

#ifndef ATTNC_FRONTEND_PARSER_H
#define ATTNC_FRONTEND_PARSER_H

#include "Frontend/AST.h"
#include "Frontend/Lexer.h"

#include <optional>

namespace attnc {

/// Parses one source into a Module. Errors go to the DiagnosticEngine; the
/// parser recovers at the next statement or item, so one run reports every
/// error it can, and it bounds nesting so that no input overflows the stack.
class Parser {
public:
  Parser(const SourceFile &file, DiagnosticEngine &diags);
  ast::Module parseModule();

private:
  void advance();
  /// The token after the current one.
  const Token &peek();
  /// Whether the current token starts a statement: `let`, or a statement
  /// name followed by '='.
  bool atStatementStart();
  bool consumeIf(TokenKind kind);
  /// Reports "expected X, found Y" unless the current token is `kind`.
  bool expect(TokenKind kind, std::string_view what);
  void errorExpected(std::string_view what);

  bool parseAttention(ast::Module &module);
  bool parseFunction(ast::Module &module);
  bool parseParams(std::vector<ast::Param> &params);
  bool parseType(ast::TypeSpec &type);
  bool parseStatement(std::vector<ast::Stmt> &body);
  void skipToStatement();
  void skipToItem();

  ast::ExprPtr parseExpr();
  ast::ExprPtr parseTernary();
  ast::ExprPtr parseBinary(int minPrecedence);
  ast::ExprPtr parseUnary();
  ast::ExprPtr parsePostfix();
  ast::ExprPtr parsePrimary();
  bool parseArgs(TokenKind close, std::vector<ast::ExprPtr> &args);
  /// Fails with a diagnostic once `e` is nested deeper than kMaxExprDepth.
  ast::ExprPtr checkDepth(ast::ExprPtr e);

  const SourceFile &file;
  DiagnosticEngine &diags;
  Lexer lexer;
  Token tok;
  std::optional<Token> lookahead;
  uint32_t nesting = 0; // recursion depth of parseExpr
};

} // namespace attnc

#endif // ATTNC_FRONTEND_PARSER_H
