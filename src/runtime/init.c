/* The processes that stand between the launcher and a payload in a PID namespace.
 *
 * A PID namespace needs a process outside it (the container process, whose child becomes
 * PID 1) and, unless --no-init, a PID 1 that is not the payload: the kernel drops signals
 * that PID 1 has no handler for, so a payload such as `sh` would ignore the SIGTERM of a
 * batch system, and nobody would reap the orphans re-parented to PID 1. Apptainer's shim
 * (process_linux.go, "appinit") forwards every signal but SIGCHLD and SIGURG, reaps every
 * child, and exits with the payload's status, 128 + signal when it was killed; this is the
 * same, small and in C. Both processes keep every signal blocked and take them with
 * sigwaitinfo(), so that none is lost between fork() and the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime_internal.h"

pid_t rt_fork_relayed(sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* the parent may have died before the line above (0: it is outside our new PID
		 * namespace, where it cannot be seen) */
		pid_t now = getppid();
		if (now != parent && now != 0)
			_exit(255);
		pthread_sigmask(SIG_SETMASK, saved, NULL);
	} else if (pid < 0) {
		pthread_sigmask(SIG_SETMASK, saved, NULL);
	}
	return pid;
}

_Noreturn static void end_like(int status, bool as_init)
{
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (sig == 0)
		_exit(255);
	if (!as_init)
		rt_raise_like(sig);
	_exit(128 + sig);
}

void rt_raise_like(int sig)
{
	/* without a core file of our own */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
}

_Noreturn void rt_relay(pid_t child, bool as_init)
{
	if (as_init) {
		/* what `ps` shows for it, as for Apptainer's */
		prctl(PR_SET_NAME, "appinit", 0, 0, 0);
		/* descendants of our descendants that lose their parent come to PID 1 anyway */
	}
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			int status;
			pid_t p;
			while ((p = waitpid(-1, &status, WNOHANG)) > 0)
				if (p == child)
					end_like(status, as_init);
			continue;
		}
		/* signals from the terminal went to the whole process group, payload included;
		 * job control stops only the payload */
		if (si.si_code == SI_KERNEL || sig == SIGURG || sig == SIGTSTP || sig == SIGTTIN ||
		    sig == SIGTTOU)
			continue;
		if (kill(child, sig) < 0 && errno == ESRCH && as_init)
			_exit(128 + sig);
	}
}
