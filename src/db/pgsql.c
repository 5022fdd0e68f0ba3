/* pgsql.c - stub */
