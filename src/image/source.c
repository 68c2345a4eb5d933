/* Files of a source (a layout directory or an archive member), verified blob reads and the
 * layer blob streams handed out by img_blob_*. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

int img_src_find(const img_source *src, const char *path, src_file *f, lt_error **err)
{
	memset(f, 0, sizeof(*f));
	if (src->reg != NULL) {
		/* Registries: blobs are checked when they are read (size unknown here). */
		f->size = -1;
		f->path = lt_xstrdup(path);
		return 1;
	}
	if (src->is_dir) {
		struct stat st;
		if (fstatat(src->fd, path, &st, 0) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 0;
			return lt_error_set(err, errno, "%s", path);
		}
		if (!S_ISREG(st.st_mode))
			return lt_error_set(err, 0, "%s is not a regular file", path);
		f->size = st.st_size;
		f->path = lt_xstrdup(path);
		return 1;
	}
	const tar_member *m;
	int r = img_tar_resolve(&src->tar, path, &m, err);
	if (r <= 0)
		return r;
	f->member = m;
	f->size = m->size;
	f->path = lt_xstrdup(m->name);
	return 1;
}

void img_src_file_clear(src_file *f)
{
	free(f->path);
	memset(f, 0, sizeof(*f));
}

/* ---------------------------------------------------------------------------------------------
 * Streams
 */
struct src_stream {
	int fd; /* directory sources */
	tar_stream *ts;
	char *path;
};

