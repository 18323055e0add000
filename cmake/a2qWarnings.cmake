# Warnings for a2q's own tests, examples and benchmarks. This target is internal and never exported,
# so consumers of a2q::a2q never inherit our flags.
add_library(a2q_warnings INTERFACE)
target_compile_options(a2q_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor -Woverloaded-virtual
  -Wimplicit-fallthrough
  $<$<BOOL:${A2Q_WERROR}>:-Werror>)

# a2q_add_program(<target> <sources...>): an executable linked with a2q and our warnings. Under the
# sanitizers a program's own code compiles without optimisation: ASan and UBSan check it the same, it
# builds several times faster, and a2q::compiled, which does the heavy work in the tests, keeps -O2.
function(a2q_add_program target)
  add_executable(${target} ${ARGN})
  target_link_libraries(${target} PRIVATE a2q::a2q a2q_warnings)
  if(A2Q_SANITIZE)
    target_compile_options(${target} PRIVATE -O0)
  endif()
endfunction()
