/* Fixtures shared by the unit tests of the container environment and the action dispatch
 * (test_runtime_env.c, test_runtime_env_root.c): a temporary directory, contexts, and image
 * roots -- the /.singularity.d files exactly as litho's build writes them (meta), busybox as
 * the tools and busybox, dash or bash as /bin/sh, or no shell -- with a helper that forks,
 * chroots into one, calls rt_exec_prepare, execve's its result and returns what it printed. */
#ifndef LITHO_TEST_RUNTIME_ENV_FIXTURES_H
#define LITHO_TEST_RUNTIME_ENV_FIXTURES_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/action_script.h"
#include "meta/meta.h"
#include "tap.h"

static char *tmp_base;

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */
static inline void ctx_init(rt_ctx *c, rt_options *o, enum rt_action a, char **args, size_t n,
			    char **host)
{
	memset(c, 0, sizeof(*c));
	memset(o, 0, sizeof(*o));
	o->action = a;
	o->args = args;
	o->n_args = n;
	o->image = "/images/test.sif";
	c->o = o;
	c->host_env = host;
	c->image_path = (char *)"/images/test.sif";
	c->image_name = (char *)"test.sif";
	c->home_dst = (char *)"/home/user";
	c->bind_list = (char *)"/data";
}

/* The value of KEY in `env` output (one line), NULL when absent. Static buffer. */
static inline const char *env_line(const char *out, const char *key)
{
	static char buf[4096];
	size_t kl = strlen(key);
	for (const char *p = out; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(buf, sizeof(buf), "%.*s", (int)(len - kl - 1), p + kl + 1);
			return buf;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static inline void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) {
		printf("# cannot create %s: %s\n", path, strerror(errno));
		return;
	}
	if (write(fd, data, strlen(data)) < 0)
		printf("# write %s: %s\n", path, strerror(errno));
	fchmod(fd, mode);
	close(fd);
}

static inline int copy_file(const char *src, const char *dst)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	if (lt_read_file(src, &data, &len, &err) < 0) {
		lt_error_free(&err);
		return -1;
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	int rc = fd >= 0 && write(fd, data, len) == (ssize_t)len ? 0 : -1;
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

static inline char *path_in(const char *root, const char *rel)
{
	return lt_strdup_printf("%s/%s", root, rel);
}

static inline void put(const char *root, const char *rel, const char *data, mode_t mode)
{
	char *p = path_in(root, rel);
	char *dir = lt_path_dirname(p);
	tap_mkdir_p(dir);
	write_file(p, data, mode);
	free(dir);
	free(p);
}

enum shell_kind { SH_NONE, SH_BUSYBOX, SH_DASH, SH_BASH };

static inline const char *shell_name(enum shell_kind k)
{
	return k == SH_DASH ? "dash" : k == SH_BASH ? "bash" : k == SH_BUSYBOX ? "busybox" : "none";
}

/* An image root: busybox tools, the shell of `sh`, and the /.singularity.d tree litho's
 * build writes for an OCI image with this config (NULL: no /.singularity.d at all). */
static inline char *make_root(const char *name, const char *config, enum shell_kind sh)
{
	char *root = lt_strdup_printf("%s/%s-%s", tmp_base, name, shell_name(sh));
	char *bin = path_in(root, "bin");
	tap_mkdir_p(bin);
	char *bb = path_in(root, "bin/busybox");
	if (copy_file("/bin/busybox", bb) < 0)
		printf("# cannot copy /bin/busybox\n");
	static const char *const tools[] = {"env", "echo", "cat", "true", "printf", "ls"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(tools); i++) {
		char *l = lt_strdup_printf("%s/%s", bin, tools[i]);
		symlink("busybox", l);
		free(l);
	}
	char *shp = path_in(root, "bin/sh");
	if (sh == SH_BUSYBOX)
		symlink("busybox", shp);
	else if (sh == SH_DASH)
		copy_file("/bin/dash", shp);
	else if (sh == SH_BASH)
		copy_file("/bin/bash", shp);
	free(shp);
	free(bb);
	free(bin);
	if (config != NULL) {
		lt_error *err = NULL;
		json_t *cfg = lt_json_parse(config, strlen(config), "config", &err);
		meta_source src = {.bootstrap = "docker",
				   .from = "test:latest",
				   .config = cfg,
				   .arch = "amd64",
				   .build_time = 1627931376};
		meta_image m;
		if (cfg == NULL || meta_for_image(&src, &m, &err) < 0) {
			printf("# meta: %s\n", err ? err->message : "?");
			lt_error_free(&err);
		} else {
			for (size_t i = 0; i < m.n_entries; i++) {
				meta_entry *e = &m.entries[i];
				char *p = path_in(root, e->path);
				if (e->kind == META_DIR)
					tap_mkdir_p(p);
				else if (e->kind == META_FILE)
					write_file(p, e->data, e->mode);
				else
					symlink(e->target, p);
				free(p);
			}
			meta_image_free(&m);
		}
		json_decref(cfg);
	}
	return root;
}

typedef struct result {
	int status; /* exit status, 128+signal, or -1 */
	char *out;
	char *err;
} result;

static inline void result_free(result *r)
{
	free(r->out);
	free(r->err);
}

/* Binds the host's library directories into root (for dash and bash), in the caller's own
 * mount namespace. */
static inline int bind_libs(const char *root)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	static const char *const dirs[] = {"/usr/lib", "/usr/lib64", "/usr/lib32",
					   "/lib",     "/lib64",     "/lib32"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(dirs); i++) {
		struct stat st;
		if (lstat(dirs[i], &st) < 0)
			continue;
		char *dst = lt_strdup_printf("%s%s", root, dirs[i]);
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(dirs[i], target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				char *parent = lt_path_dirname(dst);
				tap_mkdir_p(parent);
				free(parent);
				symlink(target, dst);
			}
		} else if (S_ISDIR(st.st_mode)) {
			tap_mkdir_p(dst);
			if (mount(dirs[i], dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
				free(dst);
				return -1;
			}
		}
		free(dst);
	}
	return 0;
}

