/* sif: reading and writing Singularity Image Format files, byte for byte as the reference
 * implementation (github.com/sylabs/sif v2) lays them out:
 *
 *   0      global header (128 bytes, then zeros up to the descriptor table)
 *   4096   descriptor table: `descriptors_total` slots of 585 bytes
 *   ...    data objects, from data_offset (32176 for SIF v2, 32768 for legacy images)
 *
 * All integers are little-endian and every structure is packed. A SIF is opened read-only or
 * read-write; on open every field is validated so that the rest of litho can trust offsets and
 * sizes. Objects are appended at the end of the data section, aligned as requested. Metadata
 * (header and descriptor table) is written back by sif_commit(), with SIGINT/SIGTERM blocked so
 * that an interruption never leaves descriptors and header disagreeing.
 *
 * The module knows nothing about what the objects contain (SquashFS, JSON ...).
 */
#ifndef LITHO_SIF_H
#define LITHO_SIF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"

#define SIF_HEADER_SIZE		 128
#define SIF_DESCRIPTOR_SIZE	 585
#define SIF_DEFAULT_DESCRIPTORS	 48
#define SIF_DEFAULT_DESCR_OFFSET 4096
#define SIF_LEGACY_DATA_OFFSET	 32768
#define SIF_PARTITION_ALIGNMENT	 4096
#define SIF_LAUNCH_SCRIPT_LEN	 32
#define SIF_NAME_LEN		 128
#define SIF_EXTRA_LEN		 384
#define SIF_ENTITY_LEN		 256
#define SIF_GROUP_MASK		 0xF0000000u
#define SIF_LAUNCH_SCRIPT	 "#!/usr/bin/env run-singularity\n"
/* Go's zero time.Time as Unix seconds: the timestamp of deterministic images. */
#define SIF_ZERO_TIME (-62135596800LL)
/* The largest descriptor table litho accepts (guards allocations against hostile headers). */
#define SIF_MAX_DESCRIPTORS (1 << 20)

enum sif_datatype {
	SIF_DATA_DEFFILE = 0x4001,
	SIF_DATA_ENVVAR = 0x4002,
	SIF_DATA_LABELS = 0x4003,
	SIF_DATA_PARTITION = 0x4004,
	SIF_DATA_SIGNATURE = 0x4005,
	SIF_DATA_GENERIC_JSON = 0x4006,
	SIF_DATA_GENERIC = 0x4007,
	SIF_DATA_CRYPTO_MESSAGE = 0x4008,
	SIF_DATA_SBOM = 0x4009,
	SIF_DATA_OCI_ROOT_INDEX = 0x400A,
	SIF_DATA_OCI_BLOB = 0x400B,
};

enum sif_fstype {
	SIF_FS_SQUASHFS = 1,
	SIF_FS_EXT3 = 2,
	SIF_FS_IMMUOBJ = 3,
	SIF_FS_RAW = 4,
	SIF_FS_ENCRYPTED_SQUASHFS = 5,
	SIF_FS_GOCRYPTFS_SQUASHFS = 6,
};

enum sif_parttype {
	SIF_PART_SYSTEM = 1,
	SIF_PART_PRIMSYS = 2,
	SIF_PART_DATA = 3,
	SIF_PART_OVERLAY = 4,
};

enum sif_hashtype {
	SIF_HASH_SHA256 = 1,
	SIF_HASH_SHA384 = 2,
	SIF_HASH_SHA512 = 3,
	SIF_HASH_BLAKE2S = 4,
	SIF_HASH_BLAKE2B = 5,
};

enum sif_formattype { SIF_FORMAT_OPENPGP = 1, SIF_FORMAT_PEM = 2 };
enum sif_messagetype { SIF_MESSAGE_CLEAR_SIGNATURE = 0x100, SIF_MESSAGE_RSA_OAEP = 0x200 };

/* The global header as stored (strings are fixed-size, NUL padded, not terminated). */
typedef struct sif_header {
	char launch_script[SIF_LAUNCH_SCRIPT_LEN];
	char magic[10];
	char version[3];
	char arch[3];
	uint8_t id[16];
	int64_t created_at;
	int64_t modified_at;
	int64_t descriptors_free;
	int64_t descriptors_total;
	int64_t descriptors_offset;
	int64_t descriptors_size;
	int64_t data_offset;
	int64_t data_size;
} sif_header;

