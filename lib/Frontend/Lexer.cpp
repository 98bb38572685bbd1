//===- Lexer.cpp - tokens of the attnc DSL --------------------------------===//

#include "Frontend/Lexer.h"

#include <cctype>
#include <cstdio>

using namespace attnc;

std::string_view attnc::describe(TokenKind kind) {
  switch (kind) {
  case TokenKind::Eof:
    return "end of file";
  case TokenKind::Error:
    return "invalid token";
  case TokenKind::Identifier:
    return "identifier";
  case TokenKind::Integer:
    return "integer";
  case TokenKind::Float:
    return "number";
  case TokenKind::KwAttention:
    return "'attention'";
  case TokenKind::KwFn:
    return "'fn'";
  case TokenKind::KwLet:
    return "'let'";
  case TokenKind::KwTrue:
    return "'true'";
  case TokenKind::KwFalse:
    return "'false'";
  case TokenKind::LParen:
    return "'('";
  case TokenKind::RParen:
    return "')'";
  case TokenKind::LBracket:
    return "'['";
  case TokenKind::RBracket:
    return "']'";
  case TokenKind::LBrace:
    return "'{'";
  case TokenKind::RBrace:
    return "'}'";
  case TokenKind::Comma:
    return "','";
  case TokenKind::Semicolon:
    return "';'";
  case TokenKind::Colon:
    return "':'";
  case TokenKind::Question:
    return "'?'";
  case TokenKind::Arrow:
    return "'->'";
  case TokenKind::Assign:
    return "'='";
  case TokenKind::Plus:
    return "'+'";
  case TokenKind::Minus:
    return "'-'";
  case TokenKind::Star:
    return "'*'";
  case TokenKind::Slash:
    return "'/'";
  case TokenKind::Percent:
    return "'%'";
  case TokenKind::Not:
    return "'!'";
  case TokenKind::AndAnd:
    return "'&&'";
  case TokenKind::OrOr:
    return "'||'";
  case TokenKind::Equal:
    return "'=='";
  case TokenKind::NotEqual:
    return "'!='";
  case TokenKind::Less:
    return "'<'";
  case TokenKind::LessEqual:
    return "'<='";
  case TokenKind::Greater:
    return "'>'";
  case TokenKind::GreaterEqual:
    return "'>='";
  }
  return "token";
}

Token Lexer::make(TokenKind kind, size_t begin) {
  return {kind, text.substr(begin, pos - begin),
          file.locate(static_cast<uint32_t>(begin)), &file};
}

/// Skips blanks and comments; false after reporting an unterminated comment.
bool Lexer::skipSpaceAndComments() {
  while (pos < text.size()) {
    char c = text[pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
        c == '\v') {
      ++pos;
    } else if (text.compare(pos, 2, "//") == 0) {
      while (pos < text.size() && text[pos] != '\n')
        ++pos;
    } else if (text.compare(pos, 2, "/*") == 0) {
      size_t end = text.find("*/", pos + 2);
      if (end == std::string_view::npos) {
        diags.error({file.locate(pos), 2, &file},
                    "unterminated comment: expected '*/'");
        pos = text.size();
        return false;
      }
      pos = end + 2;
    } else {
      return true;
    }
  }
  return true;
}

static bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
static bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
static bool isDigit(char c) { return c >= '0' && c <= '9'; }

/// Numbers: 12, 1.5, .5, 3e-2, 1.0e4. Anything glued to a number that cannot
/// continue it (1.2.3, 1e, 12abc) makes the whole run malformed.
Token Lexer::lexNumber(size_t begin) {
  bool isFloat = false, ok = true;
  while (pos < text.size() && isDigit(text[pos]))
    ++pos;
  if (pos < text.size() && text[pos] == '.') {
    isFloat = true;
    ++pos;
    while (pos < text.size() && isDigit(text[pos]))
      ++pos;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    isFloat = true;
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
      ++pos;
    if (pos >= text.size() || !isDigit(text[pos]))
      ok = false;
    while (pos < text.size() && isDigit(text[pos]))
      ++pos;
  }
  // Swallow the rest of a malformed run so the error covers all of it.
  while (pos < text.size() && (isIdentChar(text[pos]) || text[pos] == '.')) {
    ok = false;
    ++pos;
  }
  if (text.substr(begin, pos - begin) == ".")
    ok = false;
  Token token = make(isFloat ? TokenKind::Float : TokenKind::Integer, begin);
  if (!ok) {
    diags.error(token.range(), "malformed number '" +
                                   std::string(token.text.substr(0, 40)) + "'");
    token.kind = TokenKind::Error;
  }
  return token;
}

