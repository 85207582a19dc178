# The API reference: Doxygen HTML for every public header (core, adapters, testing kit).
#
#   chatbotmgr_configure_doxyfile(<doxyfile> <output dir>)  writes a Doxyfile
#   chatbotmgr_add_docs_target()                             adds the `docs` target
#
# Warnings are errors (WARN_AS_ERROR=FAIL_ON_WARNINGS: every warning is listed, then the
# run fails), so the reference cannot rot quietly; tests/packaging runs it as a test.
find_program(CHATBOTMGR_DOXYGEN doxygen)
find_package(Python3 COMPONENTS Interpreter QUIET)

function(chatbotmgr_configure_doxyfile doxyfile output_dir)
  set(DOXY_PROJECT_NAME ${PROJECT_NAME})
  set(DOXY_PROJECT_VERSION ${PROJECT_VERSION})
  set(DOXY_PROJECT_BRIEF "${PROJECT_DESCRIPTION}")
  set(DOXY_OUTPUT_DIRECTORY ${output_dir})
  set(DOXY_STRIP_FROM_INC_PATH
      "${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/testing/include")
  set(inputs ${PROJECT_SOURCE_DIR}/docs/reference.md ${PROJECT_SOURCE_DIR}/include/chatbotmgr)
  foreach(dir adapters/sqlite adapters/postgres adapters/beast)
    list(APPEND inputs ${PROJECT_SOURCE_DIR}/${dir}/include/chatbotmgr)
    set(DOXY_STRIP_FROM_INC_PATH "${DOXY_STRIP_FROM_INC_PATH} ${PROJECT_SOURCE_DIR}/${dir}/include")
  endforeach()
  list(APPEND inputs ${PROJECT_SOURCE_DIR}/testing/include/chatbotmgr)
  list(JOIN inputs " " DOXY_INPUT)
  set(DOXY_STRIP_FROM_PATH ${PROJECT_SOURCE_DIR})
  # One quoted item: Doxygen splits unquoted items at spaces (paths with spaces are not
  # supported).
  set(DOXY_FILTER "${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/doxygen_filter.py")
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${doxyfile} @ONLY)
endfunction()

function(chatbotmgr_add_docs_target)
  if(NOT CHATBOTMGR_DOXYGEN OR NOT Python3_Interpreter_FOUND)
    message(FATAL_ERROR "CHATBOTMGR_BUILD_DOCS needs doxygen and python3 (Debian: doxygen)")
  endif()
  set(out ${PROJECT_BINARY_DIR}/docs)
  chatbotmgr_configure_doxyfile(${out}/Doxyfile ${out})
  add_custom_target(docs
    COMMAND ${CHATBOTMGR_DOXYGEN} ${out}/Doxyfile
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "API reference (Doxygen) -> ${out}/html/index.html"
    VERBATIM)
endfunction()
