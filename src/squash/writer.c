/* Tree -> SquashFS with libsquashfs. See squash.h for the conventions followed. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "squash_internal.h"

#define DEFAULT_BLOCK_SIZE (128 * 1024)
#define NO_XATTR	   0xFFFFFFFFu
#define PAD_SIZE	   4096

static const struct {
	const char *name;
	int id;
} compressors[] = {
    {"gzip", SQ_COMP_GZIP}, {"lzma", SQ_COMP_LZMA}, {"lzo", SQ_COMP_LZO},
    {"xz", SQ_COMP_XZ},	    {"lz4", SQ_COMP_LZ4},   {"zstd", SQ_COMP_ZSTD},
};

int sq_parse_compressor(const char *name, int *out, lt_error **err)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(compressors); i++) {
		if (strcmp(name, compressors[i].name) == 0 && compressors[i].id != SQ_COMP_LZMA) {
			*out = compressors[i].id;
			return 0;
		}
	}
	return lt_error_set(
	    err, 0, "--compression: unknown compressor '%s' (zstd, gzip, xz, lz4, lzo)", name);
}

const char *sq_compressor_name(int compressor)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(compressors); i++)
		if (compressors[i].id == compressor)
			return compressors[i].name;
	return "unknown";
}

static int default_level(int compressor)
{
	switch (compressor) {
	case SQ_COMP_ZSTD:
		return 3; /* 15x faster to build than gzip-9 for +3.5 % size (architecture.md) */
	case SQ_COMP_GZIP:
		return 9; /* what mksquashfs and Apptainer use */
	case SQ_COMP_XZ:
		return 6;
	case SQ_COMP_LZO:
		return 8;
	default:
		return 0;
	}
}

int sq_check_options(const sq_options *o, lt_error **err)
{
	int comp = o->compressor ? o->compressor : SQ_COMP_ZSTD;
	int min = 0, max = 0;
	switch (comp) {
	case SQ_COMP_ZSTD:
		min = 1, max = 22;
		break;
	case SQ_COMP_GZIP:
		min = 1, max = 9;
		break;
	case SQ_COMP_XZ:
		min = 0, max = 9;
		break;
	case SQ_COMP_LZO:
		min = 1, max = 9;
		break;
	case SQ_COMP_LZ4:
		break;
	default:
		return lt_error_set(err, 0, "unsupported compressor %d", comp);
	}
	if (o->level != 0 && (o->level < min || o->level > max)) {
		if (max == 0)
			return lt_error_set(err, 0, "--compression-level: %s has no levels",
					    sq_compressor_name(comp));
		return lt_error_set(err, 0,
				    "--compression-level: %d is out of range for %s (%d-%d)",
				    o->level, sq_compressor_name(comp), min, max);
	}
	uint32_t bs = o->block_size;
	if (bs != 0 && (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1)) != 0))
		return lt_error_set(
		    err, 0, "--block-size: %u is not a power of two from 4096 to 1048576", bs);
	return 0;
}

int sq_fail(sq_writer *w, int code, const char *what, lt_error **err)
{
	if (code == SQFS_ERROR_IO && w->file->error != 0)
		return lt_error_set(err, w->file->error, "%s: %s", w->name, what);
	static const char *const msgs[] = {
	    [1] = "out of memory",    [2] = "I/O error",	 [3] = "compressor error",
	    [4] = "internal error",   [5] = "data corrupted",	 [6] = "unsupported",
	    [7] = "numeric overflow", [8] = "out of bounds",	 [11] = "bad block size",
	    [12] = "not a directory", [13] = "no such entry",	 [14] = "link loop",
	    [15] = "not a file",      [16] = "invalid argument", [17] = "sequence error",
	};
	int idx = -code;
	const char *msg =
	    (idx > 0 && idx < (int)LT_ARRAY_SIZE(msgs) && msgs[idx]) ? msgs[idx] : "error";
	return lt_error_set(err, 0, "%s: %s: %s (libsquashfs %d)", w->name, what, msg, code);
}

static unsigned count_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

