# readerlab_add_rdf_driver(NAME SOURCES src... [INCLUDE_DIRECTORIES dir...] [DEFINITIONS def...])
#
# Builds a smart card reader driver written against the smclib API (RDF callbacks in
# SMARTCARD_EXTENSION.ReaderFunction) as a static library linked to readerlab's user-mode
# model of smclib, with the kernel's C++ subset enforced (-fno-exceptions -fno-rtti), and
# registers it as a driver under test (global property READERLAB_RDF_DRIVERS).
# The driver's USB I/O goes through reference_rdf's UsbIo interface or its own shim.
#
#   readerlab_add_rdf_driver(my_rdf SOURCES vendor/driver.cpp vendor/ccid.cpp)
#   target_link_libraries(my_tests PRIVATE my_rdf)
set(READERLAB_SMCLIB_TARGET readerlab_smclib CACHE STRING "The smclib model's library target")

function(readerlab_add_rdf_driver name)
  cmake_parse_arguments(PARSE_ARGV 1 RDF "" "" "SOURCES;INCLUDE_DIRECTORIES;DEFINITIONS")
  if(NOT RDF_SOURCES)
    message(FATAL_ERROR "readerlab_add_rdf_driver(${name}): SOURCES is empty")
  endif()
  add_library(${name} STATIC ${RDF_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${RDF_INCLUDE_DIRECTORIES})
  # Resolved at generate time, so the smclib model may be added before or after the driver.
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/drivers_under_test/smclib/include)
  target_link_libraries(${name} PUBLIC $<TARGET_NAME_IF_EXISTS:${READERLAB_SMCLIB_TARGET}>)
  target_compile_definitions(${name} PRIVATE READERLAB_RDF_DRIVER=1 ${RDF_DEFINITIONS})
  # What a Windows kernel driver may use: no exceptions, no RTTI.
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>)
  set_property(GLOBAL APPEND PROPERTY READERLAB_RDF_DRIVERS ${name})
endfunction()
