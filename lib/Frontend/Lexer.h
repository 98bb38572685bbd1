//===- Lexer.h - tokens of the attnc DSL ------------------------*- C++ -*-===//

#ifndef ATTNC_FRONTEND_LEXER_H
#define ATTNC_FRONTEND_LEXER_H

#include "Frontend/Diagnostics.h"

#include <string_view>

namespace attnc {

enum class TokenKind {
  Eof,
  Error, // a malformed token, already reported
  Identifier,
  Integer,
  Float,
  // keywords
  KwAttention,
  KwFn,
  KwLet,
  KwTrue,
  KwFalse,
  // punctuation and operators
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Semicolon,
  Colon,
  Question,
  Arrow,
  Assign,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Not,
  AndAnd,
  OrOr,
  Equal,
  NotEqual,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
};

/// How a token kind reads in a message: "'('", "identifier", "end of file".
std::string_view describe(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::Eof;
  std::string_view text;
  SourceLoc loc;
  const SourceFile *file = nullptr;
  SourceRange range() const {
    return {loc, static_cast<uint32_t>(text.empty() ? 1 : text.size()), file};
  }
  bool is(TokenKind k) const { return kind == k; }
};

/// Splits a source into tokens, one at a time; reports malformed numbers,
/// unterminated comments and stray bytes, and never reads past the end.
class Lexer {
public:
  Lexer(const SourceFile &file, DiagnosticEngine &diags)
      : file(file), diags(diags), text(file.getText()) {}

  Token next();

private:
  Token make(TokenKind kind, size_t begin);
  Token lexNumber(size_t begin);
  bool skipSpaceAndComments();

  const SourceFile &file;
  DiagnosticEngine &diags;
  std::string_view text;
  size_t pos = 0;
};

} // namespace attnc

#endif // ATTNC_FRONTEND_LEXER_H
