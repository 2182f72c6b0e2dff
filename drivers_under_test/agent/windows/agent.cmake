# readerlab-agent.exe: the in-guest agent for a Windows guest (PROTOCOL.md), one statically
# linked executable that imports only Windows' own DLLs. Included by cross/windows.
set(READERLAB_AGENT_DIR ${READERLAB_SOURCE_DIR}/drivers_under_test/agent)

# The host's header-only libraries, and only them: /usr/include itself must not reach the
# cross compiler (glibc's headers would shadow mingw-w64's).
set(READERLAB_AGENT_HOST_HEADERS ${PROJECT_BINARY_DIR}/agent-host-headers)
find_path(READERLAB_NLOHMANN_DIR nlohmann/json.hpp PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH
          NO_DEFAULT_PATH)
if(NOT READERLAB_NLOHMANN_DIR)
  message(FATAL_ERROR "nlohmann/json.hpp not found on the host (Debian: nlohmann-json3-dev)")
endif()
file(MAKE_DIRECTORY ${READERLAB_AGENT_HOST_HEADERS})
file(CREATE_LINK ${READERLAB_NLOHMANN_DIR}/nlohmann ${READERLAB_AGENT_HOST_HEADERS}/nlohmann SYMBOLIC)

add_executable(readerlab-agent
  ${READERLAB_AGENT_DIR}/agent.cpp
  ${READERLAB_AGENT_DIR}/agent_pcsc.cpp
  ${READERLAB_AGENT_DIR}/agent_windows.cpp
  ${READERLAB_AGENT_DIR}/agent_service_windows.cpp
  ${READERLAB_AGENT_DIR}/agent_ioctl_windows.cpp
  ${READERLAB_SOURCE_DIR}/base/bytes.cpp)
target_include_directories(readerlab-agent PRIVATE ${READERLAB_SOURCE_DIR} ${READERLAB_AGENT_HOST_HEADERS})
# Windows 8 (0x0602): CancelIoEx, InitiateShutdownW.
target_compile_definitions(readerlab-agent PRIVATE _WIN32_WINNT=0x0602 WIN32_LEAN_AND_MEAN NOMINMAX)
target_compile_options(readerlab-agent PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
                                               $<$<BOOL:${READERLAB_WERROR}>:-Werror>)
# -static: libstdc++, libgcc and winpthread inside the .exe; what stays dynamic is Windows'.
target_link_options(readerlab-agent PRIVATE -static)
target_link_libraries(readerlab-agent PRIVATE winscard setupapi advapi32 ntdll)
# The script that installs it as a service in a Windows image, beside it (PROTOCOL.md).
add_custom_command(TARGET readerlab-agent POST_BUILD
                   COMMAND ${CMAKE_COMMAND} -E copy_if_different ${READERLAB_AGENT_DIR}/windows/install-agent.ps1
                           $<TARGET_FILE_DIR:readerlab-agent>)

# Its tests drive the .exe under wine64 through a COM port whose other end is a pty
# (drivers_under_test/agent/windows/wine_agent_test.py).
find_package(Python3 COMPONENTS Interpreter)
# Not found is a configure error, never a test left out without a word.
if(NOT READERLAB_WINE OR NOT Python3_Interpreter_FOUND)
  message(FATAL_ERROR "the agent's tests need wine64 and python3 (tools/install-deps.sh windows)")
endif()
if(READERLAB_WINE AND Python3_Interpreter_FOUND)
  add_test(NAME agent_windows_under_wine
           COMMAND ${Python3_EXECUTABLE} ${READERLAB_AGENT_DIR}/windows/wine_agent_test.py
                   --wine ${READERLAB_WINE} --agent $<TARGET_FILE:readerlab-agent>
                   --prefix ${PROJECT_BINARY_DIR}/wineprefix)
  set_tests_properties(agent_windows_under_wine PROPERTIES TIMEOUT 120 LABELS wine RESOURCE_LOCK readerlab_wineprefix)
  # --service: readerlab-agent.exe --service under Wine's service control manager.
  add_test(NAME agent_windows_service_under_wine
           COMMAND ${Python3_EXECUTABLE} ${READERLAB_AGENT_DIR}/windows/wine_agent_test.py --service
                   --wine ${READERLAB_WINE} --agent $<TARGET_FILE:readerlab-agent>
                   --prefix ${PROJECT_BINARY_DIR}/wineprefix-service)
  set_tests_properties(agent_windows_service_under_wine PROPERTIES TIMEOUT 90 LABELS wine
                                                                   RESOURCE_LOCK readerlab_wineprefix)
endif()
