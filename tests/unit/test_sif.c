#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sif/sif.h"
#include "tap.h"

static int new_memfd(void)
{
	return memfd_create("test.sif", MFD_CLOEXEC);
}

static sif_image *create(int fd, sif_create_opts *co)
{
	sif_image *img = NULL;
	lt_error *err = NULL;
	if (sif_create_fd(fd, "test.sif", co, &img, &err) < 0) {
		printf("# create: %s\n", err->message);
		lt_error_free(&err);
		return NULL;
	}
	return img;
}

static int64_t file_size(int fd)
{
	struct stat st;
	fstat(fd, &st);
	return st.st_size;
}

static uint8_t *read_all(int fd, size_t *len)
{
	*len = (size_t)file_size(fd);
	uint8_t *b = malloc(*len);
	if (pread(fd, b, *len, 0) != (ssize_t)*len) {
		free(b);
		return NULL;
	}
	return b;
}

static int64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static sif_object_spec spec_of(int32_t type)
{
	sif_object_spec s = {.datatype = type, .alignment = -1, .time = 1000};
	return s;
}

static void test_empty_layout(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1600000000, .launch_script = SIF_LAUNCH_SCRIPT};
	sif_image *img = create(fd, &co);
	CHECK(img != NULL);
	sif_close(img);
	size_t len;
	uint8_t *b = read_all(fd, &len);
	CHECK_INT(len, 32176);
	CHECK(memcmp(b, "#!/usr/bin/env run-singularity\n\0", 32) == 0);
	CHECK(memcmp(b + 0x20, "SIF_MAGIC\0", 10) == 0);
	CHECK(memcmp(b + 0x2A, "01\0", 3) == 0);
	CHECK(memcmp(b + 0x2D, "00\0", 3) == 0);
	CHECK_INT(b[0x30 + 6] >> 4, 4);	     /* UUID version 4 */
	CHECK_INT(b[0x30 + 8] & 0xc0, 0x80); /* RFC 4122 variant */
	CHECK_INT(le64(b + 0x40), 1600000000);
	CHECK_INT(le64(b + 0x48), 1600000000);
	CHECK_INT(le64(b + 0x50), 48);
	CHECK_INT(le64(b + 0x58), 48);
	CHECK_INT(le64(b + 0x60), 4096);
	CHECK_INT(le64(b + 0x68), 28080);
	CHECK_INT(le64(b + 0x70), 32176);
	CHECK_INT(le64(b + 0x78), 0);
	for (size_t i = 0x80; i < len; i++)
		if (b[i] != 0) {
			CHECK(b[i] == 0);
			break;
		}
	free(b);
	close(fd);
}

static void test_deterministic(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 123, .deterministic = true};
	sif_image *img = create(fd, &co);
	sif_close(img);
	size_t len;
	uint8_t *b = read_all(fd, &len);
	static const uint8_t zero[16];
	CHECK(memcmp(b + 0x30, zero, 16) == 0);
	static const uint8_t go_zero[8] = {0x00, 0x09, 0x6e, 0x88, 0xf1, 0xff, 0xff, 0xff};
	CHECK(memcmp(b + 0x40, go_zero, 8) == 0);
	CHECK(memcmp(b + 0x48, go_zero, 8) == 0);
	free(b);
	close(fd);
}

