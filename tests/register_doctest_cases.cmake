# Run after a doctest executable is built: writes a CTest file with one test per TEST_CASE.
# doctest reads commas in --test-case as filter separators, so they are escaped; a test that
# matched nothing would pass without running anything, so an empty run fails the test.
# Inputs: EXECUTABLE, PREFIX, LABEL, OUTPUT, TIMEOUT.
execute_process(COMMAND "${EXECUTABLE}" --list-test-cases --no-version
                OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cannot list the test cases of ${EXECUTABLE}")
endif()
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
foreach(line IN LISTS lines)
  if(line STREQUAL "" OR line MATCHES "^\\[doctest\\]" OR line MATCHES "^=+$")
    continue()
  endif()
  string(REPLACE "," "\\\\," filter "${line}")
  string(REPLACE "\"" "\\\"" filter "${filter}")
  string(REPLACE "\"" "\\\"" name "${line}")
  string(APPEND script
    "add_test(\"${PREFIX}${name}\" \"${EXECUTABLE}\" \"--test-case=${filter}\")\n"
    "set_tests_properties(\"${PREFIX}${name}\" PROPERTIES LABELS \"${LABEL}\" TIMEOUT ${TIMEOUT}"
    " FAIL_REGULAR_EXPRESSION \"test cases: +0 \\\\|\")\n")
endforeach()
file(WRITE "${OUTPUT}" "${script}")
