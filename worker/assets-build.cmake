# Run by the build (worker/assets.cmake): copies the socket.io-client dist files
# (from npm ci of worker/client/, or from CLIENT_DIST) and the chat page into
# OUT, and writes a gzip -9 copy of each next to it.
string(REPLACE "," ";" client_files "${CLIENT_FILES}")
string(REPLACE "," ";" page_files "${PAGE_FILES}")
file(MAKE_DIRECTORY ${OUT})

if(client_files)
  set(dist "${CLIENT_DIST}")
  if(NOT dist)
    set(npm_dir ${OUT}/npm)
    file(MAKE_DIRECTORY ${npm_dir})
    file(COPY ${SRC}/client/package.json ${SRC}/client/package-lock.json DESTINATION ${npm_dir})
    execute_process(COMMAND ${NPM} ci --ignore-scripts --no-audit --no-fund --loglevel=error
                    WORKING_DIRECTORY ${npm_dir} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "npm ci in ${npm_dir} failed (${rc}): the socket.io-client bundle "
                          "cannot be fetched; configure with -DSIOC_CLIENT_DIST=<dir> or "
                          "-DSIOC_SERVE_CLIENT=OFF to build without it")
    endif()
    set(dist ${npm_dir}/node_modules/socket.io-client/dist)
  endif()
  foreach(f IN LISTS client_files)
    if(NOT EXISTS ${dist}/${f})
      message(FATAL_ERROR "${dist}/${f} is missing")
    endif()
    file(COPY_FILE ${dist}/${f} ${OUT}/${f})
  endforeach()
endif()
foreach(f IN LISTS page_files)
  file(COPY_FILE ${SRC}/web/${f} ${OUT}/${f})
endforeach()
foreach(f IN LISTS client_files page_files)
  execute_process(COMMAND ${GZIP} -9 -n -c ${OUT}/${f} OUTPUT_FILE ${OUT}/${f}.gz RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${OUT}/${f} failed")
  endif()
endforeach()
