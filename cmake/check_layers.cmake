# Fails when a source file includes a header of a module it may not depend on: the layers of
# docs/ARCHITECTURE.md (net -> gateway -> protocol -> domain -> store -> base, ...) enforced
# at build time. Every module shares the include root src/, so without this check an upward
# include of an inline function or a type would compile.
#   cmake -DSRC_DIR=<dir holding one folder per module> -DLAYERS_FILE=<file> [-DSTAMP=<file>]
#         -P check_layers.cmake
# LAYERS_FILE has one line per module: "<module>: <modules it may include>". A module is a
# folder under SRC_DIR, possibly nested ("store/sqlite" inside "store"): a file or an include
# belongs to the longest module whose folder holds it, so an implementation inside the
# interface's folder is a module of its own that only what links it may include.
cmake_minimum_required(VERSION 3.16)  # IN_LIST
get_filename_component(SRC_DIR "${SRC_DIR}" ABSOLUTE)
file(STRINGS "${LAYERS_FILE}" lines)
set(modules "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([a-z_/]+):(.*)$")
    set(module "${CMAKE_MATCH_1}")
    string(STRIP "${CMAKE_MATCH_2}" deps)
    separate_arguments(deps)
    list(APPEND modules "${module}")
    set(allowed_${module} ${module} ${deps})
  endif()
endforeach()

# The module of a path relative to SRC_DIR ("store/sqlite/x.h"): the longest module folder
# that holds it; empty when none does.
function(module_of path out)
  set(found "")
  foreach(candidate IN LISTS modules)
    string(LENGTH "${candidate}" n)
    string(LENGTH "${found}" best)
    string(SUBSTRING "${path}" 0 ${n} head)
    if(head STREQUAL candidate AND path MATCHES "^${candidate}/" AND n GREATER best)
      set(found "${candidate}")
    endif()
  endforeach()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

set(violations 0)
file(GLOB_RECURSE sources RELATIVE "${SRC_DIR}" "${SRC_DIR}/*.h" "${SRC_DIR}/*.cc")
foreach(shown IN LISTS sources)
  module_of("${shown}" module)
  if(NOT module)
    continue()
  endif()
  file(STRINGS "${SRC_DIR}/${shown}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[a-z_]+/")
  foreach(include IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*$" "\\1" header "${include}")
    module_of("${header}" target)
    if(target AND NOT target IN_LIST allowed_${module})
      list(JOIN allowed_${module} ", " may)
      message(SEND_ERROR
        "layers: ${shown} includes \"${target}/...\": ${module} may include only ${may}")
      math(EXPR violations "${violations} + 1")
    endif()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "layers: ${violations} include(s) against the module layers")
endif()
if(STAMP)
  file(WRITE "${STAMP}" "ok\n")
endif()
