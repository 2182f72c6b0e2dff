# The reference RDF driver as a Windows kernel driver, readerlab_reference_rdf.sys: the same
# ccid.cpp and reference_rdf.cpp the host model runs, with the WDM glue of this folder, built
# freestanding against mingw-w64's DDK headers (<wdm.h>, <usbdlib.h>) and linked against
# ntoskrnl.exe, HAL.dll, USBD.SYS and smclib.sys (an import library dlltool makes from
# smclib.def). Included by cross/windows/CMakeLists.txt.
#
# Tests (ctest in the cross build): the image's PE header and import table
# (check_driver_image.cmake). The driver is never loaded here: that needs Windows.
# The target lives in this folder's CMakeLists.txt, added as a subdirectory: its directory scope
# drops the Win32 libraries CMake puts on every Windows link line (kernel32, user32, ...), which
# a kernel driver must never resolve a symbol from.
add_subdirectory(${READERLAB_SOURCE_DIR}/drivers_under_test/reference_rdf/windows
                 ${PROJECT_BINARY_DIR}/reference_rdf_windows)
