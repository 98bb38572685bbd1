# Writes OUT, a C++ file defining `std::string_view attnc::FUNCTION()` that
# returns the text of IN, so that the file ships inside the library.
file(READ "${IN}" text)
get_filename_component(name "${IN}" NAME)
# A raw string literal keeps the text as it is; its delimiter cannot occur in it.
file(WRITE "${OUT}" "// Generated from ${name}; do not edit.\n#include <string_view>\nnamespace attnc {\nstd::string_view ${FUNCTION}() {\n  return R\"attnembed(${text})attnembed\";\n}\n} // namespace attnc\n")
