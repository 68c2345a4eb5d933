/* Private to the runtime module: what the launch steps share. */
#ifndef LITHO_RUNTIME_INTERNAL_H
#define LITHO_RUNTIME_INTERNAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

/* How --fakeroot gives uid 0 (fakeroot.c). */
enum rt_fakeroot {
	RT_FAKEROOT_NO,
	RT_FAKEROOT_ROOT,    /* the caller is root: nothing to do */
	RT_FAKEROOT_SUBID,   /* /etc/subuid and /etc/subgid ranges through newuidmap/newgidmap */
	RT_FAKEROOT_SECCOMP, /* only the caller mapped, plus the seccomp filter */
};

/* A range of subordinate ids. */
typedef struct rt_idrange {
	unsigned long start, count;
} rt_idrange;

typedef struct rt_ctx {
	const rt_options *o;
	/* the caller */
	uid_t uid;
	gid_t gid;
	char *user_name; /* from the host's passwd, or "uid<N>" */
	char *user_gecos;
	char *user_shell;
	mode_t umask;
	char *host_cwd;	 /* getcwd() at launch, NULL when it failed */
	char **host_env; /* a copy of environ at launch */
	/* the image */
	char *image_path; /* absolute */
	char *image_name; /* basename, what APPTAINER_NAME shows */
	/* decided while mounting */
	char *home_src;	     /* host directory bound as home, NULL with --no-home/contain */
	char *home_dst;	     /* $HOME inside */
	char *bind_list;     /* APPTAINER_BIND value: the user binds, comma separated */
	bool root;	     /* litho runs as root: no user namespace */
	char *session;	     /* the launcher's session tmpfs (a per-user directory under
				$TMPDIR, covered by a tmpfs in the launcher's namespace only) */
	char *image_mount;   /* <session>/image */
	char *env_file_data; /* contents of --env-file, read on the host */
	bool writable_tmpfs; /* --writable-tmpfs, unless --writable overrides it */
	/* --fakeroot */
	enum rt_fakeroot fakeroot;
	rt_idrange subuid, subgid;	 /* RT_FAKEROOT_SUBID */
	char *newuidmap, *newgidmap;	 /* their paths */
	int idmap_ready_fd, idmap_go_fd; /* the container's ends of the id map handshake */
	void *seccomp_prog;		 /* RT_FAKEROOT_SECCOMP: BPF instructions */
	size_t seccomp_len;		 /* in bytes */
	const char *apt_config;		 /* APT_CONFIG inside, NULL when not provided */
	/* namespaces.c: what rt_ns_resolve decided */
	int ns_flags; /* CLONE_NEWPID, NEWIPC, NEWUTS, NEWNET for the container */
	bool init;    /* a PID namespace whose PID 1 is litho's init */
	bool contain; /* --contain, --containall */
	/* privs.c: what rt_privs_resolve decided */
	bool privs_set;	   /* capabilities to set before the payload runs */
	uint64_t caps;	   /* their set */
	bool ids_set;	   /* --security uid/gid */
	uid_t payload_uid; /* the payload's ids inside */
	gid_t payload_gid;
	gid_t *payload_groups; /* --security gid:A:B: the supplementary groups */
	size_t n_payload_groups;
	/* timeout.c: the environment phase (--runscript-timeout) */
	int phase_fd;	   /* the container's end: a byte or EOF ends the phase; -1 = none */
	int phase_sh_fd;   /* the number the action script writes it to (3..9), -1 = none */
	uint64_t phase_us; /* its length */
} rt_ctx;

/* The container process: namespaces, mounts, pivot_root, then execve. Never returns: on a
 * setup error it writes the message to error_fd and exits with 255. The image is mounted at
 * <session>/image by the launcher. */
/* The flags of the mount at path that a remount inside a user namespace must keep (the kernel
 * locks those of mounts that come from a more privileged namespace). */
unsigned long rt_locked_flags(const char *path);
/* Writes data to a /proc file (uid_map, setgroups...) in one write, as the kernel wants. */
int rt_write_proc(const char *path, const char *data, lt_error **err);
_Noreturn void rt_container_main(rt_ctx *c, int error_fd);
/* exec.c: a setup error of the container: the message to the launcher (error_fd), status
 * 255. */
_Noreturn void rt_fail_v(int error_fd, int e, const char *fmt, va_list ap) LT_PRINTF(3, 0);
/* exec.c: with a PID namespace, forks its PID 1 and returns in it (the caller stays outside
 * as its parent, see rt_relay); after pivot_root, runs the action. */
void rt_pidns_split(rt_ctx *c, int error_fd);
_Noreturn void rt_container_exec(rt_ctx *c, int error_fd);

/* preflight.c */
int rt_explain_userns(int e, lt_error **err);
bool rt_fuse_usable(char **reason);

/* passwd.c: the image's passwd/group with the caller's entries (new strings). */
char *rt_make_passwd(const rt_ctx *c, const char *image_passwd);
char *rt_make_group(const rt_ctx *c, const char *image_group);

/* loop.c: as root, mount the SquashFS at offset/size of image_fd on target (nodev, and nosuid
 * unless --allow-setuid). */
int rt_loop_mount(int image_fd, uint64_t offset, uint64_t size, const char *target, bool nosuid,
		  lt_error **err);

/* fuse.c: the in-process FUSE server. */
struct rt_fuse;
struct sq_image;
int rt_fuse_mount(struct sq_image *img, const char *mountpoint, bool own_all, bool allow_other,
		  struct rt_fuse **out, lt_error **err);
