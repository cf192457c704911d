# Turns the web client's files (web/) into a C++ source file of byte arrays, so that
# rewind-server serves them from its own binary and needs no files on disk.
#   cmake -DWEB_DIR=<dir> -DOUTPUT=<file.cc> -P embed_web.cmake
# Each file becomes one entry of rwd::http::kWebAssets: its URL path ("/" + its path under
# WEB_DIR), an ETag made of its SHA-256 (so it changes exactly when the bytes do) and its
# bytes. Only CMake is needed: no xxd, no compiler extension such as #embed.
cmake_minimum_required(VERSION 3.22)

file(GLOB_RECURSE files RELATIVE "${WEB_DIR}" "${WEB_DIR}/*")
list(FILTER files EXCLUDE REGEX "(^|/)\\.")  # editor and OS droppings (.swp, .DS_Store)
list(SORT files)

# CMake's regular expressions have no {n}: spell out the 24 bytes of a line.
string(REPEAT "0x..," 24 line_of_bytes)
set(arrays "")
set(table "")
set(index 0)
foreach(rel IN LISTS files)
  set(path "${WEB_DIR}/${rel}")
  file(SIZE "${path}" size)
  file(SHA256 "${path}" sha)
  string(SUBSTRING "${sha}" 0 32 tag)
  file(READ "${path}" hex HEX)
  # Two hex digits per byte; 24 bytes a line keeps the generated file readable in a diff.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(${line_of_bytes})" "\\1\n    " bytes "${bytes}")
  # A trailing 0 keeps an empty file a valid array; the size below leaves it out.
  string(APPEND arrays "constexpr unsigned char kData${index}[] = {\n    ${bytes}0};\n")
  string(APPEND table "    {\"/${rel}\", \"\\\"${tag}\\\"\", kData${index}, ${size}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(content "// Generated at build time from web/ by src/http/embed_web.cmake: do not edit.
#include \"http/web_assets.h\"

namespace rwd::http {

namespace {

${arrays}
}  // namespace

const WebAsset kWebAssets[] = {
${table}};
const size_t kWebAssetCount = ${index};

}  // namespace rwd::http
")

# Rewrite only on change, so an unchanged client does not recompile anything.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
