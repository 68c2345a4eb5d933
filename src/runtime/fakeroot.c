/* --fakeroot for a caller without root (runtime.md §6): uid and gid 0 inside, in one of two
 * ways, chosen per run.
 *
 * Subordinate ids: the caller has ranges in /etc/subuid and /etc/subgid and newuidmap and
 * newgidmap are installed. The launcher's namespace maps 0 to the caller and 1..N to the range,
 * so chown, setuid and mknod of fifos really work, with files landing on subordinate host ids.
 * Only the setuid helpers may write such maps, and only from the host's namespace for a process
 * inside a new one: a helper forked before unshare() runs them for the launcher. The container's
 * own (nested) namespace then maps those ids one to one; a process may not write a map wider
 * than its own id for itself, so the launcher, which holds CAP_SETUID in the namespace above,
 * writes it while the container process waits.
 *
 * Seccomp: otherwise only the caller is mapped (to 0), and a seccomp filter installed right
 * before execve makes the calls that would fail for lack of other ids succeed without doing
 * anything (Charliecloud's --force=seccomp): the chown and setuid families, setgroups, capset,
 * and mknod of devices. Files keep the caller as owner; programs that check the result of
 * dropping privileges still notice (apt, see rt_apt_config).
 *
 * As root, --fakeroot is plain root: no user namespace, nothing here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlib/dlib.h"
#include "runtime_internal.h"

/* apt drops to the user _apt for its downloads and then checks that it really became that
 * user; with the seccomp filter setresuid() pretends and the check fails ("Could not switch
 * saved set-user-ID"). Charliecloud rewrites the command lines of builds to add
 * `-o APT::Sandbox::User=root`; a runtime cannot see apt's command lines, but apt also reads the
 * file named by APT_CONFIG (before its own configuration, so the image can still override it).
 * The runtime writes nothing into the image: the file lives in the session tmpfs and is bound
 * into a /tmp that is itself a session directory (--contain, build runs); the variable names a
 * file, so an image without apt is unaffected. With the host's /tmp there is no place of ours to
 * put it, and interactive apt needs the option on its command line, as with Charliecloud. */
const char rt_apt_config[] = "APT::Sandbox::User \"root\";\n";
const char rt_apt_config_path[] = "/tmp/.litho-apt.conf";

/* ---------------------------------------------------------------------------------------------
 * Subordinate ids
 */
static bool parse_ulong(const char *s, size_t n, unsigned long *out)
{
	if (n == 0 || n > 10)
		return false;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 0xffffffffUL)
		return false;
	*out = v;
	return true;
}

