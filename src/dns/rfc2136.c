/* rfc2136.c - stub; see rfc2136.h */
