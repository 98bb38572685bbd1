# Writes OUT, a C++ file defining attnc::getStdlibSource() from the text of IN.
file(READ "${IN}" text)
# A raw string literal keeps the source as it is; its delimiter cannot occur in it.
file(WRITE "${OUT}" "// Generated from stdlib.attn; do not edit.\n#include <string_view>\nnamespace attnc {\nstd::string_view getStdlibSource() {\n  return R\"attnstd(${text})attnstd\";\n}\n} // namespace attnc\n")
