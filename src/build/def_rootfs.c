/* The root file system directory of a definition-file stage: paths inside it are resolved the
 * way the container will see them (symlinks followed, absolute ones from the image's root,
 * ".." stopping at it) with openat2(RESOLVE_IN_ROOT), so that nothing a base image or %post
 * put there can make the builder write outside the directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "def_build.h"
#include "runtime/runtime.h"

static int openat2_in_root(int rootfd, const char *path, uint64_t flags, uint64_t mode)
{
	struct open_how how = {.flags = flags | O_CLOEXEC,
			       .mode = mode,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}

int build_def_root_open(const char *rootfs, lt_error **err)
{
	int fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lt_error_set(err, errno, "opening %s", rootfs);
	return fd;
}

/* Splits "a/b/c" into the parent "a/b" (new string) and the last name (a pointer into path). */
static char *split_parent(const char *path, const char **name)
{
	while (*path == '/')
		path++;
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	return slash ? lt_xstrndup(path, (size_t)(slash - path)) : lt_xstrdup("");
}

int build_def_root_mkdirs(int rootfd, const char *path, mode_t mode, lt_error **err)
{
	char *copy = lt_xstrdup(path);
	size_t len = strlen(copy);
	while (len > 0 && copy[len - 1] == '/')
		copy[--len] = '\0';
	int rc = 0;
	/* each prefix in turn, so that every component is resolved inside the root */
	for (char *p = copy; rc == 0; p++) {
		bool end = *p == '\0';
		if (!end && *p != '/')
			continue;
		*p = '\0';
		if (*copy != '\0') {
			int fd = openat2_in_root(rootfd, copy, O_PATH | O_DIRECTORY, 0);
			if (fd >= 0) {
				close(fd);
			} else if (errno == ENOENT) {
				const char *name;
				char *parent = split_parent(copy, &name);
				int pfd = openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0);
				if (pfd < 0 || (mkdirat(pfd, name, mode) < 0 && errno != EEXIST))
					rc = lt_error_set(err, errno, "creating /%s in the image",
							  copy);
				if (pfd >= 0)
					close(pfd);
				free(parent);
			} else {
				rc = lt_error_set(err, errno, "/%s in the image", copy);
			}
		}
		if (end)
			break;
		*p = '/';
	}
	free(copy);
	return rc;
}

char *build_def_root_read(int rootfd, const char *path)
{
	int fd = openat2_in_root(rootfd, path, O_RDONLY, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *data = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		data = lt_xmalloc((size_t)st.st_size + 1);
		lt_error *ignored = NULL;
		if (lt_pread_all(fd, data, (size_t)st.st_size, 0, path, &ignored) < 0) {
			lt_error_free(&ignored);
			free(data);
			data = NULL;
		} else {
			data[st.st_size] = '\0';
		}
	}
	close(fd);
	return data;
}

int build_def_root_write(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
			 lt_error **err)
{
	int fd = openat2_in_root(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return lt_error_set(err, errno, "writing /%s in the image", path);
	int rc = lt_write_all(fd, data, len, path, err);
	/* an existing file keeps its mode otherwise */
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = lt_error_set(err, errno, "setting the mode of /%s in the image", path);
	if (close(fd) < 0 && rc == 0)
		rc = lt_error_set(err, errno, "writing /%s in the image", path);
	return rc;
}

bool build_def_root_exists(int rootfd, const char *path)
{
	const char *name;
	char *parent = split_parent(path, &name);
	int pfd = openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0);
	free(parent);
	if (pfd < 0)
		return false;
	struct stat st;
	bool found = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	close(pfd);
	return found;
}

int build_def_root_remove(int rootfd, const char *path)
{
	const char *name;
	char *parent = split_parent(path, &name);
	int pfd = openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0);
	free(parent);
	if (pfd < 0)
		return -1;
	int rc = unlinkat(pfd, name, 0);
	close(pfd);
	return rc;
}

