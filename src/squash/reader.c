/* Reading SquashFS images (any compressor) with libsquashfs: the shared, immutable part
 * (sq_image: superblock, owners) and per-thread readers (sq_reader: decompressor, metadata,
 * data and xattr readers with their caches), so that several threads read in parallel. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqfs/block.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/inode.h>
#include <sqfs/dir_reader.h>
#include <sqfs/meta_reader.h>
#include <sqfs/xattr_reader.h>

#include "squash_internal.h"

/* Decompressed data blocks shared by the readers of an image. Requests that are not aligned
 * to blocks (the kernel's page-sized readahead windows) split blocks between them, and they
 * come to different readers; without sharing, each would decompress the same block again. */
#define SHARED_BLOCKS 16

typedef struct shared_block {
	uint64_t ref; /* the file's inode */
	size_t index;
	size_t len;
	uint64_t used; /* for least-recently-used replacement */
	uint8_t *data;
	bool valid;
} shared_block;

struct sq_image {
	pthread_mutex_t img_cache_lock;
	shared_block cache[SHARED_BLOCKS];
	uint8_t *cache_data; /* the blocks' room, made at the first use */
	uint64_t cache_clock;
	int fd;
	uint64_t offset;
	uint64_t size;
	char *name;
	sqfs_super_t super;
	sqfs_compressor_config_t cfg;
	uint32_t *ids; /* id table */
	size_t n_ids;
};

struct sq_reader {
	sq_image *img;
	sq_file *file;
	sqfs_compressor_t *cmp;
	/* the last data block decompressed for a partial read (reads of whole blocks go straight
	 * into the caller's buffer) */
	uint8_t *block;
	size_t block_len;
	uint64_t block_ref;
	size_t block_index;
	bool block_valid;
	uint8_t *packed; /* a compressed block as read from the image */
	sqfs_meta_reader_t *inodes;
	sqfs_meta_reader_t *dirs;
	sqfs_data_reader_t *data;
	sqfs_xattr_reader_t *xattrs;
	bool xattrs_loaded;
};

struct sq_inode {
	uint64_t ref;
	sqfs_inode_generic_t *gi;
	/* regular files: where each data block starts in the image, computed on the first read
	 * and published atomically (one open file is read by several threads) */
	uint64_t *block_starts;
};

static int reader_fail(const char *name, int code, const char *what, lt_error **err)
{
	int e =
	    code == SQFS_ERROR_ALLOC ? ENOMEM : (code == SQFS_ERROR_UNSUPPORTED ? ENOTSUP : EIO);
	return lt_error_set(err, e, "%s: %s (corrupt or unsupported SquashFS, libsquashfs %d)",
			    name, what, code);
}

