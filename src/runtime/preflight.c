/* Checks that explain, before anything fails obscurely, why a container cannot start. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime_internal.h"

static long read_sysctl(const char *path)
{
	char *data = NULL;
	lt_error *ignored = NULL;
	if (lt_read_file(path, &data, NULL, &ignored) < 0) {
		lt_error_free(&ignored);
		return -1;
	}
	long v = strtol(data, NULL, 10);
	free(data);
	return v;
}

/* Called after unshare(CLONE_NEWUSER) failed with `e`. */
int rt_explain_userns(int e, lt_error **err)
{
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return lt_error_set(err, e,
				    "user namespaces are disabled on this machine "
				    "(user.max_user_namespaces = 0); an administrator can enable "
				    "them with `sysctl -w user.max_user_namespaces=15000`, or run "
				    "litho as root");
	if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return lt_error_set(
		    err, e,
		    "unprivileged user namespaces are disabled "
		    "(kernel.unprivileged_userns_clone = 0); an administrator can "
		    "enable them with `sysctl -w kernel.unprivileged_userns_clone=1`");
	if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return lt_error_set(
		    err, e,
		    "AppArmor restricts unprivileged user namespaces "
		    "(kernel.apparmor_restrict_unprivileged_userns = 1); an "
		    "administrator can install an AppArmor profile for litho or set "
		    "the sysctl to 0");
	if (e == ENOSPC)
		return lt_error_set(err, e,
				    "the limit of user namespaces is reached "
				    "(user.max_user_namespaces); too many containers at once?");
	return lt_error_set(err, e, "cannot create a user namespace");
}

/* FUSE without root needs /dev/fuse readable and writable. Returns false with a reason. */
bool rt_fuse_usable(char **reason)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	struct stat st;
	if (errno == ENOENT)
		*reason = lt_xstrdup("/dev/fuse does not exist (the fuse kernel module is not "
				     "loaded: `modprobe fuse` as root)");
	else if (stat("/dev/fuse", &st) == 0)
		*reason = lt_strdup_printf("/dev/fuse is not accessible (mode %04o, owner uid %u): "
					   "an administrator can run `chmod 0666 /dev/fuse`",
					   st.st_mode & 07777, (unsigned)st.st_uid);
	else
		*reason = lt_strdup_printf("/dev/fuse cannot be opened: %s", strerror(errno));
	return false;
}