char *build_def_root_resolve(const char *rootfs, int rootfd, const char *path, lt_error **err)
{
	const char *name;
	char *parent = split_parent(path, &name);
	int rc = build_def_root_mkdirs(rootfd, parent, 0755, err);
	int pfd = rc == 0 ? openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0) : -1;
	if (rc == 0 && pfd < 0)
		lt_error_set(err, errno, "/%s in the image", parent);
	free(parent);
	if (pfd < 0)
		return NULL;
	char proc[64], real[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	ssize_t n = readlink(proc, real, sizeof(real) - 1);
	close(pfd);
	if (n < 0) {
		lt_error_set(err, errno, "resolving %s in %s", path, rootfs);
		return NULL;
	}
	real[n] = '\0';
	/* the parent is inside the root by construction; the check guards against a rootfs
	 * path that itself moved */
	size_t rl = strlen(rootfs);
	if (strncmp(real, rootfs, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
		lt_error_set(err, 0, "%s resolves outside %s", path, rootfs);
		return NULL;
	}
	return *name ? lt_path_join(real, name) : lt_xstrdup(real);
}

int build_def_meta_to_root(int rootfd, const meta_image *m, lt_error **err)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		const meta_entry *e = &m->entries[i];
		int rc = 0;
		switch (e->kind) {
		case META_DIR:
			rc = build_def_root_mkdirs(rootfd, e->path, e->mode, err);
			break;
		case META_FILE:
			if (e->replace || !build_def_root_exists(rootfd, e->path))
				rc = build_def_root_write(rootfd, e->path, e->data, e->len, e->mode,
							  err);
			break;
		case META_SYMLINK:
			if (!build_def_root_exists(rootfd, e->path)) {
				const char *name;
				char *parent = split_parent(e->path, &name);
				int pfd = openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0);
				if (pfd < 0 || symlinkat(e->target, pfd, name) < 0)
					rc = lt_error_set(err, errno, "creating the symlink /%s",
							  e->path);
				if (pfd >= 0)
					close(pfd);
				free(parent);
			}
			break;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* debootstrap as root of a user namespace (Apptainer's prepareFakerootEnv does the same): it
 * mounts /proc and /sys in the target and makes device nodes, which such a root may not do, and
 * has no way to skip either. In a mount namespace of the child's own, `mount` and `mknod` become
 * `true`, /proc/filesystems looks empty (so that sysfs is not tried), and the few devices
 * debootstrap's own steps use are the host's, bound over empty files in the target. */
static int hide_mounts(const char *target, lt_error **err)
{
	static const char *const tools[] = {"mount", "mknod"};
	static const char *const devices[] = {"null", "random", "urandom", "zero"};
	char *true_bin = lt_which("true");
	int rc = 0;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		rc = lt_error_set(err, errno, "a private mount namespace");
	for (size_t i = 0; rc == 0 && true_bin != NULL && i < LT_ARRAY_SIZE(tools); i++) {
		char *bin = lt_which(tools[i]);
		if (bin != NULL && mount(true_bin, bin, NULL, MS_BIND, NULL) < 0)
			rc = lt_error_set(err, errno, "binding %s over %s", true_bin, bin);
		free(bin);
	}
	if (rc == 0 && mount("/dev/null", "/proc/filesystems", NULL, MS_BIND, NULL) < 0)
		rc = lt_error_set(err, errno, "binding /dev/null over /proc/filesystems");
	char *dev = lt_path_join(target, "dev");
	if (rc == 0 && mkdir(dev, 0755) < 0 && errno != EEXIST)
		rc = lt_error_set(err, errno, "creating %s", dev);
	for (size_t i = 0; rc == 0 && i < LT_ARRAY_SIZE(devices); i++) {
		char *host = lt_path_join("/dev", devices[i]);
		char *node = lt_path_join(dev, devices[i]);
		int fd = open(node, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || mount(host, node, NULL, MS_BIND, NULL) < 0)
			rc = lt_error_set(err, errno, "binding %s to %s", host, node);
		if (fd >= 0)
			close(fd);
		free(host);
		free(node);
	}
	free(dev);
	free(true_bin);
	return rc;
}

int build_def_run_host(char *const argv[], char *const envp[], unsigned flags, const char *target,
		       const char *what, lt_error **err)
{
	extern char **environ;
	fflush(NULL);
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return lt_error_set(err, errno, "%s: pipe", what);
	pid_t pid = fork();
	if (pid < 0) {
		close(errpipe[0]);
		close(errpipe[1]);
		return lt_error_set(err, errno, "%s: fork", what);
	}
	if (pid == 0) {
		close(errpipe[0]);
		lt_error *e = NULL;
		if (((flags & DEF_HOST_NO_MOUNTS) && hide_mounts(target, &e) < 0) ||
		    ((flags & DEF_HOST_FAKEROOT) && rt_fakeroot_host_filter(&e) < 0)) {
			dprintf(errpipe[1], "%s", e->message);
			_exit(127);
		}
		execvpe(argv[0], argv, envp ? envp : environ);
		dprintf(errpipe[1], "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(errpipe[1]);
	char msg[512];
	ssize_t n;
	while ((n = read(errpipe[0], msg, sizeof(msg) - 1)) < 0 && errno == EINTR) {
	}
	close(errpipe[0]);
	msg[n > 0 ? n : 0] = '\0';
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return lt_error_set(err, errno, "%s: waiting for %s", what, argv[0]);
	if (n > 0)
		return lt_error_set(err, 0, "%s: %s", what, msg);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return lt_error_set(err, 0, "%s: %s was killed by signal %d", what, argv[0],
				    WTERMSIG(status));
	return lt_error_set(err, 0, "%s: %s failed with status %d", what, argv[0],
			    WEXITSTATUS(status));
}
