# Installs xnv into a scratch prefix, then builds and runs three consumers: find_package,
# pkg-config, and add_subdirectory of the source tree. Fails on the first error.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${XNV_SOURCE_DIR} -B ${WORK_DIR}/xnv -DCMAKE_CXX_COMPILER=${CXX}
    -DXNV_BUILD_TESTS=OFF -DXNV_BUILD_EXAMPLES=OFF -DXNV_BUILD_BENCHMARKS=OFF -DXNV_INSTALL=ON
    -DCMAKE_INSTALL_PREFIX=${prefix})
run(${CMAKE_COMMAND} --install ${WORK_DIR}/xnv)

run(${CMAKE_COMMAND} -S ${XNV_SOURCE_DIR}/tests/package/find_package -B ${WORK_DIR}/fp
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/fp)
run(${WORK_DIR}/fp/consumer)

file(GLOB pc_dir LIST_DIRECTORIES true ${prefix}/*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
execute_process(COMMAND pkg-config --cflags --libs xnv RESULT_VARIABLE rc OUTPUT_VARIABLE flags
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not find the installed xnv.pc")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CXX} ${XNV_SOURCE_DIR}/tests/package/consumer.cpp ${flags} -o ${WORK_DIR}/pc_consumer)
run(${WORK_DIR}/pc_consumer)

run(${CMAKE_COMMAND} -S ${XNV_SOURCE_DIR}/tests/package/subdirectory -B ${WORK_DIR}/sub
    -DCMAKE_CXX_COMPILER=${CXX} -DXNV_SOURCE_DIR=${XNV_SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/sub)
run(${WORK_DIR}/sub/consumer)
