/* runtime: running SIF images (and sandbox directories) without root, the way Apptainer does:
 * a user and mount namespace with the caller's own uid inside, the SquashFS partition served
 * by an in-process FUSE server (or, as root, a loop device and the kernel's SquashFS), host
 * directories bound in, the image's environment scripts sourced, then the action (exec, run,
 * shell, test) in place of the launcher's child.
 *
 * The launcher stays behind as the FUSE server, forwards signals, and exits with the
 * payload's status (or dies of the same signal). Processes the payload leaves running are
 * terminated before the image goes away; nothing stays mounted on the host.
 */
#ifndef LITHO_RUNTIME_H
#define LITHO_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"

enum rt_action { RT_EXEC, RT_RUN, RT_SHELL, RT_TEST };

typedef struct rt_bind {
	char *src; /* host path */
	char *dst; /* path in the container */
	bool ro;
} rt_bind;

typedef struct rt_options {
	enum rt_action action;
	const char *image; /* SIF file or sandbox directory */
	char **args;	   /* exec: command and arguments; run/test/shell: arguments */
	size_t n_args;

	rt_bind *binds; /* -B/--bind, --mount, APPTAINER_BIND/LITHO_BIND, in that order */
	size_t n_binds;
	const char *home;    /* -H/--home "src[:dst]", NULL = the caller's $HOME */
	bool no_home;	     /* --no-home */
	bool contain;	     /* -c/--contain: minimal /dev, empty /tmp, /var/tmp, home */
	bool containall;     /* -C/--containall: contain + cleanenv + ipc + pid */
	bool cleanenv;	     /* -e/--cleanenv */
	bool writable_tmpfs; /* --writable-tmpfs */
	uint64_t tmpfs_size; /* size of --writable-tmpfs and of the session tmpfs, bytes */
	bool no_umask;	     /* --no-umask: 0022 instead of the caller's */
	bool no_eval;	     /* --no-eval: no shell evaluation of APPTAINERENV_ values/args */
	bool unsquash;	     /* --unsquash: extract to a temporary sandbox instead of mounting */
	const char *pwd;     /* --pwd: working directory inside */
	char **env;	     /* --env K=V, in order */
	size_t n_env;
	const char *env_file; /* --env-file */
	char **no_mount;      /* --no-mount items: proc sys dev devpts home tmp hostfs cwd
				 bind-paths or an absolute path */
	size_t n_no_mount;
	const char *app;   /* --app NAME (SCIF) */
	const char *shell; /* --shell for `shell` */

	/* -w/--writable: a sandbox directory is mounted read-write (SIF images are refused with an
	 * error; --writable-tmpfs is the way to write to those). Mount points the image lacks are
	 * made in it only for what every root filesystem has (/proc, /tmp ...) and for -B
	 * destinations; the home and working directories and the host files bound by default are
	 * then left out. */
	bool writable;
	/* -f/--fakeroot: uid and gid 0 inside. As root: real root (no user namespace). As a user:
	 * a root-mapped user namespace; the user's /etc/subuid and /etc/subgid ranges are mapped
	 * to 1..N through newuidmap/newgidmap when both exist, otherwise only the user is mapped
	 * (to 0) and a seccomp filter makes the chown and setuid families and the mknod of devices
	 * succeed without effect (runtime.md §6), so that package managers work. */
	bool fakeroot;
	/* Apptainer's --build-config, what a def-file build runs %post and %test with: no home,
	 * no current directory, /tmp and /var/tmp private to the run instead of the host's, no
	 * default binds (/etc/localtime); session copies of the host's /etc/resolv.conf and
	 * /etc/hosts are bound (made in a --writable image when it lacks them, as Apptainer's
	 * build skeleton has them). */
	bool build_config;

	/* Namespaces (namespaces.c). --containall implies pid and ipc; no_pid wins over pid,
	 * --containall and --compat (what Apptainer documents; its code ignores --no-pid). */
	bool pid;	      /* -p/--pid: a PID namespace with a small init as PID 1 */
	bool no_pid;	      /* --no-pid */
	bool no_init;	      /* --no-init: the payload itself is PID 1 */
	bool ipc;	      /* -i/--ipc */
	bool uts;	      /* --uts (implied by hostname) */
	const char *hostname; /* --hostname NAME */
	bool net;	      /* -n/--net */
	const char *network;  /* --network TYPE[,TYPE]: only "none" (loopback only) */
	bool userns;	      /* -u/--userns: the unprivileged path even as root */

	/* Privileges (privs.c) */
	bool allow_setuid;     /* --allow-setuid: root only, no nosuid, no NO_NEW_PRIVS */
	bool keep_privs;       /* --keep-privs: root only, full capabilities */
	bool no_privs;	       /* --no-privs: no capabilities at all */
	const char *add_caps;  /* --add-caps a,b */
	const char *drop_caps; /* --drop-caps a,b */
	const char **security; /* --security uid:N, gid:N[:N...] */
	size_t n_security;

	/* Scratch space */
	const char *workdir;  /* -W/--workdir: backs --contain's /tmp, /var/tmp, home, --scratch */
	const char **scratch; /* -S/--scratch DIRs inside */
	size_t n_scratch;
	bool underlay; /* --underlay (litho always makes missing mount points so) */

	char **no_env; /* --no-env / APPTAINER_NOENV: host variables not passed */
	size_t n_no_env;
	/* --runscript-timeout, a Go duration ("90s", "1m30s"): how long the environment phase
	 * (the image's env scripts, up to the payload's exec) may take; NULL = one minute */
	const char *runscript_timeout;
} rt_options;

