/* Creating SIF images and adding, deleting and re-typing their objects. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sif_internal.h"

void sif_header_encode(const sif_header *h, uint8_t *b)
{
	memset(b, 0, SIF_HEADER_SIZE);
	memcpy(b, h->launch_script, 32);
	memcpy(b + 0x20, h->magic, 10);
	memcpy(b + 0x2A, h->version, 3);
	memcpy(b + 0x2D, h->arch, 3);
	memcpy(b + 0x30, h->id, 16);
	sif_put_le64(b + 0x40, h->created_at);
	sif_put_le64(b + 0x48, h->modified_at);
	sif_put_le64(b + 0x50, h->descriptors_free);
	sif_put_le64(b + 0x58, h->descriptors_total);
	sif_put_le64(b + 0x60, h->descriptors_offset);
	sif_put_le64(b + 0x68, h->descriptors_size);
	sif_put_le64(b + 0x70, h->data_offset);
	sif_put_le64(b + 0x78, h->data_size);
}

void sif_descriptor_encode(const sif_descriptor *d, uint8_t *b)
{
	memset(b, 0, SIF_DESCRIPTOR_SIZE);
	if (!d->used)
		return; /* unused slots are all zero bytes */
	sif_put_le32(b, (uint32_t)d->datatype);
	b[4] = 1;
	sif_put_le32(b + 5, d->id);
	sif_put_le32(b + 9, d->group_id);
	sif_put_le32(b + 13, d->linked_id);
	sif_put_le64(b + 17, d->offset);
	sif_put_le64(b + 25, d->size);
	sif_put_le64(b + 33, d->size_with_padding);
	sif_put_le64(b + 41, d->created_at);
	sif_put_le64(b + 49, d->modified_at);
	sif_put_le64(b + 57, d->uid);
	sif_put_le64(b + 65, d->gid);
	memcpy(b + 73, d->name, SIF_NAME_LEN);
	memcpy(b + 201, d->extra, SIF_EXTRA_LEN);
}

static int require_writable(const sif_image *img, lt_error **err)
{
	if (!img->writable)
		return lt_error_set(err, 0, "%s: image is open read-only", img->name);
	if (img->pending)
		return lt_error_set(err, 0, "%s: an object is still being written", img->name);
	return 0;
}

