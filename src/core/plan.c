/* plan.c - stub; see plan.h */
