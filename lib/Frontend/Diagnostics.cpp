//===- Diagnostics.cpp - located errors for .attn sources -----------------===//

#include "Frontend/Diagnostics.h"

#include <algorithm>

using namespace attnc;

SourceFile::SourceFile(std::string name, std::string text)
    : name(std::move(name)), text(std::move(text)) {
  lineStarts.push_back(0);
  for (uint32_t i = 0; i < this->text.size(); ++i)
    if (this->text[i] == '\n')
      lineStarts.push_back(i + 1);
}

std::string_view SourceFile::getLine(uint32_t line) const {
  if (line == 0 || line > lineStarts.size())
    return {};
  uint32_t begin = lineStarts[line - 1];
  uint32_t end = line < lineStarts.size() ? lineStarts[line] - 1
                                          : static_cast<uint32_t>(text.size());
  std::string_view result(text.data() + begin, end - begin);
  if (!result.empty() && result.back() == '\r')
    result.remove_suffix(1);
  return result;
}

SourceLoc SourceFile::locate(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, text.size());
  auto it = std::upper_bound(lineStarts.begin(), lineStarts.end(), offset);
  uint32_t line = static_cast<uint32_t>(it - lineStarts.begin());
  return {offset, line, offset - lineStarts[line - 1] + 1};
}

void DiagnosticEngine::error(SourceRange range, std::string message) {
  ++numErrors;
  if (numErrors > kMaxErrors)
    return;
  if (numErrors == kMaxErrors)
    message += " (too many errors; stopping here)";
  diags.push_back({Diagnostic::Severity::Error, range, std::move(message)});
}

void DiagnosticEngine::note(SourceRange range, std::string message) {
  if (numErrors > kMaxErrors)
    return;
  diags.push_back({Diagnostic::Severity::Note, range, std::move(message)});
}

/// Replaces bytes a terminal would misprint, so that a caret line stays
/// aligned with its source line.
static std::string printable(std::string_view line) {
  std::string out;
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u == '\t' || (u >= 0x20 && u < 0x7f)) ? c : '?';
  }
  return out;
}

std::string DiagnosticEngine::render() const {
  std::string out;
  for (const Diagnostic &diag : diags) {
    const SourceLoc &loc = diag.range.begin;
    const SourceFile *file = diag.range.file;
    out += file ? file->getName() : std::string("<builder>");
    if (loc.isValid())
      out += ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    out +=
        diag.severity == Diagnostic::Severity::Error ? ": error: " : ": note: ";
    out += diag.message;
    out += "\n";
    if (!file || !loc.isValid())
      continue;
    std::string line = printable(file->getLine(loc.line));
    // Very long lines (a 10 MB file on one line) are cut around the caret.
    size_t column = loc.column - 1, start = 0;
    constexpr size_t kWindow = 120;
    if (line.size() > kWindow) {
      start = column > kWindow / 2 ? column - kWindow / 2 : 0;
      line = line.substr(start, kWindow);
    }
    out += "  " + line + "\n  ";
    for (size_t i = start; i < column && i - start < line.size(); ++i)
      out += line[i - start] == '\t' ? '\t' : ' ';
    out += '^';
    size_t tail = std::min<size_t>(diag.range.length, kWindow);
    if (tail > 1)
      out += std::string(tail - 1, '~');
    out += "\n";
  }
  return out;
}