int sq_image_open(int fd, uint64_t offset, uint64_t size, const char *name, sq_image **out,
		  lt_error **err)
{
	sq_image *img = lt_xcalloc(1, sizeof(*img));
	pthread_mutex_init(&img->img_cache_lock, NULL);
	img->fd = fd;
	img->offset = offset;
	img->size = size;
	img->name = lt_xstrdup(name);
	sq_file *f = sq_file_new(fd, offset);
	f->size = size;
	int r = sqfs_super_read(&img->super, &f->base_iface);
	if (r != 0) {
		sqfs_destroy(f);
		lt_error_set(err, EINVAL, "%s: not a SquashFS file system (bad superblock)", name);
		goto fail;
	}
	if (img->super.bytes_used > size) {
		sqfs_destroy(f);
		lt_error_set(
		    err, EINVAL,
		    "%s: SquashFS claims %llu bytes, the partition has %llu: truncated image", name,
		    (unsigned long long)img->super.bytes_used, (unsigned long long)size);
		goto fail;
	}
	r = sqfs_compressor_config_init(&img->cfg, (SQFS_COMPRESSOR)img->super.compression_id,
					img->super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
	sqfs_compressor_t *cmp = NULL;
	if (r == 0)
		r = sq_compressor_create(&img->cfg, &cmp);
	if (r != 0) {
		sqfs_destroy(f);
		lt_error_set(err, ENOTSUP, "%s: SquashFS compressor %s (%u) is not supported", name,
			     sq_compressor_name(img->super.compression_id),
			     img->super.compression_id);
		goto fail;
	}
	if (img->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) {
		r = cmp->read_options(cmp, &f->base_iface);
		if (r == 0) {
			cmp->get_configuration(cmp, &img->cfg);
			img->cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
		}
	}
	sqfs_id_table_t *ids = r == 0 ? sqfs_id_table_create(0) : NULL;
	if (r == 0 && ids == NULL)
		r = SQFS_ERROR_ALLOC;
	if (r == 0)
		r = sqfs_id_table_read(ids, &f->base_iface, &img->super, cmp);
	if (r == 0) {
		img->n_ids = img->super.id_count;
		img->ids = lt_xcalloc(img->n_ids ? img->n_ids : 1, sizeof(*img->ids));
		for (size_t i = 0; i < img->n_ids && r == 0; i++)
			r = sqfs_id_table_index_to_id(ids, (sqfs_u16)i, &img->ids[i]);
	}
	if (ids)
		sqfs_destroy(ids);
	sqfs_destroy(cmp);
	sqfs_destroy(f);
	if (r != 0) {
		reader_fail(name, r, "reading the id table", err);
		goto fail;
	}
	*out = img;
	return 0;
fail:
	sq_image_close(img);
	return -1;
}

void sq_image_close(sq_image *img)
{
	if (img == NULL)
		return;
	lt_huge_free(img->cache_data, (size_t)SHARED_BLOCKS * img->super.block_size);
	pthread_mutex_destroy(&img->img_cache_lock);
	free(img->ids);
	free(img->name);
	free(img);
}

sq_image *sq_reader_image(const sq_reader *r)
{
	return r->img;
}

uint32_t sq_image_inode_count(const sq_image *img)
{
	return img->super.inode_count;
}

uint64_t sq_image_root(const sq_image *img)
{
	return img->super.root_inode_ref;
}

const char *sq_image_name(const sq_image *img)
{
	return img->name;
}

sq_reader *sq_reader_new(sq_image *img, lt_error **err)
{
	sq_reader *r = lt_xcalloc(1, sizeof(*r));
	r->img = img;
	r->file = sq_file_new(img->fd, img->offset);
	r->file->size = img->size;
	int rc = sq_compressor_create(&img->cfg, &r->cmp);
	if (rc != 0)
		goto fail;
	const sqfs_super_t *s = &img->super;
	r->inodes = sqfs_meta_reader_create(&r->file->base_iface, r->cmp, s->inode_table_start,
					    s->directory_table_start);
	uint64_t dir_end = s->bytes_used;
	const uint64_t starts[] = {s->fragment_table_start, s->export_table_start,
				   s->id_table_start, s->xattr_id_table_start};
	for (size_t i = 0; i < LT_ARRAY_SIZE(starts); i++)
		if (starts[i] != 0xFFFFFFFFFFFFFFFFULL && starts[i] > s->directory_table_start &&
		    starts[i] < dir_end)
			dir_end = starts[i];
	r->dirs = sqfs_meta_reader_create(&r->file->base_iface, r->cmp, s->directory_table_start,
					  dir_end);
	r->data = sqfs_data_reader_create(&r->file->base_iface, s->block_size, r->cmp, 0);
	if (!r->inodes || !r->dirs || !r->data) {
		rc = SQFS_ERROR_ALLOC;
		goto fail;
	}
	rc = sqfs_data_reader_load_fragment_table(r->data, s);
	if (rc != 0)
		goto fail;
	return r;
fail:
	reader_fail(img->name, rc, "preparing to read", err);
	sq_reader_free(r);
	return NULL;
}

void sq_reader_free(sq_reader *r)
{
	if (r == NULL)
		return;
	lt_huge_free(r->block, 2 * (size_t)r->img->super.block_size);
	if (r->xattrs)
		sqfs_destroy(r->xattrs);
	if (r->data)
		sqfs_destroy(r->data);
	if (r->dirs)
		sqfs_destroy(r->dirs);
	if (r->inodes)
		sqfs_destroy(r->inodes);
	if (r->cmp)
		sqfs_destroy(r->cmp);
	if (r->file)
		sqfs_destroy(r->file);
	free(r);
}

int sq_inode_get(sq_reader *r, uint64_t ref, sq_inode **out, lt_error **err)
{
	sqfs_inode_generic_t *gi = NULL;
	int rc =
	    sqfs_meta_reader_read_inode(r->inodes, &r->img->super, ref >> 16, ref & 0xFFFF, &gi);
	if (rc != 0)
		return reader_fail(r->img->name, rc, "reading an inode", err);
	sq_inode *i = lt_xcalloc(1, sizeof(*i));
	i->ref = ref;
	i->gi = gi;
	*out = i;
	return 0;
}

void sq_inode_free(sq_inode *i)
{
	if (i == NULL)
		return;
	free(i->block_starts);
	sqfs_free(i->gi);
	free(i);
}

static uint32_t lookup_id(const sq_image *img, uint16_t idx)
{
	return idx < img->n_ids ? img->ids[idx] : 65534;
}

void sq_inode_attr(const sq_reader *r, const sq_inode *i, sq_attr *a)
{
	const sqfs_inode_generic_t *gi = i->gi;
	memset(a, 0, sizeof(*a));
	a->mode = gi->base.mode;
	a->uid = lookup_id(r->img, gi->base.uid_idx);
	a->gid = lookup_id(r->img, gi->base.gid_idx);
	a->mtime = gi->base.mod_time;
	a->inode_number = gi->base.inode_number;
	uint32_t rdev = 0;
	switch (gi->base.type) {
	case SQFS_INODE_DIR:
		a->mode = (a->mode & 07777) | S_IFDIR;
		a->nlink = gi->data.dir.nlink;
		a->size = gi->data.dir.size;
		break;
	case SQFS_INODE_EXT_DIR:
		a->mode = (a->mode & 07777) | S_IFDIR;
		a->nlink = gi->data.dir_ext.nlink;
		a->size = gi->data.dir_ext.size;
		break;
	case SQFS_INODE_FILE:
		a->mode = (a->mode & 07777) | S_IFREG;
		a->nlink = 1;
		a->size = gi->data.file.file_size;
		a->blocks = (a->size + 511) / 512;
		break;
	case SQFS_INODE_EXT_FILE:
		a->mode = (a->mode & 07777) | S_IFREG;
		a->nlink = gi->data.file_ext.nlink;
		a->size = gi->data.file_ext.file_size;
		a->blocks =
		    (a->size -
		     (gi->data.file_ext.sparse < a->size ? gi->data.file_ext.sparse : a->size) +
		     511) /
		    512;
		break;
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		a->mode = (a->mode & 07777) | S_IFLNK;
		a->nlink = gi->data.slink.nlink;
		a->size = gi->data.slink.target_size;
		break;
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV:
		a->mode =
		    (a->mode & 07777) |
		    ((gi->base.type == SQFS_INODE_BDEV || gi->base.type == SQFS_INODE_EXT_BDEV)
			 ? S_IFBLK
			 : S_IFCHR);
		a->nlink = gi->data.dev.nlink;
		rdev = gi->data.dev.devno;
		a->rdev_major = (rdev >> 8) & 0xfff;
		a->rdev_minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
		break;
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO:
		a->mode = (a->mode & 07777) | S_IFIFO;
		a->nlink = gi->data.ipc.nlink;
		break;
	default:
		a->mode = (a->mode & 07777) | S_IFSOCK;
		a->nlink = gi->data.ipc.nlink;
		break;
	}
	if (a->nlink == 0)
		a->nlink = 1;
}

bool sq_inode_is_dir(const sq_inode *i)
{
	return i->gi->base.type == SQFS_INODE_DIR || i->gi->base.type == SQFS_INODE_EXT_DIR;
}

bool sq_inode_is_file(const sq_inode *i)
{
	return i->gi->base.type == SQFS_INODE_FILE || i->gi->base.type == SQFS_INODE_EXT_FILE;
}

bool sq_inode_is_symlink(const sq_inode *i)
{
	return i->gi->base.type == SQFS_INODE_SLINK || i->gi->base.type == SQFS_INODE_EXT_SLINK;
}

int sq_readlink(const sq_inode *i, const char **target, size_t *len)
{
	if (!sq_inode_is_symlink(i))
		return -1;
	*target = (const char *)i->gi->extra;
	*len = i->gi->data.slink.target_size;
	return 0;
}

int sq_readdir(sq_reader *r, const sq_inode *dir, uint64_t skip, sq_dirent_fn fn, void *ctx,
	       lt_error **err)
{
	if (!sq_inode_is_dir(dir))
		return lt_error_set(err, ENOTDIR, "%s: not a directory", r->img->name);
	sqfs_readdir_state_t st;
	int rc = sqfs_readdir_state_init(&st, &r->img->super, dir->gi);
	if (rc != 0)
		return reader_fail(r->img->name, rc, "reading a directory", err);
	for (uint64_t index = 0;; index++) {
		sqfs_dir_entry_t *ent = NULL;
		sqfs_u32 inum = 0;
		sqfs_u64 iref = 0;
		rc = sqfs_meta_reader_readdir(r->dirs, &st, &ent, &inum, &iref);
		if (rc > 0)
			return 0;
		if (rc < 0)
			return reader_fail(r->img->name, rc, "reading a directory", err);
		int stop = 0;
		if (index >= skip) {
			char name[257];
			size_t len = (size_t)ent->size + 1;
			memcpy(name, ent->name, len);
			name[len] = '\0';
			stop = fn(ctx, name, iref, inum, ent->type);
		}
		sqfs_free(ent);
		if (stop)
			return stop > 0 ? 0 : -1;
	}
}

typedef struct lookup_ctx {
	const char *name;
	uint64_t ref;
	bool found;
} lookup_ctx;

static int lookup_cb(void *arg, const char *name, uint64_t ref, uint32_t inum, uint32_t type)
{
	lookup_ctx *l = arg;
	int c = strcmp(name, l->name);
	if (c == 0) {
		l->ref = ref;
		l->found = true;
		return 1;
	}
	/* entries are sorted: past the name means it is not there */
	return c > 0 ? 1 : 0;
}

int sq_lookup(sq_reader *r, const sq_inode *dir, const char *name, uint64_t *ref, lt_error **err)
{
	lookup_ctx l = {.name = name};
	if (sq_readdir(r, dir, 0, lookup_cb, &l, err) < 0)
		return -1;
	if (!l.found)
		return 1;
	*ref = l.ref;
	return 0;
}

/* The image offset of every data block of a file (blocks_start plus the sizes before it). */
static const uint64_t *block_starts(const sq_inode *file)
{
	uint64_t *starts = __atomic_load_n(&((sq_inode *)file)->block_starts, __ATOMIC_ACQUIRE);
	if (starts != NULL)
		return starts;
	size_t n = sqfs_inode_get_file_block_count(file->gi);
	starts = lt_xmalloc((n ? n : 1) * sizeof(*starts));
	sqfs_u64 pos = 0;
	sqfs_inode_get_file_block_start(file->gi, &pos);
	for (size_t k = 0; k < n; k++) {
		starts[k] = pos;
		pos += SQFS_ON_DISK_BLOCK_SIZE(file->gi->extra[k]);
	}
	uint64_t *expected = NULL;
	if (!__atomic_compare_exchange_n(&((sq_inode *)file)->block_starts, &expected, starts,
					 false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(starts); /* another thread was first */
		return expected;
	}
	return starts;
}

/* Data block `index` of a file into out (room for a whole block): decompressed, copied when
 * stored uncompressed, zeros for a hole. Returns its length. */
static ssize_t load_block(sq_reader *r, const sq_inode *file, size_t index, uint64_t file_size,
			  uint8_t *out, lt_error **err)
{
	uint32_t bs = r->img->super.block_size;
	uint64_t want = file_size - (uint64_t)index * bs;
	size_t len = want < bs ? (size_t)want : bs;
	uint32_t word = file->gi->extra[index];
	size_t stored = SQFS_ON_DISK_BLOCK_SIZE(word);
	if (stored == 0) {
		memset(out, 0, len);
		return (ssize_t)len;
	}
	if (stored > bs)
		return lt_error_set(err, EIO, "%s: a data block claims %zu bytes", r->img->name,
				    stored);
	uint64_t at = r->img->offset + block_starts(file)[index];
	uint8_t *dst = SQFS_IS_BLOCK_COMPRESSED(word) ? r->packed : out;
	if (lt_pread_all(r->img->fd, dst, stored, (off_t)at, r->img->name, err) < 0)
		return -1;
	if (!SQFS_IS_BLOCK_COMPRESSED(word))
		return (ssize_t)stored;
	sqfs_s32 n = r->cmp->do_block(r->cmp, r->packed, (sqfs_u32)stored, out, bs);
	if (n < 0)
		return reader_fail(r->img->name, n, "decompressing a data block", err);
	return n;
}

/* Copies up to `len` bytes of block `index` from `at` out of the shared cache; -1 on a miss. */
static ssize_t cache_copy(sq_image *img, uint64_t ref, size_t index, size_t at, uint8_t *out,
			  size_t len)
{
	ssize_t n = -1;
	pthread_mutex_lock(&img->img_cache_lock);
	for (size_t i = 0; i < SHARED_BLOCKS; i++) {
		shared_block *b = &img->cache[i];
		if (!b->valid || b->ref != ref || b->index != index)
			continue;
		size_t take = at < b->len ? b->len - at : 0;
		if (take > len)
			take = len;
		memcpy(out, b->data + at, take);
		b->used = ++img->cache_clock;
		n = (ssize_t)take;
		break;
	}
	pthread_mutex_unlock(&img->img_cache_lock);
	return n;
}

static void cache_put(sq_image *img, uint64_t ref, size_t index, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&img->img_cache_lock);
	shared_block *victim = &img->cache[0];
	for (size_t i = 0; i < SHARED_BLOCKS; i++) {
		shared_block *b = &img->cache[i];
		if (b->valid && b->ref == ref && b->index == index) {
			victim = NULL; /* another reader was faster */
			break;
		}
		if (!b->valid || b->used < victim->used)
			victim = b;
		if (!b->valid)
			break;
	}
	if (victim != NULL) {
		if (img->cache_data == NULL)
			img->cache_data =
			    lt_xhuge_alloc((size_t)SHARED_BLOCKS * img->super.block_size);
		if (victim->data == NULL)
			victim->data =
			    img->cache_data + (size_t)(victim - img->cache) * img->super.block_size;
		memcpy(victim->data, data, len);
		*victim = (shared_block){.ref = ref,
					 .index = index,
					 .len = len,
					 .used = ++img->cache_clock,
					 .data = victim->data,
					 .valid = true};
	}
	pthread_mutex_unlock(&img->img_cache_lock);
}

/* libsquashfs's sqfs_data_reader_read (1.2) decompresses the block before a read that starts
 * exactly at a block boundary as well, and allocates a buffer per block; here a whole-block
 * read decompresses straight into the caller's buffer, and a partial one goes through a
 * one-block cache. The tail in a fragment still comes from libsquashfs. */
ssize_t sq_read(sq_reader *r, const sq_inode *file, uint64_t off, void *buf, size_t len,
		lt_error **err)
{
	if (!sq_inode_is_file(file))
		return lt_error_set(err, EISDIR, "%s: not a regular file", r->img->name);
	sqfs_u64 size = 0;
	sqfs_inode_get_file_size(file->gi, &size);
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	uint32_t bs = r->img->super.block_size;
	size_t n_blocks = sqfs_inode_get_file_block_count(file->gi);
	if (r->block == NULL) {
		r->block = lt_xhuge_alloc(2 * (size_t)bs);
		r->packed = r->block + bs;
	}
	uint8_t *dst = buf;
	size_t done = 0;
	while (done < len) {
		uint64_t pos = off + done;
		size_t index = (size_t)(pos / bs);
		size_t in_block = (size_t)(pos % bs);
		if (index >= n_blocks) {
			/* the tail end, in a fragment */
			sqfs_u8 *frag = NULL;
			size_t frag_len = 0;
			int rc = sqfs_data_reader_get_fragment(r->data, file->gi, &frag_len, &frag);
			if (rc != 0)
				return reader_fail(r->img->name, rc, "reading a fragment", err);
			size_t at = (size_t)(pos - (uint64_t)n_blocks * bs);
			size_t take = at < frag_len ? frag_len - at : 0;
			if (take > len - done)
				take = len - done;
			memcpy(dst + done, frag + at, take);
			sqfs_free(frag);
			if (take == 0)
				break;
			done += take;
			continue;
		}
		if (in_block == 0 && len - done >= bs) {
			ssize_t n = load_block(r, file, index, size, dst + done, err);
			if (n < 0)
				return -1;
			done += (size_t)n;
			continue;
		}
		if (!r->block_valid || r->block_ref != file->ref || r->block_index != index) {
			ssize_t hit =
			    cache_copy(r->img, file->ref, index, in_block, dst + done, len - done);
			if (hit > 0) {
				done += (size_t)hit;
				continue;
			}
			r->block_valid = false;
			ssize_t n = load_block(r, file, index, size, r->block, err);
			if (n < 0)
				return -1;
			r->block_len = (size_t)n;
			r->block_ref = file->ref;
			r->block_index = index;
			r->block_valid = true;
			cache_put(r->img, file->ref, index, r->block, r->block_len);
		}
		size_t take = in_block < r->block_len ? r->block_len - in_block : 0;
		if (take > len - done)
			take = len - done;
		if (take == 0)
			break;
		memcpy(dst + done, r->block + in_block, take);
		done += take;
	}
	return (ssize_t)done;
}

int sq_xattrs(sq_reader *r, const sq_inode *i, sq_xattr_fn fn, void *ctx, lt_error **err)
{
	sqfs_u32 idx = 0xFFFFFFFF;
	if (sqfs_inode_get_xattr_index(i->gi, &idx) != 0 || idx == 0xFFFFFFFF)
		return 0;
	int rc = 0;
	if (!r->xattrs_loaded) {
		r->xattrs = sqfs_xattr_reader_create(0);
		if (r->xattrs == NULL)
			return lt_error_set(err, ENOMEM, "%s", r->img->name);
		rc =
		    sqfs_xattr_reader_load(r->xattrs, &r->img->super, &r->file->base_iface, r->cmp);
		if (rc != 0)
			return reader_fail(r->img->name, rc, "reading the xattr table", err);
		r->xattrs_loaded = true;
	}
	sqfs_xattr_id_t desc;
	rc = sqfs_xattr_reader_get_desc(r->xattrs, idx, &desc);
	if (rc == 0)
		rc = sqfs_xattr_reader_seek_kv(r->xattrs, &desc);
	for (sqfs_u32 k = 0; rc == 0 && k < desc.count; k++) {
		sqfs_xattr_entry_t *key = NULL;
		sqfs_xattr_value_t *val = NULL;
		rc = sqfs_xattr_reader_read_key(r->xattrs, &key);
		if (rc == 0)
			rc = sqfs_xattr_reader_read_value(r->xattrs, key, &val);
		if (rc == 0) {
			/* libsquashfs hands the key back with its prefix ("user.") already
			 * prepended; `size` still counts only the stored part. */
			const char *prefix =
			    sqfs_get_xattr_prefix(key->type & SQFS_XATTR_PREFIX_MASK);
			size_t plen = prefix ? strlen(prefix) : 0;
			char *full = lt_xstrndup((const char *)key->key, plen + key->size);
			int stop = fn(ctx, full, val->value, val->size);
			free(full);
			if (stop)
				k = desc.count;
		}
		sqfs_free(key);
		sqfs_free(val);
	}
	if (rc != 0)
		return reader_fail(r->img->name, rc, "reading extended attributes", err);
	return 0;
}
