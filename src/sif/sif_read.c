/* Opening and validating SIF images, and reading their objects. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sif_internal.h"

static const char sif_magic[10] = "SIF_MAGIC";

void sif_header_decode(const uint8_t *b, sif_header *h)
{
	memcpy(h->launch_script, b, 32);
	memcpy(h->magic, b + 0x20, 10);
	memcpy(h->version, b + 0x2A, 3);
	memcpy(h->arch, b + 0x2D, 3);
	memcpy(h->id, b + 0x30, 16);
	h->created_at = sif_get_le64(b + 0x40);
	h->modified_at = sif_get_le64(b + 0x48);
	h->descriptors_free = sif_get_le64(b + 0x50);
	h->descriptors_total = sif_get_le64(b + 0x58);
	h->descriptors_offset = sif_get_le64(b + 0x60);
	h->descriptors_size = sif_get_le64(b + 0x68);
	h->data_offset = sif_get_le64(b + 0x70);
	h->data_size = sif_get_le64(b + 0x78);
}

void sif_descriptor_decode(const uint8_t *b, sif_descriptor *d)
{
	d->datatype = (int32_t)sif_get_le32(b);
	d->used = b[4] != 0;
	d->id = sif_get_le32(b + 5);
	d->group_id = sif_get_le32(b + 9);
	d->linked_id = sif_get_le32(b + 13);
	d->offset = sif_get_le64(b + 17);
	d->size = sif_get_le64(b + 25);
	d->size_with_padding = sif_get_le64(b + 33);
	d->created_at = sif_get_le64(b + 41);
	d->modified_at = sif_get_le64(b + 49);
	d->uid = sif_get_le64(b + 57);
	d->gid = sif_get_le64(b + 65);
	memcpy(d->name, b + 73, SIF_NAME_LEN);
	memcpy(d->extra, b + 201, SIF_EXTRA_LEN);
}

static int invalid(lt_error **err, const char *name, const char *fmt, ...) LT_PRINTF(3, 4);

static int invalid(lt_error **err, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lt_error_setv(err, 0, fmt, ap);
	va_end(ap);
	return lt_error_wrap(err, "%s: invalid SIF image", name);
}

static int validate_header(const sif_image *img, lt_error **err)
{
	const sif_header *h = &img->header;
	const char *name = img->name;
	int64_t end = 0;

	if (memcmp(h->magic, sif_magic, sizeof(sif_magic)) != 0)
		return lt_error_set(err, 0, "%s: not a SIF image (no SIF_MAGIC in the header)",
				    name);
	if (memcmp(h->version, "01", 3) != 0) {
		char v[4] = {0};
		for (int i = 0; i < 3 && h->version[i]; i++)
			v[i] =
			    (h->version[i] >= 0x20 && h->version[i] < 0x7f) ? h->version[i] : '?';
		return lt_error_set(
		    err, 0, "%s: unsupported SIF version \"%s\" (litho reads version 01)", name, v);
	}
	if (h->descriptors_total < 0 || h->descriptors_total > SIF_MAX_DESCRIPTORS)
		return invalid(err, name, "descriptor count %" PRId64 " is out of range",
			       h->descriptors_total);
	if (h->descriptors_free < 0 || h->descriptors_free > h->descriptors_total)
		return invalid(err, name,
			       "free descriptor count %" PRId64
			       " does not fit the table of %" PRId64,
			       h->descriptors_free, h->descriptors_total);
	if (h->descriptors_size != h->descriptors_total * SIF_DESCRIPTOR_SIZE)
		return invalid(err, name,
			       "descriptor table size %" PRId64 " does not match %" PRId64
			       " descriptors of %d bytes",
			       h->descriptors_size, h->descriptors_total, SIF_DESCRIPTOR_SIZE);
	if (h->descriptors_offset < SIF_HEADER_SIZE)
		return invalid(err, name,
			       "descriptor table at offset %" PRId64 " overlaps the global header",
			       h->descriptors_offset);
	if (__builtin_add_overflow(h->descriptors_offset, h->descriptors_size, &end) ||
	    end > img->file_size)
		return invalid(err, name,
			       "descriptor table (offset %" PRId64 ", %" PRId64
			       " bytes) extends beyond the end of the file (%" PRId64 " bytes)",
			       h->descriptors_offset, h->descriptors_size, img->file_size);
	if (h->data_offset < end)
		return invalid(err, name,
			       "data section at offset %" PRId64
			       " overlaps the descriptor table (ending at %" PRId64 ")",
			       h->data_offset, end);
	/* The data section may end past the end of the file: siftool does not extend the file
	 * for an empty object after alignment padding. Objects must lie inside the file and
	 * the data section (checked with the descriptors). */
	if (h->data_size < 0 || __builtin_add_overflow(h->data_offset, h->data_size, &end))
		return invalid(err, name, "data size %" PRId64 " is out of range", h->data_size);
	return 0;
}

