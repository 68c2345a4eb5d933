/* The in-process FUSE server for a SquashFS partition.
 *
 * litho serves the image itself instead of using libsquashfuse: squashfuse 0.1.x keeps its
 * block and inode caches without locks, so it can only run single-threaded, and a job with many
 * ranks reading one image then waits on one decompressing thread (apptainer#665). Here each
 * request borrows a libsquashfs reader (decompressor and caches) from a pool, so reads of
 * different blocks decompress in parallel. The image never changes while mounted, so the
 * kernel may cache attributes, lookups (also negative ones), directory listings and pages for
 * as long as it likes.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse3/fuse_lowlevel.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "runtime_internal.h"
#include "squash/squash.h"

#define CACHE_SECONDS 86400.0
#define MAX_THREADS   32

struct rt_fuse {
	sq_image *img;
	struct fuse_session *se;
	char *mountpoint;
	uint64_t root_ref;
	pthread_mutex_t lock;
	pthread_key_t scratch; /* per worker thread: the reply buffer of reads */
	sq_reader **readers;   /* every reader made, freed at the end */
	size_t n_readers;
	sq_reader **idle; /* those not serving a request now */
	size_t n_idle;
	bool own_all; /* every file belongs to the mounting user (like squashfuse -o uid=,gid=) */
};

/* FUSE inode numbers: 1 is the root; every other inode is its SquashFS reference + 2. */
static uint64_t to_fuse(const struct rt_fuse *f, uint64_t ref)
{
	return ref == f->root_ref ? FUSE_ROOT_ID : ref + 2;
}

static uint64_t from_fuse(const struct rt_fuse *f, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? f->root_ref : ino - 2;
}

/* A reader for one request. Readers are pooled, not kept per thread: libfuse starts and ends
 * worker threads as requests come, and a reader costs a fragment table and caches to set up,
 * so only as many exist as requests were ever served at once. */
static sq_reader *reader_take(struct rt_fuse *f)
{
	pthread_mutex_lock(&f->lock);
	sq_reader *r = f->n_idle > 0 ? f->idle[--f->n_idle] : NULL;
	pthread_mutex_unlock(&f->lock);
	if (r != NULL)
		return r;
	lt_error *err = NULL;
	r = sq_reader_new(f->img, &err);
	if (r == NULL) {
		lt_debug("FUSE: %s", err->message);
		lt_error_free(&err);
		return NULL;
	}
	pthread_mutex_lock(&f->lock);
	f->readers = lt_xreallocarray(f->readers, f->n_readers + 1, sizeof(*f->readers));
	f->readers[f->n_readers++] = r;
	f->idle = lt_xreallocarray(f->idle, f->n_readers, sizeof(*f->idle));
	pthread_mutex_unlock(&f->lock);
	return r;
}

typedef struct scratch {
	char *buf;
	size_t cap;
} scratch;

static void scratch_free(void *p)
{
	scratch *s = p;
	if (s != NULL)
		lt_huge_free(s->buf, s->cap);
	free(s);
}

/* A reply buffer kept by the worker thread: reads of 128 KiB and more would otherwise be an
 * mmap and munmap (page faults, TLB shootdowns) each; in huge pages, filling it the first time
 * is one page fault rather than 32 or more. */
static char *scratch_get(struct rt_fuse *f, size_t size)
{
	scratch *s = pthread_getspecific(f->scratch);
	if (s == NULL) {
		s = lt_xcalloc(1, sizeof(*s));
		pthread_setspecific(f->scratch, s);
	}
	if (s->cap < size) {
		lt_huge_free(s->buf, s->cap);
		s->cap = size;
		s->buf = lt_xhuge_alloc(size);
	}
	return s->buf;
}

static void reader_give(struct rt_fuse *f, sq_reader *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->idle[f->n_idle++] = r;
	pthread_mutex_unlock(&f->lock);
}

static int errno_of(lt_error *err)
{
	int e = err && err->errnum ? err->errnum : EIO;
	if (err)
		lt_debug("FUSE: %s", err->message);
	lt_error_free(&err);
	return e;
}

static void fill_stat(const struct rt_fuse *f, const sq_reader *r, const sq_inode *i,
		      struct stat *st)
{
	sq_attr a;
	sq_inode_attr(r, i, &a);
	memset(st, 0, sizeof(*st));
	st->st_ino = a.inode_number;
	st->st_mode = a.mode;
	st->st_nlink = a.nlink;
	/* Without root, uid 0 of the launcher's namespace is the caller: files that belong to
	 * other users in the image (unmapped here, so "nobody" otherwise) become the caller's,
	 * as with Apptainer's squashfuse -o uid=,gid=. */
	st->st_uid = f->own_all ? 0 : a.uid;
	st->st_gid = f->own_all ? 0 : a.gid;
	st->st_size = (off_t)a.size;
	st->st_blocks = (blkcnt_t)a.blocks;
	st->st_blksize = 4096;
	st->st_mtim.tv_sec = a.mtime;
	st->st_atim = st->st_ctim = st->st_mtim;
	st->st_rdev = makedev(a.rdev_major, a.rdev_minor);
}

