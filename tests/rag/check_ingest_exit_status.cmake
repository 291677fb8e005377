# `edgerag ingest` exits with status 1, after its report, when a path given does
# not exist or when every file failed, naming them; a run with one good file
# among bad ones exits 0 (issue: it used to exit 0 in every case).
#   cmake -DEDGERAG=BIN -DWORK=DIR -P check_ingest_exit_status.cmake
file(REMOVE_RECURSE "${WORK}")
file(WRITE "${WORK}/bad/a.pdf" "%PDF-1.4 not really")
file(WRITE "${WORK}/bad/b.html" "<html><body>")
foreach(i RANGE 300)
  file(APPEND "${WORK}/bad/b.html" "<div>")
endforeach()
file(WRITE "${WORK}/good/c.txt" "Pelicans nest on the island.")
function(ingest expect_rc expect_text)
  execute_process(COMMAND "${EDGERAG}" ingest --index "${WORK}/index" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc STREQUAL "${expect_rc}")
    message(FATAL_ERROR "ingest ${ARGN}: exit ${rc}, expected ${expect_rc}: ${out}${err}")
  endif()
  string(FIND "${out}${err}" "${expect_text}" at)
  if(at LESS 0)
    message(FATAL_ERROR "ingest ${ARGN}: no '${expect_text}' in: ${out}${err}")
  endif()
endfunction()
ingest(1 "no such file or folder: ${WORK}/nowhere" "${WORK}/nowhere")
ingest(1 "nothing ingested: all 2 file(s) failed" "${WORK}/bad")
ingest(0 "b.html" "${WORK}/good" "${WORK}/bad")
