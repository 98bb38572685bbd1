//===- FrontendTest.cpp - lexer, parser and checker -----------------------===//

#include "Frontend/Frontend.h"
#include "Frontend/Lexer.h"
#include "Frontend/Parser.h"
#include "Frontend/Sema.h"

#include <catch2/catch.hpp>

using namespace attnc;
using namespace attnc::ast;

namespace {

std::vector<Token> lexAll(const SourceFile &file, DiagnosticEngine &diags) {
  Lexer lexer(file, diags);
  std::vector<Token> tokens;
  for (Token t = lexer.next(); !t.is(TokenKind::Eof); t = lexer.next())
    tokens.push_back(t);
  return tokens;
}

std::vector<TokenKind> kinds(const std::vector<Token> &tokens) {
  std::vector<TokenKind> result;
  for (const Token &t : tokens)
    result.push_back(t.kind);
  return result;
}

/// Parses `source` that must be free of errors.
Module parseClean(const std::string &source, SourceFile *&keep) {
  keep = new SourceFile("test.attn", source);
  DiagnosticEngine diags;
  Parser parser(*keep, diags);
  Module module = parser.parseModule();
  INFO(diags.render());
  REQUIRE(!diags.hasErrors());
  return module;
}

/// Prints an expression fully parenthesised, to test precedence.
std::string show(const ExprPtr &e) {
  switch (e->kind) {
  case Expr::Kind::IntLit:
    return std::to_string(e->intValue);
  case Expr::Kind::FloatLit:
    return "f" + std::to_string(int(e->floatValue * 10));
  case Expr::Kind::BoolLit:
    return e->boolValue ? "true" : "false";
  case Expr::Kind::Name:
    return e->name;
  case Expr::Kind::Unary:
    return "(" + std::string(toString(e->op)) + show(e->operands[0]) + ")";
  case Expr::Kind::Binary:
    return "(" + show(e->operands[0]) + " " + std::string(toString(e->op)) +
           " " + show(e->operands[1]) + ")";
  case Expr::Kind::Ternary:
    return "(" + show(e->operands[0]) + " ? " + show(e->operands[1]) + " : " +
           show(e->operands[2]) + ")";
  case Expr::Kind::Keyword:
    return e->name + " = " + show(e->operands[0]);
  case Expr::Kind::Call:
  case Expr::Kind::Index: {
    std::string s = e->name + (e->kind == Expr::Kind::Call ? "(" : "[");
    for (size_t i = 0; i < e->operands.size(); ++i)
      s += (i ? ", " : "") + show(e->operands[i]);
    return s + (e->kind == Expr::Kind::Call ? ")" : "]");
  }
  }
  return "?";
}

std::string parseExpr(const std::string &expr) {
  SourceFile *file;
  Module m = parseClean("attention t() { score = " + expr + " }", file);
  std::string result = show(m.attentions.at(0).body.at(0).value);
  delete file;
  return result;
}

} // namespace

TEST_CASE("lexer: tokens, keywords and operators", "[lexer]") {
  SourceFile file("t.attn",
                  "attention f(x: f32[H]) { let y = x[h] >= -1.5e2 && !b; }"
                  " // comment\n/* block */ -> == != <= || % ? :");
  DiagnosticEngine diags;
  auto tokens = lexAll(file, diags);
  CHECK(!diags.hasErrors());
  std::vector<TokenKind> expected = {
      TokenKind::KwAttention,  TokenKind::Identifier, TokenKind::LParen,
      TokenKind::Identifier,   TokenKind::Colon,      TokenKind::Identifier,
      TokenKind::LBracket,     TokenKind::Identifier, TokenKind::RBracket,
      TokenKind::RParen,       TokenKind::LBrace,     TokenKind::KwLet,
      TokenKind::Identifier,   TokenKind::Assign,     TokenKind::Identifier,
      TokenKind::LBracket,     TokenKind::Identifier, TokenKind::RBracket,
      TokenKind::GreaterEqual, TokenKind::Minus,      TokenKind::Float,
      TokenKind::AndAnd,       TokenKind::Not,        TokenKind::Identifier,
      TokenKind::Semicolon,    TokenKind::RBrace,     TokenKind::Arrow,
      TokenKind::Equal,        TokenKind::NotEqual,   TokenKind::LessEqual,
      TokenKind::OrOr,         TokenKind::Percent,    TokenKind::Question,
      TokenKind::Colon};
  CHECK(kinds(tokens) == expected);
  CHECK(tokens[20].text == "1.5e2");
}

