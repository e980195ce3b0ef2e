# Helpers that apply xnv's warning and sanitizer settings to xnv's own targets only
# (tests, examples, benchmarks), never to a consumer's targets.

function(xnv_project_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  if(XNV_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(XNV_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${XNV_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${XNV_SANITIZE})
  endif()
  target_link_libraries(${target} PRIVATE xnv::xnv)
endfunction()
