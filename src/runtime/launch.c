/* The launcher: checks, the outer user namespace (the caller becomes uid 0 there, so that it
 * may mount), the session tmpfs, the image mount (FUSE, loop device as root, or a bind of a
 * sandbox), then the container process. The launcher then serves FUSE, forwards signals,
 * reaps, and ends with the payload's status once nothing of the container runs any more. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_internal.h"
#include "sif/sif.h"
#include "squash/squash.h"

extern char **environ;

static const int forwarded_signals[] = {SIGTERM, SIGINT,   SIGHUP,  SIGQUIT, SIGUSR1,
					SIGUSR2, SIGWINCH, SIGALRM, SIGCONT};
static volatile pid_t payload_pid;

/* Milliseconds since the launch began, for -d timings. */
static double launch_ms(void)
{
	static struct timespec t0;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (t0.tv_sec == 0 && t0.tv_nsec == 0)
		t0 = t;
	return (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
}

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	/* Signals the terminal sends reach the payload directly (same process group): only
	 * forward what was sent to the launcher on purpose (kill, a batch system). */
	if (si != NULL && si->si_code == SI_KERNEL)
		return;
	if (payload_pid > 0)
		kill(payload_pid, sig);
}

static void install_forwarding(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < LT_ARRAY_SIZE(forwarded_signals); i++)
		sigaction(forwarded_signals[i], &sa, NULL);
}

static void block_forwarded(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < LT_ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&set, forwarded_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

/* ------------------------------------------------------------------------------------------ */

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

unsigned long rt_locked_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} keep[] = {{ST_NOSUID, MS_NOSUID},	    {ST_NODEV, MS_NODEV},
		    {ST_NOEXEC, MS_NOEXEC},	    {ST_NOATIME, MS_NOATIME},
		    {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	struct statvfs sv;
	unsigned long flags = 0;
	if (statvfs(path, &sv) == 0)
		for (size_t i = 0; i < LT_ARRAY_SIZE(keep); i++)
			if (sv.f_flag & keep[i].st)
				flags |= keep[i].ms;
	return flags;
}

int rt_write_proc(const char *path, const char *data, lt_error **err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return lt_error_set(err, errno, "opening %s", path);
	ssize_t n = write(fd, data, strlen(data));
	int e = errno;
	close(fd);
	if (n != (ssize_t)strlen(data))
		return lt_error_set(err, e, "writing %s", path);
	return 0;
}

static int enter_outer_namespace(rt_ctx *c, lt_error **err)
{
	if (c->root) {
		if (unshare(CLONE_NEWNS) < 0)
			return lt_error_set(err, errno, "creating a mount namespace");
	} else if (c->fakeroot == RT_FAKEROOT_SUBID) {
		if (rt_subid_unshare(c, err) < 0)
			return -1;
	} else {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			rt_explain_userns(errno, err);
			return c->fakeroot ? lt_error_wrap(err, "--fakeroot needs a user namespace")
					   : -1;
		}
		char map[64];
		if (rt_write_proc("/proc/self/setgroups", "deny", err) < 0)
			return -1;
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)c->uid);
		if (rt_write_proc("/proc/self/uid_map", map, err) < 0)
			return -1;
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)c->gid);
		if (rt_write_proc("/proc/self/gid_map", map, err) < 0)
			return -1;
	}
	/* Host mounts (automounted home and project directories) keep appearing inside;
	 * nothing made here ever propagates back. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return lt_error_set(err, errno, "making the mount namespace a slave");
	return 0;
}

/* The session: a per-user directory under $TMPDIR (kept between runs, like Charliecloud's
 * /var/tmp/$USER.ch) covered by a tmpfs in the launcher's namespace only, so that nothing of
 * a run is ever visible on the host and concurrent runs do not meet. */
