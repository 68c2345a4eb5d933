/* Layer streams: decompression (chosen from the magic bytes), the diff_id check, and tar
 * parsing with libarchive. litho decompresses itself instead of letting libarchive do it
 * because the diff_id is the hash of the uncompressed bytes, which libarchive does not expose. */
#include "dlib/dlib.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "layers/layers.h"

#define IN_SIZE	 (256 * 1024)
#define OUT_SIZE (1024 * 1024)

enum stream_format { FMT_UNKNOWN, FMT_PLAIN, FMT_GZIP, FMT_ZSTD };

struct layer_reader {
	layer_read_fn read;
	void *ctx;
	char *name;
	char *expected_diff_id;

	enum stream_format fmt;
	uint8_t *in;
	size_t in_len, in_pos;
	bool in_eof;
	uint8_t *out;

	z_stream z;
	bool z_ready;
	bool z_member_done; /* between gzip members */
	ZSTD_DStream *zs;
	size_t zs_last; /* last ZSTD_decompressStream hint: 0 = frame complete */
	bool stream_done;

	lt_sha256 *diff_hash;
	uint64_t tar_bytes;
	uint64_t stored_bytes;

	struct archive *a;
	bool archive_open;
	bool archive_eof;
	uint64_t next_ordinal;
	size_t dropped_xattrs;
	layer_entry cur;
	lt_error *err; /* error raised inside a libarchive callback */
	bool finished;
};

layer_reader *layer_reader_new(layer_read_fn read, void *ctx, const char *name,
			       const char *expected_diff_id)
{
	layer_reader *r = lt_xcalloc(1, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
	r->name = lt_xstrdup(name);
	r->expected_diff_id = expected_diff_id ? lt_xstrdup(expected_diff_id) : NULL;
	r->in = lt_xmalloc(IN_SIZE);
	r->out = lt_xmalloc(OUT_SIZE);
	/* without a diff_id to check, the tar is not hashed at all (it is the costliest hash) */
	r->diff_hash = expected_diff_id ? lt_sha256_new() : NULL;
	return r;
}

static void entry_clear(layer_entry *e)
{
	free(e->path);
	free(e->hardlink);
	free(e->symlink);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].key);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

void layer_reader_free(layer_reader *r)
{
	if (r == NULL)
		return;
	if (r->a)
		archive_read_free(r->a);
	if (r->z_ready)
		inflateEnd(&r->z);
	if (r->zs)
		ZSTD_freeDStream(r->zs);
	entry_clear(&r->cur);
	lt_sha256_free(r->diff_hash);
	lt_error_free(&r->err);
	free(r->in);
	free(r->out);
	free(r->name);
	free(r->expected_diff_id);
	free(r);
}

uint64_t layer_reader_stored_bytes(const layer_reader *r)
{
	return r->stored_bytes;
}

/* Makes sure unread input is available; returns 0 at the end of the stored stream. */
static ssize_t fill_input(layer_reader *r, lt_error **err)
{
	if (r->in_pos < r->in_len)
		return (ssize_t)(r->in_len - r->in_pos);
	if (r->in_eof)
		return 0;
	ssize_t n = r->read(r->ctx, r->in, IN_SIZE, err);
	if (n < 0)
		return lt_error_wrap(err, "reading %s", r->name);
	r->in_pos = 0;
	r->in_len = (size_t)n;
	r->stored_bytes += (uint64_t)n;
	if (n == 0)
		r->in_eof = true;
	return n;
}

