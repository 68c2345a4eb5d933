/* The container's last step, after pivot_root: what to run (rt_exec_prepare), then, with
 * --pid and no --no-init, a fork so that the init stays PID 1 (init.c), and in the payload's
 * process its privileges, the seccomp filter of --fakeroot, execve. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime_internal.h"

_Noreturn void rt_fail_v(int error_fd, int e, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	char *full = e ? lt_strdup_printf("%s: %s", msg ? msg : "", strerror(e))
		       : lt_xstrdup(msg ? msg : "");
	if (write(error_fd, full, strlen(full)) < 0)
		_exit(255);
	_exit(255);
}

_Noreturn static void fail(int error_fd, int e, const char *fmt, ...) LT_PRINTF(3, 4);

_Noreturn static void fail(int error_fd, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_fail_v(error_fd, e, fmt, ap);
}

/* The process that created the PID namespace stays outside it as the parent of its PID 1,
 * relaying signals and its end to the launcher; only PID 1 reports setup errors and the end of
 * the environment phase. */
void rt_pidns_split(rt_ctx *c, int error_fd)
{
	sigset_t saved;
	pid_t pid = rt_fork_relayed(&saved);
	if (pid < 0)
		fail(error_fd, errno, "fork into the PID namespace");
	if (pid == 0)
		return;
	close(error_fd);
	if (c->phase_fd >= 0)
		close(c->phase_fd);
	rt_relay(pid, false);
}

_Noreturn void rt_container_exec(rt_ctx *c, int error_fd)
{
	char *path = NULL, **argv = NULL, **envp = NULL;
	lt_error *err = NULL;
	if (rt_exec_prepare(c, &path, &argv, &envp, &err) < 0)
		fail(error_fd, 0, "%s", err->message);
	if (path == NULL)
		_exit(0); /* nothing to run: `test` without a test script */
	if (c->init) {
		sigset_t saved;
		pid_t pid = rt_fork_relayed(&saved);
		if (pid < 0)
			fail(error_fd, errno, "fork");
		if (pid > 0) {
			close(error_fd);
			if (c->phase_fd >= 0)
				close(c->phase_fd);
			rt_relay(pid, true);
		}
	}
	if (rt_privs_nnp(c) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(error_fd, errno, "PR_SET_NO_NEW_PRIVS");
	if (rt_privs_apply(c, &err) < 0)
		fail(error_fd, 0, "%s", err->message);
	/* last: the filter would fake the failures of the setup above too */
	if (c->seccomp_prog != NULL && rt_seccomp_apply(c->seccomp_prog, c->seccomp_len) < 0)
		fail(error_fd, errno, "--fakeroot: installing the seccomp filter");
	rt_phase_exec(c);
	execve(path, argv, envp);
	fail(error_fd, errno, "cannot run %s", path);
}
