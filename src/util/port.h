/*
 * port.h - a TCP or UDP port number written in a plan or an address
 * ("443" in "10.0.0.1:443").  One parser, so that every "HOST:PORT" in
 * ferry accepts the same ports.
 */
#ifndef FERRY_UTIL_PORT_H
#define FERRY_UTIL_PORT_H

#include <stdbool.h>
#include <stdint.h>

/* Accepts 1 to 5 decimal digits with a value from 1 to 65535 and nothing
 * else (no sign, no spaces, no "0"), and sets *port.  Returns false and
 * leaves *port alone otherwise. */
bool port_parse(const char *s, uint16_t *port);

#endif
