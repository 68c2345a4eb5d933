/* --runscript-timeout: the environment phase of a run (from the container's start to the
 * payload's execve: the image's env scripts and whatever they start) may take so long, one
 * minute unless said otherwise, as in Apptainer, whose interpreter kills the command that is
 * running then with `command "sleep 2s" was killed after 1s timeout` (interpreter.go
 * defaultExecHandler) and fails the run with status 255.
 *
 * The container tells the launcher that the phase is over through a pipe: a byte, or EOF. The
 * C environment phase has nothing that could hang, so its end is the execve that closes the
 * pipe (O_CLOEXEC). The action script gets its own copy at a descriptor below 10 (dash knows no
 * others) and writes the byte before it execs the payload; when no such descriptor is free it
 * runs without a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_internal.h"

#define DEFAULT_PHASE_US (60ULL * 1000 * 1000)

/* Go's time.ParseDuration, to microseconds. */
static int parse_duration(const char *s, uint64_t *out, lt_error **err)
{
	static const struct {
		const char *unit;
		double us;
	} units[] = {{"ns", 1e-3}, {"us", 1},  {"\xc2\xb5s", 1}, {"\xce\xbcs", 1},
		     {"ms", 1e3},  {"s", 1e6}, {"m", 6e7},	 {"h", 3.6e9}};
	const char *p = s;
	double total = 0;
	if (*p == '+')
		p++;
	if (*p == '-')
		return lt_error_set(err, 0, "time: invalid duration \"%s\"", s);
	if (strcmp(p, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*p == '\0')
		return lt_error_set(err, 0, "time: invalid duration \"%s\"", s);
	while (*p != '\0') {
		const char *start = p;
		while ((*p >= '0' && *p <= '9') || *p == '.')
			p++;
		if (p == start || (p - start == 1 && *start == '.'))
			return lt_error_set(err, 0, "time: invalid duration \"%s\"", s);
		char *num = lt_xstrndup(start, (size_t)(p - start));
		double v = strtod(num, NULL);
		free(num);
		const char *u = p;
		while (*p != '\0' && !((*p >= '0' && *p <= '9') || *p == '.'))
			p++;
		if (p == u)
			return lt_error_set(err, 0, "time: missing unit in duration \"%s\"", s);
		double mult = -1;
		for (size_t i = 0; i < LT_ARRAY_SIZE(units); i++)
			if (strlen(units[i].unit) == (size_t)(p - u) &&
			    memcmp(units[i].unit, u, (size_t)(p - u)) == 0)
				mult = units[i].us;
		if (mult < 0)
			return lt_error_set(err, 0,
					    "time: unknown unit \"%.*s\" in duration \"%s\"",
					    (int)(p - u), u, s);
		total += v * mult;
	}
	if (total > 1e15)
		return lt_error_set(err, 0, "time: invalid duration \"%s\"", s);
	*out = (uint64_t)total;
	return 0;
}

/* Go's Duration.String() for microseconds: 1s, 1m0s, 1h0m0s, 1.5s, 500ms, 250us. */
static char *format_duration(uint64_t us)
{
	if (us == 0)
		return lt_xstrdup("0s");
	if (us < 1000)
		return lt_strdup_printf("%llu\xc2\xb5s", (unsigned long long)us);
	if (us < 1000000) {
		char *s = lt_strdup_printf("%llu.%03llu", (unsigned long long)(us / 1000),
					   (unsigned long long)(us % 1000));
		size_t n = strlen(s);
		while (s[n - 1] == '0')
			s[--n] = '\0';
		if (s[n - 1] == '.')
			s[--n] = '\0';
		char *r = lt_strdup_printf("%sms", s);
		free(s);
		return r;
	}
	unsigned long long h = us / 3600000000ULL, m = us / 60000000ULL % 60,
			   sec = us / 1000000ULL % 60, frac = us % 1000000ULL;
	char *secs = lt_strdup_printf("%llu.%06llu", sec, frac);
	size_t n = strlen(secs);
	while (secs[n - 1] == '0')
		secs[--n] = '\0';
	if (secs[n - 1] == '.')
		secs[--n] = '\0';
	char *r = h   ? lt_strdup_printf("%lluh%llum%ss", h, m, secs)
		  : m ? lt_strdup_printf("%llum%ss", m, secs)
		      : lt_strdup_printf("%ss", secs);
	free(secs);
	return r;
}

int rt_phase_resolve(rt_ctx *c, lt_error **err)
{
	c->phase_us = DEFAULT_PHASE_US;
	const char *v = c->o->runscript_timeout;
	if (v != NULL && parse_duration(v, &c->phase_us, err) < 0)
		return -1;
	return 0;
}

void rt_phase_exec(const rt_ctx *c)
{
	/* dup2 onto a free descriptor clears O_CLOEXEC there: the action script's copy */
	if (c->phase_fd >= 0 && c->phase_sh_fd >= 0)
		dup2(c->phase_fd, c->phase_sh_fd);
}

/* ------------------------------------------------------------------------------------------ */

/* depth of p below root, 0 when it is not a descendant */
static int depth_below(const rt_proc *v, size_t n, size_t i, pid_t root)
{
	int depth = 0;
	for (int guard = 0; guard < 64; guard++) {
		if (v[i].ppid == root)
			return depth + 1;
		size_t j = 0;
		while (j < n && v[j].pid != v[i].ppid)
			j++;
		if (j == n)
			return 0;
		i = j;
		depth++;
	}
	return 0;
}

static char *cmdline_of(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	return lt_xstrdup(buf);
}

/* Kills the payload and its descendants; returns the command line of the newest of the
 * deepest ones (the command the phase waits for). */
static char *kill_tree(pid_t payload)
{
	rt_proc *v = NULL;
	size_t n = rt_procs_list(&v);
	char *what = NULL;
	int best = 0;
	unsigned long long best_start = 0;
	for (size_t i = 0; i < n; i++) {
		int d = depth_below(v, n, i, payload);
		if (d == 0)
			continue;
		if (d > best || (d == best && v[i].start >= best_start)) {
			char *cmd = cmdline_of(v[i].pid);
			if (cmd != NULL) {
				free(what);
				what = cmd;
				best = d;
				best_start = v[i].start;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (depth_below(v, n, i, payload) > 0)
			kill(v[i].pid, SIGKILL);
	kill(payload, SIGKILL);
	free(v);
	return what;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

char *rt_phase_wait(pid_t payload, int fd, uint64_t timeout_us)
{
	if (fd < 0)
		return NULL;
	double deadline = now_s() + (double)timeout_us / 1e6;
	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ms = left > 0.1 ? 100 : (int)(left * 1000) + 1;
		int r = poll(&p, 1, ms);
		if (r > 0) {
			char b;
			if (read(fd, &b, 1) >= 0 || errno != EINTR)
				return NULL; /* the byte, or EOF: the phase is over */
		}
		siginfo_t si = {0};
		if (waitid(P_PID, (id_t)payload, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == payload)
			return NULL;
	}
	char *what = kill_tree(payload);
	char *dur = format_duration(timeout_us);
	char *msg =
	    what ? lt_strdup_printf("command \"%s\" was killed after %s timeout", what, dur)
		 : lt_strdup_printf("the environment phase was killed after %s timeout", dur);
	free(what);
	free(dur);
	return msg;
}