static void test_add_alignment_and_padding(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;

	sif_object_spec def = spec_of(SIF_DATA_DEFFILE);
	def.group = 1;
	CHECK_INT(sif_add_from_buffer(img, &def, "bootstrap", 9, &err), 0);
	sif_object_spec part = spec_of(SIF_DATA_PARTITION);
	part.group = 1;
	part.fstype = SIF_FS_SQUASHFS;
	part.parttype = SIF_PART_PRIMSYS;
	part.arch = "02";
	CHECK_INT(sif_add_from_buffer(img, &part, "hsqs", 4, &err), 0);
	sif_object_spec sig = spec_of(SIF_DATA_SIGNATURE);
	sig.link = 1;
	sig.link_is_group = true;
	sig.hashtype = SIF_HASH_SHA256;
	sig.entity[0] = 0xAB;
	CHECK_INT(sif_add_from_buffer(img, &sig, "sig", 3, &err), 0);
	CHECK_INT(sif_commit(img, &err), 0);

	const sif_header *h = sif_get_header(img);
	CHECK_INT(h->descriptors_free, 45);
	CHECK(memcmp(h->arch, "02", 3) == 0);
	const sif_descriptor *d1 = sif_find_id(img, 1), *d2 = sif_find_id(img, 2),
			     *d3 = sif_find_id(img, 3);
	CHECK(d1 && d2 && d3);
	CHECK_INT(d1->offset, 32176);
	CHECK_INT(d1->size_with_padding, 9);
	CHECK_INT(d2->offset, 32768); /* partitions are 4096-aligned */
	CHECK_INT(d2->size_with_padding, 32768 - (32176 + 9) + 4);
	CHECK_INT(d3->offset, 32772); /* other objects are not */
	CHECK_INT(h->data_size, 32775 - 32176);
	CHECK_INT(file_size(fd), 32775);
	CHECK(sif_find_primary(img) == d2);
	sif_close(img);

	/* Reopen and check raw descriptor bytes. */
	size_t len;
	uint8_t *b = read_all(fd, &len);
	const uint8_t *r = b + 4096 + 585;
	CHECK_INT(r[0] | r[1] << 8, 0x4004);
	CHECK_INT(r[4], 1);
	CHECK_INT(r[5], 2); /* ID */
	CHECK_INT(le64(r + 17), 32768);
	CHECK(memcmp(r + 9, "\x01\x00\x00\xf0", 4) == 0); /* group 1 */
	CHECK(memcmp(r + 201,
		     "\x01\0\0\0\x02\0\0\0"
		     "02\0",
		     11) == 0);
	r = b + 4096 + 2 * 585;
	CHECK(memcmp(r + 9, "\x00\x00\x00\xf0", 4) == 0);  /* no group */
	CHECK(memcmp(r + 13, "\x01\x00\x00\xf0", 4) == 0); /* link to group 1 */
	CHECK_INT(r[205], 0xAB);
	free(b);

	CHECK_INT(sif_open_fd(fd, "test.sif", false, &img, &err), 0);
	char buf[16];
	CHECK_INT(sif_read_object(img, sif_find_id(img, 1), 0, buf, 9, &err), 0);
	CHECK(memcmp(buf, "bootstrap", 9) == 0);
	CHECK_INT(sif_read_object(img, sif_find_id(img, 1), 5, buf, 5, &err), -1);
	CHECK_ERR(err, "outside object 1");
	sif_close(img);
	lt_error_free(&err);
	close(fd);
}

static void test_second_primary_refused(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec part = spec_of(SIF_DATA_PARTITION);
	part.fstype = SIF_FS_SQUASHFS;
	part.parttype = SIF_PART_PRIMSYS;
	part.arch = "02";
	CHECK_INT(sif_add_from_buffer(img, &part, "a", 1, &err), 0);
	CHECK_INT(sif_add_from_buffer(img, &part, "b", 1, &err), -1);
	CHECK_ERR(err, "already contains a primary partition");
	CHECK_INT(sif_get_header(img)->descriptors_free, 47);
	sif_close(img);
	lt_error_free(&err);
	close(fd);
}

static void test_setprim_and_delete(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec p = spec_of(SIF_DATA_PARTITION);
	p.fstype = SIF_FS_SQUASHFS;
	p.parttype = SIF_PART_PRIMSYS;
	p.arch = "02";
	CHECK_INT(sif_add_from_buffer(img, &p, "a", 1, &err), 0);
	p.parttype = SIF_PART_SYSTEM;
	p.arch = "04";
	CHECK_INT(sif_add_from_buffer(img, &p, "b", 1, &err), 0);
	sif_object_spec j = spec_of(SIF_DATA_GENERIC_JSON);
	CHECK_INT(sif_add_from_buffer(img, &j, "{}", 2, &err), 0);

	CHECK_INT(sif_set_primary(img, 3, 5, &err), -1);
	CHECK_ERR(err, "not a partition");
	CHECK_INT(sif_set_primary(img, 9, 5, &err), -1);
	CHECK_ERR(err, "no object with ID 9");
	CHECK_INT(sif_set_primary(img, 2, 5, &err), 0);
	sif_partition_info pi;
	sif_partition_of(sif_find_id(img, 1), &pi);
	CHECK_INT(pi.parttype, SIF_PART_SYSTEM);
	CHECK_STR(pi.arch, "02");
	sif_partition_of(sif_find_id(img, 2), &pi);
	CHECK_INT(pi.parttype, SIF_PART_PRIMSYS);
	CHECK_STR(pi.arch, "04"); /* the SIF code, not a truncated Go name */
	CHECK(memcmp(sif_get_header(img)->arch, "04", 3) == 0);

	/* Deleting the primary resets the header arch; IDs are reused. */
	CHECK_INT(sif_delete_object(img, 2, 0, 6, &err), 0);
	CHECK(memcmp(sif_get_header(img)->arch, "00", 3) == 0);
	CHECK_INT(sif_get_header(img)->descriptors_free, 46);
	CHECK(sif_find_id(img, 2) == NULL);
	CHECK_INT(sif_add_from_buffer(img, &j, "[]", 2, &err), 0);
	CHECK(sif_find_id(img, 2) != NULL);

	/* Compact only the last object; the file shrinks back to where its padding began. */
	int64_t before = file_size(fd);
	CHECK_INT(sif_delete_object(img, 1, SIF_DELETE_COMPACT, 7, &err), -1);
	CHECK_ERR(err, "not the last one");
	const sif_descriptor *last = sif_find_id(img, 2);
	int64_t start = last->offset + last->size - last->size_with_padding;
	CHECK_INT(sif_delete_object(img, 2, SIF_DELETE_COMPACT | SIF_DELETE_ZERO, 7, &err), 0);
	CHECK_INT(file_size(fd), start);
	CHECK(start < before);
	CHECK_INT(sif_commit(img, &err), 0);
	sif_close(img);

	CHECK_INT(sif_open_fd(fd, "t", false, &img, &err), 0);
	sif_close(img);
	lt_error_free(&err);
	close(fd);
}