static int compare_offsets(const void *a, const void *b)
{
	const sif_descriptor *x = *(const sif_descriptor *const *)a;
	const sif_descriptor *y = *(const sif_descriptor *const *)b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->size < y->size ? -1 : (x->size > y->size);
}

static int validate_descriptors(const sif_image *img, const uint8_t *raw, lt_error **err)
{
	const sif_header *h = &img->header;
	const char *name = img->name;
	int64_t table_end = h->descriptors_offset + h->descriptors_size;
	int64_t used = 0;
	const sif_descriptor **objs = lt_xcalloc((size_t)h->descriptors_total + 1, sizeof(*objs));
	int rc = -1;

	for (int64_t i = 0; i < h->descriptors_total; i++) {
		const sif_descriptor *d = &img->slots[i];
		uint8_t used_byte = raw[i * SIF_DESCRIPTOR_SIZE + 4];
		if (used_byte > 1) {
			invalid(err, name, "descriptor slot %" PRId64 " has a bad 'used' flag (%u)",
				i + 1, used_byte);
			goto out;
		}
		if (!d->used)
			continue;
		int64_t end = 0;
		if (d->id == 0) {
			invalid(err, name, "descriptor slot %" PRId64 " is used but has ID 0",
				i + 1);
			goto out;
		}
		if (d->offset < 0 || d->size < 0 ||
		    __builtin_add_overflow(d->offset, d->size, &end) ||
		    (d->size > 0 && end > img->file_size)) {
			invalid(err, name,
				"object %" PRIu32 " (offset %" PRId64 ", %" PRId64
				" bytes) extends beyond the end of the file (%" PRId64
				" bytes); the file may be truncated",
				d->id, d->offset, d->size, img->file_size);
			goto out;
		}
		if (end > h->data_offset + h->data_size) {
			invalid(err, name,
				"object %" PRIu32 " (offset %" PRId64 ", %" PRId64
				" bytes) lies outside the data section (offset %" PRId64
				", %" PRId64 " bytes)",
				d->id, d->offset, d->size, h->data_offset, h->data_size);
			goto out;
		}
		if (d->size > 0 && (d->offset < SIF_HEADER_SIZE ||
				    (d->offset < table_end && end > h->descriptors_offset))) {
			invalid(err, name,
				"object %" PRIu32 " (offset %" PRId64 ", %" PRId64
				" bytes) overlaps the %s",
				d->id, d->offset, d->size,
				d->offset < SIF_HEADER_SIZE ? "global header" : "descriptor table");
			goto out;
		}
		for (int64_t j = 0; j < used; j++) {
			if (objs[j]->id == d->id) {
				invalid(err, name, "object ID %" PRIu32 " is used twice", d->id);
				goto out;
			}
		}
		objs[used++] = d;
	}
	/* The data section may pass the end of the file only as far as an empty object sitting
	 * after alignment padding (siftool writes those without extending the file). */
	int64_t limit = img->file_size;
	for (int64_t j = 0; j < used; j++)
		if (objs[j]->offset + objs[j]->size > limit)
			limit = objs[j]->offset + objs[j]->size;
	if (h->data_offset + h->data_size > limit) {
		invalid(err, name,
			"data section (offset %" PRId64 ", %" PRId64
			" bytes) extends beyond the end of the file (%" PRId64
			" bytes); the file may be truncated",
			h->data_offset, h->data_size, img->file_size);
		goto out;
	}
	if (h->descriptors_total - used != h->descriptors_free) {
		invalid(err, name,
			"inconsistent descriptor counts: the header says %" PRId64 " of %" PRId64
			" are free, the table has %" PRId64 " in use",
			h->descriptors_free, h->descriptors_total, used);
		goto out;
	}
	qsort(objs, (size_t)used, sizeof(*objs), compare_offsets);
	const sif_descriptor *prev = NULL;
	for (int64_t j = 0; j < used; j++) {
		if (objs[j]->size == 0)
			continue;
		if (prev != NULL && objs[j]->offset < prev->offset + prev->size) {
			invalid(err, name, "objects %" PRIu32 " and %" PRIu32 " overlap", prev->id,
				objs[j]->id);
			goto out;
		}
		prev = objs[j];
	}
	rc = 0;
out:
	free(objs);
	return rc;
}

