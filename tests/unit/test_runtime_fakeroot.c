/* --fakeroot's pieces (src/runtime/fakeroot.c): /etc/subuid and /etc/subgid parsing, the id
 * maps written for the launcher's and the container's namespaces, and the seccomp filter.
 *
 * The filter is checked for what it does: a forked child enters a user namespace in which only
 * its own uid is mapped (to 0), installs the filter like the container process does (after
 * PR_SET_NO_NEW_PRIVS) and tries the calls. Those tests are skipped where user namespaces are
 * not available.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "tap.h"

static char *tmp_base;

/* ---------------------------------------------------------------------------------------------
 * Subordinate ids and maps
 */
static const char subid_text[] = "# comment: alice:1:2\n"
				 "\n"
				 "bob:100000:65536\n"
				 "alice:0:0\n"
				 "malformed line\n"
				 "alice:x:10\n"
				 "alice:200000:1000\n"
				 "alice:300000:5000\n"
				 "1001:400000:65536\n"
				 "carol:4294967290:100\n"
				 "dave:500000:70000";

static void test_subid_find(void)
{
	rt_idrange r = {0, 0};
	/* the first usable range of the name: count 0 and bad numbers are skipped */
	CHECK_INT(rt_subid_find(subid_text, "alice", 1000, &r), 1);
	CHECK_INT(r.start, 200000);
	CHECK_INT(r.count, 1000);
	CHECK_INT(rt_subid_find(subid_text, "bob", 1000, &r), 1);
	CHECK_INT(r.start, 100000);
	CHECK_INT(r.count, 65536);
	/* by uid, and the last line without a newline */
	CHECK_INT(rt_subid_find(subid_text, "eve", 1001, &r), 1);
	CHECK_INT(r.start, 400000);
	CHECK_INT(rt_subid_find(subid_text, NULL, 1001, &r), 1);
	CHECK_INT(rt_subid_find(subid_text, "dave", 7, &r), 1);
	CHECK_INT(r.start, 500000);
	CHECK_INT(r.count, 70000);
	/* no range: unknown, only in a comment, a prefix of a name, beyond 32 bits */
	r.start = r.count = 42;
	CHECK_INT(rt_subid_find(subid_text, "eve", 1000, &r), 0);
	CHECK_INT(rt_subid_find(subid_text, "ali", 1000, &r), 0);
	CHECK_INT(rt_subid_find(subid_text, "carol", 1000, &r), 0);
	CHECK_INT(rt_subid_find(subid_text, "alice:200000", 1000, &r), 0);
	CHECK_INT(rt_subid_find("", "alice", 1000, &r), 0);
	CHECK_INT(r.start, 42);
}

static void test_subid_read(void)
{
	rt_idrange r = {0, 0};
	lt_error *err = NULL;
	char *path = lt_path_join(tmp_base, "subuid");
	CHECK_INT(rt_subid_read(path, "bob", 1000, &r, &err), 0); /* missing file: no ranges */
	CHECK(err == NULL);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, subid_text, strlen(subid_text)), (long long)strlen(subid_text));
	close(fd);
	CHECK_INT(rt_subid_read(path, "bob", 1000, &r, &err), 1);
	CHECK_INT(r.start, 100000);
	CHECK_INT(rt_subid_read(path, "nobody-here", 4242, &r, &err), 0);
	/* a directory cannot be read: an error, not "no ranges" */
	CHECK_INT(rt_subid_read(tmp_base, "bob", 1000, &r, &err), -1);
	CHECK(err != NULL);
	lt_error_free(&err);
	unlink(path);
	free(path);
}

static void test_idmaps(void)
{
	rt_idrange r = {165536, 65536};
	char *t = rt_idmap_text(1002, &r);
	CHECK_STR(t, "0 1002 1\n1 165536 65536\n");
	free(t);
	t = rt_idmap_text(1002, NULL);
	CHECK_STR(t, "0 1002 1\n");
	free(t);
	/* the nested namespace: the same ids, one range per range of the map above */
	t = rt_idmap_inner_text(&r);
	CHECK_STR(t, "0 0 1\n1 1 65536\n");
	free(t);
	t = rt_idmap_inner_text(NULL);
	CHECK_STR(t, "0 0 1\n");
	free(t);
}

/* ---------------------------------------------------------------------------------------------
 * The seccomp filter, in a child
 */
static int report_fd = -1;

/* In the child: a failed expectation goes to the parent as one line. */
static void child_fail(const char *fmt, ...) LT_PRINTF(1, 2);
static void child_fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(report_fd, buf, (size_t)n) < 0)
		_exit(3);
}

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			child_fail("line %d: %s (errno %d: %s)", __LINE__, #cond, errno,           \
				   strerror(errno));                                               \
	} while (0)

static bool write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* unshare(CLONE_NEWUSER) with the caller as 0; false when user namespaces are unavailable. */
static bool enter_root_mapped(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return false;
	char map[64];
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if (!write_text("/proc/self/setgroups", "deny") || !write_text("/proc/self/uid_map", map))
		return false;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	return write_text("/proc/self/gid_map", map);
}

