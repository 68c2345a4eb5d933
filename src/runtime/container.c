/* The container process: a user namespace in which the caller's uid owns the image's files,
 * a mount namespace assembled around the image, pivot_root, and execve of the action.
 *
 * Every mount is made before pivot_root, while host paths still resolve, so targets inside the
 * image are resolved here component by component, with the image's symlinks followed inside
 * the image (like openat2's RESOLVE_IN_ROOT, which older kernels lack): the kernel is only
 * ever given target paths without symlinks, so nothing can be mounted outside the container.
 *
 * Mount points the image lacks ($HOME, the working directory, bind destinations) are made with
 * an "underlay": the directory that should hold them is replaced by a session directory into
 * which each of its entries is bound, and the new mount point is created there. Below a
 * directory bound from the host as a user bind, the home, /tmp, /var/tmp or a scratch directory,
 * Apptainer creates the missing mount point in the bound source itself, on the host, where it
 * stays (-B dir:/c -B file:/c/f leaves an empty dir/f); so does litho.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime_internal.h"

#define MAX_SYMLINKS 40

typedef struct cont {
	rt_ctx *c;
	int error_fd;
	char *root;	  /* host path of the container's root while it is assembled */
	char **underlays; /* paths replaced by an underlay, made read-only at the end */
	size_t n_underlays;
	dev_t session_dev; /* the session tmpfs, which every underlay is part of */
	char **host_binds; /* targets of host directory binds: nothing may be created in them */
	size_t n_host_binds;
	char **over_dst,
	    **over_src; /* host directory binds in whose source mount points are made */
	size_t n_over;
	char **ours; /* underlays and the directories created in them: safe to create in */
	size_t n_ours;
	bool no_image_create; /* --writable: make missing mount points in underlays only */
	unsigned next_session;
} cont;

_Noreturn static void die(cont *k, int e, const char *fmt, ...) LT_PRINTF(3, 4);

_Noreturn static void die(cont *k, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_fail_v(k->error_fd, e, fmt, ap);
}

static bool no_mount(const cont *k, const char *what)
{
	for (size_t i = 0; i < k->c->o->n_no_mount; i++)
		if (strcmp(k->c->o->no_mount[i], what) == 0)
			return true;
	return false;
}

static void write_file(cont *k, const char *path, const char *data)
{
	lt_error *err = NULL;
	if (rt_write_proc(path, data, &err) < 0)
		die(k, 0, "%s", err->message);
}