static void test_capacity(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1, .descriptors = 2};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	CHECK_INT(sif_get_header(img)->data_offset, 4096 + 2 * 585);
	sif_object_spec g = spec_of(SIF_DATA_GENERIC);
	CHECK_INT(sif_add_from_buffer(img, &g, "1", 1, &err), 0);
	CHECK_INT(sif_add_from_buffer(img, &g, "2", 1, &err), 0);
	CHECK_INT(sif_add_from_buffer(img, &g, "3", 1, &err), -1);
	CHECK_ERR(err, "no free descriptor");
	CHECK_INT(sif_commit(img, &err), 0);
	sif_close(img);
	CHECK_INT(sif_open_fd(fd, "t", false, &img, &err), 0);
	CHECK_INT(sif_slot_count(img), 2);
	sif_close(img);
	lt_error_free(&err);
	close(fd);
}

static void test_legacy(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1, .legacy = true};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec g = spec_of(SIF_DATA_DEFFILE);
	CHECK_INT(sif_add_from_buffer(img, &g, "abc", 3, &err), 0);
	CHECK_INT(sif_add_from_buffer(img, &g, "def", 3, &err), 0);
	CHECK(sif_is_legacy(img));
	CHECK_INT(sif_get_header(img)->data_offset, 32768);
	CHECK_INT(sif_find_id(img, 1)->offset, 32768);
	CHECK_INT(sif_find_id(img, 2)->offset, 36864);
	sif_close(img);
	close(fd);
}

