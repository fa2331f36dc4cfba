# Sourced (not run): the sanitizer options every run of a scripts/asan.sh
# build uses, by scripts/asan.sh and by scripts/fuzz.sh on such a build.
#   detect_leaks=1, strict_string_checks=1,
#   detect_stack_use_after_return=1   more than ASan's defaults;
#   exitcode=67                       the exit status of a report (ASan's
#                                     or UBSan's: a flag they share);
#   halt_on_error=1                   UBSan's first report ends the process
#                                     (the build also has
#                                     -fno-sanitize-recover=all).
#   allow_user_poisoning=0            ASan ignores manual poisoning
#     (__asan_poison_memory_region); every heap, stack, global and leak check
#     stays on. LLVM's header-inlined BumpPtrAllocator poisons each new slab
#     when the code including it is instrumented (llvm/Support/Compiler.h,
#     Allocator.h) and unpoisons only what that code allocates; Debian's
#     uninstrumented libMLIR then allocates from the same allocator (the
#     context's attribute uniquer) without unpoisoning, and its next memcpy
#     into that memory is reported as a use-after-poison
#     (docs/Reliability.md, "Sanitizers").
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=67:strict_string_checks=1:detect_stack_use_after_return=1:allow_user_poisoning=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