int sif_create_fd(int fd, const char *name, const sif_create_opts *opts, sif_image **out,
		  lt_error **err)
{
	int64_t total = opts->descriptors > 0 ? opts->descriptors : SIF_DEFAULT_DESCRIPTORS;
	if (total > SIF_MAX_DESCRIPTORS)
		return lt_error_set(err, 0, "%s: at most %d descriptors are supported", name,
				    SIF_MAX_DESCRIPTORS);
	sif_image *img = lt_xcalloc(1, sizeof(*img));
	img->fd = fd;
	img->writable = true;
	img->name = lt_xstrdup(name);
	img->slots = lt_xcalloc((size_t)total, sizeof(sif_descriptor));

	sif_header *h = &img->header;
	if (opts->launch_script != NULL) {
		size_t n = strlen(opts->launch_script);
		if (n >= SIF_LAUNCH_SCRIPT_LEN) {
			sif_close(img);
			return lt_error_set(err, 0,
					    "%s: launch script is too long (%zu bytes, at most %d)",
					    name, n, SIF_LAUNCH_SCRIPT_LEN - 1);
		}
		memcpy(h->launch_script, opts->launch_script, n);
	}
	memcpy(h->magic, "SIF_MAGIC", 10);
	memcpy(h->version, "01", 3);
	memcpy(h->arch, "00", 3);
	if (opts->deterministic) {
		h->created_at = h->modified_at = SIF_ZERO_TIME;
	} else {
		if (opts->id != NULL) {
			memcpy(h->id, opts->id, 16);
		} else if (getrandom(h->id, 16, 0) != 16) {
			sif_close(img);
			return lt_error_set(err, errno, "%s: generating the image ID", name);
		} else {
			h->id[6] = (uint8_t)((h->id[6] & 0x0f) | 0x40); /* version 4 */
			h->id[8] = (uint8_t)((h->id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
		}
		h->created_at = h->modified_at = opts->time;
	}
	h->descriptors_free = total;
	h->descriptors_total = total;
	h->descriptors_offset = SIF_DEFAULT_DESCR_OFFSET;
	h->descriptors_size = total * SIF_DESCRIPTOR_SIZE;
	h->data_offset = h->descriptors_offset + h->descriptors_size;
	if (opts->legacy) {
		if (h->data_offset > SIF_LEGACY_DATA_OFFSET) {
			sif_close(img);
			return lt_error_set(err, 0,
					    "%s: a legacy image holds at most %d descriptors", name,
					    (SIF_LEGACY_DATA_OFFSET - SIF_DEFAULT_DESCR_OFFSET) /
						SIF_DESCRIPTOR_SIZE);
		}
		h->data_offset = SIF_LEGACY_DATA_OFFSET;
	}
	h->data_size = 0;

	if (sif_commit(img, err) < 0 || ftruncate(fd, h->data_offset) < 0) {
		if (err != NULL && *err == NULL)
			lt_error_set(err, errno, "%s", name);
		sif_close(img);
		return -1;
	}
	img->file_size = h->data_offset;
	*out = img;
	return 0;
}

/* The reference implementation rounds up with a mask, which is exact for powers of two (the
 * only alignments anyone uses); the same formula keeps odd values byte-compatible too. */
static int64_t next_aligned(int64_t offset, int64_t alignment)
{
	uint64_t a = (uint64_t)alignment, o = (uint64_t)offset;
	if (a != 0 && o % a != 0)
		o = (o & ~(a - 1)) + a;
	return (int64_t)o;
}

static int64_t free_slot(const sif_image *img)
{
	for (int64_t i = 0; i < img->header.descriptors_total; i++)
		if (!img->slots[i].used)
			return i;
	return -1;
}

static int fill_descriptor(sif_image *img, const sif_object_spec *spec, sif_descriptor *d,
			   lt_error **err)
{
	memset(d, 0, sizeof(*d));
	d->datatype = spec->datatype;
	d->group_id = (spec->group & ~SIF_GROUP_MASK) | SIF_GROUP_MASK;
	d->linked_id = spec->link_is_group ? (spec->link | SIF_GROUP_MASK) : spec->link;
	d->created_at = d->modified_at = spec->time;
	if (spec->name != NULL) {
		size_t n = strlen(spec->name);
		if (n > SIF_NAME_LEN)
			return lt_error_set(
			    err, 0, "%s: object name \"%s\" is too long (%zu bytes, at most %d)",
			    img->name, spec->name, n, SIF_NAME_LEN);
		memcpy(d->name, spec->name, n);
	}
	switch (spec->datatype) {
	case SIF_DATA_PARTITION:
		if (spec->arch == NULL || strlen(spec->arch) != 2)
			return lt_error_set(err, 0, "%s: partition needs an architecture code",
					    img->name);
		sif_put_le32(d->extra, (uint32_t)spec->fstype);
		sif_put_le32(d->extra + 4, (uint32_t)spec->parttype);
		memcpy(d->extra + 8, spec->arch, 2);
		break;
	case SIF_DATA_SIGNATURE:
		sif_put_le32(d->extra, (uint32_t)spec->hashtype);
		memcpy(d->extra + 4, spec->entity, SIF_ENTITY_LEN);
		break;
	case SIF_DATA_CRYPTO_MESSAGE:
		sif_put_le32(d->extra, (uint32_t)spec->crypto_format);
		sif_put_le32(d->extra + 4, (uint32_t)spec->crypto_message);
		break;
	case SIF_DATA_SBOM:
		sif_put_le32(d->extra, (uint32_t)spec->sbom_format);
		break;
	default:
		break;
	}
	return 0;
}

static bool is_oci(int32_t datatype)
{
	return datatype == SIF_DATA_OCI_ROOT_INDEX || datatype == SIF_DATA_OCI_BLOB;
}

int sif_begin_object(sif_image *img, const sif_object_spec *spec, int64_t *offset, lt_error **err)
{
	if (require_writable(img, err) < 0)
		return -1;
	int64_t slot = free_slot(img);
	if (slot < 0)
		return lt_error_set(err, 0,
				    "%s: no free descriptor (all %" PRId64
				    " are in use; create the image with more descriptors)",
				    img->name, img->header.descriptors_total);
	sif_descriptor d;
	if (fill_descriptor(img, spec, &d, err) < 0)
		return -1;
	if (spec->datatype == SIF_DATA_PARTITION && spec->parttype == SIF_PART_PRIMSYS &&
	    sif_find_primary(img) != NULL)
		return lt_error_set(err, 0, "%s: image already contains a primary partition",
				    img->name);

	int64_t alignment = spec->alignment;
	if (alignment < 0)
		alignment = (spec->datatype == SIF_DATA_PARTITION || sif_is_legacy(img))
				? SIF_PARTITION_ALIGNMENT
				: 0;
	int64_t unaligned = img->header.data_offset + img->header.data_size;
	d.id = (uint32_t)slot + 1;
	d.offset = next_aligned(unaligned, alignment);
	img->slots[slot] = d;
	img->pending = true;
	img->pending_slot = slot;
	img->pending_offset = d.offset;
	img->pending_unaligned = unaligned;
	*offset = d.offset;
	return 0;
}

int sif_end_object(sif_image *img, int64_t size, lt_error **err)
{
	if (!img->pending)
		return lt_error_set(err, 0, "%s: no object is being written", img->name);
	sif_descriptor *d = &img->slots[img->pending_slot];
	img->pending = false;
	d->used = true;
	d->size = size;
	d->size_with_padding = d->offset - img->pending_unaligned + size;
	img->header.data_size += d->size_with_padding;
	img->header.descriptors_free--;
	if (d->datatype == SIF_DATA_PARTITION) {
		sif_partition_info p;
		sif_partition_of(d, &p);
		if (p.parttype == SIF_PART_PRIMSYS)
			memcpy(img->header.arch, p.arch, 3);
	}
	img->header.modified_at = d->modified_at;
	/* Like the reference implementation, an empty object after alignment padding does not
	 * extend the file (readers accept a data section ending past the end of the file). */
	int64_t end = d->offset + size;
	if (size > 0 && end > img->file_size)
		img->file_size = end;
	return 0;
}

static void abandon_object(sif_image *img)
{
	if (!img->pending)
		return;
	memset(&img->slots[img->pending_slot], 0, sizeof(sif_descriptor));
	img->pending = false;
	/* Bytes already written past the old end are harmless: readers only trust the
	 * descriptors; cut them off anyway so a failed add leaves the file as it was. */
	if (ftruncate(img->fd, img->file_size) < 0)
		lt_debug("%s: could not truncate after a failed add: %s", img->name,
			 strerror(errno));
}

static void set_oci_digest(sif_image *img, const uint8_t digest[LT_SHA256_LEN])
{
	char s[72];
	lt_sha256_digest_string(digest, s);
	sif_descriptor *d = &img->slots[img->pending_slot];
	memset(d->extra, 0, SIF_EXTRA_LEN);
	memcpy(d->extra, s, strlen(s));
}

int sif_add_from_fd(sif_image *img, const sif_object_spec *spec, int src_fd, lt_error **err)
{
	int64_t offset = 0;
	if (sif_begin_object(img, spec, &offset, err) < 0)
		return -1;
	lt_sha256 *hash = is_oci(spec->datatype) ? lt_sha256_new() : NULL;
	const size_t bufsize = 1 << 20;
	char *buf = lt_xmalloc(bufsize);
	int64_t size = 0;
	for (;;) {
		ssize_t n = read(src_fd, buf, bufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			lt_error_set(err, errno, "reading object data");
			goto fail;
		}
		if (n == 0)
			break;
		if (hash)
			lt_sha256_update(hash, buf, (size_t)n);
		if (lt_pwrite_all(img->fd, buf, (size_t)n, offset + size, img->name, err) < 0)
			goto fail;
		size += n;
	}
	free(buf);
	if (hash) {
		uint8_t digest[LT_SHA256_LEN];
		lt_sha256_final(hash, digest);
		set_oci_digest(img, digest);
	}
	return sif_end_object(img, size, err);
fail:
	free(buf);
	lt_sha256_free(hash);
	abandon_object(img);
	return -1;
}

int sif_add_from_buffer(sif_image *img, const sif_object_spec *spec, const void *data, size_t len,
			lt_error **err)
{
	int64_t offset = 0;
	if (sif_begin_object(img, spec, &offset, err) < 0)
		return -1;
	if (lt_pwrite_all(img->fd, data, len, offset, img->name, err) < 0) {
		abandon_object(img);
		return -1;
	}
	if (is_oci(spec->datatype)) {
		uint8_t digest[LT_SHA256_LEN];
		lt_sha256_buffer(data, len, digest);
		set_oci_digest(img, digest);
	}
	return sif_end_object(img, (int64_t)len, err);
}

static bool is_last_object(const sif_image *img, const sif_descriptor *d)
{
	int64_t end = d->offset + d->size;
	for (int64_t i = 0; i < img->header.descriptors_total; i++) {
		const sif_descriptor *o = &img->slots[i];
		if (o->used && o != d && o->offset + o->size > end)
			return false;
	}
	return true;
}

static int zero_range(sif_image *img, int64_t offset, int64_t len, lt_error **err)
{
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t n = len > (int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		if (lt_pwrite_all(img->fd, zeros, n, offset, img->name, err) < 0)
			return -1;
		offset += (int64_t)n;
		len -= (int64_t)n;
	}
	return 0;
}

int sif_delete_object(sif_image *img, uint32_t id, unsigned flags, int64_t time, lt_error **err)
{
	if (require_writable(img, err) < 0)
		return -1;
	const sif_descriptor *found = NULL;
	if (sif_lookup_id(img, id, &found, err) < 0)
		return -1;
	sif_descriptor *d = &img->slots[found - img->slots];
	if ((flags & SIF_DELETE_COMPACT) && !is_last_object(img, d))
		return lt_error_set(err, 0,
				    "%s: cannot compact: object %" PRIu32 " is not the last one",
				    img->name, id);
	if ((flags & SIF_DELETE_ZERO) && zero_range(img, d->offset, d->size, err) < 0)
		return -1;
	if (flags & SIF_DELETE_COMPACT) {
		/* The data section ends where the last remaining object ends: recomputed rather
		 * than taken from the stored padding, which nothing guarantees. */
		int64_t keep = img->header.data_offset;
		for (int64_t i = 0; i < img->header.descriptors_total; i++) {
			const sif_descriptor *o = &img->slots[i];
			if (o->used && o != d && o->offset + o->size > keep)
				keep = o->offset + o->size;
		}
		if (ftruncate(img->fd, keep) < 0)
			return lt_error_set(err, errno, "truncating %s", img->name);
		img->file_size = keep;
		img->header.data_size = keep - img->header.data_offset;
	}
	if (d->datatype == SIF_DATA_PARTITION) {
		sif_partition_info p;
		sif_partition_of(d, &p);
		if (p.parttype == SIF_PART_PRIMSYS)
			memcpy(img->header.arch, "00", 3);
	}
	memset(d, 0, sizeof(*d));
	img->header.descriptors_free++;
	img->header.modified_at = time;
	return 0;
}

int sif_set_primary(sif_image *img, uint32_t id, int64_t time, lt_error **err)
{
	if (require_writable(img, err) < 0)
		return -1;
	const sif_descriptor *found = NULL;
	if (sif_lookup_id(img, id, &found, err) < 0)
		return -1;
	sif_descriptor *d = &img->slots[found - img->slots];
	if (d->datatype != SIF_DATA_PARTITION)
		return lt_error_set(err, 0, "%s: object %" PRIu32 " is not a partition", img->name,
				    id);
	sif_partition_info p;
	sif_partition_of(d, &p);
	if (p.parttype == SIF_PART_PRIMSYS)
		return 0;
	if (p.parttype != SIF_PART_SYSTEM)
		return lt_error_set(err, 0, "%s: object %" PRIu32 " is not a system partition",
				    img->name, id);
	const sif_descriptor *old = sif_find_primary(img);
	if (old != NULL)
		sif_put_le32(img->slots[old - img->slots].extra + 4, SIF_PART_SYSTEM);
	sif_put_le32(d->extra + 4, SIF_PART_PRIMSYS);
	memcpy(img->header.arch, p.arch, 3);
	img->header.modified_at = time;
	return 0;
}

void sif_touch(sif_image *img, int64_t time)
{
	img->header.modified_at = time;
}

int sif_commit(sif_image *img, lt_error **err)
{
	if (require_writable(img, err) < 0)
		return -1;
	const sif_header *h = &img->header;
	/* Header and table go out in one write: the header at 0, zeros up to the table. */
	size_t len = (size_t)(h->descriptors_offset + h->descriptors_size);
	uint8_t *buf = lt_xcalloc(1, len);
	sif_header_encode(h, buf);
	for (int64_t i = 0; i < h->descriptors_total; i++)
		sif_descriptor_encode(&img->slots[i],
				      buf + h->descriptors_offset + i * SIF_DESCRIPTOR_SIZE);
	/* Keep whatever a foreign writer stored between the header and the table. */
	if (h->descriptors_offset > SIF_HEADER_SIZE && img->file_size >= h->descriptors_offset) {
		lt_error *ignored = NULL;
		if (lt_pread_all(img->fd, buf + SIF_HEADER_SIZE,
				 (size_t)(h->descriptors_offset - SIF_HEADER_SIZE), SIF_HEADER_SIZE,
				 img->name, &ignored) < 0) {
			memset(buf + SIF_HEADER_SIZE, 0,
			       (size_t)(h->descriptors_offset - SIF_HEADER_SIZE));
			lt_error_free(&ignored);
		}
	}
	sigset_t saved;
	lt_signals_block(&saved);
	int rc = 0;
	/* Object data must be on disk before descriptors point at it. */
	if (img->file_size > (int64_t)len && fdatasync(img->fd) < 0 && errno != EINVAL)
		rc = lt_error_set(err, errno, "syncing %s", img->name);
	if (rc == 0)
		rc = lt_pwrite_all(img->fd, buf, len, 0, img->name, err);
	lt_signals_restore(&saved);
	free(buf);
	if (rc == 0 && img->file_size < (int64_t)len)
		img->file_size = (int64_t)len;
	return rc;
}
