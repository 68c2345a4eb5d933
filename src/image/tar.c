/* Outer archives (oci-archive, docker-archive): a tar, plain or compressed, read with
 * libarchive and never extracted.
 *
 * One pass at open indexes every member: name, type, link target, size, archive position and
 * its first bytes. Blobs may come before manifest.json / index.json, so nothing can be resolved
 * before the pass ends.
 *  - Uncompressed tar: the pass also records where each member's data starts in the file
 *    (libarchive's consumed-bytes count right after the header, which covers pax and GNU long
 *    name headers); members are then read with pread at that offset, so any number of them can
 *    be open at once, from any thread. Data is skipped with lseek-like skips, so the pass reads
 *    only the headers.
 *  - Compressed tar (gzip, zstd, xz, bzip2, detected by libarchive from the magic bytes): the pass
 *    decompresses the whole archive once and keeps small members (JSON documents, tiny layers)
 *    in memory. Every other member open decompresses the archive again from the start up to that
 *    member, so reading n layers costs up to n partial decompressions; img_layer_order() gives
 *    archive order so that callers can at least go in one direction. Nothing is spooled to disk
 *    (the module never writes on the host).
 * The index is read-only after the pass; streams own their reader state, so distinct streams
 * are safe on distinct threads.
 */
#include "dlib/dlib.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

#define READ_BLOCK	   (128 * 1024)
#define CACHE_MEMBER_MAX   (1024 * 1024)
#define CACHE_TOTAL_MAX	   (64 * 1024 * 1024)
#define MAX_LINK_FOLLOWING 40

/* libarchive client reading the file with pread, so that readers sharing the fd do not share a
 * file position. */
typedef struct pread_client {
	int fd;
	int64_t off;
	int64_t size;
	char buf[READ_BLOCK];
} pread_client;

static la_ssize_t client_read(struct archive *a, void *data, const void **buf)
{
	pread_client *c = data;
	for (;;) {
		ssize_t n = pread(c->fd, c->buf, sizeof(c->buf), (off_t)c->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "read error");
			return -1;
		}
		c->off += n;
		*buf = c->buf;
		return n;
	}
}

static la_int64_t client_skip(struct archive *a, void *data, la_int64_t request)
{
	pread_client *c = data;
	(void)a;
	if (request <= 0)
		return 0;
	if (request > c->size - c->off)
		request = c->size - c->off > 0 ? c->size - c->off : 0;
	c->off += request;
	return request;
}