static void checks_with_filter(const char *dir)
{
	char *f = lt_path_join(dir, "file");
	int fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	EXPECT(fd >= 0);
	close(fd);
	struct stat st;
	/* chown to ids the namespace lacks "succeeds" and changes nothing */
	EXPECT(chown(f, 1234, 1234) == 0);
	EXPECT(lchown(f, 1234, 1234) == 0);
	EXPECT(fchownat(AT_FDCWD, f, 1234, 1234, 0) == 0);
	fd = open(f, O_RDONLY | O_CLOEXEC);
	EXPECT(fd >= 0 && fchown(fd, 1234, 1234) == 0);
	close(fd);
	EXPECT(stat(f, &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
	/* devices: success, nothing made */
	char *c = lt_path_join(dir, "null");
	EXPECT(mknod(c, S_IFCHR | 0666, makedev(1, 3)) == 0);
	EXPECT(lstat(c, &st) < 0 && errno == ENOENT);
	char *b = lt_path_join(dir, "block");
	EXPECT(mknodat(AT_FDCWD, b, S_IFBLK | 0600, makedev(7, 0)) == 0);
	EXPECT(lstat(b, &st) < 0 && errno == ENOENT);
	/* fifos and regular files are real */
	char *p = lt_path_join(dir, "fifo");
	EXPECT(mkfifo(p, 0644) == 0);
	EXPECT(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
	char *r = lt_path_join(dir, "regular");
	EXPECT(mknod(r, S_IFREG | 0644, 0) == 0);
	EXPECT(lstat(r, &st) == 0 && S_ISREG(st.st_mode));
	EXPECT(mknod(r, S_IFREG | 0644, 0) < 0 && errno == EEXIST);
	/* identity changes "succeed" and leave us as we were */
	EXPECT(setuid(1234) == 0);
	EXPECT(setgid(1234) == 0);
	EXPECT(setresuid(1234, 1234, 1234) == 0);
	EXPECT(setreuid(1234, 1234) == 0);
	gid_t groups[] = {1234, 5678};
	EXPECT(setgroups(2, groups) == 0);
	EXPECT(getuid() == 0 && geteuid() == 0 && getgid() == 0);
	/* everything else as usual */
	EXPECT(rename(r, f) == 0);
	EXPECT(unlink(f) == 0 && unlink(p) == 0);
	EXPECT(open("/nonexistent/x", O_RDONLY | O_CLOEXEC) < 0 && errno == ENOENT);
	free(f);
	free(c);
	free(b);
	free(p);
	free(r);
}

/* Runs in a forked child: with_filter selects the filter or the control case. */
static void child(const char *dir, const void *prog, size_t len, bool with_filter)
{
	if (!enter_root_mapped())
		_exit(77);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		child_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		_exit(1);
	}
	if (!with_filter) {
		/* the control: without the filter these fail */
		char *f = lt_path_join(dir, "control");
		int fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		EXPECT(fd >= 0);
		close(fd);
		EXPECT(chown(f, 1234, 1234) < 0 && errno == EINVAL);
		char *c = lt_path_join(dir, "null");
		EXPECT(mknod(c, S_IFCHR | 0666, makedev(1, 3)) < 0 && errno == EPERM);
		EXPECT(setuid(1234) < 0 && errno == EINVAL);
		unlink(f);
		free(f);
		free(c);
		_exit(0);
	}
	if (rt_seccomp_apply(prog, len) < 0) {
		child_fail("rt_seccomp_apply: %s", strerror(errno));
		_exit(1);
	}
	checks_with_filter(dir);
	_exit(0);
}

/* Forks the child and turns its report into checks. */
static void run_child(const void *prog, size_t len, bool with_filter)
{
	char *dir = lt_path_join(tmp_base, with_filter ? "filtered" : "control");
	CHECK(mkdir(dir, 0755) == 0);
	int fds[2];
	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		child(dir, prog, len, with_filter);
	}
	close(fds[1]);
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	while (total < sizeof(buf) - 1 &&
	       (n = read(fds[0], buf + total, sizeof(buf) - 1 - total)) > 0)
		total += (size_t)n;
	buf[total] = '\0';
	close(fds[0]);
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	lt_remove_tree(dir);
	free(dir);
	for (char *line = buf; *line != '\0';) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		printf("# child: %s\n", line);
		tap_current_failed = true;
		line = nl ? nl + 1 : line + strlen(line);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static bool userns_available(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(enter_root_mapped() ? 0 : 77);
	int status = 0;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static void test_seccomp_filter(void)
{
	void *prog = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	CHECK_INT(rt_seccomp_build(&prog, &len, false, &err), 0);
	if (err != NULL) {
		printf("# %s\n", err->message);
		lt_error_free(&err);
		return;
	}
	CHECK(len > 0 && len % 8 == 0);
	run_child(prog, len, true);
	free(prog);
}

static void test_seccomp_control(void)
{
	run_child(NULL, 0, false);
}

int main(void)
{
	char tmpl[] = "/tmp/litho-fakeroot-test.XXXXXX";
	tmp_base = mkdtemp(tmpl);
	if (tmp_base == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_subid_find);
	RUN(test_subid_read);
	RUN(test_idmaps);
	if (userns_available()) {
		RUN(test_seccomp_filter);
		RUN(test_seccomp_control);
	} else {
		SKIP(test_seccomp_filter, "no user namespaces here");
		SKIP(test_seccomp_control, "no user namespaces here");
	}
	lt_remove_tree(tmp_base);
	return tap_done();
}