TEST_CASE("lexer: locations are 1-based line and column", "[lexer]") {
  SourceFile file("t.attn", "a\n  bc\n\n   d");
  DiagnosticEngine diags;
  auto tokens = lexAll(file, diags);
  REQUIRE(tokens.size() == 3);
  CHECK(tokens[0].loc.line == 1);
  CHECK(tokens[0].loc.column == 1);
  CHECK(tokens[1].loc.line == 2);
  CHECK(tokens[1].loc.column == 3);
  CHECK(tokens[2].loc.line == 4);
  CHECK(tokens[2].loc.column == 4);
  CHECK(file.getLine(2) == "  bc");
}

TEST_CASE("lexer: numbers, good and malformed", "[lexer]") {
  for (const char *good : {"0", "42", "1.5", ".5", "3e8", "2.5E-3", "7."}) {
    SourceFile file("t.attn", good);
    DiagnosticEngine diags;
    auto tokens = lexAll(file, diags);
    INFO(good);
    CHECK(!diags.hasErrors());
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0].text == good);
  }
  for (const char *bad : {"1.2.3", "12abc", "3e", "1e+", "0x1F", "4.5f"}) {
    SourceFile file("t.attn", bad);
    DiagnosticEngine diags;
    auto tokens = lexAll(file, diags);
    INFO(bad);
    CHECK(diags.getNumErrors() == 1);
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0].is(TokenKind::Error));
  }
}

TEST_CASE("lexer: stray bytes and unterminated comments", "[lexer]") {
  SourceFile file("t.attn", std::string("a $ b \x01 & c /* open", 20));
  DiagnosticEngine diags;
  auto tokens = lexAll(file, diags);
  CHECK(diags.getNumErrors() == 4);
  std::string text = diags.render();
  CHECK(text.find("unexpected character '$'") != std::string::npos);
  CHECK(text.find("unexpected character byte 0x01") != std::string::npos);
  CHECK(text.find("did you mean '&&'?") != std::string::npos);
  CHECK(text.find("unterminated comment") != std::string::npos);
}

TEST_CASE("parser: precedence and associativity", "[parser]") {
  CHECK(parseExpr("a + b * c") == "(a + (b * c))");
  CHECK(parseExpr("a - b - c") == "((a - b) - c)");
  CHECK(parseExpr("a / b % c") == "((a / b) % c)");
  CHECK(parseExpr("-a * b") == "((-a) * b)");
  CHECK(parseExpr("a < b && c >= d || !e") ==
        "(((a < b) && (c >= d)) || (!e))");
  CHECK(parseExpr("a ? b : c ? d : e") == "(a ? b : (c ? d : e))");
  CHECK(parseExpr("f(a, b + 1)") == "f(a, (b + 1))");
  CHECK(parseExpr("t[h, q_idx / 64] * (1 - x)") ==
        "(t[h, (q_idx / 64)] * (1 - x))");
  CHECK(parseExpr("max(a, b)") == "max(a, b)");
}

