/* Private to the image module.
 *
 *  ref.c       reference parsing, Docker name normalisation
 *  digest.c    digest grammar, media types, descriptors, verified reads of small blobs
 *  tar.c       outer archive access: member index, symlinks, pread / sequential member streams
 *  source.c    one file interface over a layout directory or an archive; layer blobs
 *  platform.c  wanted platform, host detection, candidate ranking
 *  oci.c       OCI layout: index.json, ref selection, nested indexes, manifest and config
 *  docker.c    docker-archive manifest.json (legacy, skopeo, moby 25+, containerd)
 *  image.c     img_open / img_close / img_image_free
 */
#ifndef LITHO_IMAGE_INTERNAL_H
#define LITHO_IMAGE_INTERNAL_H

#include "image.h"

/* ---------------------------------------------------------------------------------------------
 * Media types
 */
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_TAR   "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1  "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1S "application/vnd.docker.distribution.manifest.v1+prettyjws"

#define ANNOT_REF_NAME	      "org.opencontainers.image.ref.name"
#define ANNOT_CONTAINERD_NAME "io.containerd.image.name"

/* Largest manifest, index or config we load into memory. */
#define IMG_MAX_JSON (32 * 1024 * 1024)

enum img_doc_kind { DOC_UNKNOWN, DOC_MANIFEST, DOC_INDEX, DOC_SCHEMA1 };

/* Classifies a manifest/index media type (NULL gives DOC_UNKNOWN). */
enum img_doc_kind img_doc_kind_of(const char *media_type);
/* Checks a layer media type: 0 when it is a tar layer we can read, -1 with an error naming
 * `what` (encrypted, unknown) otherwise. */
int img_check_layer_media_type(const char *media_type, const char *what, lt_error **err);
/* The media type for a layer whose first bytes are `magic` (gzip, zstd or else plain tar). */
const char *img_layer_media_type_for_magic(const unsigned char *magic, size_t len);
/* True when s is "sha256:" followed by 64 lowercase hex digits. */
bool img_is_sha256_digest(const char *s);
/* When `path` is "blobs/sha256/<hex>" (cleaned), writes "sha256:<hex>" into digest. */
bool img_blob_path_digest(const char *path, char digest[72]);

/* A parsed descriptor. Strings point into `json` (borrowed). */
typedef struct img_desc {
	const json_t *json;
	const char *media_type; /* NULL when absent */
	const char *digest;	/* validated sha256 digest */
	int64_t size;		/* -1 when unknown (only for @DIGEST lookups outside any index) */
	char path[96];		/* "blobs/sha256/<hex>" */
} img_desc;

/* Parses and validates a descriptor object; `what` names it in errors. */
int img_desc_parse(const json_t *obj, const char *what, img_desc *d, lt_error **err);
void img_desc_set_path(img_desc *d);

/* ---------------------------------------------------------------------------------------------
 * References
 */
enum img_transport { IMG_OCI_DIR, IMG_OCI_ARCHIVE, IMG_DOCKER_ARCHIVE };

typedef struct img_ref {
	enum img_transport transport;
	const char *transport_name; /* "oci", "oci-archive", "docker-archive" */
	char *path;
	char *tag;    /* oci: ref name; docker-archive: tag ("latest" when only a name is given) */
	char *digest; /* oci and oci-archive: @DIGEST */
	char *name;   /* docker-archive: NAME as given (NULL when no NAME) */
} img_ref;

int img_ref_parse(const char *ref, img_ref *out, lt_error **err);
void img_ref_free(img_ref *r);

/* Splits a Docker reference "[host[:port]/]path[:tag]" into the canonical repository name
 * ("docker.io/library/busybox") and tag ("latest" when absent). -1 when it is not one. */
int img_docker_ref_split(const char *s, char **name, char **tag);
/* "docker.io/library/busybox:latest" for "busybox", or NULL when s is not a reference. */
char *img_docker_ref_canonical(const char *s);

/* ---------------------------------------------------------------------------------------------
 * Outer tar archives
 */
typedef struct tar_member {
	char *name; /* cleaned, confined to the archive */
	char *link; /* symlink or hard link target as stored */
	char type;  /* 'f' regular, 'l' symlink, 'h' hard link, 'd' directory, 'o' other */
	bool sparse;
	int64_t size;
	int64_t offset; /* data offset in the file (uncompressed archives) */
	size_t ordinal; /* position of the entry in the archive */
	unsigned char magic[4];
	size_t magic_len;
	char *data; /* whole contents, cached for small members of compressed archives */
} tar_member;

typedef struct tar_index {
	int fd;
	int64_t file_size;
	bool compressed;
	tar_member *members; /* sorted by name, one per name (the last entry wins) */
	size_t n_members;
} tar_index;

