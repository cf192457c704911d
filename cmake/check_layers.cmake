# Fails when a source file includes a header of a module it may not depend on: the layers of
# docs/ARCHITECTURE.md (net -> gateway -> protocol -> domain -> store -> base, ...) enforced
# at build time. Every module shares the include root src/, so without this check an upward
# include of an inline function or a type would compile.
#   cmake -DSRC_DIR=<dir holding one folder per module> -DLAYERS_FILE=<file> [-DSTAMP=<file>]
#         -P check_layers.cmake
# LAYERS_FILE has one line per module: "<module>: <modules it may include>".
cmake_minimum_required(VERSION 3.16)  # IN_LIST
file(STRINGS "${LAYERS_FILE}" lines)
set(modules "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([a-z_]+):(.*)$")
    set(module "${CMAKE_MATCH_1}")
    string(STRIP "${CMAKE_MATCH_2}" deps)
    separate_arguments(deps)
    list(APPEND modules "${module}")
    set(allowed_${module} ${module} ${deps})
  endif()
endforeach()

set(violations 0)
foreach(module IN LISTS modules)
  file(GLOB_RECURSE sources "${SRC_DIR}/${module}/*.h" "${SRC_DIR}/${module}/*.cc")
  foreach(source IN LISTS sources)
    file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[a-z_]+/")
    foreach(include IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([a-z_]+)/.*$" "\\1" target "${include}")
      if(target IN_LIST modules AND NOT target IN_LIST allowed_${module})
        file(RELATIVE_PATH shown "${SRC_DIR}" "${source}")
        list(JOIN allowed_${module} ", " may)
        message(SEND_ERROR
          "layers: ${shown} includes \"${target}/...\": ${module} may include only ${may}")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "layers: ${violations} include(s) against the module layers")
endif()
if(STAMP)
  file(WRITE "${STAMP}" "ok\n")
endif()