/* Runs the action. On success *status is what the launcher should exit with: the payload's
 * exit code, or 128 + signal after the launcher has re-raised the payload's fatal signal (which
 * normally does not return). Errors before the payload starts (bad image, namespaces refused,
 * no FUSE ...) come back as -1 with a diagnostic. */
int rt_launch(const rt_options *opts, int *status, lt_error **err);

/* Fake root for the whole calling process (a definition-file build by a normal user): it enters
 * a new user and mount namespace as uid and gid 0, with the caller's /etc/subuid and
 * /etc/subgid ranges mapped to 1..N through newuidmap/newgidmap when allowed and it has them
 * (*subids true: owners are kept), otherwise only the caller. Call it before any thread starts.
 * rt_launch() with fakeroot then runs as that root and adds the seccomp filter where ids are
 * missing. */
int rt_fakeroot_enter(bool allow_subids, bool *subids, lt_error **err);
/* For a host program run under that fake root (debootstrap, a build's %setup), in the child
 * before exec: the same seccomp filter (chown, setuid and device mknod faked with one id;
 * device mknod only with subordinate ids); nothing outside a user namespace. */
int rt_fakeroot_host_filter(lt_error **err);

/* Parses one -B/--bind value "src[:dst[:ro|rw]][,src2...]" (appending to *binds); "\," and
 * "\:" are a comma and a colon of a path. */
int rt_parse_binds(const char *spec, rt_bind **binds, size_t *n, lt_error **err);
/* Parses a --mount value "type=bind,source=/a,destination=/b[,readonly]". */
int rt_parse_mount(const char *spec, rt_bind **binds, size_t *n, lt_error **err);
void rt_binds_free(rt_bind *binds, size_t n);

/* ---------------------------------------------------------------------------------------------
 * inspect: an image's metadata (labels, definition file, runscript, startscript, test,
 * environment scripts, help, SCIF apps) as `apptainer inspect` and `apptainer run-help` print
 * it, read without mounting anything: from the SIF (its inspect-metadata.json and Def.FILE
 * objects, else the files in the SquashFS partition), from a bare SquashFS file, or from a
 * sandbox directory.
 */
typedef struct rt_inspect_opts {
	bool labels;	  /* -l (also the default when nothing else is asked for) */
	bool deffile;	  /* -d */
	bool runscript;	  /* -r */
	bool startscript; /* -s */
	bool test;	  /* -t */
	bool environment; /* -e */
	bool helpfile;	  /* -H */
	bool json;	  /* -j */
	bool all;	  /* --all: everything, as JSON (--app is ignored) */
	bool list_apps;	  /* --list-apps */
	const char *app;  /* --app NAME, or NULL */
} rt_inspect_opts;

/* Prints what `apptainer inspect` prints for these options. Errors (no such image, not an
 * image, no partition to read from) come back as -1; problems Apptainer only warns about
 * (unreadable labels, a missing Def.FILE) are warnings. */
int rt_inspect(FILE *out, const char *image, const rt_inspect_opts *o, lt_error **err);

/* `apptainer run-help`: the help text of the image (or app), else "No help sections were
 * defined for this image". */
int rt_run_help(FILE *out, const char *image, const char *app, lt_error **err);
/* Linux capabilities by Apptainer's names (CAP_CHOWN ...), in number order. */
size_t rt_cap_count(void);
const char *rt_cap_name(size_t i);
const char *rt_cap_description(size_t i);
/* " chown", "cap_Chown" -> "CAP_CHOWN" (a new string); rt_cap_lookup: its number, -1 when
 * unknown. */
char *rt_cap_normalize(const char *name);
int rt_cap_lookup(const char *normalized);

#endif