int sq_writer_new(int fd, uint64_t base_offset, const char *name, const sq_options *opts,
		  sq_writer **out, lt_error **err)
{
	if (sq_check_options(opts, err) < 0)
		return -1;
	sq_writer *w = lt_xcalloc(1, sizeof(*w));
	w->name = lt_xstrdup(name);
	w->opts = *opts;
	if (w->opts.compressor == 0)
		w->opts.compressor = SQ_COMP_ZSTD;
	if (w->opts.level == 0)
		w->opts.level = default_level(w->opts.compressor);
	if (w->opts.block_size == 0)
		w->opts.block_size = DEFAULT_BLOCK_SIZE;
	if (w->opts.jobs == 0)
		w->opts.jobs = count_cpus();
	w->file = sq_file_new(fd, base_offset);

	sqfs_compressor_config_t cfg;
	int r = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)w->opts.compressor,
					    w->opts.block_size, 0);
	if (r == 0 && w->opts.level != 0)
		cfg.level = (sqfs_u32)w->opts.level;
	if (r == 0)
		r = sq_compressor_create(&cfg, &w->cmp);
	if (r == 0) {
		cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
		r = sq_compressor_create(&cfg, &w->uncmp);
	}
	if (r != 0) {
		sq_fail(w, r, "creating the compressor", err);
		goto fail;
	}
	r = sqfs_super_init(&w->super, w->opts.block_size, w->opts.mkfs_time,
			    (SQFS_COMPRESSOR)w->opts.compressor);
	if (r == 0)
		r = sqfs_super_write(&w->super, &w->file->base_iface);
	if (r != 0) {
		sq_fail(w, r, "writing the superblock", err);
		goto fail;
	}
	r = w->cmp->write_options(w->cmp, &w->file->base_iface);
	if (r < 0) {
		sq_fail(w, r, "writing the compressor options", err);
		goto fail;
	}
	if (r > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	w->bw = sq_dedup_writer_new(w->file);
	w->frag = sqfs_frag_table_create(0);
	if (w->frag == NULL) {
		lt_error_set(err, ENOMEM, "%s", w->name);
		goto fail;
	}
	sqfs_block_processor_desc_t desc;
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.max_block_size = w->opts.block_size;
	desc.num_workers = w->opts.jobs;
	desc.max_backlog = 10 * w->opts.jobs;
	desc.cmp = w->cmp;
	desc.wr = w->bw;
	desc.tbl = w->frag;
	desc.file = &w->file->base_iface;
	desc.uncmp = w->uncmp;
	r = sqfs_block_processor_create_ex(&desc, &w->proc);
	if (r != 0) {
		sq_fail(w, r, "starting the compression threads", err);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	sq_writer_free(w);
	return -1;
}

void sq_writer_free(sq_writer *w)
{
	if (w == NULL)
		return;
	if (w->proc)
		sqfs_destroy(w->proc);
	for (size_t i = 0; i < w->n_slots; i++) {
		sqfs_free(*w->slots[i]);
		free(w->slots[i]);
	}
	free(w->slots);
	if (w->dirs)
		sqfs_destroy(w->dirs);
	if (w->dir_mw)
		sqfs_destroy(w->dir_mw);
	if (w->inode_mw)
		sqfs_destroy(w->inode_mw);
	if (w->xattrs)
		sqfs_destroy(w->xattrs);
	if (w->ids)
		sqfs_destroy(w->ids);
	if (w->frag)
		sqfs_destroy(w->frag);
	if (w->bw)
		sqfs_destroy(w->bw);
	if (w->uncmp)
		sqfs_destroy(w->uncmp);
	if (w->cmp)
		sqfs_destroy(w->cmp);
	if (w->file)
		sqfs_destroy(w->file);
	free(w->name);
	free(w);
}

int sq_writer_begin_file(sq_writer *w, tree_inode *ino, lt_error **err)
{
	if (ino->writer_data != NULL)
		return lt_error_set(err, 0, "%s: file data given twice", w->name);
	w->slots = lt_array_grow(w->slots, sizeof(*w->slots), w->n_slots + 1, &w->cap_slots);
	sqfs_inode_generic_t **slot = lt_xcalloc(1, sizeof(*slot));
	w->slots[w->n_slots++] = slot;
	ino->writer_data = slot;
	int r = sqfs_block_processor_begin_file(w->proc, slot, NULL, 0);
	if (r != 0)
		return sq_fail(w, r, "compressing file data", err);
	w->in_file = true;
	return 0;
}

int sq_writer_append(sq_writer *w, const void *data, size_t len, lt_error **err)
{
	int r = sqfs_block_processor_append(w->proc, data, len);
	if (r != 0)
		return sq_fail(w, r, "compressing file data", err);
	w->stats.bytes_in += len;
	return 0;
}

int sq_writer_append_zeros(sq_writer *w, uint64_t len, lt_error **err)
{
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		if (sq_writer_append(w, zeros, n, err) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

int sq_writer_end_file(sq_writer *w, lt_error **err)
{
	w->in_file = false;
	int r = sqfs_block_processor_end_file(w->proc);
	if (r != 0)
		return sq_fail(w, r, "compressing file data", err);
	return 0;
}

const sq_stats *sq_writer_stats(const sq_writer *w)
{
	return &w->stats;
}
