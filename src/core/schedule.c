/* schedule.c - stub; see schedule.h */