int img_src_stream_open(const img_source *src, const src_file *f, src_stream **out, lt_error **err)
{
	src_stream *s = lt_xcalloc(1, sizeof(*s));
	s->fd = -1;
	s->path = lt_xstrdup(f->path);
	if (src->is_dir) {
		s->fd = openat(src->fd, f->path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			lt_error_set(err, errno, "opening %s", f->path);
			img_src_stream_close(s);
			return -1;
		}
	} else if (img_tar_stream_open(&src->tar, f->member, &s->ts, err) < 0) {
		img_src_stream_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

ssize_t img_src_stream_read(src_stream *s, void *buf, size_t len, lt_error **err)
{
	if (s->ts != NULL)
		return img_tar_stream_read(s->ts, buf, len, err);
	for (;;) {
		ssize_t n = read(s->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lt_error_set(err, errno, "reading %s", s->path);
		return n;
	}
}

void img_src_stream_close(src_stream *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	img_tar_stream_close(s->ts);
	free(s->path);
	free(s);
}

int img_src_read_all(const img_source *src, const src_file *f, size_t limit, char **data,
		     size_t *len, lt_error **err)
{
	*data = NULL;
	*len = 0;
	if (f->size > (int64_t)limit)
		return lt_error_set(err, 0, "%s is too large (%" PRId64 " bytes)", f->path,
				    f->size);
	src_stream *s;
	if (img_src_stream_open(src, f, &s, err) < 0)
		return -1;
	lt_buf b = {0};
	lt_buf_reserve(&b, (size_t)f->size + 1);
	for (;;) {
		if (b.len > limit) {
			lt_buf_free(&b);
			img_src_stream_close(s);
			return lt_error_set(err, 0, "%s is too large", f->path);
		}
		if (b.len + 1 >= b.cap)
			lt_buf_reserve(&b, b.cap);
		ssize_t r = img_src_stream_read(s, b.data + b.len, b.cap - b.len - 1, err);
		if (r < 0) {
			lt_buf_free(&b);
			img_src_stream_close(s);
			return -1;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	img_src_stream_close(s);
	*data = lt_buf_steal(&b, len);
	(*data)[*len] = '\0';
	return 0;
}

static void digest_of(const void *data, size_t len, char out[72])
{
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(data, len, d);
	lt_sha256_digest_string(d, out);
}

int img_src_read_blob(const img_source *src, const char *digest, int64_t size, const char *what,
		      char **data, size_t *len, lt_error **err)
{
	*data = NULL;
	*len = 0;
	if (src->reg != NULL)
		return img_reg_read_small_blob(src, digest, size, what, data, len, err);
	char path[96];
	snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
	if (size > IMG_MAX_JSON)
		return lt_error_set(err, 0, "%s %s is too large (%" PRId64 " bytes)", what, digest,
				    size);
	src_file f;
	int r = img_src_find(src, path, &f, err);
	if (r < 0)
		return lt_error_wrap(err, "%s %s", what, digest);
	if (r == 0)
		return lt_error_set(err, 0, "blob %s (%s) is missing", digest, what);
	if (size >= 0 && f.size != size) {
		lt_error_set(err, 0,
			     "%s: size mismatch for %s: the descriptor says %" PRId64
			     " bytes, the blob has %" PRId64,
			     what, digest, size, f.size);
		img_src_file_clear(&f);
		return -1;
	}
	r = img_src_read_all(src, &f, IMG_MAX_JSON, data, len, err);
	img_src_file_clear(&f);
	if (r < 0)
		return lt_error_wrap(err, "%s", what);
	if (size >= 0 && (int64_t)*len != size) {
		lt_error_set(err, 0,
			     "%s: size mismatch for %s: expected %" PRId64 " bytes, read %zu", what,
			     digest, size, *len);
		goto fail;
	}
	char got[72];
	digest_of(*data, *len, got);
	if (strcmp(got, digest) != 0) {
		lt_error_set(err, 0, "%s: digest mismatch for %s: got %s", what, digest, got);
		goto fail;
	}
	return 0;
fail:
	free(*data);
	*data = NULL;
	*len = 0;
	return -1;
}

int img_src_read_doc(const img_source *src, const char *digest, int64_t size, const char *what,
		     char **data, size_t *len, lt_error **err)
{
	if (src->reg != NULL)
		return img_reg_read_manifest(src, digest, size, what, data, len, err);
	return img_src_read_blob(src, digest, size, what, data, len, err);
}

int img_src_hash_file(const img_source *src, const src_file *f, char out[72], lt_error **err)
{
	src_stream *s;
	if (img_src_stream_open(src, f, &s, err) < 0)
		return -1;
	lt_sha256 *h = lt_sha256_new();
	char *buf = lt_xmalloc(256 * 1024);
	for (;;) {
		ssize_t n = img_src_stream_read(s, buf, 256 * 1024, err);
		if (n < 0) {
			lt_sha256_free(h);
			free(buf);
			img_src_stream_close(s);
			return -1;
		}
		if (n == 0)
			break;
		lt_sha256_update(h, buf, (size_t)n);
	}
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_final(h, d);
	lt_sha256_digest_string(d, out);
	free(buf);
	img_src_stream_close(s);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Layer blobs
 */
struct img_blob {
	const img_source *src;
	size_t index;
	src_stream *s;
	reg_reader *rr; /* registry sources */
	lt_sha256 *h;
	const char *digest;
	int64_t size;
	int64_t total;
	bool done;
	bool failed;
};

int img_blob_open(img_source *src, size_t index, img_blob **out, lt_error **err)
{
	*out = NULL;
	if (index >= src->n_layers)
		return lt_error_set(err, 0, "%s: no layer %zu (the image has %zu)", src->display,
				    index + 1, src->n_layers);
	const src_layer *l = &src->layers[index];
	if (src->reg != NULL) {
		img_blob *b = lt_xcalloc(1, sizeof(*b));
		b->src = src;
		b->index = index;
		b->digest = l->digest;
		b->size = l->size;
		if (img_reg_reader_open(src, index, &b->rr, err) < 0) {
			free(b);
			return -1;
		}
		b->h = lt_sha256_new();
		*out = b;
		return 0;
	}
	src_file f;
	int r = img_src_find(src, l->path, &f, err);
	if (r == 0)
		lt_error_set(err, 0, "blob %s is missing", l->digest);
	if (r <= 0)
		return -1;
	img_blob *b = lt_xcalloc(1, sizeof(*b));
	b->src = src;
	b->index = index;
	b->digest = l->digest;
	b->size = l->size;
	if (img_src_stream_open(src, &f, &b->s, err) < 0) {
		img_src_file_clear(&f);
		free(b);
		return -1;
	}
	img_src_file_clear(&f);
	b->h = lt_sha256_new();
	*out = b;
	return 0;
}

ssize_t img_blob_read(img_blob *b, void *buf, size_t len, lt_error **err)
{
	if (b->failed)
		return lt_error_set(err, 0, "blob %s failed verification", b->digest);
	if (b->done || len == 0)
		return 0;
	ssize_t n = b->rr ? img_reg_reader_read(b->rr, buf, len, err)
			  : img_src_stream_read(b->s, buf, len, err);
	if (n < 0)
		return -1;
	if (n > 0) {
		b->total += n;
		b->failed = b->size >= 0 && b->total > b->size;
		if (b->failed)
			return lt_error_set(
			    err, 0, "blob %s has more bytes than the %" PRId64 " of its descriptor",
			    b->digest, b->size);
		lt_sha256_update(b->h, buf, (size_t)n);
		return n;
	}
	b->failed = b->size >= 0 && b->total != b->size;
	if (b->failed)
		return lt_error_set(err, 0,
				    "blob %s is truncated: %" PRId64 " bytes instead of %" PRId64,
				    b->digest, b->total, b->size);
	uint8_t d[LT_SHA256_LEN];
	char got[72];
	lt_sha256_final(b->h, d);
	b->h = NULL;
	lt_sha256_digest_string(d, got);
	b->done = true;
	b->failed = strcmp(got, b->digest) != 0;
	if (b->failed && b->rr != NULL)
		img_reg_reader_invalidate(b->rr);
	if (b->failed)
		return lt_error_set(err, 0, "blob %s: digest mismatch: got %s", b->digest, got);
	return 0;
}

void img_blob_close(img_blob *b)
{
	if (b == NULL)
		return;
	img_src_stream_close(b->s);
	if (b->rr != NULL)
		img_reg_reader_close(b->rr);
	lt_sha256_free(b->h);
	free(b);
}

void img_layer_order(const img_source *src, size_t *order)
{
	size_t n = src->n_layers;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (src->is_dir || !src->tar.compressed)
		return;
	/* Insertion sort by archive position (few layers; stable for shared members). */
	for (size_t i = 1; i < n; i++) {
		size_t v = order[i], j = i;
		while (j > 0 && src->layers[order[j - 1]].ordinal > src->layers[v].ordinal) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
}