/* Takes a reader and loads the inode behind a FUSE number; on failure the request is answered
 * and the reader given back. */
static sq_inode *get_inode(fuse_req_t req, struct rt_fuse *f, fuse_ino_t ino, sq_reader **rp)
{
	sq_reader *r = reader_take(f);
	if (r == NULL) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	lt_error *err = NULL;
	sq_inode *i = NULL;
	if (sq_inode_get(r, from_fuse(f, ino), &i, &err) < 0) {
		reader_give(f, r);
		fuse_reply_err(req, errno_of(err));
		return NULL;
	}
	*rp = r;
	return i;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *dir = get_inode(req, f, parent, &r);
	if (dir == NULL)
		return;
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr_timeout = e.entry_timeout = CACHE_SECONDS;
	lt_error *err = NULL;
	uint64_t ref = 0;
	int rc = sq_inode_is_dir(dir) ? sq_lookup(r, dir, name, &ref, &err) : -2;
	sq_inode_free(dir);
	sq_inode *child = NULL;
	if (rc == 0 && sq_inode_get(r, ref, &child, &err) < 0)
		rc = -1;
	if (child != NULL) {
		e.ino = to_fuse(f, ref);
		fill_stat(f, r, child, &e.attr);
		sq_inode_free(child);
	}
	reader_give(f, r);
	if (rc == -2)
		fuse_reply_err(req, ENOTDIR);
	else if (rc < 0)
		fuse_reply_err(req, errno_of(err));
	else
		fuse_reply_entry(req, &e); /* rc > 0: a negative entry, remembered by the kernel */
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *i = get_inode(req, f, ino, &r);
	if (i == NULL)
		return;
	struct stat st;
	fill_stat(f, r, i, &st);
	sq_inode_free(i);
	reader_give(f, r);
	fuse_reply_attr(req, &st, CACHE_SECONDS);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *i = get_inode(req, f, ino, &r);
	if (i == NULL)
		return;
	reader_give(f, r);
	const char *t;
	size_t len;
	if (sq_readlink(i, &t, &len) < 0) {
		sq_inode_free(i);
		fuse_reply_err(req, EINVAL);
		return;
	}
	char *target = lt_xstrndup(t, len);
	sq_inode_free(i);
	fuse_reply_readlink(req, target);
	free(target);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

typedef struct dir_fill {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	off_t next;
} dir_fill;

static int fill_entry(void *arg, const char *name, uint64_t ref, uint32_t inode_number,
		      uint32_t type)
{
	dir_fill *d = arg;
	static const mode_t types[] = {0,	S_IFDIR, S_IFREG, S_IFLNK,
				       S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK};
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = inode_number;
	st.st_mode = type < LT_ARRAY_SIZE(types) ? types[type] : 0;
	size_t need = fuse_add_direntry(d->req, NULL, 0, name, NULL, 0);
	if (d->used + need > d->size)
		return 1;
	fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st, ++d->next);
	d->used += need;
	return 0;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *dir = get_inode(req, f, ino, &r);
	if (dir == NULL)
		return;
	dir_fill d = {.req = req, .buf = lt_xmalloc(size), .size = size, .next = off};
	/* offsets: 1 ".", 2 "..", then the stored entries */
	if (d.next == 0)
		fill_entry(&d, ".", 0, 0, 1);
	if (d.next == 1)
		fill_entry(&d, "..", 0, 0, 1);
	lt_error *err = NULL;
	int rc = 0;
	if (d.next >= 2)
		rc = sq_readdir(r, dir, (uint64_t)(d.next - 2), fill_entry, &d, &err);
	sq_inode_free(dir);
	reader_give(f, r);
	if (rc < 0)
		fuse_reply_err(req, errno_of(err));
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *i = get_inode(req, f, ino, &r);
	if (i == NULL)
		return;
	reader_give(f, r);
	if (!sq_inode_is_file(i)) {
		sq_inode_free(i);
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* The decoded inode (block list) is kept for the reads of this open file. */
	fi->fh = (uint64_t)(uintptr_t)i;
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		sq_inode_free(i);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = reader_take(f);
	if (r == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	sq_inode *i = (sq_inode *)(uintptr_t)fi->fh;
	char *buf = scratch_get(f, size ? size : 1);
	lt_error *err = NULL;
	size_t got = 0;
	while (got < size) {
		ssize_t n = sq_read(r, i, (uint64_t)off + got, buf + got, size - got, &err);
		if (n < 0) {
			reader_give(f, r);
			fuse_reply_err(req, errno_of(err));
			return;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	reader_give(f, r);
	fuse_reply_buf(req, buf, got);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	sq_inode_free((sq_inode *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	struct statvfs st;
	memset(&st, 0, sizeof(st));
	st.f_bsize = st.f_frsize = 4096;
	st.f_files = sq_image_inode_count(f->img);
	st.f_namemax = 256;
	st.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

typedef struct xattr_query {
	const char *name;
	lt_buf list; /* listxattr: names, NUL separated */
	char *value;
	size_t value_len;
	bool found;
} xattr_query;

static int xattr_cb(void *arg, const char *key, const void *value, size_t len)
{
	xattr_query *q = arg;
	if (q->name == NULL) {
		lt_buf_addn(&q->list, key, strlen(key) + 1);
		return 0;
	}
	if (strcmp(key, q->name) != 0)
		return 0;
	q->value = lt_xmalloc(len ? len : 1);
	memcpy(q->value, value, len);
	q->value_len = len;
	q->found = true;
	return 1;
}

static void reply_sized(fuse_req_t req, const char *data, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *i = get_inode(req, f, ino, &r);
	if (i == NULL)
		return;
	xattr_query q = {.name = name};
	lt_error *err = NULL;
	int rc = sq_xattrs(r, i, xattr_cb, &q, &err);
	sq_inode_free(i);
	reader_give(f, r);
	if (rc < 0)
		fuse_reply_err(req, errno_of(err));
	else if (!q.found)
		fuse_reply_err(req, ENODATA);
	else
		reply_sized(req, q.value, q.value_len, size);
	free(q.value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rt_fuse *f = fuse_req_userdata(req);
	sq_reader *r = NULL;
	sq_inode *i = get_inode(req, f, ino, &r);
	if (i == NULL)
		return;
	xattr_query q = {0};
	lt_error *err = NULL;
	int rc = sq_xattrs(r, i, xattr_cb, &q, &err);
	sq_inode_free(i);
	reader_give(f, r);
	if (rc < 0)
		fuse_reply_err(req, errno_of(err));
	else
		reply_sized(req, q.list.data, q.list.len, size);
	lt_buf_free(&q.list);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* the image never changes: the kernel may keep symlink targets too (busybox-style images
	 * resolve dozens of them) */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};

int rt_fuse_mount(sq_image *img, const char *mountpoint, bool own_all, bool allow_other,
		  struct rt_fuse **out, lt_error **err)
{
	struct rt_fuse *f = lt_xcalloc(1, sizeof(*f));
	f->own_all = own_all;
	f->img = img;
	f->root_ref = sq_image_root(img);
	f->mountpoint = lt_xstrdup(mountpoint);
	pthread_mutex_init(&f->lock, NULL);
	pthread_key_create(&f->scratch, scratch_free);
	/* allow_other: with --fakeroot and subordinate ids the payload may become another user,
	 * whom FUSE would otherwise refuse */
	char *argv[] = {"litho", "-o",
			allow_other ? "ro,fsname=litho,subtype=squashfs,allow_other"
				    : "ro,fsname=litho,subtype=squashfs",
			NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	f->se = fuse_session_new(&args, &ops, sizeof(ops), f);
	if (f->se == NULL) {
		rt_fuse_free(f);
		return lt_error_set(err, 0, "%s: cannot start the FUSE session",
				    sq_image_name(img));
	}
	if (fuse_session_mount(f->se, mountpoint) != 0) {
		rt_fuse_free(f);
		return lt_error_set(err, EPERM, "mounting %s with FUSE failed", sq_image_name(img));
	}
	*out = f;
	return 0;
}

int rt_fuse_serve(struct rt_fuse *f)
{
	/* a malloc arena per worker thread is a 64 MiB mapping each, for a few small buffers */
	mallopt(M_ARENA_MAX, 2);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	int rc = fuse_session_loop_mt(f->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

void rt_fuse_stop(struct rt_fuse *f)
{
	fuse_session_exit(f->se);
	/* Workers sleep in read(/dev/fuse); taking the mount away makes those reads fail so the
	 * loop notices. The mount lives in our private mount namespace only. */
	umount2(f->mountpoint, MNT_DETACH);
}

void rt_fuse_free(struct rt_fuse *f)
{
	if (f == NULL)
		return;
	if (f->se) {
		fuse_session_unmount(f->se);
		fuse_session_destroy(f->se);
	}
	for (size_t i = 0; i < f->n_readers; i++)
		sq_reader_free(f->readers[i]);
	free(f->readers);
	free(f->idle);
	/* the serving thread's own buffer (the workers' go with their threads) */
	scratch_free(pthread_getspecific(f->scratch));
	pthread_setspecific(f->scratch, NULL);
	pthread_key_delete(f->scratch);
	pthread_mutex_destroy(&f->lock);
	free(f->mountpoint);
	free(f);
}
