# attn_embed_text(SOURCE OUTPUT FUNCTION): OUTPUT (a .cpp) defines
# attnc::FUNCTION() returning the text of SOURCE; regenerated when it changes.
function(attn_embed_text source output function)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DIN=${source} -DOUT=${output} -DFUNCTION=${function}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    DEPENDS ${source} ${PROJECT_SOURCE_DIR}/cmake/EmbedText.cmake
    COMMENT "Embedding ${source}")
endfunction()
