#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* Writes at *at, moving it on, or at the file's position when at is NULL. */
static int write_loop(int fd, const char *p, size_t len, off_t *at, const char *name,
		      lt_error **err)
{
	while (len > 0) {
		ssize_t n = at ? pwrite(fd, p, len, *at) : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return lt_error_set(err, errno, "writing %s", name);
		}
		p += n;
		len -= (size_t)n;
		if (at)
			*at += n;
	}
	return 0;
}

int lt_pwrite_all(int fd, const void *buf, size_t len, off_t offset, const char *name,
		  lt_error **err)
{
	return write_loop(fd, buf, len, &offset, name, err);
}

int lt_pread_all(int fd, void *buf, size_t len, off_t offset, const char *name, lt_error **err)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return lt_error_set(err, errno, "reading %s", name);
		}
		if (n == 0)
			return lt_error_set(err, 0, "reading %s: unexpected end of file", name);
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

int lt_write_all(int fd, const void *buf, size_t len, const char *name, lt_error **err)
{
	return write_loop(fd, buf, len, NULL, name, err);
}

int lt_read_file(const char *path, char **data, size_t *len, lt_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lt_error_set(err, errno, "opening %s", path);
	lt_buf b = {0};
	lt_buf_reserve(&b, 4096);
	for (;;) {
		if (b.len + 1 >= b.cap)
			lt_buf_reserve(&b, b.cap);
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			lt_buf_free(&b);
			close(fd);
			return lt_error_set(err, e, "reading %s", path);
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	b.data[b.len] = '\0';
	*data = lt_buf_steal(&b, len);
	return 0;
}

int lt_copy_range_to_fd(int in_fd, off_t in_off, int64_t len, int out_fd, const char *name,
			lt_error **err)
{
	/* copy_file_range shares the extents where the filesystem can (XFS, btrfs reflinks), so a
	 * cached image costs no second copy; it only works between regular files. */
	while (len > 0) {
		size_t chunk = len > (1 << 30) ? (1 << 30) : (size_t)len;
		ssize_t n = copy_file_range(in_fd, &in_off, out_fd, NULL, chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EXDEV, EINVAL (not a regular file), ENOSYS ...: sendfile below */
		len -= n;
	}
	/* sendfile moves the bytes inside the kernel for any output kind (file, pipe, socket). */
	while (len > 0) {
		size_t chunk = len > (1 << 30) ? (1 << 30) : (size_t)len;
		ssize_t n = sendfile(out_fd, in_fd, &in_off, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL || errno == ENOSYS)
				break; /* fall back to read/write below */
			return lt_error_set(err, errno, "copying data from %s", name);
		}
		if (n == 0)
			return lt_error_set(err, 0, "copying data from %s: unexpected end of file",
					    name);
		len -= n;
	}
	char *buf = len > 0 ? lt_xmalloc(1 << 20) : NULL;
	while (len > 0) {
		size_t chunk = len > (1 << 20) ? (1 << 20) : (size_t)len;
		if (lt_pread_all(in_fd, buf, chunk, in_off, name, err) < 0 ||
		    lt_write_all(out_fd, buf, chunk, "output", err) < 0) {
			free(buf);
			return -1;
		}
		in_off += (off_t)chunk;
		len -= (int64_t)chunk;
	}
	free(buf);
	return 0;
}

static mode_t saved_umask;
static bool umask_read;

mode_t lt_umask(void)
{
	/* umask() can only be read by setting it; do it once, before any thread exists. */
	if (!umask_read) {
		saved_umask = umask(022);
		umask(saved_umask);
		umask_read = true;
	}
	return saved_umask;
}

int lt_remove_tree_at(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	fchmod(fd, 0700);
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			if (lt_remove_tree_at(dirfd(d), de->d_name) < 0)
				rc = -1;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			rc = -1;
		}
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int lt_remove_tree(const char *path)
{
	char *parent = lt_path_dirname(path);
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (pfd < 0)
		return -1;
	int rc = lt_remove_tree_at(pfd, lt_path_basename(path));
	close(pfd);
	return rc;
}
