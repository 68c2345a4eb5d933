/* Sandbox output: an image tree written into a directory on the host.
 *
 * Every name is created while the directories are still private (0700) and owned by the
 * builder; the file bytes arrive through the sink in whatever order the source has them; only
 * then do owners, modes, extended attributes and times go on, directories last (deepest first)
 * so that restrictive modes and mtimes are not disturbed by what is created inside them.
 * Names in the tree are single path components and every parent is a directory created here,
 * so full paths below `dest` never pass through a symlink except where O_NOFOLLOW/AT_SYMLINK_
 * NOFOLLOW guard the last component. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "build_internal.h"

struct build_dir_writer {
	build_ctx *c;
	char *dest;
	bool root;	  /* owners and device nodes can be set */
	tree_node **dirs; /* in pre-order; finished in reverse */
	size_t n_dirs, cap_dirs;
	char **paths; /* first path of each regular file inode (inode->writer_data) */
	size_t n_paths, cap_paths;
	int fd; /* file being fed */
	const char *fd_path;
	uint64_t fd_pos;
	size_t skipped_devices;
	size_t failed_owners;
	size_t failed_xattrs;
	lt_error **err; /* for the tree walks */
};

static char *node_host_path(const build_dir_writer *w, const tree_node *node)
{
	char *rel = tree_node_path(node);
	char *p = *rel ? lt_path_join(w->dest, rel) : lt_xstrdup(w->dest);
	free(rel);
	return p;
}

static void remember_dir(build_dir_writer *w, tree_node *node)
{
	w->dirs = lt_array_grow(w->dirs, sizeof(*w->dirs), w->n_dirs + 1, &w->cap_dirs);
	w->dirs[w->n_dirs++] = node;
}

static void remember_path(build_dir_writer *w, tree_inode *ino, char *path)
{
	w->paths = lt_array_grow(w->paths, sizeof(*w->paths), w->n_paths + 1, &w->cap_paths);
	w->paths[w->n_paths++] = path;
	ino->writer_data = path;
}

static int create_node(tree_node *node, void *arg)
{
	build_dir_writer *w = arg;
	tree_inode *ino = node->inode;
	if (node->parent == NULL) {
		remember_dir(w, node);
		return 0;
	}
	char *path = node_host_path(w, node);
	int rc = 0;
	switch (ino->type) {
	case TREE_FT_DIR:
		if (mkdir(path, 0700) < 0)
			rc = lt_error_set(w->err, errno, "creating %s", path);
		else
			remember_dir(w, node);
		break;
	case TREE_FT_REG:
		if (ino->writer_data != NULL)
			break; /* a further name of a file: linked in _finish, after its bytes */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = lt_error_set(w->err, errno, "creating %s", path);
			break;
		}
		if (ino->size > 0 && ftruncate(fd, (off_t)ino->size) < 0)
			rc = lt_error_set(w->err, errno, "sizing %s", path);
		close(fd);
		if (rc == 0) {
			remember_path(w, ino, path);
			path = NULL;
		}
		break;
	case TREE_FT_SYMLINK:
		if (symlink(ino->symlink ? ino->symlink : "", path) < 0)
			rc = lt_error_set(w->err, errno, "creating the symlink %s", path);
		break;
	case TREE_FT_CHR:
	case TREE_FT_BLK:
		if (!w->root) {
			w->skipped_devices++;
			break;
		}
		mode_t type = ino->type == TREE_FT_CHR ? S_IFCHR : S_IFBLK;
		/* root in a user namespace may not create devices (EPERM) */
		if (mknod(path, type | 0600, makedev(ino->rdev_major, ino->rdev_minor)) < 0) {
			if (errno == EPERM)
				w->skipped_devices++;
			else
				rc = lt_error_set(w->err, errno, "creating the device %s", path);
		}
		break;
	case TREE_FT_FIFO:
		if (mkfifo(path, 0600) < 0)
			rc = lt_error_set(w->err, errno, "creating the fifo %s", path);
		break;
	case TREE_FT_SOCK:
		break; /* a socket file means nothing without its listener */
	}
	free(path);
	return rc;
}

/* Owner, xattrs, mode and times of one name; symlinks get owner and times only. */
static int apply_attrs(build_dir_writer *w, const char *path, const tree_inode *ino)
{
	bool link = ino->type == TREE_FT_SYMLINK;
	if (w->root && lchown(path, ino->uid, ino->gid) < 0) {
		/* EINVAL: root in a user namespace without that id in its map */
		if (errno != EINVAL && errno != EPERM)
			return lt_error_set(w->err, errno, "setting the owner of %s", path);
		w->failed_owners++;
	}
	for (size_t i = 0; i < ino->n_xattrs; i++) {
		const tree_xattr *x = &ino->xattrs[i];
		/* security.* and trusted.* need privileges the builder may lack; the image stays
		 * usable without them, so they are counted rather than fatal. */
		if (lsetxattr(path, x->key, x->value, x->len, 0) < 0)
			w->failed_xattrs++;
	}
	/* after chown, which clears set-id bits */
	if (!link && chmod(path, ino->mode & 07777) < 0)
		return lt_error_set(w->err, errno, "setting the mode of %s", path);
	struct timespec t[2] = {{.tv_sec = ino->mtime}, {.tv_sec = ino->mtime}};
	if (utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW) < 0)
		return lt_error_set(w->err, errno, "setting the times of %s", path);
	return 0;
}