int rt_subid_find(const char *data, const char *user, unsigned long id, rt_idrange *out)
{
	char idtext[24];
	snprintf(idtext, sizeof(idtext), "%lu", id);
	for (const char *line = data; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c1 != NULL && c2 != NULL && line[0] != '#') {
			size_t olen = (size_t)(c1 - line);
			/* newuidmap accepts the owner by name or by number */
			bool mine = (user != NULL && strlen(user) == olen &&
				     memcmp(line, user, olen) == 0) ||
				    (strlen(idtext) == olen && memcmp(line, idtext, olen) == 0);
			unsigned long start, count;
			if (mine && parse_ulong(c1 + 1, (size_t)(c2 - c1 - 1), &start) &&
			    parse_ulong(c2 + 1, len - (size_t)(c2 + 1 - line), &count) &&
			    count > 0 && start + count - 1 <= 0xfffffffeUL) {
				out->start = start;
				out->count = count;
				return 1;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

int rt_subid_read(const char *path, const char *user, unsigned long id, rt_idrange *out,
		  lt_error **err)
{
	char *data = NULL;
	lt_error *e = NULL;
	if (lt_read_file(path, &data, NULL, &e) < 0) {
		bool missing = e->errnum == ENOENT;
		if (missing) {
			lt_error_free(&e);
			return 0;
		}
		return lt_error_move(err, &e);
	}
	int found = rt_subid_find(data, user, id, out);
	free(data);
	return found;
}

char *rt_idmap_text(unsigned long own, const rt_idrange *sub)
{
	if (sub == NULL || sub->count == 0)
		return lt_strdup_printf("0 %lu 1\n", own);
	return lt_strdup_printf("0 %lu 1\n1 %lu %lu\n", own, sub->start, sub->count);
}

/* Line for line: the kernel wants each range of a map inside one range of the map above. */
char *rt_idmap_inner_text(const rt_idrange *sub)
{
	if (sub == NULL || sub->count == 0)
		return lt_xstrdup("0 0 1\n");
	return lt_strdup_printf("0 0 1\n1 1 %lu\n", sub->count);
}

/* An executable of the shadow suite: the system's directories first (they are what an
 * administrator installs), then $PATH. */
static char *find_tool(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs = lt_strdup_printf("/usr/bin:/usr/sbin:/bin:/sbin%s%s", path ? ":" : "",
				      path ? path : "");
	char *found = NULL, *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d != NULL && found == NULL;
	     d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		char *p = lt_path_join(d, name);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

/* ---------------------------------------------------------------------------------------------
 * The seccomp filter
 */
/* Calls that only succeed with ids or capabilities the namespace does not have. */
static const char *const faked_calls[] = {
    "capset",	 "chown",	"chown32",   "fchown",	    "fchown32", "fchownat",
    "lchown",	 "lchown32",	"setfsgid",  "setfsgid32",  "setfsuid", "setfsuid32",
    "setgid",	 "setgid32",	"setgroups", "setgroups32", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setuid",	 "setuid32",
};

static int build_filter(scmp_filter_ctx f, bool devices_only, lt_error **err)
{
	int rc = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
	if (rc < 0)
		return lt_error_set(err, -rc,
				    "seccomp: setting the action for other architectures");
	/* 32-bit programs get the same treatment; failing to add an architecture only means
	 * their calls pass through unfiltered, as for any unknown architecture. */
	uint32_t native = seccomp_arch_native();
	uint32_t extra[2] = {0, 0};
	if (native == SCMP_ARCH_X86_64) {
		extra[0] = SCMP_ARCH_X86;
		extra[1] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64) {
		extra[0] = SCMP_ARCH_ARM;
	}
	for (size_t i = 0; i < LT_ARRAY_SIZE(extra) && extra[i] != 0; i++)
		if ((rc = seccomp_arch_add(f, extra[i])) < 0 && rc != -EEXIST)
			lt_verbose("seccomp: architecture %#x not added: %s", extra[i],
				   strerror(-rc));
	const uint32_t fake = SCMP_ACT_ERRNO(0); /* "returns -0": success */
	for (size_t i = 0; i < LT_ARRAY_SIZE(faked_calls) && !devices_only; i++) {
		int nr = seccomp_syscall_resolve_name(faked_calls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: no architecture of ours has it */
		rc = seccomp_rule_add_array(f, fake, nr, 0, NULL);
		if (rc < 0)
			return lt_error_set(err, -rc, "seccomp: a rule for %s", faked_calls[i]);
	}
	/* mknod and mknodat: devices only; fifos, sockets and regular files are real */
	static const struct {
		const char *name;
		unsigned arg;
	} mknods[] = {{"mknod", 1}, {"mknodat", 2}};
	static const unsigned long types[] = {S_IFCHR, S_IFBLK};
	for (size_t i = 0; i < LT_ARRAY_SIZE(mknods); i++) {
		int nr = seccomp_syscall_resolve_name(mknods[i].name);
		if (nr == __NR_SCMP_ERROR)
			continue;
		for (size_t t = 0; t < LT_ARRAY_SIZE(types); t++) {
			struct scmp_arg_cmp cmp = {.arg = mknods[i].arg,
						   .op = SCMP_CMP_MASKED_EQ,
						   .datum_a = S_IFMT,
						   .datum_b = types[t]};
			rc = seccomp_rule_add_array(f, fake, nr, 1, &cmp);
			if (rc < 0)
				return lt_error_set(err, -rc, "seccomp: a rule for %s",
						    mknods[i].name);
		}
	}
	return 0;
}

int rt_seccomp_build(void **prog, size_t *len, bool devices_only, lt_error **err)
{
	const char *why = NULL;
	if (dlib_seccomp_try(&why) == NULL)
		return lt_error_set(err, 0, "%s", why);
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	if (f == NULL)
		return lt_error_set(err, ENOMEM, "seccomp: creating a filter");
	int rc = build_filter(f, devices_only, err);
	/* The program is exported here and loaded with prctl() in the container process, which
	 * then runs no libseccomp code after pivot_root. */
	int fd = -1;
	if (rc == 0 && (fd = memfd_create("litho-seccomp", MFD_CLOEXEC)) < 0)
		rc = lt_error_set(err, errno, "seccomp: memfd_create");
	if (rc == 0 && (rc = seccomp_export_bpf(f, fd)) < 0)
		rc = lt_error_set(err, -rc, "seccomp: exporting the filter");
	struct stat st;
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = lt_error_set(err, errno, "seccomp: the exported filter");
	if (rc == 0 && (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
			st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS))
		rc = lt_error_set(err, 0, "seccomp: the exported filter has %lld bytes",
				  (long long)st.st_size);
	if (rc == 0) {
		*len = (size_t)st.st_size;
		*prog = lt_xmalloc(*len);
		if (lt_pread_all(fd, *prog, *len, 0, "the seccomp filter", err) < 0) {
			free(*prog);
			*prog = NULL;
			rc = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	seccomp_release(f);
	return rc;
}

int rt_seccomp_apply(const void *prog, size_t len)
{
	struct sock_fprog fp = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
				.filter = (struct sock_filter *)prog};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Choosing the mode
 */
int rt_fakeroot_choose(rt_ctx *c, lt_error **err)
{
	c->fakeroot = RT_FAKEROOT_NO;
	if (!c->o->fakeroot)
		return 0;
	if (c->root) {
		/* Root of a namespace rt_fakeroot_enter() made (a build): with only one id
		 * mapped, chown and friends need the filter as in seccomp mode; with subordinate
		 * ids only device nodes do (debootstrap makes some). */
		enum rt_ns_ids ids = rt_ns_mapped_ids();
		c->fakeroot = ids == RT_NS_SINGLE ? RT_FAKEROOT_SECCOMP : RT_FAKEROOT_ROOT;
		if (ids == RT_NS_INITIAL)
			return 0;
		if (rt_seccomp_build(&c->seccomp_prog, &c->seccomp_len, ids == RT_NS_MANY, err) < 0)
			return lt_error_wrap(err, "--fakeroot in a user namespace");
		return 0;
	}
	if (rt_subid_usable(c))
		return 0;
	lt_verbose("--fakeroot: only %s is mapped (to root); a seccomp filter fakes chown, setuid "
		   "and mknod of devices",
		   c->user_name);
	c->fakeroot = RT_FAKEROOT_SECCOMP;
	if (rt_seccomp_build(&c->seccomp_prog, &c->seccomp_len, false, err) < 0)
		return lt_error_wrap(err,
				     "--fakeroot: %s has no subordinate ids usable with "
				     "newuidmap/newgidmap, and the seccomp filter that replaces "
				     "them is not available",
				     c->user_name);
	return 0;
}

bool rt_subid_usable(rt_ctx *c)
{
	lt_error *e = NULL;
	int u = rt_subid_read("/etc/subuid", c->user_name, c->uid, &c->subuid, &e);
	int g = u > 0 ? rt_subid_read("/etc/subgid", c->user_name, c->uid, &c->subgid, &e) : 0;
	if (u < 0 || g < 0) {
		lt_verbose("--fakeroot: %s; not using subordinate ids", e->message);
		lt_error_free(&e);
	}
	if (u > 0 && g > 0) {
		c->newuidmap = find_tool("newuidmap");
		c->newgidmap = find_tool("newgidmap");
		if (c->newuidmap != NULL && c->newgidmap != NULL) {
			lt_verbose("--fakeroot: mapping uids 1-%lu to %lu-%lu and gids 1-%lu to "
				   "%lu-%lu with newuidmap and newgidmap",
				   c->subuid.count, c->subuid.start,
				   c->subuid.start + c->subuid.count - 1, c->subgid.count,
				   c->subgid.start, c->subgid.start + c->subgid.count - 1);
			c->fakeroot = RT_FAKEROOT_SUBID;
			return true;
		}
		lt_verbose("--fakeroot: newuidmap or newgidmap is not installed (package uidmap)");
	} else {
		lt_verbose("--fakeroot: %s has no range in /etc/subuid and /etc/subgid",
			   c->user_name);
	}
	return false;
}

/* ---------------------------------------------------------------------------------------------
 * Maps with subordinate ids
 */
/* Runs `tool pid 0 own 1 1 start count` with its output on out_fd; returns its wait status. */
static int run_map_tool(const char *tool, pid_t pid, unsigned long own, const rt_idrange *r,
			int out_fd)
{
	char spid[24], sown[24], sstart[24], scount[24];
	snprintf(spid, sizeof(spid), "%ld", (long)pid);
	snprintf(sown, sizeof(sown), "%lu", own);
	snprintf(sstart, sizeof(sstart), "%lu", r->start);
	snprintf(scount, sizeof(scount), "%lu", r->count);
	char *argv[] = {(char *)tool, spid, "0", sown, "1", "1", sstart, scount, NULL};
	pid_t p = fork();
	if (p == 0) {
		if (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
			_exit(126);
		execv(tool, argv);
		dprintf(out_fd, "cannot run %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	if (p < 0) {
		dprintf(out_fd, "fork: %s\n", strerror(errno));
		return -1;
	}
	int status = -1;
	while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
	}
	return status;
}

int rt_subid_unshare(rt_ctx *c, lt_error **err)
{
	int go[2], out[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return lt_error_set(err, errno, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return lt_error_set(err, e, "pipe");
	}
	pid_t self = getpid();
	fflush(NULL);
	pid_t helper = fork();
	if (helper < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		close(out[0]);
		close(out[1]);
		return lt_error_set(err, e, "fork");
	}
	if (helper == 0) {
		/* Stays in the host's namespace: the setuid helpers only map from there. */
		close(go[1]);
		close(out[0]);
		char b;
		if (read(go[0], &b, 1) != 1)
			_exit(2); /* the launcher gave up */
		int st =
		    run_map_tool(c->newuidmap, self, (unsigned long)c->uid, &c->subuid, out[1]);
		if (st == 0)
			st = run_map_tool(c->newgidmap, self, (unsigned long)c->gid, &c->subgid,
					  out[1]);
		_exit(st == 0 ? 0 : 1);
	}
	close(go[0]);
	close(out[1]);
	int rc = 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		rt_explain_userns(errno, err);
		rc = lt_error_wrap(err, "--fakeroot needs a user namespace");
	} else if (write(go[1], "m", 1) != 1) {
		rc = lt_error_set(err, errno, "starting newuidmap");
	}
	close(go[1]);
	char msg[2048];
	size_t total = 0;
	ssize_t n;
	while (total < sizeof(msg) - 1 &&
	       ((n = read(out[0], msg + total, sizeof(msg) - 1 - total)) > 0 ||
		(n < 0 && errno == EINTR)))
		total += n > 0 ? (size_t)n : 0;
	msg[total] = '\0';
	while (total > 0 && msg[total - 1] == '\n')
		msg[--total] = '\0';
	close(out[0]);
	int status = 0;
	while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
	}
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = lt_error_set(err, 0,
				  "--fakeroot: mapping the subordinate ids of %s with %s and %s "
				  "failed%s%s",
				  c->user_name, c->newuidmap, c->newgidmap, total ? ": " : "", msg);
	return rc;
}

int rt_subid_map_child(const rt_ctx *c, pid_t pid, int ready_fd, int go_fd, lt_error **err)
{
	char b;
	ssize_t n;
	while ((n = read(ready_fd, &b, 1)) < 0 && errno == EINTR) {
	}
	if (n != 1)
		return 0; /* the child failed before; its message is on its error pipe */
	static const char *const files[] = {"uid_map", "gid_map"};
	const rt_idrange *ranges[] = {&c->subuid, &c->subgid};
	for (size_t i = 0; i < 2; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, files[i]);
		char *map = rt_idmap_inner_text(ranges[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		int rc = fd < 0 ? -1 : (int)write(fd, map, strlen(map));
		int e = errno;
		if (fd >= 0)
			close(fd);
		bool ok = rc == (int)strlen(map);
		free(map);
		if (!ok)
			return lt_error_set(err, e, "--fakeroot: writing the container's %s",
					    files[i]);
	}
	if (write(go_fd, "g", 1) != 1)
		return lt_error_set(err, errno, "--fakeroot: resuming the container process");
	return 0;
}