static void test_oci_digest(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec b = spec_of(SIF_DATA_OCI_BLOB);
	CHECK_INT(sif_add_from_buffer(img, &b, "abc", 3, &err), 0);
	char digest[SIF_EXTRA_LEN + 1];
	sif_oci_digest_of(sif_find_id(img, 1), digest);
	CHECK_STR(digest,
		  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Streaming from a descriptor gives the same digest. */
	int src = new_memfd();
	CHECK(write(src, "abc", 3) == 3);
	lseek(src, 0, SEEK_SET);
	sif_object_spec r = spec_of(SIF_DATA_OCI_ROOT_INDEX);
	CHECK_INT(sif_add_from_fd(img, &r, src, &err), 0);
	sif_oci_digest_of(sif_find_id(img, 2), digest);
	CHECK_STR(digest,
		  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	close(src);
	sif_close(img);
	close(fd);
}

static void test_begin_end(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec p = spec_of(SIF_DATA_PARTITION);
	p.fstype = SIF_FS_SQUASHFS;
	p.parttype = SIF_PART_PRIMSYS;
	p.arch = "02";
	int64_t off = 0;
	CHECK_INT(sif_begin_object(img, &p, &off, &err), 0);
	CHECK_INT(off, 32768);
	/* Nothing else may be added meanwhile. */
	sif_object_spec g = spec_of(SIF_DATA_GENERIC);
	CHECK_INT(sif_add_from_buffer(img, &g, "x", 1, &err), -1);
	CHECK_ERR(err, "still being written");
	CHECK_INT(pwrite(fd, "0123456789", 10, off), 10);
	CHECK_INT(sif_end_object(img, 10, &err), 0);
	CHECK_INT(sif_find_id(img, 1)->size, 10);
	CHECK_INT(sif_commit(img, &err), 0);
	sif_close(img);
	lt_error_free(&err);
	close(fd);
}

static void test_names(void)
{
	CHECK_STR(sif_datatype_name(0x4001), "Def.FILE");
	CHECK_STR(sif_datatype_name(0x400A), "OCI.RootIndex");
	CHECK_STR(sif_datatype_name(0x400B), "OCI.Blob");
	CHECK_STR(sif_datatype_name(0x4100), "Unknown");
	CHECK_STR(sif_arch_to_go("02"), "amd64");
	CHECK_STR(sif_arch_to_go("13"), "loong64");
	CHECK_STR(sif_arch_to_go("99"), "unknown");
	CHECK_STR(sif_arch_to_go("ar"), "unknown");
	CHECK_STR(sif_arch_from_go("arm64"), "04");
	CHECK_STR(sif_arch_from_go("4"), "04");
	CHECK_STR(sif_arch_from_go("x86_64"), "02");
	CHECK(sif_arch_from_go("vax") == NULL);
	CHECK_STR(sif_hashtype_name(1), "SHA-256");
	CHECK_STR(sif_sbom_format_name(4), "spdx-json");
	CHECK_INT(sif_sbom_format_from_name("syft-json"), 8);
	char t[64];
	sif_format_time(1627931376, t, sizeof(t));
	CHECK_STR(t, "2021-08-02 19:09:36 +0000 UTC");
	uint8_t id[16] = {0x4f, 0x30, 0x7b, 0x4c, 0x58, 0xa8, 0x47, 0x53,
			  0x9c, 0x0f, 0x21, 0xdc, 0xee, 0xfe, 0xd4, 0xa6};
	char u[37];
	sif_format_uuid(id, u);
	CHECK_STR(u, "4f307b4c-58a8-4753-9c0f-21dceefed4a6");
}

/* Writes a valid image, lets `patch` damage it, and expects open to fail with `needle`. */
static void expect_invalid(void (*patch)(int fd), const char *needle)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec g = spec_of(SIF_DATA_GENERIC);
	sif_add_from_buffer(img, &g, "0123456789", 10, &err);
	sif_add_from_buffer(img, &g, "abcdefghij", 10, &err);
	sif_commit(img, &err);
	sif_close(img);
	patch(fd);
	img = NULL;
	CHECK_INT(sif_open_fd(fd, "bad.sif", false, &img, &err), -1);
	CHECK(img == NULL);
	CHECK_ERR(err, "bad.sif");
	CHECK_ERR(err, needle);
	lt_error_free(&err);
	close(fd);
}

static void put64(int fd, off_t off, int64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)v >> (8 * i));
	if (pwrite(fd, b, 8, off) != 8)
		abort();
}

static void p_magic(int fd)
{
	CHECK(pwrite(fd, "X", 1, 0x20) == 1);
}
static void p_version(int fd)
{
	CHECK(pwrite(fd, "02", 2, 0x2A) == 2);
}
static void p_truncate_header(int fd)
{
	CHECK(ftruncate(fd, 100) == 0);
}
static void p_truncate_table(int fd)
{
	CHECK(ftruncate(fd, 5000) == 0);
}
static void p_truncate_data(int fd)
{
	CHECK(ftruncate(fd, 32180) == 0);
}
static void p_total_negative(int fd)
{
	put64(fd, 0x58, -1);
}
static void p_total_huge(int fd)
{
	put64(fd, 0x58, 1LL << 40);
}
static void p_size_mismatch(int fd)
{
	put64(fd, 0x68, 585 * 47);
}
static void p_offset_header(int fd)
{
	put64(fd, 0x60, 64);
}
static void p_offset_eof(int fd)
{
	put64(fd, 0x60, 1 << 20);
}
static void p_data_in_table(int fd)
{
	put64(fd, 0x70, 5000);
}
static void p_data_eof(int fd)
{
	put64(fd, 0x78, 1 << 20);
}
static void p_free_count(int fd)
{
	put64(fd, 0x50, 48);
}
static void p_free_too_big(int fd)
{
	put64(fd, 0x50, 49);
}
static void p_obj_eof(int fd)
{
	put64(fd, 4096 + 25, 1 << 20);
}
static void p_obj_overflow(int fd)
{
	put64(fd, 4096 + 17, INT64_MAX);
}
static void p_obj_negative(int fd)
{
	put64(fd, 4096 + 25, -5);
}
static void p_obj_in_header(int fd)
{
	put64(fd, 4096 + 17, 16);
}
static void p_obj_in_table(int fd)
{
	put64(fd, 4096 + 17, 4200);
}
static void p_obj_overlap(int fd)
{
	put64(fd, 4096 + 585 + 17, 32180);
}
static void p_dup_id(int fd)
{
	CHECK(pwrite(fd, "\x01", 1, 4096 + 585 + 5) == 1);
}
static void p_used_flag(int fd)
{
	CHECK(pwrite(fd, "\x02", 1, 4096 + 4) == 1);
}
static void p_zero_id(int fd)
{
	CHECK(pwrite(fd, "\0", 1, 4096 + 5) == 1);
}