int sif_open_fd(int fd, const char *name, bool writable, sif_image **out, lt_error **err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lt_error_set(err, errno, "%s", name);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return lt_error_set(err, 0, "%s: not a regular file", name);

	sif_image *img = lt_xcalloc(1, sizeof(*img));
	img->fd = fd;
	img->writable = writable;
	img->name = lt_xstrdup(name);
	img->file_size = st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);
		img->file_size = end < 0 ? 0 : end;
	}

	uint8_t hbuf[SIF_HEADER_SIZE];
	if (img->file_size < SIF_HEADER_SIZE) {
		lt_error_set(err, 0,
			     "%s: not a SIF image: the file has %" PRId64
			     " bytes, fewer than the %d of a SIF header",
			     name, img->file_size, SIF_HEADER_SIZE);
		goto fail;
	}
	if (lt_pread_all(fd, hbuf, sizeof(hbuf), 0, name, err) < 0)
		goto fail;
	sif_header_decode(hbuf, &img->header);
	if (validate_header(img, err) < 0)
		goto fail;

	const sif_header *h = &img->header;
	size_t table = (size_t)h->descriptors_size;
	uint8_t *raw = lt_xmalloc(table);
	if (lt_pread_all(fd, raw, table, h->descriptors_offset, name, err) < 0) {
		free(raw);
		goto fail;
	}
	img->slots = lt_xcalloc((size_t)h->descriptors_total, sizeof(sif_descriptor));
	for (int64_t i = 0; i < h->descriptors_total; i++)
		sif_descriptor_decode(raw + i * SIF_DESCRIPTOR_SIZE, &img->slots[i]);
	int rc = validate_descriptors(img, raw, err);
	free(raw);
	if (rc < 0)
		goto fail;
	*out = img;
	return 0;
fail:
	sif_close(img);
	return -1;
}

int sif_open(const char *path, bool writable, sif_image **out, lt_error **err)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return lt_error_set(err, errno, "opening %s", path);
	if (sif_open_fd(fd, path, writable, out, err) < 0) {
		close(fd);
		return -1;
	}
	(*out)->owns_fd = true;
	return 0;
}

void sif_close(sif_image *img)
{
	if (img == NULL)
		return;
	if (img->owns_fd)
		close(img->fd);
	free(img->slots);
	free(img->name);
	free(img);
}

const char *sif_name(const sif_image *img)
{
	return img->name;
}

int sif_fd(const sif_image *img)
{
	return img->fd;
}

const sif_header *sif_get_header(const sif_image *img)
{
	return &img->header;
}

int64_t sif_slot_count(const sif_image *img)
{
	return img->header.descriptors_total;
}

const sif_descriptor *sif_slot(const sif_image *img, int64_t index)
{
	if (index < 0 || index >= img->header.descriptors_total)
		return NULL;
	return &img->slots[index];
}

const sif_descriptor *sif_find_id(const sif_image *img, uint32_t id)
{
	for (int64_t i = 0; i < img->header.descriptors_total; i++)
		if (img->slots[i].used && img->slots[i].id == id)
			return &img->slots[i];
	return NULL;
}

