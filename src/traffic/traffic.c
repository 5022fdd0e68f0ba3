/*
 * traffic.c - the balancer-independent half of traffic.h: the driver table,
 * the weight arithmetic of a split, and turning two stats snapshots into
 * rates.  Pure: no I/O here; the drivers (haproxy.c) talk to balancers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traffic/traffic.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

static const struct traffic_driver *const drivers[] = {
	&traffic_haproxy,
};

const struct traffic_driver *traffic_driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

int traffic_split_weights(double pct, int *w_old, int *w_new, double *effective)
{
	int best_o = 0, best_n = 0;
	double best_err = INFINITY;

	if (!(pct >= 0.0 && pct <= 100.0))
		return FERRY_EINVAL; /* also NaN */
	if (fabs(pct - round(pct)) < 1e-9) {
		best_n = (int)round(pct);
		best_o = 100 - best_n;
		goto out;
	}
	/* For each new weight n, the old weight o that brings n / (o + n)
	 * closest to pct is round(n * (100 - pct) / pct), capped at the
	 * maximum; n ascending keeps the smallest pair on a tie. */
	for (int n = 1; n <= TRAFFIC_WEIGHT_MAX; n++) {
		double ideal = n * (100.0 - pct) / pct;
		int o = ideal > TRAFFIC_WEIGHT_MAX ? TRAFFIC_WEIGHT_MAX : (int)round(ideal);
		double e = fabs(100.0 * n / (o + n) - pct);

		if (e < best_err - 1e-12) {
			best_err = e;
			best_o = o;
			best_n = n;
		}
	}
out:
	*w_old = best_o;
	*w_new = best_n;
	if (effective)
		*effective = best_o + best_n ? 100.0 * best_n / (best_o + best_n) : 0.0;
	return 0;
}

/* The two `set weight` actions of a split, in the order they are sent.
 * Raise before lowering: with new at 0 set old first, otherwise new
 * first, so that the backend always has a server with weight.  The split
 * and its dry run both take the order from here. */
struct split_plan {
	const char *server[2];
	int weight[2];
	double effective;
};

static int split_plan(const char *backend, const char *server_old, const char *server_new,
                      double pct, struct split_plan *sp, struct ferry_error *err)
{
	int w_old, w_new;

	if (traffic_split_weights(pct, &w_old, &w_new, &sp->effective) < 0)
		return ferry_error_set(err, FERRY_EINVAL, "give a percentage between 0% and 100%",
		                       "backend %s: split of %g %% to %s is out of range", backend,
		                       pct, server_new);
	if (w_new == 0) {
		sp->server[0] = server_old, sp->weight[0] = w_old;
		sp->server[1] = server_new, sp->weight[1] = w_new;
	} else {
		sp->server[0] = server_new, sp->weight[0] = w_new;
		sp->server[1] = server_old, sp->weight[1] = w_old;
	}
	return 0;
}

int traffic_split(const struct traffic_driver *drv, struct traffic_lb *lb, const char *backend,
                  const char *server_old, const char *server_new, double pct, double *effective,
                  struct ferry_error *err)
{
	struct split_plan sp;
	int rc;

	rc = split_plan(backend, server_old, server_new, pct, &sp, err);
	if (rc < 0)
		return rc;
	rc = drv->set_weight(lb, backend, sp.server[0], sp.weight[0], err);
	if (rc < 0)
		return rc;
	rc = drv->set_weight(lb, backend, sp.server[1], sp.weight[1], err);
	if (rc < 0) {
		if (err)
			ferry_error_prefix(err, "split %g %%: %s/%s already set to %d, then", pct,
			                   backend, sp.server[0], sp.weight[0]);
		return rc;
	}
	if (effective)
		*effective = sp.effective;
	return 0;
}

int traffic_describe_split(const struct traffic_driver *drv, const char *backend,
                           const char *server_old, const char *server_new, double pct,
                           struct buf *out, struct ferry_error *err)
{
	struct split_plan sp;
	struct buf o;
	int rc, i;