static int finish_node(tree_node *node, void *arg)
{
	build_dir_writer *w = arg;
	tree_inode *ino = node->inode;
	if (ino->type == TREE_FT_DIR || ino->type == TREE_FT_SOCK)
		return 0;
	char *path = node_host_path(w, node);
	struct stat st;
	if ((ino->type == TREE_FT_CHR || ino->type == TREE_FT_BLK) && lstat(path, &st) < 0) {
		free(path); /* left out */
		return 0;
	}
	int rc = 0;
	const char *first = ino->type == TREE_FT_REG ? ino->writer_data : NULL;
	if (first != NULL && strcmp(first, path) != 0) {
		if (link(first, path) < 0)
			rc = lt_error_set(w->err, errno, "linking %s to %s", path, first);
	} else {
		rc = apply_attrs(w, path, ino);
	}
	free(path);
	return rc;
}

static bool dir_has_data(void *ctx, const tree_inode *ino)
{
	return ino->written;
}

static int dir_begin(void *ctx, tree_inode *ino, lt_error **err)
{
	build_dir_writer *w = ctx;
	w->fd_path = ino->writer_data;
	if (w->fd_path == NULL)
		return lt_error_set(err, 0, "%s: a file was fed that the tree does not hold",
				    w->dest);
	w->fd = open(w->fd_path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (w->fd < 0)
		return lt_error_set(err, errno, "opening %s", w->fd_path);
	w->fd_pos = 0;
	ino->written = true;
	return 0;
}

static int dir_append(void *ctx, const void *data, size_t len, lt_error **err)
{
	build_dir_writer *w = ctx;
	if (lt_pwrite_all(w->fd, data, len, (off_t)w->fd_pos, w->fd_path, err) < 0)
		return -1;
	w->fd_pos += len;
	return 0;
}

static int dir_zeros(void *ctx, uint64_t len, lt_error **err)
{
	/* the file was sized at creation: skipping leaves a hole */
	((build_dir_writer *)ctx)->fd_pos += len;
	return 0;
}

static int dir_end(void *ctx, lt_error **err)
{
	build_dir_writer *w = ctx;
	int rc = close(w->fd);
	w->fd = -1;
	if (rc < 0)
		return lt_error_set(err, errno, "writing %s", w->fd_path);
	return 0;
}

void build_dir_writer_sink(build_dir_writer *w, build_sink *sink)
{
	*sink = (build_sink){.ctx = w,
			     .has_data = dir_has_data,
			     .begin_file = dir_begin,
			     .append = dir_append,
			     .append_zeros = dir_zeros,
			     .end_file = dir_end};
}

int build_dir_writer_new(build_ctx *c, const char *dest, build_dir_writer **out, lt_error **err)
{
	*out = NULL;
	build_dir_writer *w = lt_xcalloc(1, sizeof(*w));
	w->c = c;
	w->dest = lt_xstrdup(dest);
	w->root = geteuid() == 0;
	w->fd = -1;
	w->err = err;
	tree_sort(c->tree);
	if (tree_walk(c->tree, create_node, w) != 0) {
		build_dir_writer_free(w);
		return -1;
	}
	*out = w;
	return 0;
}

int build_dir_writer_finish(build_dir_writer *w, lt_error **err)
{
	w->err = err;
	if (tree_walk(w->c->tree, finish_node, w) != 0)
		return -1;
	for (size_t i = w->n_dirs; i-- > 0;) {
		char *path = node_host_path(w, w->dirs[i]);
		int rc = apply_attrs(w, path, w->dirs[i]->inode);
		free(path);
		if (rc < 0)
			return -1;
	}
	if (w->skipped_devices > 0)
		lt_warn("%s: %zu device node(s) left out: creating them needs root", w->dest,
			w->skipped_devices);
	if (w->failed_owners > 0)
		lt_warn("%s: the owners of %zu file(s) could not be kept (ids outside this user "
			"namespace)",
			w->dest, w->failed_owners);
	if (w->failed_xattrs > 0)
		lt_verbose("%s: %zu extended attribute(s) could not be set", w->dest,
			   w->failed_xattrs);
	return 0;
}

static int forget_node(tree_node *node, void *arg)
{
	if (node->inode->type == TREE_FT_REG) {
		node->inode->writer_data = NULL;
		node->inode->written = false;
	}
	return 0;
}

void build_dir_writer_free(build_dir_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->n_paths; i++)
		free(w->paths[i]);
	/* the inodes outlive the writer: no dangling pointers into freed paths */
	tree_walk(w->c->tree, forget_node, NULL);
	free(w->paths);
	free(w->dirs);
	free(w->dest);
	free(w);
}
