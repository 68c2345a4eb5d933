/* image: image references and sources on disk. Resolves a reference to one image manifest
 * (following indexes and manifest lists, choosing the platform), loads and verifies its config,
 * and hands out the layers as compressed blob streams whose size and digest are checked while
 * they are read.
 *
 * Supported references:
 *   oci:DIR[:TAG|@DIGEST]            OCI image layout directory
 *   oci-archive:FILE[:TAG]           tar of an OCI image layout (plain or gzip/zstd compressed)
 *   docker-archive:FILE[:NAME:TAG]   `docker save` output: legacy (<= 24), moby 25+ and
 *                                    containerd styles, plain or gzip/zstd compressed
 *
 * The module knows nothing about SIF or SquashFS, and never writes anything on the host.
 */
#ifndef LITHO_IMAGE_H
#define LITHO_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef struct img_source img_source;
typedef struct img_blob img_blob;

typedef struct img_platform {
	const char *os;	     /* NULL = "linux" */
	const char *arch;    /* GOARCH; NULL = the host's */
	const char *variant; /* NULL = none wanted (arm: detected from the host) */
} img_platform;

typedef struct img_layer {
	char *digest;	  /* blob digest, "sha256:<hex>" */
	int64_t size;	  /* blob size in bytes; -1 when the source does not say */
	char *media_type; /* as in the manifest (Docker archives: the OCI tar type) */
	char *diff_id;	  /* "sha256:<hex>" of the uncompressed tar, from the config */
} img_layer;

typedef struct img_image {
	char *reference; /* as given by the user */
	char *name;	 /* repository name when known ("docker.io/library/busybox"), or NULL */
	char *tag;	 /* tag when known, or NULL */
	char *manifest_digest; /* digest of the selected image manifest; NULL for legacy archives */
	char *manifest_media_type; /* NULL for legacy archives (no manifest blob) */
	char *config_digest;
	char *config_data; /* raw config bytes, NUL terminated */
	size_t config_len;
	json_t *config; /* parsed config (the whole document) */
	char *os, *arch, *variant;
	size_t n_layers;
	img_layer *layers; /* base layer first */
} img_image;

/* True when `ref` uses one of the transports above (so that callers can tell it from a plain
 * directory or a SIF path). */
bool img_is_reference(const char *ref);

/* Resolves `ref` and loads the selected image's manifest and config. Errors name the reference
 * and what is wrong (missing tag, no manifest for the platform, digest mismatch, schema1,
 * encrypted layers, unknown digest algorithm, ...). */
int img_open(const char *ref, const img_platform *platform, img_source **src, img_image **image,
	     lt_error **err);
void img_close(img_source *src);
void img_image_free(img_image *image);

/* Opens the blob of layer `index` (0 = base). Reading it yields the stored (compressed) bytes;
 * at end of stream the size and digest are checked and a mismatch is an error from
 * img_blob_read. Several blobs of one source may be open at once, also from different threads
 * (each blob on one thread). For compressed archives each open decompresses the archive up to
 * the member, so readers should prefer img_layer_order(). */
int img_blob_open(img_source *src, size_t index, img_blob **out, lt_error **err);
/* Returns the number of bytes read (0 at the verified end), or -1 with *err set. */
ssize_t img_blob_read(img_blob *blob, void *buf, size_t len, lt_error **err);
void img_blob_close(img_blob *blob);

/* The order in which reading the layers is cheapest (archive order for compressed archives,
 * manifest order otherwise); fills order[0..n_layers-1] with layer indexes. */
void img_layer_order(const img_source *src, size_t *order);

/* Digest helpers shared with the registry client later. */
/* Validates "algorithm:encoded" per the OCI grammar; only sha256 can be verified, any other
 * algorithm is refused with an error naming it. */
int img_check_digest(const char *digest, const char *what, lt_error **err);

#endif
