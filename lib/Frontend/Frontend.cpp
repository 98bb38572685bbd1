//===- Frontend.cpp - from .attn source to checked variants ---------------===//

#include "Frontend/Frontend.h"
#include "Frontend/Parser.h"
#include "Frontend/Sema.h"

#include <cstdio>
#include <cstdlib>

using namespace attnc;

const ast::Module &attnc::getStdlibModule() {
  // Function-local statics: built once, thread-safely, on first use.
  static const SourceFile file("<stdlib>", std::string(getStdlibSource()));
  static const ast::Module module = [] {
    DiagnosticEngine diags;
    Parser parser(file, diags);
    ast::Module parsed = parser.parseModule();
    if (diags.hasErrors()) {
      // The library is part of the compiler: this is a bug, not user error.
      std::fputs(diags.render().c_str(), stderr);
      std::abort();
    }
    return parsed;
  }();
  return module;
}

std::optional<std::vector<sema::VariantSpec>>
attnc::parseAndCheck(const SourceFile &file, DiagnosticEngine &diags) {
  std::string_view text = file.getText();
  if (text.find('\0') != std::string_view::npos) {
    diags.error({file.locate(text.find('\0')), 1, &file},
                "this is a binary file, not an attnc source");
    return std::nullopt;
  }
  Parser parser(file, diags);
  ast::Module module = parser.parseModule();
  if (!diags.hasErrors() && module.attentions.empty()) {
    diags.error({file.locate(text.size()), 1, &file},
                "no attention variant here; write 'attention NAME(params) { "
                "... }'");
    return std::nullopt;
  }
  // Statements that failed to parse were dropped; checking the rest still
  // finds their errors, so that one run reports them all.
  if (diags.tooManyErrors())
    return std::nullopt;
  auto variants = checkModule(module, &getStdlibModule(), diags);
  if (diags.hasErrors())
    return std::nullopt;
  return variants;
}
