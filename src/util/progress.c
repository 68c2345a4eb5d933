/* A one-line progress display on a terminal: bytes read and written, throughput and the
 * estimated time left. Silent when stderr is not a terminal or with -q. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

struct lt_progress {
	bool enabled;
	pthread_mutex_t lock;
	char stage[64];
	uint64_t total;
	uint64_t done;
	uint64_t out;
	unsigned step, steps;
	double started;
	double last_draw;
	bool drawn;
};

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

lt_progress *lt_progress_new(void)
{
	lt_progress *p = lt_xcalloc(1, sizeof(*p));
	p->enabled = isatty(STDERR_FILENO) && lt_log_get_level() >= LT_LOG_INFO &&
		     getenv("LITHO_NO_PROGRESS") == NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->started = now_seconds();
	return p;
}

static void human(double v, char *buf, size_t len)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void draw(lt_progress *p, double t)
{
	char in[32], out[32], rate[32], eta[32] = "";
	double elapsed = t - p->started;
	human((double)p->done, in, sizeof(in));
	human((double)p->out, out, sizeof(out));
	human(elapsed > 0 ? (double)p->done / elapsed : 0, rate, sizeof(rate));
	if (p->total > p->done && p->done > 0 && elapsed > 0.5) {
		double left = (double)(p->total - p->done) / ((double)p->done / elapsed);
		snprintf(eta, sizeof(eta), " ETA %.0fs", left);
	}
	char steps[32] = "";
	if (p->steps > 0)
		snprintf(steps, sizeof(steps), " %u/%u", p->step, p->steps);
	fprintf(stderr, "\r\033[K%s%s: %s in, %s out, %s/s%s", p->stage, steps, in, out, rate, eta);
	fflush(stderr);
	p->drawn = true;
	p->last_draw = t;
}

void lt_progress_stage(lt_progress *p, const char *stage, unsigned step, unsigned steps,
		       uint64_t total)
{
	if (p == NULL || !p->enabled)
		return;
	pthread_mutex_lock(&p->lock);
	snprintf(p->stage, sizeof(p->stage), "%s", stage);
	p->step = step;
	p->steps = steps;
	if (total)
		p->total = total;
	draw(p, now_seconds());
	pthread_mutex_unlock(&p->lock);
}

void lt_progress_add(lt_progress *p, uint64_t in_bytes, uint64_t out_total)
{
	if (p == NULL || !p->enabled)
		return;
	pthread_mutex_lock(&p->lock);
	p->done += in_bytes;
	if (out_total)
		p->out = out_total;
	double t = now_seconds();
	if (t - p->last_draw >= 0.1)
		draw(p, t);
	pthread_mutex_unlock(&p->lock);
}

void lt_progress_free(lt_progress *p)
{
	if (p == NULL)
		return;
	if (p->enabled && p->drawn)
		fputs("\r\033[K", stderr);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
