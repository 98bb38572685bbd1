//===- Diagnostics.h - located errors for .attn sources ---------*- C++ -*-===//
//
// The frontend reports every error as file:line:col, the source line and a
// caret under the culprit. It has no MLIR dependency so that the lexer, parser
// and checker can be fuzzed on their own.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_FRONTEND_DIAGNOSTICS_H
#define ATTNC_FRONTEND_DIAGNOSTICS_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attnc {

/// A position in a source: byte offset plus 1-based line and column.
struct SourceLoc {
  uint32_t offset = 0;
  uint32_t line = 0; // 0: no position (e.g. a variant built in C++)
  uint32_t column = 0;
  bool isValid() const { return line != 0; }
};

class SourceFile;

/// A range of source text in one file, for carets under more than one
/// character. A range without a file (a variant built in C++) has no caret.
struct SourceRange {
  SourceLoc begin;
  uint32_t length = 1;
  const SourceFile *file = nullptr;
};

/// One source buffer with its name, and the offsets of its lines.
class SourceFile {
public:
  SourceFile(std::string name, std::string text);
  const std::string &getName() const { return name; }
  std::string_view getText() const { return text; }
  /// The text of line `line` (1-based), without its newline.
  std::string_view getLine(uint32_t line) const;
  /// The location of byte `offset`.
  SourceLoc locate(uint32_t offset) const;

private:
  std::string name;
  std::string text;
  std::vector<uint32_t> lineStarts;
};

struct Diagnostic {
  enum class Severity { Error, Note };
  Severity severity;
  SourceRange range;
  std::string message;
};

/// Collects diagnostics for one source and renders them.
class DiagnosticEngine {
public:
  /// After this many errors the frontend stops, so that a binary file does
  /// not produce a million lines.
  static constexpr unsigned kMaxErrors = 20;

  DiagnosticEngine() = default;

  void error(SourceRange range, std::string message);
  void note(SourceRange range, std::string message);
  unsigned getNumErrors() const { return numErrors; }
  bool hasErrors() const { return numErrors != 0; }
  bool tooManyErrors() const { return numErrors >= kMaxErrors; }
  const std::vector<Diagnostic> &getDiagnostics() const { return diags; }

  /// Renders every diagnostic as `file:line:col: error: message`, the source
  /// line and a caret.
  std::string render() const;

private:
  std::vector<Diagnostic> diags;
  unsigned numErrors = 0;
};

} // namespace attnc

#endif // ATTNC_FRONTEND_DIAGNOSTICS_H
