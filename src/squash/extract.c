/* Path lookups inside an image, and writing an image out as a directory (--unsquash). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "squash_internal.h"

#define MAX_LINKS 40

int sq_resolve(sq_reader *r, const char *path, bool follow, uint64_t *ref, lt_error **err)
{
	/* Walks components from the root keeping the refs (for "..") and names (to rebuild the
	 * directory path a relative symlink target continues from); a symlink restarts the walk
	 * on the rewritten path. */
	enum { MAX_DEPTH = 512 };
	uint64_t *stack = lt_xmalloc(MAX_DEPTH * sizeof(*stack));
	char **names = lt_xcalloc(MAX_DEPTH, sizeof(*names));
	char *cur = lt_xstrdup(path);
	int links = 0, rc = 0;
	size_t depth;
restart:
	for (size_t k = 0; k < MAX_DEPTH; k++) {
		free(names[k]);
		names[k] = NULL;
	}
	depth = 1;
	stack[0] = sq_image_root(sq_reader_image(r));
	for (const char *p = cur; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *comp = lt_xstrndup(p, len);
		p += len;
		const char *rest = p;
		while (*rest == '/')
			rest++;
		bool last = *rest == '\0';
		if (strcmp(comp, ".") == 0 || (strcmp(comp, "..") == 0 && depth == 1)) {
			free(comp);
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			free(comp);
			depth--;
			free(names[depth]);
			names[depth] = NULL;
			continue;
		}
		sq_inode *dir = NULL;
		uint64_t child_ref = 0;
		rc = sq_inode_get(r, stack[depth - 1], &dir, err);
		if (rc == 0)
			rc = sq_inode_is_dir(dir) ? sq_lookup(r, dir, comp, &child_ref, err) : 1;
		sq_inode_free(dir);
		sq_inode *child = NULL;
		if (rc == 0)
			rc = sq_inode_get(r, child_ref, &child, err);
		if (rc != 0) {
			free(comp);
			goto out;
		}
		if (sq_inode_is_symlink(child) && (!last || follow)) {
			free(comp);
			if (++links > MAX_LINKS) {
				sq_inode_free(child);
				rc = lt_error_set(err, ELOOP,
						  "%s: too many levels of symbolic links", path);
				goto out;
			}
			const char *t;
			size_t tl;
			sq_readlink(child, &t, &tl);
			char *target = lt_xstrndup(t, tl);
			sq_inode_free(child);
			char *base = lt_xstrdup("");
			for (size_t k = 1; k < depth && target[0] != '/'; k++) {
				char *b = lt_strdup_printf("%s/%s", base, names[k]);
				free(base);
				base = b;
			}
			char *next = lt_strdup_printf("%s/%s/%s", base, target, rest);
			free(base);
			free(target);
			free(cur);
			cur = next;
			goto restart;
		}
		sq_inode_free(child);
		if (depth >= MAX_DEPTH) {
			free(comp);
			rc = lt_error_set(err, ENAMETOOLONG, "%s: path too deep", path);
			goto out;
		}
		names[depth] = comp;
		stack[depth++] = child_ref;
	}
	*ref = stack[depth - 1];
	rc = 0;
out:
	for (size_t k = 0; k < MAX_DEPTH; k++)
		free(names[k]);
	free(names);
	free(stack);
	free(cur);
	return rc;
}

