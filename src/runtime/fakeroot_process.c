/* Fake root for a whole process: a definition-file build by a normal user runs as root of its
 * own user namespace from start to end (as Apptainer's fakeroot builds do), so that the files
 * of its stages can be chowned, read and removed whatever ids %post gives them, and the SIF is
 * assembled with the owners the namespace shows. The runtime, called from inside, sees root and
 * only adds the seccomp filter (fakeroot.c). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime_internal.h"

enum rt_ns_ids rt_ns_mapped_ids(void)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *e = NULL;
	if (lt_read_file("/proc/self/uid_map", &data, &len, &e) < 0) {
		lt_error_free(&e);
		return RT_NS_INITIAL;
	}
	unsigned long long total = 0, first = 0, lower = 0, count = 0;
	size_t lines = 0;
	for (char *line = data; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (sscanf(line, "%llu %llu %llu", &first, &lower, &count) != 3)
			continue;
		total += count;
		lines++;
	}
	free(data);
	if (lines == 1 && first == 0 && lower == 0 && count == 4294967295ULL)
		return RT_NS_INITIAL;
	return total <= 1 ? RT_NS_SINGLE : RT_NS_MANY;
}

static int write_proc(const char *file, const char *text, lt_error **err)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return lt_error_set(err, errno, "opening %s", file);
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	if (n != (ssize_t)strlen(text))
		return lt_error_set(err, e, "writing %s", file);
	return 0;
}

int rt_fakeroot_enter(bool allow_subids, bool *subids, lt_error **err)
{
	*subids = false;
	rt_ctx c;
	memset(&c, 0, sizeof(c));
	c.uid = getuid();
	c.gid = getgid();
	struct passwd *pw = getpwuid(c.uid);
	c.user_name = pw ? lt_xstrdup(pw->pw_name) : lt_strdup_printf("uid%u", (unsigned)c.uid);
	int rc;
	if (allow_subids && rt_subid_usable(&c)) {
		rc = rt_subid_unshare(&c, err);
		*subids = rc == 0;
	} else if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		rt_explain_userns(errno, err);
		rc = lt_error_wrap(err, "fake root needs a user namespace");
	} else {
		char uid_map[64], gid_map[64];
		snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", (unsigned)c.uid);
		snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", (unsigned)c.gid);
		/* an unprivileged gid_map needs setgroups denied first */
		rc = write_proc("/proc/self/setgroups", "deny", err);
		if (rc == 0)
			rc = write_proc("/proc/self/uid_map", uid_map, err);
		if (rc == 0)
			rc = write_proc("/proc/self/gid_map", gid_map, err);
	}
	free(c.user_name);
	free(c.newuidmap);
	free(c.newgidmap);
	if (rc < 0)
		return -1;
	/* become the namespace's root in every id (the map gives the privileges, not the ids) */
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return lt_error_set(err, errno, "becoming root in the user namespace");
	return 0;
}

int rt_fakeroot_host_filter(lt_error **err)
{
	enum rt_ns_ids ids = rt_ns_mapped_ids();
	if (ids == RT_NS_INITIAL)
		return 0;
	void *prog = NULL;
	size_t len = 0;
	if (rt_seccomp_build(&prog, &len, ids == RT_NS_MANY, err) < 0)
		return -1;
	int rc = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || rt_seccomp_apply(prog, len) < 0)
		rc = lt_error_set(err, errno, "installing the fake root seccomp filter");
	free(prog);
	return rc;
}
