/*
 * fuzz_prometheus.c - the Prometheus HTTP API's JSON (hosts/prometheus.c
 * over jansson), as the rollback trigger reads it.  Seeds: replies of a
 * real Prometheus and the unit tests'.
 */
#include "fuzz.h"
#include "hosts/prometheus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_error err = { 0 };
	double v;

	prometheus_parse((const char *)data, size, &v, &err);
	return 0;
}
