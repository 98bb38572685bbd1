# attn_embed_text(SOURCE OUTPUT FUNCTION [INCLUDED...]): OUTPUT (a .cpp)
# defines attnc::FUNCTION() returning the text of SOURCE with the runtime
# files it includes (#include "attnc/..."), and theirs, pasted in (see
# EmbedText.cmake); regenerated when SOURCE or any of INCLUDED changes.
function(attn_embed_text source output function)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DIN=${source} -DOUT=${output} -DFUNCTION=${function}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    DEPENDS ${source} ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    COMMENT "Embedding ${source}")
endfunction()