	rc = split_plan(backend, server_old, server_new, pct, &sp, err);
	if (rc < 0)
		return rc;
	/* built apart, then appended whole: a full out is left as it was */
	buf_init(&o, 1 << 16);
	for (i = 0; i < 2 && rc == 0; i++) {
		rc = drv->format_set_weight(backend, sp.server[i], sp.weight[i], &o, err);
		if (rc == 0)
			rc = buf_addch(&o, '\n');
	}
	if (rc == 0 && buf_add(out, o.data, o.len) < 0)
		rc = FERRY_EPROTO;
	if (rc == FERRY_EPROTO)
		rc = ferry_error_set(err, FERRY_EPROTO, "give the buffer more room",
		                     "backend %s: the split's commands do not fit", backend);
	buf_release(&o);
	return rc;
}

void traffic_stats_init(struct traffic_stats *s)
{
	memset(s, 0, sizeof(*s));
}

void traffic_stats_reset(struct traffic_stats *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].backend);
		free(s->v[i].server);
		free(s->v[i].status);
	}
	s->n = 0;
	s->at_ms = 0;
}

void traffic_stats_release(struct traffic_stats *s)
{
	traffic_stats_reset(s);
	free(s->v);
	traffic_stats_init(s);
}

const struct traffic_server_stats *traffic_stats_find(const struct traffic_stats *s,
                                                      const char *server)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].server, server) == 0)
			return &s->v[i];
	return NULL;
}

static int64_t responses(const struct traffic_server_stats *r)
{
	int64_t sum = 0;

	for (int i = 0; i < 6; i++)
		if (r->hrsp[i] > 0)
			sum += r->hrsp[i];
	return sum;
}

int traffic_sample_between(const struct traffic_stats *a, const struct traffic_stats *b,
                           const char *server, struct traffic_sample *out, struct ferry_error *err)
{
	const struct traffic_server_stats *ra = traffic_stats_find(a, server);
	const struct traffic_server_stats *rb = traffic_stats_find(b, server);
	int64_t req, e5;
	double secs;

	if (!ra || !rb)
		return ferry_error_set(err, FERRY_ENOTFOUND,
		                       "check traffic.servers in the plan against the backend",
		                       "server %s: not in the %s stats snapshot", server,
		                       ra ? "second" : "first");
	if (b->at_ms <= a->at_ms)
		return ferry_error_set(err, FERRY_EINVAL, NULL,
		                       "server %s: snapshots out of order (%lld ms then %lld ms)",
		                       server, (long long)a->at_ms, (long long)b->at_ms);
	req = responses(rb) - responses(ra);
	e5 = rb->hrsp[4] - ra->hrsp[4];
	if (req < 0 || e5 < 0 || rb->stot < ra->stot)
		return ferry_error_set(
		        err, FERRY_ESTATE, "take a new first snapshot; rates resume from there",
		        "server %s/%s: counters went backwards (balancer reloaded or "
		        "counters cleared)",
		        rb->backend, server);
	secs = (double)(b->at_ms - a->at_ms) / 1000.0;
	out->seconds = secs;
	out->requests = req;
	out->errors = e5;
	out->rps = (double)req / secs;
	out->err_pct = req ? 100.0 * (double)e5 / (double)req : 0.0;
	out->rtime_ms = rb->rtime_ms >= 0 ? (double)rb->rtime_ms : 0.0;
	return 0;
}

int traffic_sample_pair(const struct traffic_stats *a, const struct traffic_stats *b,
                        const char *server_old, const char *server_new, struct traffic_pair *out,
                        struct ferry_error *err)
{
	int rc = traffic_sample_between(a, b, server_old, &out->old, err);

	if (rc < 0)
		return rc;
	return traffic_sample_between(a, b, server_new, &out->new, err);
}
