/*
 * fuzz.h - the one entry point every harness in tests/fuzz defines, called
 * by libFuzzer (clang -fsanitize=fuzzer, the suite "fuzz") or by replay.c
 * (any compiler: each corpus file once, the suite "unit").
 *
 * A harness feeds data[0..size) to one parser of what ferry reads from the
 * outside world, as ferry would, and frees everything: a crash, a leak, a
 * sanitizer report or a BUG() is a finding.  It returns 0 (libFuzzer's
 * "keep going").
 */
#ifndef FERRY_TESTS_FUZZ_H
#define FERRY_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
