# Install rules: headers, libraries, the server binary, a CMake package
# (find_package(chatbotmgr CONFIG)) and a pkg-config file.
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(CHATBOTMGR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/chatbotmgr)

# Every library target that this configuration builds, with its public header folder.
set(_chatbotmgr_libraries
    chatbotmgr ${PROJECT_SOURCE_DIR}/include
    chatbotmgr_sqlite ${PROJECT_SOURCE_DIR}/adapters/sqlite/include
    chatbotmgr_postgres ${PROJECT_SOURCE_DIR}/adapters/postgres/include
    chatbotmgr_beast ${PROJECT_SOURCE_DIR}/adapters/beast/include
    chatbotmgr_testing ${PROJECT_SOURCE_DIR}/testing/include)
set(_installed)
while(_chatbotmgr_libraries)
  list(POP_FRONT _chatbotmgr_libraries target include_dir)
  if(TARGET ${target})
    list(APPEND _installed ${target})
    install(DIRECTORY ${include_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
            COMPONENT development)
  endif()
endwhile()

install(TARGETS ${_installed} EXPORT chatbotmgrTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET chatbotmgr-server)
  install(TARGETS chatbotmgr-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()

# What the package config must find_dependency() for the targets it exports.
foreach(component sqlite postgres beast testing)
  string(TOUPPER ${component} upper)
  if(TARGET chatbotmgr_${component})
    set(CHATBOTMGR_HAS_${upper} TRUE)
  else()
    set(CHATBOTMGR_HAS_${upper} FALSE)
  endif()
endforeach()

install(EXPORT chatbotmgrTargets NAMESPACE chatbotmgr:: DESTINATION ${CHATBOTMGR_CMAKE_DIR}
        COMPONENT development)
export(EXPORT chatbotmgrTargets NAMESPACE chatbotmgr::
       FILE ${PROJECT_BINARY_DIR}/chatbotmgrTargets.cmake)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/chatbotmgrConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/chatbotmgrConfig.cmake
                              INSTALL_DESTINATION ${CHATBOTMGR_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/chatbotmgrConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/chatbotmgrConfig.cmake
              ${PROJECT_BINARY_DIR}/chatbotmgrConfigVersion.cmake
        DESTINATION ${CHATBOTMGR_CMAKE_DIR} COMPONENT development)

configure_file(${PROJECT_SOURCE_DIR}/cmake/chatbotmgr.pc.in ${PROJECT_BINARY_DIR}/chatbotmgr.pc
               @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/chatbotmgr.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