/* One descriptor slot as stored. group_id and linked_id are raw (with SIF_GROUP_MASK bits). */
typedef struct sif_descriptor {
	int32_t datatype;
	bool used;
	uint32_t id;
	uint32_t group_id;
	uint32_t linked_id;
	int64_t offset;
	int64_t size;
	int64_t size_with_padding;
	int64_t created_at;
	int64_t modified_at;
	int64_t uid;
	int64_t gid;
	char name[SIF_NAME_LEN];
	uint8_t extra[SIF_EXTRA_LEN];
} sif_descriptor;

/* Decoded views of the type-specific `extra` bytes. */
typedef struct sif_partition_info {
	int32_t fstype;
	int32_t parttype;
	char arch[3]; /* two ASCII digits and NUL */
} sif_partition_info;

typedef struct sif_signature_info {
	int32_t hashtype;
	uint8_t entity[SIF_ENTITY_LEN];
} sif_signature_info;

typedef struct sif_image sif_image;

/* ---------------------------------------------------------------------------------------------
 * Opening and reading
 */
/* Opens and validates `path`. Errors name the file and the problem (bad magic, descriptor
 * table outside the file, overlapping objects, inconsistent counts ...). */
int sif_open(const char *path, bool writable, sif_image **out, lt_error **err);
/* Same on an already open descriptor; the image does not own fd. */
int sif_open_fd(int fd, const char *name, bool writable, sif_image **out, lt_error **err);
void sif_close(sif_image *img);

const char *sif_name(const sif_image *img);
int sif_fd(const sif_image *img);
const sif_header *sif_get_header(const sif_image *img);
/* Slot access: 0 <= index < descriptors_total; unused slots have used == false. */
int64_t sif_slot_count(const sif_image *img);
const sif_descriptor *sif_slot(const sif_image *img, int64_t index);
/* Finds the used descriptor with this ID; NULL when there is none. */
const sif_descriptor *sif_find_id(const sif_image *img, uint32_t id);
/* Finds the primary system partition; NULL when there is none. */
const sif_descriptor *sif_find_primary(const sif_image *img);
/* Like sif_find_id, but an error naming the image when the object does not exist. */
int sif_lookup_id(const sif_image *img, uint32_t id, const sif_descriptor **out, lt_error **err);

/* Reads `len` bytes of an object starting `pos` bytes into it. */
int sif_read_object(const sif_image *img, const sif_descriptor *d, int64_t pos, void *buf,
		    size_t len, lt_error **err);
/* Reads a whole object into a new NUL-terminated buffer (limit guards against huge ones). */
int sif_read_object_alloc(const sif_image *img, const sif_descriptor *d, size_t limit, char **data,
			  lt_error **err);
/* Copies an object to out_fd. */
int sif_dump_object(const sif_image *img, const sif_descriptor *d, int out_fd, lt_error **err);

/* Group ID without the mask bits (0 = none); linked ID without mask, and whether it names a
 * group. */
uint32_t sif_group_of(const sif_descriptor *d);
uint32_t sif_link_of(const sif_descriptor *d, bool *is_group);
void sif_partition_of(const sif_descriptor *d, sif_partition_info *out);
void sif_signature_of(const sif_descriptor *d, sif_signature_info *out);
void sif_crypto_of(const sif_descriptor *d, int32_t *format, int32_t *message);
int32_t sif_sbom_format_of(const sif_descriptor *d);
/* OCI.* digest string ("sha256:..."), NUL terminated into out (SIF_EXTRA_LEN + 1 bytes). */
void sif_oci_digest_of(const sif_descriptor *d, char *out);
/* Name, NUL terminated into out (SIF_NAME_LEN + 1 bytes). */
void sif_name_of(const sif_descriptor *d, char *out);
/* An image created by a legacy (v1) writer: data after 32768 and every object aligned. */
bool sif_is_legacy(const sif_image *img);

/* ---------------------------------------------------------------------------------------------
 * Creating and modifying
 */
typedef struct sif_create_opts {
	const char *launch_script; /* NULL = none; must be shorter than 32 bytes */
	bool deterministic;	   /* all-zero ID and the Go zero time everywhere */
	int64_t time;		   /* creation time when not deterministic */
	const uint8_t *id;	   /* 16 bytes; NULL = random v4 UUID (unless deterministic) */
	int64_t descriptors;	   /* table capacity; 0 = 48 */
	bool legacy;		   /* v1 layout: data at 32768, every object aligned to 4096 */
} sif_create_opts;

