# Writes OUT, a C++ file defining `std::string_view attnc::FUNCTION()` that
# returns the text of IN, so that the file ships inside the library. A line
# `#include "attnc/NAME"` is replaced by the text of the file it names, found
# in the runtime's include folders (INCLUDE_DIRS, a list; by default
# runtime/cuda and runtime), its own includes pasted the same way: each file
# once, where it is first included, so that the embedded text stands alone.
# An `attnc/` include that names no runtime file is an error.
# Run with -P, which sets no policies: take the project's.
cmake_policy(VERSION 3.25)
if(NOT DEFINED INCLUDE_DIRS)
  get_filename_component(root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(INCLUDE_DIRS "${root}/runtime/cuda;${root}/runtime")
endif()

function(attn_find_include name out)
  foreach(dir IN LISTS INCLUDE_DIRS)
    if(EXISTS "${dir}/${name}")
      get_filename_component(path "${dir}/${name}" ABSOLUTE)
      set(${out} "${path}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "EmbedText: no runtime file for #include \"${name}\" (searched ${INCLUDE_DIRS})")
endfunction()

# Sets `out` to the text of `path` with its runtime includes pasted in.
function(attn_paste path out)
  file(READ "${path}" text)
  # Directives start a line: match them after a newline.
  set(text "\n${text}")
  set(result "")
  while(TRUE)
    string(REGEX MATCH "\n#include \"attnc/[A-Za-z0-9_./]+\"[^\n]*" line "${text}")
    if(line STREQUAL "")
      break()
    endif()
    string(FIND "${text}" "${line}" at)
    string(LENGTH "${line}" length)
    string(SUBSTRING "${text}" 0 ${at} before)
    math(EXPR rest "${at} + ${length}")
    string(SUBSTRING "${text}" ${rest} -1 text)
    string(REGEX REPLACE "^\n#include \"([^\"]+)\".*" "\\1" name "${line}")
    attn_find_include("${name}" included)
    get_property(pasted GLOBAL PROPERTY ATTN_PASTED_FILES)
    if(included IN_LIST pasted)
      string(APPEND result "${before}\n// ${name}: pasted above")
    else()
      set_property(GLOBAL APPEND PROPERTY ATTN_PASTED_FILES "${included}")
      attn_paste("${included}" includedText)
      string(APPEND result "${before}\n// ${name}, pasted:\n${includedText}")
    endif()
  endwhile()
  string(APPEND result "${text}")
  # Drop the newline added in front.
  string(SUBSTRING "${result}" 1 -1 result)
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

get_filename_component(name "${IN}" NAME)
get_filename_component(input "${IN}" ABSOLUTE)
set_property(GLOBAL PROPERTY ATTN_PASTED_FILES "${input}")
attn_paste("${input}" text)
# A raw string literal keeps the text as it is; its delimiter cannot occur in it.
file(WRITE "${OUT}" "// Generated from ${name}; do not edit.\n#include <string_view>\nnamespace attnc {\nstd::string_view ${FUNCTION}() {\n  return R\"attnembed(${text})attnembed\";\n}\n} // namespace attnc\n")
