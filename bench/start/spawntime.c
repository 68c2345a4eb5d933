/* spawntime: runs commands round-robin and times each run (bench/start).
 *
 *   spawntime [-r ROUNDS] [-w WARMUP] [-g GAP_MS] -o DIR SPECFILE
 *
 * SPECFILE holds one configuration per line, fields separated by TAB:
 *   NAME  IDENTITY  ARG0  ARG1 ...
 * IDENTITY is "root" (run as the caller) or a user name: the child then takes the user's
 * groups, gid and uid, HOME, USER and LOGNAME, and starts in the user's home directory (like
 * runuser, without PAM and without a login shell). The command is run with execv (no shell).
 *
 * WARMUP rounds (untimed), then ROUNDS rounds; in each round every configuration runs once, the
 * order shifted by one configuration per round (so that none always follows the same other).
 * GAP_MS milliseconds of sleep between two runs (asynchronous clean-up of one run, e.g. a FUSE
 * daemon that exits after its unmount, lands less in the next one).
 *
 * For every timed run DIR/NAME gets a line "WALL_MS CPU_MS": the wall time from before fork to
 * after the child was reaped (CLOCK_MONOTONIC) and the CPU time of the child and the descendants
 * it waited for (wait4). Output of the commands goes to DIR/NAME.log. Any run that does not exit
 * with status 0 stops spawntime with status 1 (message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONF 64
#define MAX_ARGS 256

struct conf {
	char *name;
	char *argv[MAX_ARGS];
	int as_user;
	uid_t uid;
	gid_t gid;
	char *user, *home;
	FILE *out;
	int log;
};

static struct conf confs[MAX_CONF];
static int nconf;

static void die(const char *msg)
{
	perror(msg);
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void parse(const char *specfile, const char *dir)
{
	FILE *f = fopen(specfile, "r");
	char *line = NULL;
	size_t cap = 0;
	if (!f)
		die(specfile);
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (nconf == MAX_CONF) {
			fprintf(stderr, "spawntime: too many configurations\n");
			exit(2);
		}
		struct conf *c = &confs[nconf++];
		char *save = NULL, *tok;
		int i = 0;
		c->name = strdup(strtok_r(line, "\t", &save));
		char *who = strtok_r(NULL, "\t", &save);
		while ((tok = strtok_r(NULL, "\t", &save)) && i < MAX_ARGS - 1)
			c->argv[i++] = strdup(tok);
		if (!who || i == 0) {
			fprintf(stderr, "spawntime: bad line for %s\n", c->name);
			exit(2);
		}
		if (strcmp(who, "root") != 0) {
			struct passwd *pw = getpwnam(who);
			if (!pw) {
				fprintf(stderr, "spawntime: no user %s\n", who);
				exit(2);
			}
			c->as_user = 1;
			c->uid = pw->pw_uid;
			c->gid = pw->pw_gid;
			c->user = strdup(pw->pw_name);
			c->home = strdup(pw->pw_dir);
		} else {
			c->home = getenv("HOME") ? getenv("HOME") : "/";
		}
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, c->name);
		if (!(c->out = fopen(path, "a")))
			die(path);
		snprintf(path, sizeof path, "%s/%s.log", dir, c->name);
		if ((c->log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
			die(path);
	}
	free(line);
	fclose(f);
}

static void child(struct conf *c)
{
	if (dup2(c->log, 1) < 0 || dup2(c->log, 2) < 0)
		_exit(126);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (c->as_user) {
		if (initgroups(c->user, c->gid) || setgid(c->gid) || setuid(c->uid)) {
			perror("spawntime: switching user");
			_exit(126);
		}
		setenv("HOME", c->home, 1);
		setenv("USER", c->user, 1);
		setenv("LOGNAME", c->user, 1);
	}
	if (chdir(c->home) != 0 && chdir("/") != 0)
		_exit(126);
	execv(c->argv[0], c->argv);
	fprintf(stderr, "spawntime: %s: %s\n", c->argv[0], strerror(errno));
	_exit(127);
}

static void run(struct conf *c, int timed)
{
	struct rusage ru;
	int status;
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		child(c);
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4");
	double t1 = now_ms();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "spawntime: %s: %s %d (see its .log)\n", c->name,
			WIFEXITED(status) ? "exit status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		exit(1);
	}
	if (timed) {
		double cpu = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
			     ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
		fprintf(c->out, "%.3f %.3f\n", t1 - t0, cpu);
		fflush(c->out);
	}
}

int main(int argc, char **argv)
{
	int rounds = 30, warmup = 2, gap_ms = 20, opt;
	const char *dir = NULL;
	while ((opt = getopt(argc, argv, "r:w:g:o:")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		case 'g':
			gap_ms = atoi(optarg);
			break;
		case 'o':
			dir = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (!dir || optind != argc - 1) {
	usage:
		fprintf(stderr,
			"usage: spawntime [-r ROUNDS] [-w WARMUP] [-g GAP_MS] -o DIR SPECFILE\n");
		return 2;
	}
	parse(argv[optind], dir);
	if (nconf == 0) {
		fprintf(stderr, "spawntime: no configurations\n");
		return 2;
	}
	struct timespec gap = {gap_ms / 1000, (gap_ms % 1000) * 1000000L};
	for (int r = 0; r < warmup + rounds; r++) {
		for (int k = 0; k < nconf; k++) {
			run(&confs[(k + r) % nconf], r >= warmup);
			if (gap_ms > 0)
				nanosleep(&gap, NULL);
		}
	}
	for (int k = 0; k < nconf; k++)
		fclose(confs[k].out);
	return 0;
}
