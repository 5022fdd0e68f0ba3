/*
 * drivers.c - the switch driver table (switch.h).
 */
#include <string.h>

#include "switch/switch.h"

static const struct sw_driver *const drivers[] = {
	&sw_pgbouncer,
	&sw_haproxy,
	&sw_hook,
};

const struct sw_driver *sw_driver_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}
