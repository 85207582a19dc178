# Shared settings for chatbotmgr's own targets. Nothing here touches global flags:
# consumers that add_subdirectory() us keep theirs.
include(GNUInstallDirs)

# chatbotmgr_configure_target(<target>): C++20 and, when enabled, our warning set.
function(chatbotmgr_configure_target target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
  if(CHATBOTMGR_WARNINGS AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(CHATBOTMGR_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# chatbotmgr_add_library(<target> <alias> [INCLUDE_DIR dir] SOURCES ...): a library target
# exported as chatbotmgr::<alias>, whose public headers live in INCLUDE_DIR (default:
# include/ next to the calling CMakeLists.txt).
function(chatbotmgr_add_library name alias)
  cmake_parse_arguments(ARG "" "INCLUDE_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_INCLUDE_DIR)
    set(ARG_INCLUDE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/include)
  endif()
  add_library(${name} ${ARG_SOURCES})
  add_library(chatbotmgr::${alias} ALIAS ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${alias} VERSION ${PROJECT_VERSION}
                                           SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${ARG_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  chatbotmgr_configure_target(${name})
endfunction()
