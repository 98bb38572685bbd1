# attn_embed_text(SOURCE OUTPUT FUNCTION [INCLUDED...]): OUTPUT (a .cpp)
# defines attnc::FUNCTION() returning the text of SOURCE with the files it
# includes from its own folder (INCLUDED) pasted in; regenerated when any of
# them changes.
function(attn_embed_text source output function)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DIN=${source} -DOUT=${output} -DFUNCTION=${function}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    DEPENDS ${source} ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    COMMENT "Embedding ${source}")
endfunction()