/* Writes an empty SIF (header + zeroed descriptor table) into fd, which must be empty and
 * writable; the image is open read-write. */
int sif_create_fd(int fd, const char *name, const sif_create_opts *opts, sif_image **out,
		  lt_error **err);

/* What to record about a new object. */
typedef struct sif_object_spec {
	int32_t datatype;
	uint32_t group;	    /* 0 = no group */
	uint32_t link;	    /* 0 = no link */
	bool link_is_group; /* link names a group, stored with the mask bits */
	int64_t alignment;  /* -1 = default: 4096 for partitions (and legacy images), else 1 */
	const char *name;   /* NULL = empty; at most 128 bytes */
	int64_t time;	    /* created/modified time of the descriptor */
	/* Type-specific fields (only the ones of `datatype` are used). */
	int32_t fstype, parttype;
	const char *arch; /* two-digit SIF code, e.g. "02" */
	int32_t hashtype;
	uint8_t entity[SIF_ENTITY_LEN];
	int32_t crypto_format, crypto_message;
	int32_t sbom_format;
} sif_object_spec;

/* Adds an object whose bytes are read from src_fd until end of file. OCI.* objects get their
 * sha256 digest recorded as the reference implementation does. */
int sif_add_from_fd(sif_image *img, const sif_object_spec *spec, int src_fd, lt_error **err);
int sif_add_from_buffer(sif_image *img, const sif_object_spec *spec, const void *data, size_t len,
			lt_error **err);
/* Two-step add for writers that put data in place themselves (the SquashFS writer): returns
 * the aligned offset where the object starts; the caller writes its bytes there with pwrite
 * and then calls sif_end_object with the final size. No other add may happen in between. */
int sif_begin_object(sif_image *img, const sif_object_spec *spec, int64_t *offset, lt_error **err);
int sif_end_object(sif_image *img, int64_t size, lt_error **err);

#define SIF_DELETE_ZERO	   1u /* overwrite the object's bytes with zeros */
#define SIF_DELETE_COMPACT 2u /* give back the space (only for the last object) */
int sif_delete_object(sif_image *img, uint32_t id, unsigned flags, int64_t time, lt_error **err);
/* Makes a System partition the primary one (demoting the old one) and sets the header arch. */
int sif_set_primary(sif_image *img, uint32_t id, int64_t time, lt_error **err);
/* Sets the header's modification time (applied by the next commit). */
void sif_touch(sif_image *img, int64_t time);
/* Writes header and descriptor table back to the file. */
int sif_commit(sif_image *img, lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Names and printing (the strings of the reference siftool)
 */
const char *sif_datatype_name(int32_t datatype);
const char *sif_fstype_name(int32_t fstype);
const char *sif_parttype_name(int32_t parttype);
const char *sif_hashtype_name(int32_t hashtype);
const char *sif_formattype_name(int32_t format);
const char *sif_messagetype_name(int32_t message);
const char *sif_sbom_format_name(int32_t format);
/* 0 when unknown. */
int32_t sif_sbom_format_from_name(const char *name);
/* "02" -> "amd64"; "unknown" for codes it does not know. */
const char *sif_arch_to_go(const char *code);
/* "amd64" -> "02"; NULL when unknown. Also accepts the siftool numbers "1".."13". */
const char *sif_arch_from_go(const char *goarch);
/* The SIF code of the machine litho runs on. */
const char *sif_host_arch(void);
/* Formats a UUID as 8-4-4-4-12 lowercase hex into out (37 bytes). */
void sif_format_uuid(const uint8_t id[16], char out[37]);
/* Formats Unix seconds like Go's time.Time.UTC().String(): "2021-08-02 19:09:36 +0000 UTC". */
void sif_format_time(int64_t t, char *out, size_t len);

/* The outputs of `siftool header`, `siftool list` and `siftool info ID`. */
void sif_print_header(FILE *out, const sif_image *img);
void sif_print_list(FILE *out, const sif_image *img);
int sif_print_info(FILE *out, const sif_image *img, uint32_t id, lt_error **err);

#endif