static int prepare_session(rt_ctx *c, lt_error **err)
{
	const char *base = lt_env_nonempty("LITHO_TMPDIR");
	if (base == NULL)
		base = lt_env_nonempty("TMPDIR");
	if (base == NULL)
		base = "/tmp";
	c->session = lt_strdup_printf("%s/litho-%u", base, (unsigned)c->uid);
	c->image_mount = lt_strdup_printf("%s/image", c->session);
	if (mkdir(c->session, 0700) < 0 && errno != EEXIST)
		return lt_error_set(err, errno, "creating %s", c->session);
	struct stat st;
	if (lstat(c->session, &st) < 0)
		return lt_error_set(err, errno, "%s", c->session);
	if (!S_ISDIR(st.st_mode) || st.st_uid != c->uid)
		return lt_error_set(err, 0,
				    "%s is not a directory owned by uid %u; remove it or set "
				    "LITHO_TMPDIR",
				    c->session, (unsigned)c->uid);
	return 0;
}

static int mount_session(rt_ctx *c, lt_error **err)
{
	uint64_t size = c->o->tmpfs_size ? c->o->tmpfs_size : (1ULL << 30);
	char opts[64];
	snprintf(opts, sizeof(opts), "mode=0755,size=%llu", (unsigned long long)size);
	if (mount("tmpfs", c->session, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return lt_error_set(err, errno, "mounting the session tmpfs on %s", c->session);
	if (mkdir(c->image_mount, 0755) < 0)
		return lt_error_set(err, errno, "creating %s", c->image_mount);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct image_src {
	bool is_dir;
	char *dir_path; /* sandbox directory (also the --unsquash one) */
	int fd;		/* SIF file */
	uint64_t offset, size;
	sq_image *sq;
	char *unsquashed;    /* temporary sandbox made by --unsquash, removed at the end */
	int unsquash_parent; /* its parent directory */
} image_src;

static int open_image(rt_ctx *c, image_src *im, lt_error **err)
{
	struct stat st;
	if (stat(c->image_path, &st) < 0)
		return lt_error_set(err, errno, "%s", c->o->image);
	im->fd = -1;
	if (S_ISDIR(st.st_mode)) {
		im->is_dir = true;
		im->dir_path = lt_xstrdup(c->image_path);
		return 0;
	}
	sif_image *sif = NULL;
	if (sif_open(c->image_path, false, &sif, err) < 0)
		return -1;
	const sif_descriptor *d = sif_find_primary(sif);
	int rc = 0;
	if (d == NULL) {
		rc = lt_error_set(err, 0, "%s: the SIF has no primary system partition to run",
				  c->image_path);
	} else {
		sif_partition_info p;
		sif_partition_of(d, &p);
		if (p.fstype != SIF_FS_SQUASHFS)
			rc = lt_error_set(err, 0,
					  "%s: the primary partition is %s, litho runs SquashFS "
					  "partitions only",
					  c->image_path, sif_fstype_name(p.fstype));
		im->offset = (uint64_t)d->offset;
		im->size = (uint64_t)d->size;
	}
	if (rc == 0) {
		im->fd = dup(sif_fd(sif));
		if (im->fd < 0)
			rc = lt_error_set(err, errno, "%s", c->image_path);
	}
	sif_close(sif);
	if (rc == 0 && sq_image_open(im->fd, im->offset, im->size, c->image_path, &im->sq, err) < 0)
		rc = -1;
	return rc;
}

static void remove_unsquashed(image_src *im)
{
	if (im->unsquashed == NULL || im->unsquash_parent < 0)
		return;
	/* through descriptors only: the launcher's view of /tmp is its session by then */
	lt_remove_tree_at(im->unsquash_parent, lt_path_basename(im->unsquashed));
	close(im->unsquash_parent);
	im->unsquash_parent = -1;
}

static int unsquash(rt_ctx *c, image_src *im, lt_error **err)
{
	const char *tmp = lt_env_nonempty("LITHO_TMPDIR");
	if (tmp == NULL)
		tmp = lt_env_nonempty("APPTAINER_TMPDIR");
	if (tmp == NULL)
		tmp = lt_env_nonempty("TMPDIR");
	if (tmp == NULL)
		tmp = "/tmp";
	char *base = lt_strdup_printf("%s/litho-unsquash-XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		int e = errno;
		free(base);
		return lt_error_set(err, e, "creating a temporary directory in %s", tmp);
	}
	char *parent = lt_path_dirname(base);
	im->unsquash_parent = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	/* Apptainer's words; where it goes is a debug detail */
	lt_info("Converting SIF file to temporary sandbox...");
	lt_debug("extracting %s to %s", c->image_name, base);
	char *root = lt_path_join(base, "root");
	im->unsquashed = base;
	if (sq_extract(im->sq, root, err) < 0) {
		free(root);
		return -1;
	}
	im->dir_path = root;
	im->is_dir = true;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct waiter {
	pid_t payload;
	int error_fd; /* read end: the container's setup error, EOF once it execs */
	char *error;  /* setup error message */
	int status;   /* wait status of the payload */
	int phase_fd; /* read end: the end of the environment phase (timeout.c) */
	uint64_t phase_us;
	struct rt_fuse *fuse;
	bool stragglers;
} waiter;

/* Children of this process other than the payload: orphans the subreaper adopted. */
static size_t list_children(pid_t self, pid_t *out, size_t max)
{
	rt_proc *v = NULL;
	size_t all = rt_procs_list(&v), n = 0;
	for (size_t i = 0; i < all && n < max; i++)
		if (v[i].ppid == self)
			out[n++] = v[i].pid;
	free(v);
	return n;
}

/* Processes the payload left behind would crash once the image goes away: end them first. */
static void terminate_stragglers(waiter *w)
{
	pid_t self = getpid(), pids[1024];
	struct timespec step = {0, 20 * 1000 * 1000};
	for (int round = 0; round < 100; round++) {
		pid_t r;
		while ((r = waitpid(-1, NULL, WNOHANG)) > 0) {
		}
		if (r < 0 && errno == ECHILD)
			return; /* no process of the container is left */
		size_t n = list_children(self, pids, LT_ARRAY_SIZE(pids));
		if (n == 0)
			return;
		if (round == 0)
			lt_verbose("%zu process(es) started in the container are still running; "
				   "terminating them",
				   n);
		w->stragglers = true;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], round < 50 ? SIGTERM : SIGKILL);
		nanosleep(&step, NULL);
	}
}

static void *wait_payload(void *arg)
{
	waiter *w = arg;
	char buf[4096];
	ssize_t n, total = 0;
	while ((n = read(w->error_fd, buf + total, sizeof(buf) - 1 - (size_t)total)) > 0 &&
	       total < (ssize_t)sizeof(buf) - 1)
		total += n;
	if (total > 0) {
		buf[total] = '\0';
		w->error = lt_xstrdup(buf);
	}
	lt_debug("%.2f ms: the container runs", launch_ms());
	char *timeout = rt_phase_wait(w->payload, w->phase_fd, w->phase_us);
	if (timeout != NULL) {
		free(w->error);
		w->error = timeout;
	}
	while (waitpid(w->payload, &w->status, 0) < 0 && errno == EINTR) {
	}
	payload_pid = 0;
	lt_debug("%.2f ms: the payload ended", launch_ms());
	terminate_stragglers(w);
	if (w->fuse)
		rt_fuse_stop(w->fuse);
	lt_debug("%.2f ms: cleaned up", launch_ms());
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */

static void ctx_init(rt_ctx *c, const rt_options *o)
{
	c->o = o;
	c->uid = getuid();
	c->gid = getgid();
	/* --userns: root takes the unprivileged path too (a user namespace mapping 0 to 0) */
	c->root = c->uid == 0 && !o->userns;
	c->umask = lt_umask();
	struct passwd *pw = getpwuid(c->uid);
	c->user_name = pw ? lt_xstrdup(pw->pw_name) : lt_strdup_printf("uid%u", (unsigned)c->uid);
	c->user_gecos = lt_xstrdup(pw && pw->pw_gecos ? pw->pw_gecos : "");
	c->user_shell = lt_xstrdup(pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
	char buf[4096];
	c->host_cwd = getcwd(buf, sizeof(buf)) ? lt_xstrdup(buf) : NULL;
	size_t n = 0;
	while (environ[n])
		n++;
	c->host_env = lt_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->host_env[i] = lt_xstrdup(environ[i]);
	char *abs = realpath(o->image, NULL);
	c->image_path = abs ? abs : lt_xstrdup(o->image);
	c->image_name = lt_xstrdup(lt_path_basename(c->image_path));

	const char *home = getenv("HOME");
	if (home == NULL || *home == '\0')
		home = pw ? pw->pw_dir : "/";
	bool contain = o->contain || o->containall;
	/* Apptainer's --fakeroot binds the caller's home on root's, /root */
	const char *home_inside = o->fakeroot ? "/root" : home;
	if (o->home != NULL) {
		const char *colon = strchr(o->home, ':');
		c->home_src =
		    colon ? lt_xstrndup(o->home, (size_t)(colon - o->home)) : lt_xstrdup(o->home);
		c->home_dst = lt_xstrdup(colon ? colon + 1 : c->home_src);
	} else if (!o->no_home && !o->build_config) {
		c->home_src = contain ? NULL : lt_xstrdup(home);
		c->home_dst = lt_xstrdup(home_inside);
	} else {
		c->home_dst = lt_xstrdup(home_inside);
	}
	if (o->writable && o->writable_tmpfs)
		lt_warn("--writable-tmpfs is ignored with --writable");
	c->writable_tmpfs = o->writable_tmpfs && !o->writable;
	c->idmap_ready_fd = c->idmap_go_fd = -1;
	c->phase_fd = c->phase_sh_fd = -1;
	/* APPTAINER_BIND as Apptainer sets it: the user binds */
	char *list = lt_xstrdup("");
	for (size_t i = 0; i < o->n_binds; i++) {
		char *next = lt_strdup_printf("%s%s%s:%s%s", list, i ? "," : "", o->binds[i].src,
					      o->binds[i].dst, o->binds[i].ro ? ":ro" : "");
		free(list);
		list = next;
	}
	c->bind_list = list;
}

static void ctx_free(rt_ctx *c)
{
	free(c->user_name);
	free(c->user_gecos);
	free(c->user_shell);
	free(c->host_cwd);
	lt_strv_free(c->host_env);
	free(c->image_path);
	free(c->image_name);
	free(c->home_src);
	free(c->home_dst);
	free(c->bind_list);
	free(c->env_file_data);
	free(c->session);
	free(c->image_mount);
	free(c->newuidmap);
	free(c->newgidmap);
	free(c->seccomp_prog);
	free(c->payload_groups);
}

/* Ends the launcher the way the payload ended: same exit code, or death by the same
 * signal (so that a shell sees "killed by SIGTERM"). */
static int pass_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		rt_raise_like(sig);
		return 128 + sig;
	}
	return 255;
}

int rt_launch(const rt_options *o, int *status, lt_error **err)
{
	rt_ctx c;
	memset(&c, 0, sizeof(c));
	launch_ms();
	ctx_init(&c, o);
	image_src im = {.fd = -1, .unsquash_parent = -1};
	struct rt_fuse *fuse = NULL;
	int rc = -1;

	if (rt_ns_resolve(&c, err) < 0 || rt_privs_resolve(&c, err) < 0 ||
	    rt_phase_resolve(&c, err) < 0)
		goto out;
	if (o->env_file && lt_read_file(o->env_file, &c.env_file_data, NULL, err) < 0)
		goto out;
	if (open_image(&c, &im, err) < 0)
		goto out;
	if (o->writable && !im.is_dir) {
		lt_error_set(err, 0,
			     "%s is a SIF image: its SquashFS is read-only; use --writable-tmpfs, "
			     "or build a sandbox",
			     o->image);
		goto out;
	}
	if (rt_fakeroot_choose(&c, err) < 0)
		goto out;
	if (!im.is_dir) {
		bool use_fuse = !o->unsquash;
		char *reason = NULL;
		if (use_fuse && !c.root && !rt_fuse_usable(&reason)) {
			lt_warn(
			    "%s; extracting the image to a temporary sandbox instead (--unsquash)",
			    reason);
			use_fuse = false;
		}
		free(reason);
		if (!use_fuse && unsquash(&c, &im, err) < 0)
			goto out;
	}
	if (prepare_session(&c, err) < 0 || enter_outer_namespace(&c, err) < 0 ||
	    mount_session(&c, err) < 0)
		goto out;
	if (rt_privs_nnp(&c) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		lt_error_set(err, errno, "PR_SET_NO_NEW_PRIVS");
		goto out;
	}
	if (im.is_dir) {
		/* read-only like a SIF unless --writable: a sandbox is not changed by running it */
		if (mount(im.dir_path, c.image_mount, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, c.image_mount, NULL,
			  MS_REMOUNT | MS_BIND | (o->writable ? 0 : MS_RDONLY) |
			      (rt_privs_nnp(&c) ? MS_NOSUID : 0) | rt_locked_flags(c.image_mount),
			  NULL) < 0) {
			lt_error_set(err, errno, "binding the sandbox %s", c.image_path);
			goto out;
		}
	} else {
		int r = -1;
		if (c.root) {
			lt_error *loop_err = NULL;
			r = rt_loop_mount(im.fd, im.offset, im.size, c.image_mount,
					  !o->allow_setuid, &loop_err);
			if (r < 0) {
				lt_verbose("%s; serving the image with FUSE instead",
					   loop_err->message);
				lt_error_free(&loop_err);
			}
		}
		if (r < 0 && rt_fuse_mount(im.sq, c.image_mount, !c.root,
					   c.fakeroot == RT_FAKEROOT_SUBID, &fuse, err) < 0)
			goto out;
	}

	lt_debug("%.2f ms: image mounted", launch_ms());
	int pipefd[2], phase[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		lt_error_set(err, errno, "pipe");
		goto out;
	}
	if (pipe2(phase, O_CLOEXEC) < 0) {
		lt_error_set(err, errno, "pipe");
		close_fds(pipefd, 2);
		goto out;
	}
	c.phase_fd = phase[1];
	/* RT_FAKEROOT_SUBID: the container process asks for its id maps on ready[] and waits
	 * for them on go[] */
	int ready[2] = {-1, -1}, go[2] = {-1, -1};
	if (c.fakeroot == RT_FAKEROOT_SUBID &&
	    (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)) {
		lt_error_set(err, errno, "pipe");
		close_fds((int[]){pipefd[0], pipefd[1], phase[0], phase[1], ready[0], ready[1],
				  go[0], go[1]},
			  8);
		goto out;
	}
	c.idmap_ready_fd = ready[1];
	c.idmap_go_fd = go[0];
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigset_t old;
	block_forwarded(&old);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		lt_error_set(err, errno, "fork");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		close_fds((int[]){pipefd[0], pipefd[1], phase[0], phase[1], ready[0], ready[1],
				  go[0], go[1]},
			  8);
		goto out;
	}
	if (pid == 0) {
		close_fds((int[]){pipefd[0], phase[0], ready[0], go[1]}, 4);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		rt_container_main(&c, pipefd[1]);
	}
	close_fds((int[]){pipefd[1], phase[1], ready[1], go[0]}, 4);
	if (c.fakeroot == RT_FAKEROOT_SUBID) {
		int r = rt_subid_map_child(&c, pid, ready[0], go[1], err);
		close_fds((int[]){ready[0], go[1]}, 2);
		if (r < 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
			}
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			close_fds((int[]){pipefd[0], phase[0]}, 2);
			goto out;
		}
	}
	payload_pid = pid;
	install_forwarding();
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	waiter w = {.payload = pid,
		    .error_fd = pipefd[0],
		    .phase_fd = phase[0],
		    .phase_us = c.phase_us,
		    .fuse = fuse};
	pthread_t thread;
	if (pthread_create(&thread, NULL, wait_payload, &w) != 0) {
		wait_payload(&w);
	} else {
		if (fuse != NULL)
			rt_fuse_serve(fuse);
		pthread_join(thread, NULL);
	}
	close_fds((int[]){pipefd[0], phase[0]}, 2);
	lt_debug("%.2f ms: FUSE server stopped", launch_ms());
	if (w.error != NULL) {
		lt_error_set(err, 0, "%s", w.error);
		free(w.error);
		goto out;
	}
	rc = 0;
	rt_fuse_free(fuse);
	fuse = NULL;
	remove_unsquashed(&im);
	*status = pass_status(w.status);
out:
	rt_fuse_free(fuse);
	if (im.sq)
		sq_image_close(im.sq);
	if (im.fd >= 0)
		close(im.fd);
	remove_unsquashed(&im);
	free(im.unsquashed);
	free(im.dir_path);
	ctx_free(&c);
	if (rc < 0)
		lt_error_wrap(err, "running %s", o->image);
	return rc;
}
