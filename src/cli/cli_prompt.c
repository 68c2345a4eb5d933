/* Questions on the terminal (or lines read from standard input when it is not one), the way
 * Apptainer asks for passphrases, key details and key choices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli_sign.h"

static char *read_line(bool no_echo, lt_error **err)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty && no_echo) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (tty && no_echo) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		lt_error_set(err, 0, "no answer on standard input");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

char *cli_ask(const char *question, bool no_echo, lt_error **err)
{
	fputs(question, stderr);
	fflush(stderr);
	return read_line(no_echo, err);
}

int cli_ask_passphrase(const char *prompt, char **out, void *ctx, lt_error **err)
{
	*out = cli_ask(prompt, true, err);
	return *out ? 0 : -1;
}

int cli_ask_key(const sign_pgp_list *keys, void *ctx, lt_error **err)
{
	for (size_t i = 0; i < keys->n; i++) {
		const sign_pgp_key *k = &keys->keys[i];
		for (size_t u = 0; k->uids[u]; u++)
			fprintf(stderr, "%zu) U: %s\n", i, k->uids[u]);
		fprintf(stderr, "   F: %s\n   L: %u\n   --------\n", k->fingerprint, k->bits);
	}
	char *a = cli_ask("Enter # of private key to use : ", false, err);
	if (a == NULL)
		return -1;
	char *end = NULL;
	errno = 0;
	long v = strtol(a, &end, 10);
	bool ok = *a && *end == '\0' && errno == 0 && v >= 0 && (size_t)v < keys->n;
	free(a);
	if (!ok)
		return lt_error_set(err, 0, "invalid key number (0 to %zu)", keys->n - 1);
	return (int)v;
}