static void test_validation(void)
{
	expect_invalid(p_magic, "not a SIF image");
	expect_invalid(p_version, "unsupported SIF version \"02\"");
	expect_invalid(p_truncate_header, "fewer than the 128 of a SIF header");
	expect_invalid(p_truncate_table, "descriptor table");
	expect_invalid(p_truncate_data, "may be truncated");
	expect_invalid(p_total_negative, "descriptor count -1 is out of range");
	expect_invalid(p_total_huge, "out of range");
	expect_invalid(p_size_mismatch, "does not match 48 descriptors");
	expect_invalid(p_offset_header, "overlaps the global header");
	expect_invalid(p_offset_eof, "extends beyond the end of the file");
	expect_invalid(p_data_in_table, "overlaps the descriptor table");
	expect_invalid(p_data_eof, "may be truncated");
	expect_invalid(p_free_count, "inconsistent descriptor counts");
	expect_invalid(p_free_too_big, "does not fit the table");
	expect_invalid(p_obj_eof, "object 1");
	expect_invalid(p_obj_overflow, "object 1");
	expect_invalid(p_obj_negative, "object 1");
	expect_invalid(p_obj_in_header, "overlaps the global header");
	expect_invalid(p_obj_in_table, "overlaps the descriptor table");
	expect_invalid(p_obj_overlap, "objects 1 and 2 overlap");
	expect_invalid(p_dup_id, "object ID 1 is used twice");
	expect_invalid(p_used_flag, "bad 'used' flag");
	expect_invalid(p_zero_id, "has ID 0");
}

static void test_print(void)
{
	int fd = new_memfd();
	sif_create_opts co = {.time = 1627931376, .launch_script = SIF_LAUNCH_SCRIPT};
	sif_image *img = create(fd, &co);
	lt_error *err = NULL;
	sif_object_spec p = spec_of(SIF_DATA_PARTITION);
	p.fstype = SIF_FS_SQUASHFS;
	p.parttype = SIF_PART_PRIMSYS;
	p.arch = "02";
	p.group = 1;
	p.time = 1627931376;
	p.name = "squashfs-1";
	CHECK_INT(sif_add_from_buffer(img, &p, "hsqs", 4, &err), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	sif_print_list(out, img);
	CHECK_INT(sif_print_info(out, img, 1, &err), 0);
	fclose(out);
	CHECK_STR(buf,
		  "------------------------------------------------------------------------------\n"
		  "ID   |GROUP   |LINK    |SIF POSITION (start-end)  |TYPE\n"
		  "------------------------------------------------------------------------------\n"
		  "1    |1       |NONE    |32768-32772               |FS (Squashfs/*System/amd64)\n"
		  "  Data Type:        FS\n"
		  "  ID:               1\n"
		  "  Group ID:         1\n"
		  "  Linked ID:        NONE\n"
		  "  Offset:           32768\n"
		  "  Size:             4\n"
		  "  Created At:       2021-08-02 19:09:36 +0000 UTC\n"
		  "  Modified At:      2021-08-02 19:09:36 +0000 UTC\n"
		  "  Name:             squashfs-1\n"
		  "  Filesystem Type:  Squashfs\n"
		  "  Partition Type:   *System\n"
		  "  Architecture:     amd64\n");
	free(buf);
	sif_close(img);
	close(fd);
}

int main(void)
{
	lt_umask();
	RUN(test_empty_layout);
	RUN(test_deterministic);
	RUN(test_add_alignment_and_padding);
	RUN(test_second_primary_refused);
	RUN(test_setprim_and_delete);
	RUN(test_capacity);
	RUN(test_legacy);
	RUN(test_oci_digest);
	RUN(test_begin_end);
	RUN(test_names);
	RUN(test_validation);
	RUN(test_print);
	return tap_done();
}
