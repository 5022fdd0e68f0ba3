/* journal.c - stub; see journal.h */
