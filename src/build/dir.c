/* Directory (sandbox) sources: the tree is read from the host with lstat-style calls that never
 * follow symlinks, hard links are found by device and inode number, and file bytes are read
 * during pass 2 (TREE_SRC_PATH). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "build_internal.h"

typedef struct seen_inode {
	dev_t dev;
	ino_t ino;
	tree_inode *inode;
} seen_inode;

typedef struct dir_scan {
	build_ctx *c;
	seen_inode *seen; /* open addressing on (dev, ino) of files with st_nlink > 1 */
	size_t cap_seen, n_seen;
	size_t dropped_xattrs;
} dir_scan;

static size_t seen_slot(const dir_scan *s, dev_t dev, ino_t ino)
{
	uint64_t h =
	    ((uint64_t)dev * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)ino * 0xC2B2AE3D27D4EB4FULL);
	return (size_t)(h ^ (h >> 31)) & (s->cap_seen - 1);
}

static tree_inode *seen_find(const dir_scan *s, dev_t dev, ino_t ino)
{
	if (s->cap_seen == 0)
		return NULL;
	for (size_t i = seen_slot(s, dev, ino);; i = (i + 1) & (s->cap_seen - 1)) {
		if (s->seen[i].inode == NULL)
			return NULL;
		if (s->seen[i].dev == dev && s->seen[i].ino == ino)
			return s->seen[i].inode;
	}
}

static void seen_add(dir_scan *s, dev_t dev, ino_t ino, tree_inode *inode)
{
	if ((s->n_seen + 1) * 2 >= s->cap_seen) {
		seen_inode *old = s->seen;
		size_t old_cap = s->cap_seen;
		s->cap_seen = old_cap ? old_cap * 2 : 256;
		s->seen = lt_xcalloc(s->cap_seen, sizeof(*s->seen));
		s->n_seen = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].inode != NULL)
				seen_add(s, old[i].dev, old[i].ino, old[i].inode);
		free(old);
	}
	size_t i = seen_slot(s, dev, ino);
	while (s->seen[i].inode != NULL)
		i = (i + 1) & (s->cap_seen - 1);
	s->seen[i] = (seen_inode){dev, ino, inode};
	s->n_seen++;
}

static void read_xattrs(dir_scan *s, const char *path, tree_inode *ino)
{
	char names[65536];
	ssize_t n = llistxattr(path, names, sizeof(names));
	if (n <= 0)
		return;
	for (char *k = names; k < names + n; k += strlen(k) + 1) {
		if (!(lt_str_has_prefix(k, "user.") || lt_str_has_prefix(k, "trusted.") ||
		      lt_str_has_prefix(k, "security.")) ||
		    strcmp(k, "security.selinux") == 0) {
			s->dropped_xattrs++;
			continue;
		}
		char value[65536];
		ssize_t len = lgetxattr(path, k, value, sizeof(value));
		if (len >= 0)
			tree_inode_set_xattr(ino, k, value, (size_t)len);
	}
}

static tree_inode *inode_from_stat(const struct stat *st, const char *path, lt_error **err)
{
	enum tree_ftype type;
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		type = TREE_FT_REG;
		break;
	case S_IFDIR:
		type = TREE_FT_DIR;
		break;
	case S_IFLNK:
		type = TREE_FT_SYMLINK;
		break;
	case S_IFCHR:
		type = TREE_FT_CHR;
		break;
	case S_IFBLK:
		type = TREE_FT_BLK;
		break;
	case S_IFIFO:
		type = TREE_FT_FIFO;
		break;
	default:
		type = TREE_FT_SOCK;
		break;
	}
	tree_inode *ino = tree_inode_new(type);
	ino->mode = st->st_mode & 07777;
	ino->uid = st->st_uid;
	ino->gid = st->st_gid;
	ino->mtime = st->st_mtim.tv_sec;
	if (type == TREE_FT_REG) {
		ino->size = (uint64_t)st->st_size;
		if (ino->size > 0) {
			ino->src = TREE_SRC_PATH;
			ino->src_path = lt_xstrdup(path);
		}
	} else if (type == TREE_FT_SYMLINK) {
		size_t cap = (size_t)st->st_size + 1;
		char *target = lt_xmalloc(cap + 1);
		ssize_t n = readlink(path, target, cap);
		if (n < 0) {
			lt_error_set(err, errno, "reading the symlink %s", path);
			free(target);
			free(ino);
			return NULL;
		}
		target[n] = '\0';
		ino->symlink = target;
		ino->size = (uint64_t)n;
	} else if (type == TREE_FT_CHR || type == TREE_FT_BLK) {
		ino->rdev_major = major(st->st_rdev);
		ino->rdev_minor = minor(st->st_rdev);
	}
	return ino;
}

static int scan_dir(dir_scan *s, const char *host, tree_node *dir, int depth, lt_error **err)
{
	if (depth > 2048)
		return lt_error_set(err, 0, "%s: directories nested too deeply", host);
	DIR *d = opendir(host);
	if (d == NULL)
		return lt_error_set(err, errno, "reading the directory %s", host);
	lt_strv names = {0};
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		lt_strv_add(&names, de->d_name);
	}
	int rc = errno ? lt_error_set(err, errno, "reading the directory %s", host) : 0;
	closedir(d);
	/* sorted so that hard links always get the same first name */
	lt_strv_sort(&names);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *path = lt_path_join(host, names.v[i]);
		struct stat st;
		if (lstat(path, &st) < 0) {
			rc = lt_error_set(err, errno, "%s", path);
		} else if (S_ISSOCK(st.st_mode)) {
			lt_verbose("%s: sockets cannot be stored in an image, skipped", path);
		} else if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
			   seen_find(s, st.st_dev, st.st_ino) != NULL) {
			tree_add(s->c->tree, dir, names.v[i], seen_find(s, st.st_dev, st.st_ino));
		} else {
			tree_inode *ino = inode_from_stat(&st, path, err);
			if (ino == NULL) {
				rc = -1;
			} else {
				read_xattrs(s, path, ino);
				tree_node *node = tree_add(s->c->tree, dir, names.v[i], ino);
				if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
					seen_add(s, st.st_dev, st.st_ino, ino);
				if (S_ISDIR(st.st_mode))
					rc = scan_dir(s, path, node, depth + 1, err);
			}
		}
		free(path);
	}
	lt_strv_clear(&names);
	return rc;
}

int build_dir_scan(build_ctx *c, const char *root, lt_error **err)
{
	struct stat st;
	if (lstat(root, &st) < 0)
		return lt_error_set(err, errno, "%s", root);
	tree_inode *ri = tree_root(c->tree)->inode;
	ri->mode = st.st_mode & 07777;
	ri->uid = st.st_uid;
	ri->gid = st.st_gid;
	ri->mtime = st.st_mtim.tv_sec;
	dir_scan s = {.c = c};
	read_xattrs(&s, root, ri);
	int rc = scan_dir(&s, root, tree_root(c->tree), 0, err);
	c->report->dropped_xattrs += s.dropped_xattrs;
	free(s.seen);
	return rc;
}