static int detect_format(layer_reader *r, lt_error **err)
{
	/* Gather at least 4 bytes (or the whole stream when it is shorter). */
	while (r->in_len - r->in_pos < 4 && !r->in_eof) {
		if (r->in_pos > 0) {
			memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
			r->in_len -= r->in_pos;
			r->in_pos = 0;
		}
		ssize_t n = r->read(r->ctx, r->in + r->in_len, IN_SIZE - r->in_len, err);
		if (n < 0)
			return lt_error_wrap(err, "reading %s", r->name);
		if (n == 0)
			r->in_eof = true;
		r->in_len += (size_t)n;
		r->stored_bytes += (uint64_t)n;
	}
	const uint8_t *p = r->in + r->in_pos;
	size_t avail = r->in_len - r->in_pos;
	if (avail >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		r->fmt = FMT_GZIP;
		memset(&r->z, 0, sizeof(r->z));
		if (inflateInit2(&r->z, 15 + 16) != Z_OK)
			return lt_error_set(err, 0, "%s: cannot initialise gzip decompression",
					    r->name);
		r->z_ready = true;
	} else if (avail >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
		r->fmt = FMT_ZSTD;
		r->zs = ZSTD_createDStream();
		if (r->zs == NULL || ZSTD_isError(ZSTD_initDStream(r->zs)))
			return lt_error_set(err, 0, "%s: cannot initialise zstd decompression",
					    r->name);
		r->zs_last = 1;
	} else {
		r->fmt = FMT_PLAIN;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Produces up to `cap` uncompressed bytes; 0 at the end of the stream. */
static ssize_t produce(layer_reader *r, uint8_t *buf, size_t cap, lt_error **err)
{
	if (r->fmt == FMT_UNKNOWN && detect_format(r, err) < 0)
		return -1;
	size_t produced = 0;
	while (produced == 0 && !r->stream_done) {
		ssize_t avail = fill_input(r, err);
		if (avail < 0)
			return -1;
		if (r->fmt == FMT_PLAIN) {
			if (avail == 0) {
				r->stream_done = true;
				break;
			}
			size_t n = (size_t)avail < cap ? (size_t)avail : cap;
			memcpy(buf, r->in + r->in_pos, n);
			r->in_pos += n;
			produced = n;
		} else if (r->fmt == FMT_GZIP) {
			if (avail == 0) {
				if (!r->z_member_done)
					return lt_error_set(err, 0,
							    "%s: truncated gzip stream (unexpected "
							    "end of data)",
							    r->name);
				r->stream_done = true;
				break;
			}
			if (r->z_member_done) {
				/* pigz/eStargz write several members; trailing zeros are padding */
				const uint8_t *p = r->in + r->in_pos;
				if (p[0] == 0x1f && ((size_t)avail < 2 || p[1] == 0x8b)) {
					inflateReset(&r->z);
					r->z_member_done = false;
				} else if (all_zero(p, (size_t)avail)) {
					r->in_pos = r->in_len;
					continue;
				} else {
					/* Like docker and umoci: bytes after the gzip data are
					 * covered by the blob digest and otherwise ignored. */
					r->in_pos = r->in_len;
					continue;
				}
			}
			r->z.next_in = r->in + r->in_pos;
			r->z.avail_in = (uInt)avail;
			r->z.next_out = buf;
			r->z.avail_out = (uInt)cap;
			int zr = inflate(&r->z, Z_NO_FLUSH);
			r->in_pos = r->in_len - r->z.avail_in;
			produced = cap - r->z.avail_out;
			if (zr == Z_STREAM_END) {
				r->z_member_done = true;
			} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				return lt_error_set(err, 0, "%s: corrupt gzip data: %s", r->name,
						    r->z.msg ? r->z.msg : "inflate failed");
			}
		} else {
			if (avail == 0) {
				if (r->zs_last != 0)
					return lt_error_set(err, 0,
							    "%s: truncated zstd stream (unexpected "
							    "end of data)",
							    r->name);
				r->stream_done = true;
				break;
			}
			ZSTD_inBuffer zin = {r->in + r->in_pos, (size_t)avail, 0};
			ZSTD_outBuffer zout = {buf, cap, 0};
			size_t zr = ZSTD_decompressStream(r->zs, &zout, &zin);
			if (ZSTD_isError(zr))
				return lt_error_set(err, 0, "%s: corrupt zstd data: %s", r->name,
						    ZSTD_getErrorName(zr));
			r->zs_last = zr;
			r->in_pos += zin.pos;
			produced = zout.pos;
		}
	}
	if (produced > 0) {
		if (r->diff_hash != NULL)
			lt_sha256_update(r->diff_hash, buf, produced);
		r->tar_bytes += produced;
	}
	return (ssize_t)produced;
}

static la_ssize_t archive_read_cb(struct archive *a, void *ud, const void **buf)
{
	layer_reader *r = ud;
	ssize_t n = produce(r, r->out, OUT_SIZE, &r->err);
	if (n < 0) {
		/* the cause (already naming the layer) stays in r->err for archive_failure */
		archive_set_error(a, EIO, "the layer stream could not be read");
		return -1;
	}
	*buf = r->out;
	return n;
}

static int open_archive(layer_reader *r, lt_error **err)
{
	r->a = archive_read_new();
	if (r->a == NULL)
		return lt_error_set(err, ENOMEM, "%s", r->name);
	archive_read_support_format_tar(r->a);
	archive_read_support_format_empty(r->a);
	if (archive_read_open(r->a, r, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
		return lt_error_set(err, 0, "%s: %s", r->name, archive_error_string(r->a));
	r->archive_open = true;
	return 0;
}

/* Turns libarchive's failure into our error, preferring the cause raised by our callback. */
static int archive_failure(layer_reader *r, lt_error **err, const char *what)
{
	if (r->err != NULL)
		return lt_error_move(err, &r->err);
	const char *msg = archive_error_string(r->a);
	return lt_error_set(err, 0, "%s: %s: %s", r->name, what, msg ? msg : "unknown error");
}

static enum tree_ftype map_type(mode_t t)
{
	switch (t) {
	case AE_IFDIR:
		return TREE_FT_DIR;
	case AE_IFLNK:
		return TREE_FT_SYMLINK;
	case AE_IFCHR:
		return TREE_FT_CHR;
	case AE_IFBLK:
		return TREE_FT_BLK;
	case AE_IFIFO:
		return TREE_FT_FIFO;
	case AE_IFSOCK:
		return TREE_FT_SOCK;
	default:
		return TREE_FT_REG;
	}
}

/* SquashFS stores only these prefixes; system.* (POSIX ACLs) cannot be represented, and
 * security.selinux labels are host policy that umoci and Apptainer never apply either. */
static bool storable_xattr(const char *key)
{
	if (strcmp(key, "security.selinux") == 0)
		return false;
	return lt_str_has_prefix(key, "user.") || lt_str_has_prefix(key, "trusted.") ||
	       lt_str_has_prefix(key, "security.");
}

static int compare_xattrs(const void *a, const void *b)
{
	return strcmp(((const tree_xattr *)a)->key, ((const tree_xattr *)b)->key);
}

static int clamp_id(int64_t v, const char *what, layer_reader *r, const char *path, uint32_t *out,
		    lt_error **err)
{
	if (v < 0 || v > UINT32_MAX)
		return lt_error_set(err, 0, "%s: entry %s: %s %lld is out of range", r->name, path,
				    what, (long long)v);
	*out = (uint32_t)v;
	return 0;
}

static int convert_entry(layer_reader *r, struct archive_entry *ae, lt_error **err)
{
	layer_entry *e = &r->cur;
	entry_clear(e);
	e->ordinal = r->next_ordinal++;

	const char *name = archive_entry_pathname(ae);
	if (name == NULL)
		name = archive_entry_pathname_utf8(ae);
	if (name == NULL || *name == '\0')
		return lt_error_set(err, 0, "%s: entry %llu has an empty or unreadable name",
				    r->name, (unsigned long long)e->ordinal);
	if (strlen(name) > LAYER_PATH_MAX)
		return lt_error_set(err, 0, "%s: entry name longer than %d bytes: %.64s...",
				    r->name, LAYER_PATH_MAX, name);
	e->path = lt_path_confine(name, &e->clamped);

	const char *base = lt_path_basename(e->path);
	if (lt_str_has_prefix(base, ".wh.")) {
		char *dir = lt_path_dirname(e->path);
		if (strcmp(dir, ".") == 0) {
			free(dir);
			dir = lt_xstrdup("");
		}
		if (strcmp(base, ".wh..wh..opq") == 0) {
			e->opaque = true;
			free(e->path);
			e->path = dir;
		} else if (lt_str_has_prefix(base, ".wh..wh.")) {
			/* AUFS metadata (.wh..wh.plnk, .wh..wh.aufs ...): skipped like Docker */
			e->skip = true;
			free(dir);
			return 0;
		} else if (base[4] == '\0') {
			free(dir);
			return lt_error_set(err, 0,
					    "%s: invalid whiteout entry '%s' (nothing after .wh.)",
					    r->name, name);
		} else {
			char *target = dir[0] ? lt_strdup_printf("%s/%s", dir, base + 4)
					      : lt_xstrdup(base + 4);
			free(dir);
			free(e->path);
			e->path = target;
			e->whiteout = true;
		}
		return 0;
	}

	e->type = map_type(archive_entry_filetype(ae));
	const char *hl = archive_entry_hardlink(ae);
	if (hl != NULL) {
		bool clamped = false;
		e->hardlink = lt_path_confine(hl, &clamped);
		if (clamped || e->hardlink[0] == '\0')
			return lt_error_set(err, 0,
					    "%s: hard link %s points outside the image (%s)",
					    r->name, e->path, hl);
		e->type = TREE_FT_REG;
	}
	if (e->type == TREE_FT_SYMLINK) {
		const char *target = archive_entry_symlink(ae);
		if (target == NULL)
			target = archive_entry_symlink_utf8(ae);
		e->symlink = lt_xstrdup(target ? target : "");
	}
	e->mode = (uint32_t)archive_entry_perm(ae) & 07777;
	if (clamp_id(archive_entry_uid(ae), "uid", r, e->path, &e->uid, err) < 0 ||
	    clamp_id(archive_entry_gid(ae), "gid", r, e->path, &e->gid, err) < 0)
		return -1;
	e->mtime = archive_entry_mtime(ae);
	if (e->type == TREE_FT_REG) {
		int64_t size = archive_entry_size(ae);
		e->size = size > 0 ? (uint64_t)size : 0;
	}
	if (e->type == TREE_FT_CHR || e->type == TREE_FT_BLK) {
		e->rdev_major = (uint32_t)archive_entry_rdevmajor(ae);
		e->rdev_minor = (uint32_t)archive_entry_rdevminor(ae);
	}
	if (archive_entry_xattr_reset(ae) > 0) {
		/* libarchive reports an xattr once per PAX record that carries it, and writers
		 * often emit both SCHILY.xattr and LIBARCHIVE.xattr: the last one wins. */
		const char *key;
		const void *value;
		size_t len;
		while (archive_entry_xattr_next(ae, &key, &value, &len) == ARCHIVE_OK) {
			size_t i = 0;
			while (i < e->n_xattrs && strcmp(e->xattrs[i].key, key) != 0)
				i++;
			if (i == e->n_xattrs) {
				e->xattrs = lt_xreallocarray(e->xattrs, i + 1, sizeof(*e->xattrs));
				e->xattrs[i].key = lt_xstrdup(key);
				e->n_xattrs++;
			} else {
				free(e->xattrs[i].value);
			}
			e->xattrs[i].value = lt_xmalloc(len ? len : 1);
			if (len)
				memcpy(e->xattrs[i].value, value, len);
			e->xattrs[i].len = len;
		}
		size_t kept = 0;
		for (size_t i = 0; i < e->n_xattrs; i++) {
			if (storable_xattr(e->xattrs[i].key)) {
				e->xattrs[kept++] = e->xattrs[i];
				continue;
			}
			r->dropped_xattrs++;
			lt_debug("%s: %s: dropping xattr %s (SquashFS cannot store it)", r->name,
				 e->path, e->xattrs[i].key);
			free(e->xattrs[i].key);
			free(e->xattrs[i].value);
		}
		e->n_xattrs = kept;
		qsort(e->xattrs, kept, sizeof(*e->xattrs), compare_xattrs);
	}
	return 0;
}

int layer_reader_next(layer_reader *r, const layer_entry **entry, lt_error **err)
{
	if (!r->archive_open && open_archive(r, err) < 0)
		return -1;
	if (r->archive_eof)
		return 0;
	struct archive_entry *ae = NULL;
	int ar = archive_read_next_header(r->a, &ae);
	if (ar == ARCHIVE_EOF) {
		r->archive_eof = true;
		return 0;
	}
	if (ar == ARCHIVE_FATAL || ar == ARCHIVE_RETRY)
		return archive_failure(r, err, "reading the tar stream");
	if (ar == ARCHIVE_WARN)
		lt_debug("%s: %s", r->name, archive_error_string(r->a));
	if (convert_entry(r, ae, err) < 0)
		return -1;
	*entry = &r->cur;
	return 1;
}

int layer_reader_data(layer_reader *r, const void **buf, size_t *len, uint64_t *offset,
		      lt_error **err)
{
	la_int64_t off = 0;
	int ar = archive_read_data_block(r->a, buf, len, &off);
	if (ar == ARCHIVE_EOF)
		return 0;
	if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
		return archive_failure(r, err, "reading file data");
	*offset = (uint64_t)off;
	return 1;
}

int layer_reader_finish(layer_reader *r, lt_error **err)
{
	if (r->finished)
		return 0;
	/* libarchive stops at the end-of-archive blocks; the diff_id covers the whole stream. */
	for (;;) {
		ssize_t n = produce(r, r->out, OUT_SIZE, err);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
	}
	/* The source verifies the stored bytes once it has delivered its end. */
	while (!r->in_eof) {
		r->in_pos = r->in_len;
		if (fill_input(r, err) < 0)
			return -1;
	}
	r->finished = true;
	if (r->expected_diff_id != NULL) {
		uint8_t digest[LT_SHA256_LEN];
		lt_sha256_final(r->diff_hash, digest);
		r->diff_hash = NULL;
		char got[72];
		lt_sha256_digest_string(digest, got);
		if (strcmp(got, r->expected_diff_id) != 0)
			return lt_error_set(
			    err, 0,
			    "%s: diff_id mismatch: the uncompressed layer is %s, the "
			    "image config says %s",
			    r->name, got, r->expected_diff_id);
	}
	return 0;
}

static void list_push(layer_list *list, layer_entry *e)
{
	list->entries =
	    lt_array_grow(list->entries, sizeof(*list->entries), list->count + 1, &list->cap);
	list->entries[list->count++] = *e;
	memset(e, 0, sizeof(*e));
}

int layer_scan(layer_reader *r, layer_list *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	for (;;) {
		const layer_entry *e = NULL;
		int rc = layer_reader_next(r, &e, err);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			break;
		if (r->cur.clamped)
			out->clamped++;
		list_push(out, &r->cur);
	}
	if (layer_reader_finish(r, err) < 0)
		goto fail;
	out->tar_bytes = r->tar_bytes;
	out->dropped_xattrs = r->dropped_xattrs;
	out->stored_bytes = r->stored_bytes;
	return 0;
fail:
	layer_list_free(out);
	return -1;
}

void layer_list_free(layer_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		entry_clear(&list->entries[i]);
	free(list->entries);
	memset(list, 0, sizeof(*list));
}
