/* Private to the runtime module: what the launch steps share. */
#ifndef LITHO_RUNTIME_INTERNAL_H
#define LITHO_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "runtime.h"

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
	char *container_cwd; /* where the payload starts */
	char *bind_list;     /* APPTAINER_BIND value: the user binds, comma separated */
	bool has_sh;	     /* the image has /bin/sh (checked inside, after pivot_root) */
	bool root;	     /* litho runs as root: no user namespace */
	char *session;	     /* the launcher's session tmpfs (a per-user directory under
				$TMPDIR, covered by a tmpfs in the launcher's namespace only) */
	char *image_mount;   /* <session>/image */
	char *env_file_data; /* contents of --env-file, read on the host */
} rt_ctx;

/* The container process: namespaces, mounts, pivot_root, then execve. Never returns: on a
 * setup error it writes the message to error_fd and exits with 255. The image is mounted at
 * <session>/image by the launcher. */
_Noreturn void rt_container_main(rt_ctx *c, int error_fd);

/* preflight.c */
int rt_explain_userns(int e, lt_error **err);
bool rt_fuse_usable(char **reason);

/* passwd.c: the image's passwd/group with the caller's entries (new strings). */
char *rt_make_passwd(const rt_ctx *c, const char *image_passwd);
char *rt_make_group(const rt_ctx *c, const char *image_group);

/* loop.c: as root, mount the SquashFS at offset/size of image_fd on target. */
int rt_loop_mount(int image_fd, uint64_t offset, uint64_t size, const char *target, lt_error **err);

/* fuse.c: the in-process FUSE server. */
struct rt_fuse;
struct sq_image;
int rt_fuse_mount(struct sq_image *img, const char *mountpoint, bool own_all,
		  struct rt_fuse **out, lt_error **err);
int rt_fuse_serve(struct rt_fuse *f);
void rt_fuse_stop(struct rt_fuse *f);
void rt_fuse_free(struct rt_fuse *f);

/* Environment and action (env.c, action.c). Called inside the container after pivot_root,
 * with the working directory set: fills the path, argv and envp for execve. */
int rt_exec_prepare(rt_ctx *c, char **path, char ***argv, char ***envp, lt_error **err);
void rt_strv_free(char **v);

#endif