int rt_fuse_serve(struct rt_fuse *f);
void rt_fuse_stop(struct rt_fuse *f);
void rt_fuse_free(struct rt_fuse *f);

/* fakeroot.c */
extern const char rt_apt_config[];	/* the file's contents */
extern const char rt_apt_config_path[]; /* where it is inside */
/* Decides c->fakeroot for the caller (and builds the seccomp filter when it is needed). */
int rt_fakeroot_choose(rt_ctx *c, lt_error **err);
/* The first range of `user` (by name or uid `id`) in a subuid/subgid file's text: 1 when found,
 * 0 when not. rt_subid_read reads the file (a missing file has no ranges; -1 on read errors). */
int rt_subid_find(const char *data, const char *user, unsigned long id, rt_idrange *out);
int rt_subid_read(const char *path, const char *user, unsigned long id, rt_idrange *out,
		  lt_error **err);
/* uid_map/gid_map text: the launcher's namespace ("0 own 1" and "1 start count" with a range)
 * and the container's nested one (the launcher's ids one to one). */
char *rt_idmap_text(unsigned long own, const rt_idrange *sub);
char *rt_idmap_inner_text(const rt_idrange *sub);
/* RT_FAKEROOT_SUBID: unshare(CLONE_NEWUSER | CLONE_NEWNS) for the launcher, whose maps a helper
 * left in the host's namespace writes with newuidmap/newgidmap. */
int rt_subid_unshare(rt_ctx *c, lt_error **err);
/* The launcher's side of the container's handshake: waits until the child has its namespace,
 * writes its maps, lets it go on. 0 without writing when the child died first. */
int rt_subid_map_child(const rt_ctx *c, pid_t pid, int ready_fd, int go_fd, lt_error **err);
/* The seccomp filter as a BPF program (malloc'ed), and its installation (after
 * PR_SET_NO_NEW_PRIVS; -1 with errno). */
int rt_seccomp_build(void **prog, size_t *len, bool devices_only, lt_error **err);
/* Looks up the caller's subordinate ids and the map tools: true (c->fakeroot = SUBID, ranges
 * and tool paths set) when they can be used. */
bool rt_subid_usable(rt_ctx *c);

/* fakeroot_process.c: which ids the current user namespace maps. */
enum rt_ns_ids {
	RT_NS_INITIAL, /* the host's namespace (or one mapping everything) */
	RT_NS_SINGLE,  /* one id */
	RT_NS_MANY,    /* several ranges (subordinate ids) */
};
enum rt_ns_ids rt_ns_mapped_ids(void);
int rt_seccomp_apply(const void *prog, size_t len);

/* namespaces.c */
/* Decides c->ns_flags and c->init from the options and checks --hostname and --network; the
 * messages are Apptainer's. */
int rt_ns_resolve(rt_ctx *c, lt_error **err);
/* In the container after unshare(c->ns_flags): the host name, the loopback interface. */
int rt_ns_setup(const rt_ctx *c, lt_error **err);
/* Whether name is a host name Apptainer accepts (RFC 1123 labels). */
bool rt_hostname_valid(const char *name);

/* init.c: with all signals blocked before child was forked, relays every signal that was not
 * sent by the kernel (a terminal already signals the whole process group) to child and ends
 * the way child ended. As PID 1 of a namespace (as_init) it also reaps the orphans it adopts
 * and exits 128 + signal when child was killed, like Apptainer's appinit; otherwise it dies of
 * the same signal. */
_Noreturn void rt_relay(pid_t child, bool as_init);
/* fork() with all signals blocked in the parent (for rt_relay), the caller's mask restored in
 * the child, which dies with its parent. */
pid_t rt_fork_relayed(sigset_t *saved);
/* Dies of sig (default action, unblocked, no core file); returns when sig does not kill. */
void rt_raise_like(int sig);

/* procs.c: the machine's processes, from /proc (malloc'ed; free the array). */
typedef struct rt_proc {
	pid_t pid, ppid;
	unsigned long long start; /* clock ticks after boot */
} rt_proc;
size_t rt_procs_list(rt_proc **out);

/* privs.c */
/* Checks and decides the payload's privileges (--allow-setuid, --keep-privs, --no-privs,
 * --add-caps, --drop-caps, --security): Apptainer's messages and warnings. */
int rt_privs_resolve(rt_ctx *c, lt_error **err);
/* Whether the payload runs with PR_SET_NO_NEW_PRIVS: always but for root's --allow-setuid. */
bool rt_privs_nnp(const rt_ctx *c);
/* In the payload's process right before execve: ids and capabilities as decided. */
int rt_privs_apply(const rt_ctx *c, lt_error **err);

/* timeout.c */
/* c->phase_us from --runscript-timeout (default one minute). */
int rt_phase_resolve(rt_ctx *c, lt_error **err);
/* In the launcher once the container has exec'd its first program: waits until the
 * environment phase ends (a byte or EOF on fd, or the payload is gone); after timeout_us it
 * kills the payload and everything it started and returns Apptainer's message (NULL
 * otherwise). */
char *rt_phase_wait(pid_t payload, int fd, uint64_t timeout_us);
/* In the container right before the payload's execve: the shell's copy of the phase's fd. */
void rt_phase_exec(const rt_ctx *c);

/* Environment and action (env.c, action.c). Called inside the container after pivot_root,
 * with the working directory set: fills the path, argv and envp for execve. */
int rt_exec_prepare(rt_ctx *c, char **path, char ***argv, char ***envp, lt_error **err);

#endif