TEST_CASE("parser: items, params and statements", "[parser]") {
  SourceFile *file;
  Module m = parseClean(R"(
    fn near(r: i64 = 4) -> bool = abs(q_idx - kv_idx) <= r
    attention a(slopes: f32[H], map: bool[H, ?, 16], cap: f32 = 30.0,) {
      let x = 1
      score = score + x;
      mask = near()
      normalize = softmax
    }
    attention b() {})",
                        file);
  REQUIRE(m.functions.size() == 1);
  CHECK(m.functions[0].name == "near");
  CHECK(m.functions[0].params[0].defaultValue != nullptr);
  CHECK(m.functions[0].result.elem == ScalarType::Bool);
  REQUIRE(m.attentions.size() == 2);
  const Attention &a = m.attentions[0];
  REQUIRE(a.params.size() == 3);
  CHECK(a.params[0].type.toString() == "f32[H]");
  CHECK(a.params[1].type.toString() == "bool[H, ?, 16]");
  CHECK(!a.params[2].type.isTensor);
  REQUIRE(a.body.size() == 4);
  CHECK(a.body[0].kind == Stmt::Kind::Let);
  CHECK(a.body[1].target == "score");
  CHECK(a.body[3].target == "normalize");
  CHECK(m.attentions[1].body.empty());
  delete file;
}

TEST_CASE("parser: recovers at the next statement and item", "[parser]") {
  SourceFile file("t.attn", R"(
    attention a() {
      score = score + + 
      mask = q_idx >= kv_idx
      score = )
    }
    junk junk
    attention b() { mask = causal() })");
  DiagnosticEngine diags;
  Parser parser(file, diags);
  Module m = parser.parseModule();
  CHECK(diags.getNumErrors() == 3);
  REQUIRE(m.attentions.size() == 2);
  // The good statement between the bad ones survives.
  REQUIRE(m.attentions[0].body.size() == 1);
  CHECK(m.attentions[0].body[0].target == "mask");
  CHECK(m.attentions[1].body.size() == 1);
}

TEST_CASE("parser: nesting is bounded", "[parser]") {
  std::string deep = "attention a() { score = " + std::string(5000, '(') +
                     "score" + std::string(5000, ')') + " }";
  SourceFile file("t.attn", deep);
  DiagnosticEngine diags;
  Parser parser(file, diags);
  parser.parseModule();
  CHECK(diags.getNumErrors() == 1);
  CHECK(diags.render().find("nested too deeply") != std::string::npos);
}

TEST_CASE("checker: types, conversions and the library", "[sema]") {
  SourceFile file("t.attn", R"(
    attention a(slopes: f32[H], doc: i32[N], w: i64 = 128) {
      let dist = kv_idx - q_idx
      score = score + slopes[h] * dist
      mask = document(doc) && sliding_window(w) && dist % 2 == 0
      output = o * 2
    })");
  DiagnosticEngine diags;
  auto variants = parseAndCheck(file, diags);
  INFO(diags.render());
  REQUIRE(variants);
  REQUIRE(variants->size() == 1);
  const sema::VariantSpec &v = variants->front();
  CHECK(v.params.size() == 3);
  CHECK(v.scoreMods.size() == 1);
  CHECK(v.scoreMods[0]->type == ScalarType::F32);
  REQUIRE(v.mask);
  CHECK(v.mask->type == ScalarType::Bool);
  CHECK(v.outputMods.size() == 1);
  CHECK(v.normalizer == ATTNC_NORMALIZE_SOFTMAX);
  // The let is one node, shared by both uses.
  const sema::TExpr &product = *v.scoreMods[0]->operands[1];
  CHECK(product.kind == sema::TExpr::Kind::Binary);
}

TEST_CASE("checker: the standard library checks clean", "[sema]") {
  // Calls every library function once, in the context it is meant for.
  SourceFile file("t.attn", R"(
    attention all(doc: i32[N], len: i32[B], map: bool[H, ?, ?],
                  slopes: f32[H], table: f32[H, ?]) {
      score = alibi(slopes)
      score = softcap(30.0)
      score = relative_bias(table, 64)
      mask = causal() && sliding_window(8) && prefix_lm(4) && chunked(16) &&
             dilated_window(4, 2) && document(doc) && key_padding(len) &&
             neighborhood_1d(3) && neighborhood_2d(8, 1, 1) &&
             neighborhood_3d(4, 4, 1, 1, 1) && block_map(map, 64, 64)
    })");
  DiagnosticEngine diags;
  auto variants = parseAndCheck(file, diags);
  INFO(diags.render());
  CHECK(variants);
}
