# imgstore_embed(TARGET NAME FILES...): compiles files into a generated .cc
# that exposes them as `const EmbeddedFile kNAME[]` (path, bytes), so the
# binary serves its pages and migrations with no files beside it.
function(imgstore_embed target name base)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${name}_embedded.cc")
  set(inputs ${ARGN})
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${name} -DBASE=${base}
            "-DFILES=${inputs}" -P "${PROJECT_SOURCE_DIR}/cmake/EmbedRun.cmake"
    DEPENDS ${inputs} "${PROJECT_SOURCE_DIR}/cmake/EmbedRun.cmake"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()
