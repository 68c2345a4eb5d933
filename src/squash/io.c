/* The two libsquashfs plug-ins litho provides: an output file that lives at an offset inside
 * another file (the SIF partition), and a block writer that finds duplicate files through a hash
 * table instead of libsquashfs's default linear scan over every block written so far, which is
 * quadratic on images with hundreds of thousands of files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "squash_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Offset file                                                                                 */

static void off_file_destroy(sqfs_object_t *obj)
{
	free(obj);
}

/* The whole range, at the partition's offset in the file; the errno of a failed call (EIO for
 * one that moved nothing) is kept for the error message libsquashfs cannot carry. */
static int off_file_transfer(sq_file *f, sqfs_u64 offset, char *p, size_t size, bool writing)
{
	while (size > 0) {
		off_t at = (off_t)(f->base + offset);
		ssize_t n = writing ? pwrite(f->fd, p, size, at) : pread(f->fd, p, size, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			f->error = n < 0 ? errno : EIO;
			return SQFS_ERROR_IO;
		}
		p += n;
		size -= (size_t)n;
		offset += (sqfs_u64)n;
	}
	return 0;
}

static int off_file_read_at(sqfs_file_t *base, sqfs_u64 offset, void *buffer, size_t size)
{
	sq_file *f = (sq_file *)base;
	if (offset + size > f->size)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	return off_file_transfer(f, offset, buffer, size, false);
}

static int off_file_write_at(sqfs_file_t *base, sqfs_u64 offset, const void *buffer, size_t size)
{
	sq_file *f = (sq_file *)base;
	sqfs_u64 end = offset + size;
	/* a write only reads the buffer, so dropping const is safe */
	int rc = off_file_transfer(f, offset, (char *)buffer, size, true);
	if (rc == 0 && end > f->size)
		f->size = end;
	return rc;
}

static sqfs_u64 off_file_get_size(const sqfs_file_t *base)
{
	return ((const sq_file *)base)->size;
}

static int off_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	sq_file *f = (sq_file *)base;
	if (ftruncate(f->fd, (off_t)(f->base + size)) < 0) {
		f->error = errno;
		return SQFS_ERROR_IO;
	}
	f->size = size;
	return 0;
}

sq_file *sq_file_new(int fd, uint64_t base)
{
	sq_file *f = lt_xcalloc(1, sizeof(*f));
	f->base_iface.base.destroy = off_file_destroy;
	f->base_iface.read_at = off_file_read_at;
	f->base_iface.write_at = off_file_write_at;
	f->base_iface.get_size = off_file_get_size;
	f->base_iface.truncate = off_file_truncate;
	f->fd = fd;
	f->base = base;
	return f;
}

/* ------------------------------------------------------------------------------------------ */
/* Deduplicating block writer                                                                  */

typedef struct written_block {
	uint64_t offset;
	uint32_t size; /* on-disk size, 0 for holes */
	uint32_t checksum;
	uint32_t flags;
} written_block;

typedef struct file_run {
	uint64_t hash;
	size_t first; /* index into blocks */
	size_t count;
} file_run;

typedef struct dedup_writer {
	sqfs_block_writer_t base;
	sq_file *file;
	written_block *blocks;
	size_t n_blocks, cap_blocks;
	file_run *runs; /* open addressing, hash 0 = empty */
	size_t cap_runs, n_runs;
	size_t run_start; /* index of the current file's first block */
	bool run_open;
	bool run_broken; /* a fragment block landed inside the current file */
	uint64_t written;
	uint64_t dedup_files;
} dedup_writer;

static void dedup_destroy(sqfs_object_t *obj)
{
	dedup_writer *w = (dedup_writer *)obj;
	free(w->blocks);
	free(w->runs);
	free(w);
}

static uint64_t run_hash(const written_block *b, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i].size) * 1099511628211ULL;
		h = (h ^ b[i].checksum) * 1099511628211ULL;
		h = (h ^ (b[i].flags & SQFS_BLK_IS_SPARSE)) * 1099511628211ULL;
	}
	return h ? h : 1;
}

static void runs_insert(dedup_writer *w, file_run run);

static void runs_grow(dedup_writer *w)
{
	file_run *old = w->runs;
	size_t old_cap = w->cap_runs;
	w->cap_runs = old_cap ? old_cap * 2 : 1024;
	w->runs = lt_xcalloc(w->cap_runs, sizeof(*w->runs));
	w->n_runs = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].hash != 0)
			runs_insert(w, old[i]);
	free(old);
}

static void runs_insert(dedup_writer *w, file_run run)
{
	if ((w->n_runs + 1) * 4 >= w->cap_runs * 3)
		runs_grow(w);
	size_t mask = w->cap_runs - 1, i = run.hash & mask;
	while (w->runs[i].hash != 0)
		i = (i + 1) & mask;
	w->runs[i] = run;
	w->n_runs++;
}