int sif_lookup_id(const sif_image *img, uint32_t id, const sif_descriptor **out, lt_error **err)
{
	*out = sif_find_id(img, id);
	if (*out == NULL)
		return lt_error_set(err, 0, "%s: no object with ID %" PRIu32, img->name, id);
	return 0;
}

const sif_descriptor *sif_find_primary(const sif_image *img)
{
	for (int64_t i = 0; i < img->header.descriptors_total; i++) {
		const sif_descriptor *d = &img->slots[i];
		if (!d->used || d->datatype != SIF_DATA_PARTITION)
			continue;
		sif_partition_info p;
		sif_partition_of(d, &p);
		if (p.parttype == SIF_PART_PRIMSYS)
			return d;
	}
	return NULL;
}

bool sif_is_legacy(const sif_image *img)
{
	return img->header.data_offset >
	       img->header.descriptors_offset + img->header.descriptors_size;
}

int sif_read_object(const sif_image *img, const sif_descriptor *d, int64_t pos, void *buf,
		    size_t len, lt_error **err)
{
	if (pos < 0 || (uint64_t)pos + len > (uint64_t)d->size)
		return lt_error_set(err, 0, "%s: read outside object %" PRIu32, img->name, d->id);
	if (lt_pread_all(img->fd, buf, len, d->offset + pos, img->name, err) < 0)
		return lt_error_wrap(err, "object %" PRIu32, d->id);
	return 0;
}

int sif_read_object_alloc(const sif_image *img, const sif_descriptor *d, size_t limit, char **data,
			  lt_error **err)
{
	if ((uint64_t)d->size > limit)
		return lt_error_set(err, 0,
				    "%s: object %" PRIu32 " is too large (%" PRId64
				    " bytes, at most %zu expected)",
				    img->name, d->id, d->size, limit);
	char *buf = lt_xmalloc((size_t)d->size + 1);
	if (sif_read_object(img, d, 0, buf, (size_t)d->size, err) < 0) {
		free(buf);
		return -1;
	}
	buf[d->size] = '\0';
	*data = buf;
	return 0;
}

int sif_dump_object(const sif_image *img, const sif_descriptor *d, int out_fd, lt_error **err)
{
	return lt_copy_range_to_fd(img->fd, d->offset, d->size, out_fd, img->name, err);
}

uint32_t sif_group_of(const sif_descriptor *d)
{
	return d->group_id & ~SIF_GROUP_MASK;
}

uint32_t sif_link_of(const sif_descriptor *d, bool *is_group)
{
	if (is_group)
		*is_group = (d->linked_id & SIF_GROUP_MASK) == SIF_GROUP_MASK;
	return d->linked_id & ~SIF_GROUP_MASK;
}

void sif_partition_of(const sif_descriptor *d, sif_partition_info *out)
{
	out->fstype = (int32_t)sif_get_le32(d->extra);
	out->parttype = (int32_t)sif_get_le32(d->extra + 4);
	memcpy(out->arch, d->extra + 8, 3);
}

void sif_signature_of(const sif_descriptor *d, sif_signature_info *out)
{
	out->hashtype = (int32_t)sif_get_le32(d->extra);
	memcpy(out->entity, d->extra + 4, SIF_ENTITY_LEN);
}

void sif_crypto_of(const sif_descriptor *d, int32_t *format, int32_t *message)
{
	*format = (int32_t)sif_get_le32(d->extra);
	*message = (int32_t)sif_get_le32(d->extra + 4);
}

int32_t sif_sbom_format_of(const sif_descriptor *d)
{
	return (int32_t)sif_get_le32(d->extra);
}

void sif_oci_digest_of(const sif_descriptor *d, char *out)
{
	memcpy(out, d->extra, SIF_EXTRA_LEN);
	out[SIF_EXTRA_LEN] = '\0';
}

void sif_name_of(const sif_descriptor *d, char *out)
{
	memcpy(out, d->name, SIF_NAME_LEN);
	out[SIF_NAME_LEN] = '\0';
}
