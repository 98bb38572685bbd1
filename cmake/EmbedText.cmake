# Writes OUT, a C++ file defining `std::string_view attnc::FUNCTION()` that
# returns the text of IN, so that the file ships inside the library. A line
# `#include "DIR/NAME"` naming a file beside IN (DIR being IN's folder) is
# replaced by that file's text, so that the embedded text stands alone.
file(READ "${IN}" text)
get_filename_component(name "${IN}" NAME)
get_filename_component(dir "${IN}" DIRECTORY)
get_filename_component(dirName "${dir}" NAME)
string(REGEX MATCHALL "#include \"${dirName}/[A-Za-z0-9_.]+\"[^\n]*" includes "${text}")
foreach(line IN LISTS includes)
  string(REGEX REPLACE "#include \"${dirName}/([A-Za-z0-9_.]+)\".*" "\\1" included "${line}")
  if(EXISTS "${dir}/${included}")
    file(READ "${dir}/${included}" includedText)
    string(REPLACE "${line}" "// ${dirName}/${included}, pasted:\n${includedText}" text "${text}")
  endif()
endforeach()
# A raw string literal keeps the text as it is; its delimiter cannot occur in it.
file(WRITE "${OUT}" "// Generated from ${name}; do not edit.\n#include <string_view>\nnamespace attnc {\nstd::string_view ${FUNCTION}() {\n  return R\"attnembed(${text})attnembed\";\n}\n} // namespace attnc\n")