static void enter_namespaces(cont *k)
{
	rt_ctx *c = k->c;
	if (unshare(CLONE_NEWNS | (c->root ? 0 : CLONE_NEWUSER) | c->ns_flags) < 0)
		die(k, errno, "creating the container's namespaces");
	if (c->fakeroot == RT_FAKEROOT_SUBID) {
		/* maps wider than our own id are the launcher's to write */
		char b;
		ssize_t n;
		if (write(c->idmap_ready_fd, "r", 1) != 1)
			die(k, errno, "asking the launcher for the id maps");
		while ((n = read(c->idmap_go_fd, &b, 1)) < 0 && errno == EINTR) {
		}
		if (n != 1)
			die(k, 0, "--fakeroot: the launcher did not map the container's ids");
		close(c->idmap_ready_fd);
		close(c->idmap_go_fd);
	} else if (!c->root) {
		/* The launcher's namespace maps its uid 0 to the caller; here the caller's uid
		 * maps to that 0, so files the image gives to root belong to the caller. With
		 * --fakeroot that 0 stays 0. */
		char map[64];
		unsigned uid = (unsigned)c->payload_uid;
		unsigned gid = (unsigned)c->payload_gid;
		write_file(k, "/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "%u 0 1\n", uid);
		write_file(k, "/proc/self/uid_map", map);
		snprintf(map, sizeof(map), "%u 0 1\n", gid);
		write_file(k, "/proc/self/gid_map", map);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die(k, errno, "making the mount namespace private");
	lt_error *err = NULL;
	if (rt_ns_setup(c, &err) < 0)
		die(k, 0, "%s", err->message);
}

static void bind(cont *k, const char *src, const char *dst, bool recursive)
{
	if (mount(src, dst, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
		die(k, errno, "binding %s on %s", src, dst);
}

/* Changes a bind's flags, keeping the ones the kernel locks for mounts that come from a more
 * privileged namespace (remounting without them fails with EPERM). */
static void remount(cont *k, const char *path, bool ro, unsigned long extra)
{
	unsigned long flags =
	    MS_REMOUNT | MS_BIND | (ro ? MS_RDONLY : 0) | extra | rt_locked_flags(path);
	if (mount(NULL, path, NULL, flags, NULL) < 0)
		die(k, errno, "remounting %s", path);
}

static void remember(char ***list, size_t *n, const char *path)
{
	*list = lt_xreallocarray(*list, *n + 1, sizeof(char *));
	(*list)[(*n)++] = lt_xstrdup(path);
}

/* A fresh directory of the session tmpfs. */
static char *session_dir(cont *k, const char *prefix, mode_t mode)
{
	char *p = lt_strdup_printf("%s/%s%u", k->c->session, prefix, k->next_session++);
	if (mkdir(p, mode) < 0)
		die(k, errno, "creating %s", p);
	chmod(p, mode);
	return p;
}

/* Replaces directory `dir` (a host path inside the root, free of symlinks) by a session
 * directory holding binds of all its entries, so that new entries can be created in it. */
static void make_underlay(cont *k, const char *dir)
{
	char *ul = session_dir(k, "ul", 0755);
	struct stat st;
	if (stat(dir, &st) == 0)
		chmod(ul, st.st_mode & 07777);
	DIR *d = opendir(dir);
	if (d == NULL)
		die(k, errno, "reading %s", dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *src = lt_path_join(dir, de->d_name);
		char *dst = lt_path_join(ul, de->d_name);
		struct stat es;
		if (lstat(src, &es) < 0) {
			/* vanished or unreadable: left out */
		} else if (S_ISLNK(es.st_mode)) {
			char target[4096];
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			if (n >= 0) {
				target[n] = '\0';
				if (symlink(target, dst) < 0)
					die(k, errno, "copying the symlink %s", src);
			}
		} else if (S_ISDIR(es.st_mode)) {
			if (mkdir(dst, 0755) < 0)
				die(k, errno, "creating %s", dst);
			bind(k, src, dst, true);
		} else {
			int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0)
				die(k, errno, "creating %s", dst);
			close(fd);
			bind(k, src, dst, false);
		}
		free(src);
		free(dst);
	}
	closedir(d);
	bind(k, ul, dir, true);
	free(ul);
	remember(&k->underlays, &k->n_underlays, dir);
	remember(&k->ours, &k->n_ours, dir);
}

static bool is_ours(const cont *k, const char *p)
{
	for (size_t i = 0; i < k->n_ours; i++)
		if (strcmp(p, k->ours[i]) == 0)
			return true;
	return false;
}

/* Whether creating in host path `p` would create on the host: it lies in a directory bound
 * from the host and is not one of our own underlays or directories. */
static bool in_host_bind(const cont *k, const char *p)
{
	if (is_ours(k, p))
		return false;
	for (size_t i = 0; i < k->n_host_binds; i++) {
		size_t n = strlen(k->host_binds[i]);
		if (strncmp(p, k->host_binds[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return true;
	}
	return false;
}

/* The source on the host of host path p when p lies in a directory bound from the host whose
 * missing mount points are made in its source (a new string), or NULL. */
static char *override_source(const cont *k, const char *p)
{
	for (size_t i = k->n_over; i-- > 0;) {
		size_t n = strlen(k->over_dst[i]);
		if (strncmp(p, k->over_dst[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return lt_strdup_printf("%s%s", k->over_src[i], p + n);
	}
	return NULL;
}

/* Resolves a container path inside the root: returns the host path of the part that exists
 * (all symlinks resolved inside the root) and, in *rest, the components that are missing
 * ("" when everything exists). */
static char *resolve_in_root(cont *k, const char *path, char **rest)
{
	char *cur = lt_xstrdup(k->root);
	char *todo = lt_xstrdup(path);
	int links = 0;
	*rest = NULL;
	for (;;) {
		char *p = todo;
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		char *slash = strchr(p, '/');
		char *comp = slash ? lt_xstrndup(p, (size_t)(slash - p)) : lt_xstrdup(p);
		char *after = lt_xstrdup(slash ? slash : "");
		free(todo);
		todo = after;
		if (strcmp(comp, ".") == 0) {
			free(comp);
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			if (strcmp(cur, k->root) != 0) {
				char *up = lt_path_dirname(cur);
				free(cur);
				cur = up;
			}
			free(comp);
			continue;
		}
		char *next = lt_path_join(cur, comp);
		struct stat st;
		if (lstat(next, &st) < 0) {
			*rest = lt_strdup_printf("%s%s", comp, todo);
			free(next);
			free(comp);
			break;
		}
		free(comp);
		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_SYMLINKS)
				die(k, ELOOP, "resolving %s in the image", path);
			char target[4096];
			ssize_t n = readlink(next, target, sizeof(target) - 1);
			if (n < 0)
				die(k, errno, "reading the symlink %s", next);
			target[n] = '\0';
			char *again = lt_strdup_printf("%s%s", target, todo);
			free(todo);
			todo = again;
			if (target[0] == '/') {
				free(cur);
				cur = lt_xstrdup(k->root);
			}
			free(next);
			continue;
		}
		free(cur);
		cur = next;
	}
	free(todo);
	if (*rest == NULL)
		*rest = lt_xstrdup("");
	return cur;
}

/* Makes sure container path `path` exists as a directory or a file and returns its host path
 * (without symlinks) for use as a mount target. */
static char *ensure_target(cont *k, const char *path, bool dir)
{
	char *rest = NULL;
	char *cur = resolve_in_root(k, path, &rest);
	char *p = rest;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *slash = strchr(p, '/');
		char *comp = slash ? lt_xstrndup(p, (size_t)(slash - p)) : lt_xstrdup(p);
		p = slash ? slash : p + strlen(p);
		bool last = *p == '\0' || strspn(p, "/") == strlen(p);
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
			die(k, EINVAL, "mount point %s: \".\" or \"..\" after a missing directory",
			    path);
		char *next = lt_path_join(cur, comp);
		/* in a bound source, as Apptainer: on the host, through the source's own path (the
		 * bind may be read-only) */
		char *host = override_source(k, cur);
		if (host != NULL) {
			char *hp = lt_path_join(host, comp);
			int rc = (!last || dir) ? mkdir(hp, 0755)
						: open(hp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (rc >= 0 && last && !dir)
				close(rc);
			if (rc < 0 && errno != EEXIST)
				die(k, errno, "creating the mount point %s (%s on the host)", path,
				    hp);
			free(hp);
			free(host);
			free(comp);
			free(cur);
			cur = next;
			continue;
		}
		free(comp);
		/* never create mount points inside a host directory: use an underlay there too */
		if (in_host_bind(k, cur) || (k->no_image_create && !is_ours(k, cur)))
			make_underlay(k, cur);
		for (int attempt = 0;; attempt++) {
			int rc;
			if (!last || dir) {
				rc = mkdir(next, 0755);
			} else {
				rc = open(next, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
				if (rc >= 0)
					close(rc);
			}
			if (rc >= 0) {
				if (!last || dir)
					remember(&k->ours, &k->n_ours, next);
				break;
			}
			if ((errno == EROFS || errno == EACCES || errno == EPERM) && attempt == 0) {
				make_underlay(k, cur);
				continue;
			}
			die(k, errno, "creating the mount point %s", path);
		}
		free(cur);
		cur = next;
	}
	free(rest);
	return cur;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

enum bind_kind {
	BIND_SYSTEM,   /* /proc, /sys, /dev, files: missing mount points below go to underlays */
	BIND_OVERRIDE, /* home, /tmp, /var/tmp, scratch: missing mount points go to the source */
	BIND_USER,     /* -B, --mount: also nosuid (unless --allow-setuid) and nodev */
};

/* Binds host path src onto container path dst. */
static void bind_host(cont *k, const char *src, const char *dst, bool ro, enum bind_kind kind)
{
	bool dir = is_dir(src);
	char *target = ensure_target(k, dst, dir);
	bind(k, src, target, dir);
	if (dir) {
		remember(&k->host_binds, &k->n_host_binds, target);
		if (kind != BIND_SYSTEM) {
			char *abs = realpath(src, NULL);
			k->over_dst = lt_xrealloc(k->over_dst, (k->n_over + 1) * sizeof(char *));
			k->over_src = lt_xrealloc(k->over_src, (k->n_over + 1) * sizeof(char *));
			k->over_dst[k->n_over] = lt_xstrdup(target);
			k->over_src[k->n_over++] = abs ? abs : lt_xstrdup(src);
		}
	}
	bool user = kind == BIND_USER;
	unsigned long extra = user ? MS_NODEV | (rt_privs_nnp(k->c) ? MS_NOSUID : 0) : 0;
	if (ro || extra)
		remount(k, target, ro, extra);
	free(target);
}

static void writable_overlay(cont *k)
{
	char *upper = session_dir(k, "upper", 0755), *work = session_dir(k, "work", 0755);
	char *merged = session_dir(k, "merged", 0755);
	char *opts = lt_strdup_printf("lowerdir=%s,upperdir=%s,workdir=%s", k->root, upper, work);
	/* In a user namespace overlayfs keeps its metadata in user.* xattrs. */
	char *with_userxattr = lt_strdup_printf("%s,userxattr", opts);
	if (mount("overlay", merged, "overlay", 0, k->c->root ? opts : with_userxattr) < 0 &&
	    mount("overlay", merged, "overlay", 0, opts) < 0)
		die(k, errno,
		    "--writable-tmpfs: mounting an overlay over the image failed (overlayfs in a "
		    "user namespace needs Linux 5.11 or newer)");
	free(with_userxattr);
	free(opts);
	free(upper);
	free(work);
	free(k->root);
	k->root = merged;
}

static void minimal_dev(cont *k)
{
	char *dev = ensure_target(k, "/dev", true);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") < 0)
		die(k, errno, "mounting a minimal /dev");
	static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(devices); i++) {
		char *src = lt_path_join("/dev", devices[i]);
		char *dst = lt_path_join(dev, devices[i]);
		if (exists(src)) {
			int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
			if (fd >= 0)
				close(fd);
			bind(k, src, dst, false);
		}
		free(src);
		free(dst);
	}
	char *pts = lt_path_join(dev, "pts");
	mkdir(pts, 0755);
	if (!no_mount(k, "devpts") && mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
					    "newinstance,ptmxmode=0666,mode=0620") == 0) {
		char *ptmx = lt_path_join(dev, "ptmx");
		symlink("pts/ptmx", ptmx);
		free(ptmx);
	}
	free(pts);
	if (k->c->ns_flags & CLONE_NEWIPC) {
		/* the IPC namespace's own message queues */
		char *mq = lt_path_join(dev, "mqueue");
		mkdir(mq, 0755);
		if (mount("mqueue", mq, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			lt_verbose("mounting /dev/mqueue: %s", strerror(errno));
		free(mq);
	}
	char *shm = lt_path_join(dev, "shm");
	mkdir(shm, 01777);
	mount("tmpfs", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	free(shm);
	static const char *const links[][2] = {{"fd", "/proc/self/fd"},
					       {"stdin", "/proc/self/fd/0"},
					       {"stdout", "/proc/self/fd/1"},
					       {"stderr", "/proc/self/fd/2"}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(links); i++) {
		char *l = lt_path_join(dev, links[i][0]);
		symlink(links[i][1], l);
		free(l);
	}
	free(dev);
}

/* A file of the session with these contents (new string: its path). */
static char *session_file(cont *k, const char *name, const char *data, size_t len)
{
	char *file = lt_strdup_printf("%s/%s", k->c->session, name);
	lt_error *err = NULL;
	int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || lt_write_all(fd, data, len, file, &err) < 0)
		die(k, fd < 0 ? errno : 0, "writing %s", file);
	close(fd);
	return file;
}

static void bind_identity_file(cont *k, const char *path, const char *name,
			       char *(*make)(const rt_ctx *, const char *))
{
	char *rest = NULL;
	char *host = resolve_in_root(k, path, &rest);
	struct stat st;
	bool present = rest[0] == '\0' && lstat(host, &st) == 0 && S_ISREG(st.st_mode);
	free(rest);
	char *image = NULL;
	lt_error *err = NULL;
	if (!present || lt_read_file(host, &image, NULL, &err) < 0) {
		lt_error_free(&err);
		free(host);
		return; /* the image has none: nothing to extend */
	}
	char *merged = make(k->c, image);
	char *file = session_file(k, name, merged, strlen(merged));
	bind(k, file, host, false);
	remount(k, host, true, 0);
	free(file);
	free(merged);
	free(image);
	free(host);
}

static bool is_os_dir(const char *p)
{
	static const char *const os[] = {"/",	 "/etc", "/bin",  "/mnt", "/usr",
					 "/var", "/opt", "/sbin", "/lib", "/lib64"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(os); i++)
		if (strcmp(p, os[i]) == 0)
			return true;
	return lt_str_has_prefix(p, "/sys/") || lt_str_has_prefix(p, "/proc/") ||
	       lt_str_has_prefix(p, "/dev/") || strcmp(p, "/sys") == 0 || strcmp(p, "/proc") == 0 ||
	       strcmp(p, "/dev") == 0;
}

/* The working directory is bound unless the image already shows the same directory. */
static bool cwd_visible(cont *k, const char *cwd)
{
	char *rest = NULL;
	char *host = resolve_in_root(k, cwd, &rest);
	struct stat a, b;
	bool same = rest[0] == '\0' && stat(host, &a) == 0 && stat(cwd, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	free(rest);
	free(host);
	return same;
}

/* With --writable a missing mount point would be made in the image itself: fine for the
 * directories every root filesystem has (/proc, /tmp ...) and for what the caller asked for
 * (-B), not for the caller's home or working directory or the host files bound by default,
 * which are then left out, as Apptainer does. Builds are the exception for /etc/resolv.conf and
 * /etc/hosts: every image Apptainer builds has them (empty), and %post needs them. */
static bool missing_in_image(cont *k, const char *path)
{
	if (!k->c->o->writable)
		return false;
	char *rest = NULL;
	char *cur = resolve_in_root(k, path, &rest);
	bool ours = false;
	for (size_t i = 0; i < k->n_ours && !ours; i++)
		ours = strcmp(cur, k->ours[i]) == 0;
	bool missing = rest[0] != '\0' && !ours && !in_host_bind(k, cur);
	free(rest);
	free(cur);
	return missing;
}

/* A session copy of a host file bound on the same path (a build's %post may rewrite it without
 * reaching the host or the image). */
static void bind_host_copy(cont *k, const char *path, const char *name)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, &len, &err) < 0) {
		lt_verbose("not binding %s: %s", path, err->message);
		lt_error_free(&err);
		return;
	}
	char *file = session_file(k, name, data, len);
	bind_host(k, file, path, false, BIND_SYSTEM);
	free(file);
	free(data);
}

/* The APT configuration of seccomp --fakeroot (see rt_apt_config), in the session directory that
 * becomes /tmp, for images with apt. */
static void add_apt_config(cont *k, const char *tmp_dir)
{
	rt_ctx *c = k->c;
	if (c->fakeroot != RT_FAKEROOT_SECCOMP)
		return;
	char *rest = NULL;
	char *apt = resolve_in_root(k, "/etc/apt", &rest);
	bool has_apt = rest[0] == '\0' && is_dir(apt);
	free(rest);
	free(apt);
	if (!has_apt)
		return;
	char *src = session_file(k, "apt.conf", rt_apt_config, strlen(rt_apt_config));
	char *dst = lt_path_join(tmp_dir, lt_path_basename(rt_apt_config_path));
	int fd = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		die(k, errno, "creating %s", dst);
	close(fd);
	/* a mount point: neither removed nor changed by the payload's clean-ups */
	bind(k, src, dst, false);
	remount(k, dst, true, 0);
	c->apt_config = rt_apt_config_path;
	free(src);
	free(dst);
}

/* --no-mount items Apptainer knows (and absolute paths of the default binds). */
static void check_no_mount(const rt_options *o)
{
	static const char *const known[] = {"proc", "sys",    "dev", "devpts",	  "home",
					    "tmp",  "hostfs", "cwd", "bind-paths"};
	for (size_t i = 0; i < o->n_no_mount; i++) {
		bool ok = o->no_mount[i][0] == '/';
		for (size_t j = 0; j < LT_ARRAY_SIZE(known) && !ok; j++)
			ok = strcmp(o->no_mount[i], known[j]) == 0;
		if (!ok)
			lt_warn("Ignoring unknown mount type '%s'", o->no_mount[i]);
	}
}

/* With a PID namespace a proc of its own (as Apptainer: ps shows the container's processes);
 * the host's where the kernel refuses a new one (a /proc partly covered by the host). */
static void mount_proc(cont *k)
{
	if (no_mount(k, "proc"))
		return;
	if (k->c->ns_flags & CLONE_NEWPID) {
		char *target = ensure_target(k, "/proc", true);
		int rc = mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		int e = errno;
		free(target);
		if (rc == 0)
			return;
		lt_verbose("mounting a proc of the PID namespace: %s; binding the host's",
			   strerror(e));
	}
	bind_host(k, "/proc", "/proc", false, BIND_SYSTEM);
}

/* mkdir that accepts an existing directory (and sets the mode despite the umask). */
static void make_dir(cont *k, const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		die(k, errno, "failed to create %s", path);
	if (errno != EEXIST || mode == 01777)
		chmod(path, mode);
}

/* mkdir -p below an existing base */
static void make_dirs(cont *k, const char *base, const char *rel, mode_t mode)
{
	char *clean = lt_path_clean(rel);
	char *p = lt_xstrdup(base);
	char *save = NULL;
	for (char *c = strtok_r(clean, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
		char *next = lt_path_join(p, c);
		free(p);
		p = next;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			die(k, errno, "failed to create %s", p);
	}
	free(p);
	free(clean);
}

/* --workdir, absolute (Apptainer: relative to the caller's directory) */
static char *workdir(const cont *k)
{
	const char *w = k->c->o->workdir;
	if (w == NULL)
		return NULL;
	char *abs = realpath(w, NULL);
	return abs ? abs : lt_xstrdup(w);
}

/* /tmp and /var/tmp: the host's, or with --contain (and for builds) private ones: session
 * directories, or DIR/tmp and DIR/var_tmp with --workdir DIR, which stay. */
static void mount_tmp(cont *k, bool contain, bool build)
{
	rt_ctx *c = k->c;
	if (no_mount(k, "tmp"))
		return;
	if (contain || build) {
		char *w = contain ? workdir(k) : NULL;
		char *t = NULL, *v = NULL;
		if (w != NULL) {
			t = lt_path_join(w, "tmp");
			v = lt_path_join(w, "var_tmp");
			make_dir(k, t, 01777);
			make_dir(k, v, 01777);
		} else {
			t = session_dir(k, "tmp", 01777);
			v = session_dir(k, "vartmp", 01777);
		}
		add_apt_config(k, t);
		bind_host(k, t, "/tmp", false, BIND_OVERRIDE);
		bind_host(k, v, "/var/tmp", false, BIND_OVERRIDE);
		free(t);
		free(v);
		free(w);
		return;
	}
	bind_host(k, "/tmp", "/tmp", false, BIND_OVERRIDE);
	bind_host(k, "/var/tmp", "/var/tmp", false, BIND_OVERRIDE);
	/* the recursive bind brought the session along: hide it */
	char *rest = NULL;
	char *inside = resolve_in_root(k, c->session, &rest);
	if (rest[0] == '\0')
		umount2(inside, MNT_DETACH);
	free(inside);
	free(rest);
}

/* Apptainer's refusal of a destination missing from a --writable image (mountGeneric). */
_Noreturn static void refuse_missing(cont *k, const char *src, const char *dst)
{
	lt_warn("By using --writable, litho can't create %s destination automatically without "
		"overlay or underlay",
		dst);
	die(k, 0,
	    "container creation failed: mount %s->%s error: while mounting %s: destination %s "
	    "doesn't exist in container",
	    src, dst, src, dst);
}

/* The top directory of a path ("/home" of "/home/u"). */
static char *top_dir(const char *path)
{
	while (*path == '/')
		path++;
	return lt_strdup_printf("/%.*s", (int)strcspn(path, "/"), path);
}

static void mount_home(cont *k, bool contain)
{
	rt_ctx *c = k->c;
	const rt_options *o = c->o;
	/* --no-home: no mount at all (HOME still names the directory) */
	if (c->home_dst == NULL || o->build_config || o->no_home || no_mount(k, "home"))
		return;
	char *src = NULL;
	if (c->home_src != NULL) {
		src = lt_xstrdup(c->home_src);
	} else if (contain && o->workdir != NULL) {
		char *w = workdir(k);
		src = lt_path_join(w, "home");
		make_dir(k, src, 0700);
		free(w);
	} else {
		src = session_dir(k, "home", 0700);
	}
	if (o->writable) {
		/* as Apptainer, which binds a session copy of the top directory: the absence of
		 * that is fatal for a --home, what is missing below it is made (here in an
		 * underlay). Without --home litho is kinder: the home is left out. */
		char *top = top_dir(c->home_dst);
		bool missing = missing_in_image(k, top);
		if (missing && o->home != NULL)
			refuse_missing(k, src, top);
		free(top);
		if (missing) {
			lt_warn("--writable: %s does not exist in the image and is not created "
				"there; the home directory is not bound",
				c->home_dst);
			free(src);
			return;
		}
		k->no_image_create = true;
	}
	bind_host(k, src, c->home_dst, false, BIND_OVERRIDE);
	k->no_image_create = false;
	free(src);
}

/* -S/--scratch: session directories, or DIR/scratch/<path> with --workdir DIR. */
static void mount_scratch(cont *k)
{
	const rt_options *o = k->c->o;
	for (size_t i = 0; i < o->n_scratch; i++) {
		const char *dst = o->scratch[i];
		if (dst[0] != '/')
			die(k, 0, "--scratch %s: the directory must be an absolute path", dst);
		char *w = workdir(k), *src = NULL;
		if (w != NULL) {
			char *base = lt_path_join(w, "scratch");
			make_dir(k, base, 0750);
			make_dirs(k, base, dst, 0750);
			char *clean = lt_path_clean(dst);
			src = lt_path_join(base, clean);
			free(clean);
			free(base);
		} else {
			src = session_dir(k, "scratch", 01777);
		}
		if (missing_in_image(k, dst))
			refuse_missing(k, src, dst);
		bind_host(k, src, dst, false, BIND_USER);
		free(src);
		free(w);
	}
}

/* --hostname: also in /etc/hostname, when the image has one. */
static void mount_hostname(cont *k)
{
	const char *name = k->c->o->hostname;
	if (name == NULL)
		return;
	char *rest = NULL;
	char *host = resolve_in_root(k, "/etc/hostname", &rest);
	bool present = rest[0] == '\0' && exists(host);
	free(rest);
	free(host);
	if (!present) {
		lt_verbose("Skipping hostname file: /etc/hostname doesn't exist in container");
		return;
	}
	char *text = lt_strdup_printf("%s\n", name);
	char *file = session_file(k, "hostname", text, strlen(text));
	bind_host(k, file, "/etc/hostname", true, BIND_SYSTEM);
	free(text);
	free(file);
}

static size_t path_depth(const char *p)
{
	size_t n = 0;
	for (; *p; p++)
		if (*p != '/' && (p[1] == '/' || p[1] == '\0'))
			n++;
	return n;
}

/* User binds by the depth of their destination, shortest first (Apptainer sorts them so), so
 * that nested destinations find their parents bound whatever the order on the command line. */
static void mount_user_binds(cont *k)
{
	const rt_options *o = k->c->o;
	size_t *order = lt_xcalloc(o->n_binds + 1, sizeof(*order));
	for (size_t i = 0; i < o->n_binds; i++) {
		size_t j = i;
		while (j > 0 &&
		       path_depth(o->binds[order[j - 1]].dst) > path_depth(o->binds[i].dst)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t n = 0; n < o->n_binds; n++) {
		const rt_bind *b = &o->binds[order[n]];
		if (!exists(b->src)) {
			lt_warn("skipping mount of %s: stat %s: no such file or directory", b->src,
				b->src);
			die(k, 0,
			    "container creation failed: mount %s->%s error: while mounting %s: "
			    "mount "
			    "source %s doesn't exist",
			    b->src, b->dst, b->src, b->src);
		}
		if (missing_in_image(k, b->dst))
			refuse_missing(k, b->src, b->dst);
		bind_host(k, b->src, b->dst, b->ro, BIND_USER);
	}
	free(order);
}

/* The default binds (bind-paths): /etc/localtime and /etc/hosts, or with --contain and a
 * network namespace a hosts file that knows localhost only, as Apptainer's. */
static void mount_bind_paths(cont *k, bool contain)
{
	static const char *const paths[] = {"/etc/localtime", "/etc/hosts"};
	static const char default_hosts[] = "127.0.0.1   localhost\n"
					    "::1         localhost ip6-localhost ip6-loopback\n"
					    "ff02::1     ip6-allnodes\n"
					    "ff02::2     ip6-allrouters\n";
	if (no_mount(k, "bind-paths"))
		return;
	for (size_t i = 0; i < LT_ARRAY_SIZE(paths); i++) {
		if (no_mount(k, paths[i]) || !exists(paths[i]) || missing_in_image(k, paths[i]))
			continue;
		if (i == 1 && contain && (k->c->ns_flags & CLONE_NEWNET)) {
			char *file = session_file(k, "hosts", default_hosts, strlen(default_hosts));
			bind_host(k, file, paths[i], true, BIND_SYSTEM);
			free(file);
			continue;
		}
		bind_host(k, paths[i], paths[i], true, BIND_SYSTEM);
	}
}

static void mount_everything(cont *k)
{
	rt_ctx *c = k->c;
	const rt_options *o = c->o;
	bool contain = c->contain;
	/* Apptainer's build configuration: nothing of the caller's (home, working directory,
	 * /tmp) and no default binds; the host's name resolution as session copies */
	bool build = o->build_config;
	check_no_mount(o);
	if (c->writable_tmpfs)
		writable_overlay(k);
	mount_proc(k);
	if (!no_mount(k, "sys"))
		bind_host(k, "/sys", "/sys", false, BIND_SYSTEM);
	if (!no_mount(k, "dev")) {
		if (contain)
			minimal_dev(k);
		else
			bind_host(k, "/dev", "/dev", false, BIND_SYSTEM);
	}
	if (!build)
		mount_bind_paths(k, contain);
	mount_tmp(k, contain, build);
	mount_home(k, contain);
	mount_scratch(k);
	if (build) {
		static const char *const files[][2] = {{"/etc/resolv.conf", "resolv.conf"},
						       {"/etc/hosts", "hosts"}};
		for (size_t i = 0; i < LT_ARRAY_SIZE(files); i++)
			if (!no_mount(k, files[i][0]) && exists(files[i][0]))
				bind_host_copy(k, files[i][0], files[i][1]);
	} else if (exists("/etc/resolv.conf") && !no_mount(k, "/etc/resolv.conf") &&
		   !no_mount(k, "bind-paths") && !missing_in_image(k, "/etc/resolv.conf")) {
		bind_host(k, "/etc/resolv.conf", "/etc/resolv.conf", true, BIND_SYSTEM);
	}
	mount_hostname(k);
	if (c->host_cwd && !contain && !build && !no_mount(k, "cwd") && !is_os_dir(c->host_cwd) &&
	    !cwd_visible(k, c->host_cwd)) {
		if (missing_in_image(k, c->host_cwd))
			lt_verbose("--writable: not binding the working directory %s, which the "
				   "image lacks",
				   c->host_cwd);
		else
			bind_host(k, c->host_cwd, c->host_cwd, false, BIND_SYSTEM);
	}
	/* Root's own files stay when they can be changed (Apptainer: root with a writable
	 * image, and --fakeroot always), so that useradd and the like work on the image's. */
	bool own_identity =
	    c->fakeroot != RT_FAKEROOT_NO || (c->root && (o->writable || c->writable_tmpfs));
	if (!own_identity) {
		bind_identity_file(k, "/etc/passwd", "passwd", rt_make_passwd);
		bind_identity_file(k, "/etc/group", "group", rt_make_group);
	}
	mount_user_binds(k);
	/* By path, because an underlay made later for a parent directory holds copies of the
	 * earlier ones; a path where something else was mounted on top is left alone. */
	if (!c->writable_tmpfs) {
		for (size_t i = 0; i < k->n_underlays; i++) {
			struct stat st;
			if (stat(k->underlays[i], &st) == 0 && st.st_dev == k->session_dev)
				remount(k, k->underlays[i], true, 0);
		}
	}
}

static void enter_root(cont *k)
{
	if (chdir(k->root) < 0)
		die(k, errno, "entering %s", k->root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die(k, errno, "pivot_root into the image");
	/* the old root now lies on top of the new one: take it away */
	if (umount2(".", MNT_DETACH) < 0)
		die(k, errno, "detaching the host's root");
	if (chdir("/") < 0)
		die(k, errno, "chdir /");
}

static void enter_cwd(cont *k)
{
	rt_ctx *c = k->c;
	const char *want = c->o->pwd;
	if (want != NULL) {
		if (chdir(want) < 0)
			die(k, errno, "--pwd %s", want);
	} else if (c->host_cwd && chdir(c->host_cwd) == 0) {
		/* the caller's directory is visible inside */
	} else if (!(c->home_dst && chdir(c->home_dst) == 0) && chdir("/") < 0) {
		die(k, errno, "chdir /");
	}
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

_Noreturn void rt_container_main(rt_ctx *c, int error_fd)
{
	double t0 = now_ms();
	cont k = {.c = c, .error_fd = error_fd, .root = lt_xstrdup(c->image_mount)};
	struct stat session;
	if (stat(c->session, &session) < 0)
		die(&k, errno, "%s", c->session);
	k.session_dev = session.st_dev;
	enter_namespaces(&k);
	if (c->ns_flags & CLONE_NEWPID)
		rt_pidns_split(c, error_fd); /* from here on PID 1 */
	lt_debug("container: namespaces %.2f ms", now_ms() - t0);
	/* Mounts copied from the launcher's namespace are locked in this one, and pivot_root
	 * refuses a locked new root: a bind of the root onto itself is a mount of our own. */
	bind(&k, k.root, k.root, true);
	mount_everything(&k);
	lt_debug("container: mounts %.2f ms", now_ms() - t0);
	enter_root(&k);
	lt_debug("container: pivot_root %.2f ms", now_ms() - t0);
	enter_cwd(&k);
	umask(c->o->no_umask ? 022 : c->umask);
	rt_container_exec(c, error_fd);
}