/* Byte comparison of two block runs on disk (the hash only says they may be equal). */
static int runs_equal(dedup_writer *w, const file_run *a, size_t b_first, bool *equal)
{
	*equal = false;
	const written_block *x = &w->blocks[a->first], *y = &w->blocks[b_first];
	for (size_t i = 0; i < a->count; i++)
		if (x[i].size != y[i].size || x[i].checksum != y[i].checksum ||
		    x[i].flags != y[i].flags)
			return 0;
	uint8_t bx[65536], by[65536];
	for (size_t i = 0; i < a->count; i++) {
		uint32_t left = x[i].size;
		uint64_t ox = x[i].offset, oy = y[i].offset;
		while (left > 0) {
			size_t n = left > sizeof(bx) ? sizeof(bx) : left;
			sqfs_file_t *f = &w->file->base_iface;
			int r = f->read_at(f, ox, bx, n);
			if (r == 0)
				r = f->read_at(f, oy, by, n);
			if (r != 0)
				return r;
			if (memcmp(bx, by, n) != 0)
				return 0;
			left -= (uint32_t)n;
			ox += n;
			oy += n;
		}
	}
	*equal = true;
	return 0;
}

static int dedup_write_block(sqfs_block_writer_t *base, void *user, sqfs_u32 size,
			     sqfs_u32 checksum, sqfs_u32 flags, const sqfs_u8 *data,
			     sqfs_u64 *location)
{
	dedup_writer *w = (dedup_writer *)base;
	sqfs_file_t *f = &w->file->base_iface;
	uint64_t offset = f->get_size(f);
	bool sparse = (flags & SQFS_BLK_IS_SPARSE) != 0;

	if (flags & SQFS_BLK_FRAGMENT_BLOCK) {
		int r = f->write_at(f, offset, data, size);
		if (r != 0)
			return r;
		w->written++;
		if (w->run_open)
			w->run_broken = true;
		*location = offset;
		return 0;
	}
	if (flags & SQFS_BLK_FIRST_BLOCK) {
		w->run_start = w->n_blocks;
		w->run_open = true;
		w->run_broken = false;
	}
	if (!sparse && size > 0) {
		int r = f->write_at(f, offset, data, size);
		if (r != 0)
			return r;
		w->written++;
	}
	w->blocks = lt_array_grow(w->blocks, sizeof(*w->blocks), w->n_blocks + 1, &w->cap_blocks);
	w->blocks[w->n_blocks++] = (written_block){
	    .offset = offset,
	    .size = sparse ? 0 : size,
	    .checksum = checksum,
	    .flags = flags & (SQFS_BLK_IS_SPARSE | SQFS_BLK_IS_COMPRESSED),
	};
	*location = offset;
	if (!(flags & SQFS_BLK_LAST_BLOCK))
		return 0;

	/* The whole file is written: look for an earlier file with the same blocks. */
	size_t first = w->run_start, count = w->n_blocks - first;
	w->run_open = false;
	uint64_t start = w->blocks[first].offset;
	*location = start;
	if (w->run_broken || (flags & SQFS_BLK_DONT_DEDUPLICATE))
		return 0;
	uint64_t h = run_hash(&w->blocks[first], count);
	if (w->cap_runs > 0) {
		size_t mask = w->cap_runs - 1;
		for (size_t i = h & mask; w->runs[i].hash != 0; i = (i + 1) & mask) {
			if (w->runs[i].hash != h || w->runs[i].count != count)
				continue;
			bool equal = false;
			int r = runs_equal(w, &w->runs[i], first, &equal);
			if (r != 0)
				return r;
			if (!equal)
				continue;
			r = f->truncate(f, start);
			if (r != 0)
				return r;
			*location = w->blocks[w->runs[i].first].offset;
			for (size_t k = 0; k < count; k++)
				if (w->blocks[first + k].size > 0)
					w->written--;
			w->n_blocks = first;
			w->dedup_files++;
			return 0;
		}
	}
	runs_insert(w, (file_run){.hash = h, .first = first, .count = count});
	return 0;
}

static sqfs_u64 dedup_block_count(const sqfs_block_writer_t *base)
{
	return ((const dedup_writer *)base)->written;
}

sqfs_block_writer_t *sq_dedup_writer_new(sq_file *file)
{
	dedup_writer *w = lt_xcalloc(1, sizeof(*w));
	w->base.base.destroy = dedup_destroy;
	w->base.write_data_block = dedup_write_block;
	w->base.get_block_count = dedup_block_count;
	w->file = file;
	return &w->base;
}

uint64_t sq_dedup_writer_files(const sqfs_block_writer_t *wr)
{
	return ((const dedup_writer *)wr)->dedup_files;
}
