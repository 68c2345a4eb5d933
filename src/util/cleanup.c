#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

/* Paths to remove if the process is interrupted. The signal handler only reads the table and
 * calls unlink(), which is async-signal-safe; writers publish pointers atomically. */
#define CLEANUP_SLOTS 64

static char *cleanup_paths[CLEANUP_SLOTS];
static pthread_mutex_t cleanup_lock = PTHREAD_MUTEX_INITIALIZER;

static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void cleanup_on_signal(int sig)
{
	for (int i = 0; i < CLEANUP_SLOTS; i++) {
		char *p = __atomic_load_n(&cleanup_paths[i], __ATOMIC_SEQ_CST);
		if (p != NULL)
			unlink(p);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void lt_cleanup_install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cleanup_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < LT_ARRAY_SIZE(cleanup_signals); i++)
		sigaddset(&sa.sa_mask, cleanup_signals[i]);
	for (size_t i = 0; i < LT_ARRAY_SIZE(cleanup_signals); i++) {
		struct sigaction old;
		/* Keep an inherited "ignore" (nohup) as it is. */
		if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(cleanup_signals[i], &sa, NULL);
	}
}

int lt_cleanup_register(const char *path)
{
	char *copy = lt_xstrdup(path);
	pthread_mutex_lock(&cleanup_lock);
	for (int i = 0; i < CLEANUP_SLOTS; i++) {
		if (cleanup_paths[i] == NULL) {
			__atomic_store_n(&cleanup_paths[i], copy, __ATOMIC_SEQ_CST);
			pthread_mutex_unlock(&cleanup_lock);
			return i;
		}
	}
	pthread_mutex_unlock(&cleanup_lock);
	free(copy);
	return -1;
}

void lt_cleanup_unregister(int slot)
{
	if (slot < 0 || slot >= CLEANUP_SLOTS)
		return;
	sigset_t saved;
	lt_signals_block(&saved);
	pthread_mutex_lock(&cleanup_lock);
	char *p = __atomic_exchange_n(&cleanup_paths[slot], NULL, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&cleanup_lock);
	lt_signals_restore(&saved);
	free(p);
}

void lt_signals_block(sigset_t *saved)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < LT_ARRAY_SIZE(cleanup_signals); i++)
		sigaddset(&set, cleanup_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, saved);
}

void lt_signals_restore(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}