static struct archive *reader_open(int fd, int64_t size, pread_client **clientp, lt_error **err)
{
	struct archive *a = archive_read_new();
	if (a == NULL)
		lt_oom();
	/* Only the built-in decompressors: no external programs. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	pread_client *c = lt_xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->size = size;
	if (archive_read_open2(a, c, NULL, client_read, client_skip, NULL) != ARCHIVE_OK) {
		lt_error_set(err, 0, "not a tar archive: %s", archive_error_string(a));
		archive_read_free(a);
		free(c);
		return NULL;
	}
	*clientp = c;
	return a;
}

/* Reads the next header; 1 entry, 0 end, -1 error. */
static int next_header(struct archive *a, struct archive_entry **e, size_t ordinal, lt_error **err)
{
	int r = archive_read_next_header(a, e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 1;
	if (ordinal == 0)
		return lt_error_set(err, 0, "not a tar archive: %s", archive_error_string(a));
	return lt_error_set(err, 0, "reading the archive (entry %zu): %s", ordinal + 1,
			    archive_error_string(a));
}

static int member_cmp(const void *pa, const void *pb)
{
	const tar_member *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);
	if (c != 0)
		return c;
	return a->ordinal < b->ordinal ? -1 : a->ordinal > b->ordinal;
}

static void member_free(tar_member *m)
{
	free(m->name);
	free(m->link);
	free(m->data);
}

/* Reads exactly len bytes of the current entry's data. */
static int read_entry_data(struct archive *a, void *buf, size_t len, const char *name,
			   lt_error **err)
{
	size_t got = 0;
	while (got < len) {
		la_ssize_t n = archive_read_data(a, (char *)buf + got, len - got);
		if (n < 0)
			return lt_error_set(err, 0, "reading member %s: %s", name,
					    archive_error_string(a));
		if (n == 0)
			return lt_error_set(err, 0, "reading member %s: unexpected end of data",
					    name);
		got += (size_t)n;
	}
	return 0;
}

int img_tar_index_build(int fd, tar_index *idx, lt_error **err)
{
	memset(idx, 0, sizeof(*idx));
	idx->fd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lt_error_set(err, errno, "stat");
	idx->file_size = st.st_size;

	pread_client *client = NULL;
	struct archive *a = reader_open(fd, st.st_size, &client, err);
	if (a == NULL)
		return -1;
	size_t cap = 0, n = 0, ordinal = 0;
	int64_t cached = 0;
	tar_member *ms = NULL;
	struct archive_entry *e;
	int r;
	while ((r = next_header(a, &e, ordinal, err)) == 1) {
		size_t ord = ordinal++;
		if (ord == 0)
			idx->compressed = archive_filter_count(a) > 1;
		const char *raw = archive_entry_pathname(e);
		if (raw == NULL)
			raw = archive_entry_pathname_utf8(e);
		if (raw == NULL)
			continue;
		char *name = lt_path_confine(raw, NULL);
		if (name[0] == '\0') {
			free(name);
			continue;
		}
		ms = lt_array_grow(ms, sizeof(*ms), n + 1, &cap);
		tar_member *m = &ms[n++];
		memset(m, 0, sizeof(*m));
		m->name = name;
		m->ordinal = ord;
		const char *hardlink = archive_entry_hardlink(e);
		mode_t type = archive_entry_filetype(e);
		if (hardlink != NULL) {
			m->type = 'h';
			m->link = lt_xstrdup(hardlink);
		} else if (type == AE_IFLNK) {
			m->type = 'l';
			const char *target = archive_entry_symlink(e);
			m->link = lt_xstrdup(target ? target : "");
		} else if (type == AE_IFREG) {
			m->type = 'f';
		} else if (type == AE_IFDIR) {
			m->type = 'd';
		} else {
			m->type = 'o';
		}
		if (m->type != 'f')
			continue;
		m->size = archive_entry_size(e);
		m->sparse = archive_entry_sparse_count(e) > 0;
		if (!idx->compressed) {
			m->offset = archive_filter_bytes(a, 0);
			if (m->offset < 0 || m->offset % 512 != 0 ||
			    (!m->sparse && m->offset + m->size > idx->file_size)) {
				lt_error_set(err, 0, "member %s: data outside the archive",
					     m->name);
				goto fail;
			}
		}
		if (m->size <= 0 || m->sparse)
			continue;
		if (idx->compressed && m->size <= CACHE_MEMBER_MAX &&
		    cached + m->size <= CACHE_TOTAL_MAX) {
			m->data = lt_xmalloc((size_t)m->size + 1);
			if (read_entry_data(a, m->data, (size_t)m->size, m->name, err) < 0)
				goto fail;
			m->data[m->size] = '\0';
			cached += m->size;
			m->magic_len = m->size < 4 ? (size_t)m->size : 4;
			memcpy(m->magic, m->data, m->magic_len);
		} else {
			m->magic_len = 4;
			if (m->size < 4)
				m->magic_len = (size_t)m->size;
			if (read_entry_data(a, m->magic, m->magic_len, m->name, err) < 0)
				goto fail;
		}
	}
	if (r < 0)
		goto fail;
	archive_read_free(a);
	free(client);

	qsort(ms, n, sizeof(*ms), member_cmp);
	/* Keep the last entry of each name, as extracting the tar would. */
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(ms[i].name, ms[i + 1].name) == 0) {
			member_free(&ms[i]);
			continue;
		}
		ms[out++] = ms[i];
	}
	idx->members = ms;
	idx->n_members = out;
	lt_debug("archive indexed: %zu members, %s", out,
		 idx->compressed ? "compressed" : "uncompressed");
	return 0;

fail:
	archive_read_free(a);
	free(client);
	for (size_t i = 0; i < n; i++)
		member_free(&ms[i]);
	free(ms);
	return -1;
}

void img_tar_index_free(tar_index *idx)
{
	for (size_t i = 0; i < idx->n_members; i++)
		member_free(&idx->members[i]);
	free(idx->members);
	idx->members = NULL;
	idx->n_members = 0;
}