int sq_read_file(sq_reader *r, const char *path, size_t limit, char **data, size_t *len,
		 lt_error **err)
{
	uint64_t ref = 0;
	int rc = sq_resolve(r, path, true, &ref, err);
	if (rc != 0)
		return rc;
	sq_inode *i = NULL;
	if (sq_inode_get(r, ref, &i, err) < 0)
		return -1;
	if (!sq_inode_is_file(i)) {
		sq_inode_free(i);
		return 1;
	}
	sq_attr a;
	sq_inode_attr(r, i, &a);
	if (a.size > limit) {
		sq_inode_free(i);
		return lt_error_set(err, EFBIG, "%s: /%s is too large (%llu bytes)",
				    sq_image_name(sq_reader_image(r)), path,
				    (unsigned long long)a.size);
	}
	char *buf = lt_xmalloc((size_t)a.size + 1);
	size_t got = 0;
	while (got < a.size) {
		ssize_t n = sq_read(r, i, got, buf + got, (size_t)a.size - got, err);
		if (n < 0) {
			free(buf);
			sq_inode_free(i);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	sq_inode_free(i);
	*data = buf;
	if (len)
		*len = got;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct extract_ctx {
	sq_reader *r;
	bool root;
	size_t skipped_devices;
	lt_error **err;
	/* hard links: inode number -> first path written */
	char **first_path;
	size_t n_numbers;
	char *path; /* current directory, grows and shrinks */
} extract_ctx;

static int set_xattr_cb(void *arg, const char *key, const void *value, size_t len)
{
	const char *path = arg;
	if (lsetxattr(path, key, value, len, 0) < 0)
		lt_debug("%s: cannot set %s: %s", path, key, strerror(errno));
	return 0;
}

static int extract_entry(void *arg, const char *name, uint64_t ref, uint32_t inum, uint32_t type);

static int finish_attrs(extract_ctx *x, const char *path, const sq_inode *i, const sq_attr *a)
{
	/* root of a user namespace lacks most ids (EINVAL): the file stays the builder's */
	if (x->root && lchown(path, a->uid, a->gid) < 0 && errno != EINVAL && errno != EPERM)
		return lt_error_set(x->err, errno, "setting the owner of %s", path);
	if (!S_ISLNK(a->mode) && chmod(path, a->mode & 07777) < 0)
		return lt_error_set(x->err, errno, "setting the mode of %s", path);
	if (sq_xattrs(x->r, i, set_xattr_cb, (void *)path, x->err) < 0)
		return -1;
	struct timespec ts[2] = {{a->mtime, 0}, {a->mtime, 0}};
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int write_file(extract_ctx *x, const char *path, const sq_inode *i, const sq_attr *a)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return lt_error_set(x->err, errno, "creating %s", path);
	char *buf = lt_xmalloc(1 << 20);
	uint64_t off = 0;
	int rc = 0;
	while (off < a->size) {
		ssize_t n = sq_read(x->r, i, off, buf, 1 << 20, x->err);
		if (n <= 0) {
			rc = n < 0 ? -1 : lt_error_set(x->err, EIO, "%s: short file data", path);
			break;
		}
		/* leave holes where the image has zero blocks */
		bool zero = true;
		for (ssize_t k = 0; k < n && zero; k++)
			zero = buf[k] == 0;
		if (!zero && lt_pwrite_all(fd, buf, (size_t)n, (off_t)off, path, x->err) < 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
	}
	if (rc == 0 && ftruncate(fd, (off_t)a->size) < 0)
		rc = lt_error_set(x->err, errno, "writing %s", path);
	free(buf);
	if (close(fd) < 0 && rc == 0)
		rc = lt_error_set(x->err, errno, "writing %s", path);
	return rc;
}

static int extract_dir(extract_ctx *x, const sq_inode *dir)
{
	return sq_readdir(x->r, dir, 0, extract_entry, x, x->err);
}

static int extract_entry(void *arg, const char *name, uint64_t ref, uint32_t inum, uint32_t type)
{
	extract_ctx *x = arg;
	char *path = lt_path_join(x->path, name);
	sq_inode *i = NULL;
	int rc = -1;
	if (sq_inode_get(x->r, ref, &i, x->err) < 0)
		goto out;
	sq_attr a;
	sq_inode_attr(x->r, i, &a);
	if (!S_ISDIR(a.mode) && a.nlink > 1 && inum < x->n_numbers && x->first_path[inum]) {
		rc = link(x->first_path[inum], path) < 0
			 ? lt_error_set(x->err, errno, "linking %s", path)
			 : 0;
		goto out;
	}
	switch (a.mode & S_IFMT) {
	case S_IFDIR: {
		if (mkdir(path, 0700) < 0) {
			lt_error_set(x->err, errno, "creating %s", path);
			goto out;
		}
		char *saved = x->path;
		x->path = path;
		rc = extract_dir(x, i);
		x->path = saved;
		if (rc == 0)
			rc = finish_attrs(x, path, i, &a);
		goto out;
	}
	case S_IFREG:
		rc = write_file(x, path, i, &a);
		break;
	case S_IFLNK: {
		const char *t;
		size_t tl;
		sq_readlink(i, &t, &tl);
		char *target = lt_xstrndup(t, tl);
		rc = symlink(target, path) < 0 ? lt_error_set(x->err, errno, "creating %s", path)
					       : 0;
		free(target);
		break;
	}
	default:
		if (!x->root && (S_ISCHR(a.mode) || S_ISBLK(a.mode))) {
			x->skipped_devices++;
			rc = 0;
			goto out;
		}
		rc = 0;
		if (mknod(path, (a.mode & S_IFMT) | 0600, makedev(a.rdev_major, a.rdev_minor)) <
		    0) {
			/* root of a user namespace may not create devices */
			if (errno == EPERM && (S_ISCHR(a.mode) || S_ISBLK(a.mode))) {
				x->skipped_devices++;
				rc = 0;
				goto out;
			}
			rc = lt_error_set(x->err, errno, "creating %s", path);
		}
		break;
	}
	if (rc == 0)
		rc = finish_attrs(x, path, i, &a);
	if (rc == 0 && a.nlink > 1 && inum < x->n_numbers && !S_ISDIR(a.mode)) {
		x->first_path[inum] = path;
		path = NULL;
	}
out:
	sq_inode_free(i);
	free(path);
	return rc < 0 ? -1 : 0;
}

int sq_extract(sq_image *img, const char *dest, lt_error **err)
{
	sq_reader *r = sq_reader_new(img, err);
	if (r == NULL)
		return -1;
	extract_ctx x = {
	    .r = r,
	    .root = geteuid() == 0,
	    .err = err,
	    .n_numbers = (size_t)sq_image_inode_count(img) + 2,
	    .path = (char *)dest,
	};
	x.first_path = lt_xcalloc(x.n_numbers, sizeof(char *));
	sq_inode *root = NULL;
	int rc = sq_inode_get(r, sq_image_root(img), &root, err);
	if (rc == 0 && mkdir(dest, 0700) < 0)
		rc = lt_error_set(err, errno, "creating %s", dest);
	if (rc == 0)
		rc = extract_dir(&x, root);
	if (rc == 0) {
		sq_attr a;
		sq_inode_attr(r, root, &a);
		rc = finish_attrs(&x, dest, root, &a);
	}
	if (x.skipped_devices > 0)
		lt_info("%zu device node(s) of %s were not created (creating them needs root)",
			x.skipped_devices, sq_image_name(img));
	for (size_t k = 0; k < x.n_numbers; k++)
		free(x.first_path[k]);
	free(x.first_path);
	sq_inode_free(root);
	sq_reader_free(r);
	return rc;
}