static inline char *read_all(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, &len, &err) < 0) {
		lt_error_free(&err);
		return lt_xstrdup("");
	}
	return data;
}

/* fork, chroot root, rt_exec_prepare, execve; the child's stdout and stderr come back. */
static inline result run_in(const char *root, rt_ctx *c, bool libs)
{
	result r = {.status = -1};
	char *outp = lt_strdup_printf("%s/out.txt", tmp_base);
	char *errp = lt_strdup_printf("%s/err.txt", tmp_base);
	int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		if (libs && bind_libs(root) < 0) {
			fprintf(stderr, "BIND: %s\n", strerror(errno));
			_exit(96);
		}
		if (chroot(root) < 0 || chdir("/") < 0) {
			fprintf(stderr, "CHROOT: %s\n", strerror(errno));
			_exit(99);
		}
		char *path = NULL, **argv = NULL, **envp = NULL;
		lt_error *err = NULL;
		if (rt_exec_prepare(c, &path, &argv, &envp, &err) < 0) {
			fprintf(stderr, "PREPARE: %s\n", err->message);
			_exit(98);
		}
		if (path == NULL) {
			printf("(nothing to run)\n");
			fflush(stdout);
			_exit(0);
		}
		execve(path, argv, envp);
		fprintf(stderr, "EXEC %s: %s\n", path, strerror(errno));
		_exit(97);
	}
	close(ofd);
	close(efd);
	int st = 0;
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = read_all(outp);
	r.err = read_all(errp);
	unlink(outp);
	unlink(errp);
	free(outp);
	free(errp);
	return r;
}

/* Prints text as TAP comments, one "#   " line per line. */
static inline void show_lines(const char *text)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("#   %.*s\n", len, p);
		p = nl ? nl + 1 : p + len;
	}
}

static inline void show(const result *r)
{
	printf("# status %d\n# stdout:\n", r->status);
	show_lines(r->out);
	printf("# stderr:\n");
	show_lines(r->err);
}

/* Ends a run's checks: shows what it printed when one of them failed, then frees it. */
static inline void result_done(result *r)
{
	if (tap_current_failed)
		show(r);
	result_free(r);
}

#define CHECK_ENV(out, key, want) CHECK_STR(env_line(out, key), want)
#define CHECK_NOENV(out, key)                                                                      \
	do {                                                                                       \
		if (env_line(out, key) != NULL) {                                                  \
			printf("# %s:%d: %s is set: %s\n", __FILE__, __LINE__, key,                \
			       env_line(out, key));                                                \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

static inline bool probe_chroot(void)
{
	if (geteuid() != 0)
		return false;
	char *root = lt_strdup_printf("%s/probe", tmp_base);
	tap_mkdir_p(root);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(chroot(root) == 0 ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	free(root);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static inline bool probe_libs(void)
{
	char *root = lt_strdup_printf("%s/probe-libs", tmp_base);
	tap_mkdir_p(root);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(bind_libs(root) == 0 ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	free(root);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static inline void cleanup(void)
{
	if (tmp_base == NULL)
		return;
	if (getenv("LITHO_TEST_KEEP") != NULL) {
		printf("# kept %s\n", tmp_base);
		return;
	}
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmp_base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_base);
	free(cmd);
}

#endif