static const tar_member *lookup(const tar_index *idx, const char *name)
{
	size_t lo = 0, hi = idx->n_members;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, idx->members[mid].name);
		if (c == 0)
			return &idx->members[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int img_tar_resolve(const tar_index *idx, const char *name, const tar_member **out, lt_error **err)
{
	*out = NULL;
	char *cur = lt_path_confine(name, NULL);
	for (int i = 0; i < MAX_LINK_FOLLOWING; i++) {
		const tar_member *m = lookup(idx, cur);
		if (m == NULL) {
			free(cur);
			return 0;
		}
		char *next;
		switch (m->type) {
		case 'f':
			free(cur);
			*out = m;
			return 1;
		case 'h':
			/* Hard link targets are archive paths. */
			next = lt_path_confine(m->link, NULL);
			break;
		case 'l': {
			/* Symlink targets are relative to the member's directory; an absolute one
			 * starts at the archive root. Either way it stays inside the archive. */
			char *dir = lt_path_dirname(cur);
			char *joined =
			    m->link[0] == '/' ? lt_xstrdup(m->link) : lt_path_join(dir, m->link);
			next = lt_path_confine(joined, NULL);
			free(joined);
			free(dir);
			break;
		}
		default:
			lt_error_set(err, 0, "member %s is not a regular file", cur);
			free(cur);
			return -1;
		}
		free(cur);
		cur = next;
	}
	lt_error_set(err, 0, "member %s: too many levels of links", name);
	free(cur);
	return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Member streams
 */
struct tar_stream {
	const tar_index *idx;
	const tar_member *m;
	int64_t pos;
	/* compressed archives, member not cached */
	struct archive *a;
	pread_client *client;
};

int img_tar_stream_open(const tar_index *idx, const tar_member *m, tar_stream **out, lt_error **err)
{
	*out = NULL;
	if (m->sparse)
		return lt_error_set(err, 0, "member %s is a sparse file (not supported)", m->name);
	tar_stream *s = lt_xcalloc(1, sizeof(*s));
	s->idx = idx;
	s->m = m;
	if (!idx->compressed || m->data != NULL || m->size == 0) {
		*out = s;
		return 0;
	}
	s->a = reader_open(idx->fd, idx->file_size, &s->client, err);
	if (s->a == NULL) {
		free(s);
		return -1;
	}
	/* Decompress up to the member (see the top of this file for the cost). */
	struct archive_entry *e;
	for (size_t ord = 0;; ord++) {
		int r = next_header(s->a, &e, ord, err);
		if (r == 0)
			lt_error_set(err, 0, "member %s: not found again in the archive", m->name);
		if (r <= 0) {
			img_tar_stream_close(s);
			return -1;
		}
		if (ord == m->ordinal)
			break;
	}
	*out = s;
	return 0;
}

ssize_t img_tar_stream_read(tar_stream *s, void *buf, size_t len, lt_error **err)
{
	int64_t left = s->m->size - s->pos;
	if (left <= 0 || len == 0)
		return 0;
	if ((int64_t)len > left)
		len = (size_t)left;
	if (s->m->data != NULL) {
		memcpy(buf, s->m->data + s->pos, len);
		s->pos += (int64_t)len;
		return (ssize_t)len;
	}
	if (s->a == NULL) {
		for (;;) {
			ssize_t n = pread(s->idx->fd, buf, len, (off_t)(s->m->offset + s->pos));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return lt_error_set(err, errno, "reading member %s", s->m->name);
			if (n == 0)
				return lt_error_set(
				    err, 0, "reading member %s: archive is truncated", s->m->name);
			s->pos += n;
			return n;
		}
	}
	la_ssize_t n = archive_read_data(s->a, buf, len);
	if (n < 0)
		return lt_error_set(err, 0, "reading member %s: %s", s->m->name,
				    archive_error_string(s->a));
	if (n == 0)
		return lt_error_set(err, 0, "reading member %s: archive is truncated", s->m->name);
	s->pos += n;
	return (ssize_t)n;
}

void img_tar_stream_close(tar_stream *s)
{
	if (s == NULL)
		return;
	if (s->a != NULL)
		archive_read_free(s->a);
	free(s->client);
	free(s);
}
