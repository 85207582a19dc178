# Install rules: headers, libraries, the CMake package (find_package(chatbotmgr CONFIG))
# and a pkg-config file. The server binary installs itself (examples/server).
#
# Each library has its own export set, so that the package config loads a component only
# once its own dependencies were found: a host that never links chatbotmgr::testing does
# not need Catch2, one without libpq does not need PostgreSQL.
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(CHATBOTMGR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/chatbotmgr)

# The core: always there.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT development FILES_MATCHING PATTERN "*.hpp")
install(TARGETS chatbotmgr EXPORT chatbotmgrTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(EXPORT chatbotmgrTargets NAMESPACE chatbotmgr:: DESTINATION ${CHATBOTMGR_CMAKE_DIR}
        COMPONENT development)
export(EXPORT chatbotmgrTargets NAMESPACE chatbotmgr::
       FILE ${PROJECT_BINARY_DIR}/chatbotmgrTargets.cmake)

# The optional components this configuration built, in the order the config loads them.
set(CHATBOTMGR_COMPONENTS)
foreach(component sqlite postgres beast prometheus dashboard testing)
  if(component STREQUAL "testing")
    set(include_dir ${PROJECT_SOURCE_DIR}/testing/include)
  else()
    set(include_dir ${PROJECT_SOURCE_DIR}/adapters/${component}/include)
  endif()
  if(NOT TARGET chatbotmgr_${component})
    continue()
  endif()
  list(APPEND CHATBOTMGR_COMPONENTS ${component})
  install(DIRECTORY ${include_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          COMPONENT development FILES_MATCHING PATTERN "*.hpp")
  install(TARGETS chatbotmgr_${component} EXPORT chatbotmgr-${component}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  install(EXPORT chatbotmgr-${component}-targets NAMESPACE chatbotmgr::
          DESTINATION ${CHATBOTMGR_CMAKE_DIR} COMPONENT development)
  export(EXPORT chatbotmgr-${component}-targets NAMESPACE chatbotmgr::
         FILE ${PROJECT_BINARY_DIR}/chatbotmgr-${component}-targets.cmake)
endforeach()

# The PostgreSQL adapter links libpq through CMake's FindPostgreSQL or, failing that,
# through pkg-config; the package config must recreate whichever target it names.
set(CHATBOTMGR_POSTGRES_VIA_PKGCONFIG FALSE)
if(TARGET chatbotmgr_postgres)
  get_target_property(_chatbotmgr_pg_libs chatbotmgr_postgres LINK_LIBRARIES)
  if("PkgConfig::chatbotmgr_libpq" IN_LIST _chatbotmgr_pg_libs)
    set(CHATBOTMGR_POSTGRES_VIA_PKGCONFIG TRUE)
  endif()
  unset(_chatbotmgr_pg_libs)
endif()

# One file serves both the install tree and the build tree (export() above): it only
# refers to files next to itself.
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/chatbotmgrConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/chatbotmgrConfig.cmake
                              INSTALL_DESTINATION ${CHATBOTMGR_CMAKE_DIR})
# Until 1.0 a minor version may change the API (CHANGELOG.md), so 0.1 accepts 0.1.x only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/chatbotmgrConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/chatbotmgrConfig.cmake
              ${PROJECT_BINARY_DIR}/chatbotmgrConfigVersion.cmake
        DESTINATION ${CHATBOTMGR_CMAKE_DIR} COMPONENT development)

# pkg-config, for the core: the template cmake/chatbotmgr.pc.in, filled in by
# configure_file(@ONLY) with the few values computed below. A function, so that its
# variables stay local.
function(_chatbotmgr_configure_pc_file)
  # prefix is found from the .pc file's own place, so that `cmake --install --prefix` and a
  # moved install tree both work; an absolute CMAKE_INSTALL_LIBDIR pins the prefix.
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(CHATBOTMGR_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  else()
    set(up "/")
    cmake_path(RELATIVE_PATH up BASE_DIRECTORY "/${CMAKE_INSTALL_LIBDIR}/pkgconfig")  # ../..
    set(CHATBOTMGR_PC_PREFIX "\${pcfiledir}/${up}")
  endif()
  # ${prefix}/<dir>, or <dir> itself when it is absolute.
  cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_LIBDIR BASE_DIRECTORY "\${prefix}"
             OUTPUT_VARIABLE CHATBOTMGR_PC_LIBDIR)
  cmake_path(ABSOLUTE_PATH CMAKE_INSTALL_INCLUDEDIR BASE_DIRECTORY "\${prefix}"
             OUTPUT_VARIABLE CHATBOTMGR_PC_INCLUDEDIR)

  # Boost.JSON and Boost.Container (which it links), with -I and -L only when Boost lies
  # outside the compiler's default search paths (a custom Boost). LOCATION of an imported
  # target is its file for whichever configuration it provides.
  set(cflags "")
  set(libs "-lboost_json -lboost_container")
  get_target_property(boost_includes Boost::json INTERFACE_INCLUDE_DIRECTORIES)
  foreach(dir IN LISTS boost_includes)
    if(dir AND NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
      string(APPEND cflags " -I${dir}")
    endif()
  endforeach()
  get_target_property(boost_imported Boost::json IMPORTED)
  if(boost_imported)
    get_target_property(boost_library Boost::json LOCATION)
    cmake_path(GET boost_library PARENT_PATH boost_libdir)
    if(boost_libdir AND NOT boost_libdir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
      string(PREPEND libs "-L${boost_libdir} ")
    endif()
  endif()
  set(CHATBOTMGR_PC_CFLAGS "${cflags}")

  # A static libchatbotmgr needs its private dependencies on the consumer's link line as
  # well, so they move from Requires.private/Libs.private to Requires/Libs (plain
  # `pkg-config --libs` then links; no --static needed).
  get_target_property(type chatbotmgr TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    set(CHATBOTMGR_PC_REQUIRES "libsodium")
    set(CHATBOTMGR_PC_REQUIRES_PRIVATE "")
    set(CHATBOTMGR_PC_LIBS "${libs} -pthread")
    set(CHATBOTMGR_PC_LIBS_PRIVATE "")
  else()
    set(CHATBOTMGR_PC_REQUIRES "")
    set(CHATBOTMGR_PC_REQUIRES_PRIVATE "libsodium")
    set(CHATBOTMGR_PC_LIBS "${libs}")
    set(CHATBOTMGR_PC_LIBS_PRIVATE "-pthread")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/chatbotmgr.pc.in ${PROJECT_BINARY_DIR}/chatbotmgr.pc
                 @ONLY)
endfunction()
_chatbotmgr_configure_pc_file()
install(FILES ${PROJECT_BINARY_DIR}/chatbotmgr.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