Token Lexer::next() {
  if (!skipSpaceAndComments() || pos >= text.size())
    return {TokenKind::Eof, {}, file.locate(static_cast<uint32_t>(pos)), &file};
  size_t begin = pos;
  char c = text[pos];
  if (isIdentStart(c)) {
    while (pos < text.size() && isIdentChar(text[pos]))
      ++pos;
    std::string_view word = text.substr(begin, pos - begin);
    TokenKind kind = word == "attention" ? TokenKind::KwAttention
                     : word == "fn"      ? TokenKind::KwFn
                     : word == "let"     ? TokenKind::KwLet
                     : word == "true"    ? TokenKind::KwTrue
                     : word == "false"   ? TokenKind::KwFalse
                                         : TokenKind::Identifier;
    return make(kind, begin);
  }
  if (isDigit(c) ||
      (c == '.' && pos + 1 < text.size() && isDigit(text[pos + 1])))
    return lexNumber(begin);

  auto two = [&](char second, TokenKind ifTwo, TokenKind ifOne) {
    if (pos + 1 < text.size() && text[pos + 1] == second) {
      pos += 2;
      return make(ifTwo, begin);
    }
    ++pos;
    return make(ifOne, begin);
  };
  switch (c) {
  case '(':
    ++pos;
    return make(TokenKind::LParen, begin);
  case ')':
    ++pos;
    return make(TokenKind::RParen, begin);
  case '[':
    ++pos;
    return make(TokenKind::LBracket, begin);
  case ']':
    ++pos;
    return make(TokenKind::RBracket, begin);
  case '{':
    ++pos;
    return make(TokenKind::LBrace, begin);
  case '}':
    ++pos;
    return make(TokenKind::RBrace, begin);
  case ',':
    ++pos;
    return make(TokenKind::Comma, begin);
  case ';':
    ++pos;
    return make(TokenKind::Semicolon, begin);
  case ':':
    ++pos;
    return make(TokenKind::Colon, begin);
  case '?':
    ++pos;
    return make(TokenKind::Question, begin);
  case '+':
    ++pos;
    return make(TokenKind::Plus, begin);
  case '*':
    ++pos;
    return make(TokenKind::Star, begin);
  case '/':
    ++pos;
    return make(TokenKind::Slash, begin);
  case '%':
    ++pos;
    return make(TokenKind::Percent, begin);
  case '-':
    return two('>', TokenKind::Arrow, TokenKind::Minus);
  case '=':
    return two('=', TokenKind::Equal, TokenKind::Assign);
  case '!':
    return two('=', TokenKind::NotEqual, TokenKind::Not);
  case '<':
    return two('=', TokenKind::LessEqual, TokenKind::Less);
  case '>':
    return two('=', TokenKind::GreaterEqual, TokenKind::Greater);
  case '&':
    if (pos + 1 < text.size() && text[pos + 1] == '&') {
      pos += 2;
      return make(TokenKind::AndAnd, begin);
    }
    break;
  case '|':
    if (pos + 1 < text.size() && text[pos + 1] == '|') {
      pos += 2;
      return make(TokenKind::OrOr, begin);
    }
    break;
  default:
    break;
  }
  ++pos;
  Token token = make(TokenKind::Error, begin);
  unsigned char u = static_cast<unsigned char>(c);
  std::string shown;
  if (u >= 0x21 && u < 0x7f) {
    shown = std::string("'") + c + "'";
  } else {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", u);
    shown = std::string("byte ") + hex;
  }
  if (c == '&' || c == '|')
    diags.error(token.range(), "unexpected " + shown + "; did you mean '" +
                                   std::string(2, c) + "'?");
  else
    diags.error(token.range(), "unexpected character " + shown);
  return token;
}
