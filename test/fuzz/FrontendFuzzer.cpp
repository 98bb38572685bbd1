//===- FrontendFuzzer.cpp - libFuzzer target for the attnc frontend -------===//
//
// Feeds arbitrary bytes through the lexer, the parser and the checker (with
// the standard library) and renders the diagnostics. Any crash, hang, leak or
// sanitizer report is a bug: the frontend must answer every input with either
// variants or located errors.
//
//===----------------------------------------------------------------------===//

#include "Frontend/Frontend.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  attnc::SourceFile file(
      "fuzz.attn", std::string(reinterpret_cast<const char *>(data), size));
  attnc::DiagnosticEngine diags;
  auto variants = attnc::parseAndCheck(file, diags);
  // A failure must come with at least one error, and success with none.
  if (variants.has_value() == diags.hasErrors())
    __builtin_trap();
  std::string rendered = diags.render();
  (void)rendered;
  return 0;
}
