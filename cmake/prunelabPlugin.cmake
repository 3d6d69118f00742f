# prunelab_add_plugin(NAME SOURCES...): one plugin = one MODULE library named prunelab_NAME.so,
# linked against the framework, with hidden visibility (only the PRUNELAB_PLUGIN symbols export).
# Used in-tree (plugins/) and by out-of-tree projects through find_package(prunelab).
function(prunelab_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE prunelab::prunelab)
  set_target_properties(${name} PROPERTIES
    PREFIX "prunelab_"
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden)
  if(PRUNELAB_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PRUNELAB_PLUGIN_OUTPUT_DIR})
  endif()
endfunction()