int tar_index_build(int fd, tar_index *idx, lt_error **err);
void tar_index_free(tar_index *idx);
/* Looks `name` up, following symlink and hard link members (confined to the archive).
 * 1 found (a regular file), 0 missing, -1 error. */
int tar_resolve(const tar_index *idx, const char *name, const tar_member **out, lt_error **err);

typedef struct tar_stream tar_stream;
int tar_stream_open(const tar_index *idx, const tar_member *m, tar_stream **out, lt_error **err);
ssize_t tar_stream_read(tar_stream *s, void *buf, size_t len, lt_error **err);
void tar_stream_close(tar_stream *s);

/* ---------------------------------------------------------------------------------------------
 * Sources
 */
typedef struct src_layer {
	char *path;   /* file in the layout / archive member */
	char *digest; /* expected blob digest */
	int64_t size; /* expected size, -1 unknown */
	size_t ordinal;
} src_layer;

struct img_source {
	char *display; /* "oci:/path": prefix of every error */
	enum img_transport transport;
	int fd;	     /* layout directory or archive file */
	bool is_dir; /* OCI layout directory */
	tar_index tar;
	size_t n_layers;
	src_layer *layers;
};

typedef struct src_file {
	int64_t size;
	const tar_member *member; /* archives */
	char *path;		  /* directory: relative path; archives: resolved member name */
} src_file;

/* 1 found, 0 missing, -1 error. Free with src_file_clear(). */
int src_find(const img_source *src, const char *path, src_file *f, lt_error **err);
void src_file_clear(src_file *f);
/* Whole contents of a file (at most `limit` bytes), NUL terminated. */
int src_read_all(const img_source *src, const src_file *f, size_t limit, char **data, size_t *len,
		 lt_error **err);

typedef struct src_stream src_stream;
int src_stream_open(const img_source *src, const src_file *f, src_stream **out, lt_error **err);
ssize_t src_stream_read(src_stream *s, void *buf, size_t len, lt_error **err);
void src_stream_close(src_stream *s);

/* Reads blob `digest` (size -1 = unknown) verifying size and digest; `what` names it. */
int src_read_blob(const img_source *src, const char *digest, int64_t size, const char *what,
		  char **data, size_t *len, lt_error **err);
/* Hashes a whole file: "sha256:<hex>" into out. */
int src_hash_file(const img_source *src, const src_file *f, char out[72], lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Platforms
 */
typedef struct img_wanted {
	char os[32];
	char arch[72];
	char variant[16];
	const char *cands[8]; /* acceptable variants, best first ("" = none) */
	size_t n_cands;
} img_wanted;

void img_wanted_init(const img_platform *p, img_wanted *w);
/* Rank of a platform (0 best) or -1 when it does not match. */
int img_platform_rank(const img_wanted *w, const char *os, const char *arch, const char *variant);
/* "linux/arm/v7" (new string). */
char *img_platform_format(const char *os, const char *arch, const char *variant);
/* True for attestation / unknown-platform entries of an index. */
bool img_desc_is_attestation(const json_t *desc);
/* Warns when the config's platform differs from the wanted one. */
void img_platform_check_config(const img_source *src, const img_image *img, const img_wanted *w);
const char *img_normalize_arch(const char *arch);

/* ---------------------------------------------------------------------------------------------
 * Resolution
 */
/* Resolves an OCI layout (directory or archive) for `ref` and fills img and src->layers. */
int oci_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
		lt_error **err);
/* Loads the image manifest `d` (following indexes) and its config. `by_platform` says whether
 * an index already chose the platform (otherwise the config is checked and warned about). */
int oci_load(img_source *src, const img_desc *d, const img_wanted *w, bool by_platform, int depth,
	     img_image *img, lt_error **err);
/* Searches the layout's index.json (and nested indexes) for an image manifest whose config has
 * digest cfg_digest; 1 found (*out is a new reference to its descriptor), 0 none, -1 error. */
int oci_find_manifest_by_config(img_source *src, const char *cfg_digest, json_t **out,
				lt_error **err);
/* Whether the source holds an OCI layout (oci-layout and index.json). */
bool oci_has_layout(const img_source *src);

int docker_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
		   lt_error **err);

/* Parses the config bytes already verified by the caller (img->config_data) and fills
 * img->config, os/arch/variant; *diff_ids is borrowed from img->config. */
int img_parse_config(img_image *img, const char *media_type, const json_t **diff_ids,
		     lt_error **err);
/* Allocates img->layers and src->layers for n layers. */
void img_alloc_layers(img_source *src, img_image *img, size_t n);
/* Fills name/tag from a Docker reference ("docker.io/library/busybox:latest") or a plain tag. */
void img_set_name_tag(img_image *img, const char *ref_name);

/* Joins strings with ", " (new string; "none" when n == 0). */
char *img_join_list(char **items, size_t n);

#endif
