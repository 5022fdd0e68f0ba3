/*
 * suggest.h - "did you mean": the closest of a list of names to a word an
 * operator typed (a plan key, a command, an option).
 *
 * The distance is the optimal string alignment distance (Levenshtein plus
 * adjacent transpositions, the commonest typo), case-insensitive.  A
 * suggestion is made only when the distance is at most a third of the
 * word's length (at least 1, at most 3): "sever" finds "server", "zoen"
 * finds "zone", "xyz" finds nothing.
 */
#ifndef FERRY_UTIL_SUGGEST_H
#define FERRY_UTIL_SUGGEST_H

#include <stddef.h>

/* The distance between a and b; (size_t)-1 when either is longer than 64. */
size_t suggest_distance(const char *a, const char *b);

/* The candidate of the NULL-terminated cands closest to word, or NULL when
 * none is close enough (borrowed from cands). */
const char *suggest(const char *word, const char *const *cands);

#endif
