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
 *   docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST]
 *                                    an image in a registry (Distribution API v2); Docker Hub
 *                                    when HOST is absent, "library/" for one-component names
 *                                    there, tag "latest" by default
 *   oras://HOST[:PORT]/NAME[:TAG|@DIGEST]
 *                                    a SIF file stored as an ORAS artifact the way Apptainer
 *                                    pushes it: not a container image; see img_oras_pull()
 *
 * The module knows nothing about SIF or SquashFS beyond the magic and creation time of the SIF
 * header (for oras://). It writes on the host only in the blob cache (img_cache_*), the
 * credential store (img_registry_login/logout) and the output path of img_oras_pull().
 */
#ifndef LITHO_IMAGE_H
#define LITHO_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

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

/* True when `ref` uses one of the transports above, docker:// and oras:// included (so that
 * callers can tell it from a plain directory or a SIF path). */
bool img_is_reference(const char *ref);
/* True for "oras://..." references (SIF artifacts: img_open refuses them; use img_oras_pull). */
bool img_is_oras_reference(const char *ref);

/* Resolves `ref` and loads the selected image's manifest and config. Errors name the reference
 * and what is wrong (missing tag, no manifest for the platform, digest mismatch, schema1,
 * encrypted layers, unknown digest algorithm, ...). */
int img_open(const char *ref, const img_platform *platform, img_source **src, img_image **image,
	     lt_error **err);

/* Registry options (docker:// and oras://). Zero-initialise, then set what the user gave; a NULL
 * options pointer everywhere means all defaults. Strings are copied where they are kept. */
typedef struct img_registry_opts {
	/* Credentials given explicitly (--username/--password). When NULL they are looked up, in
	 * this order: the environment (LITHO_DOCKER_USERNAME/LITHO_DOCKER_PASSWORD, then the
	 * APPTAINER_DOCKER_* and SINGULARITY_DOCKER_* spellings), litho's own store (see
	 * img_registry_login), Docker's config.json ($DOCKER_CONFIG/config.json or
	 * ~/.docker/config.json, "auths" entries with a base64 "auth" or "username"/"password"),
	 * and Apptainer's ($APPTAINER_CONFIGDIR or ~/.apptainer)/docker-config.json. Without any,
	 * requests are anonymous. Credentials are only sent after the registry asks for them. */
	const char *username;
	const char *password;
	/* PEM file of CA certificates to trust instead of the system bundle. */
	const char *ca_file;
	/* HTTPS without verifying the registry's certificate (--insecure / --tls-verify=false). */
	bool insecure;
	/* Plain HTTP (Apptainer's --no-https / --nohttps). Without it HTTPS is used, except that
	 * a loopback registry (localhost, 127.0.0.0/8, [::1]) that does not speak TLS is retried
	 * over plain HTTP, as Docker does. */
	bool no_https;
	/* Neither read nor write the blob cache: blobs are downloaded into unlinked temporary
	 * files (in $TMPDIR) that live until img_close(), so that a layer can still be read twice
	 * without a second download. */
	bool disable_cache;
	/* Cache folder; NULL = img_cache_dir(). One that cannot be created or written is not
	 * used (with a warning), as with disable_cache. */
	const char *cache_dir;
	/* Blob downloads run at once per source (prefetch and on-demand); 0 = 4. */
	unsigned jobs;
} img_registry_opts;

/* img_open with registry options (ropts may be NULL; local transports ignore it).
 *
 * For docker:// it pings the registry (/v2/), authenticates as it asks (anonymous, Basic, or
 * Bearer tokens per repository scope), fetches the manifest by tag or digest with every
 * manifest type in Accept, checks its digest (against @DIGEST, else against
 * Docker-Content-Digest), follows an index / manifest list to the platform's manifest
 * (fetched by digest), and loads the config blob (verified). Manifests and configs are cached
 * by digest; with the cache on, a tag is first resolved with HEAD (not counted by Docker Hub's
 * rate limit) and the GET is skipped when that manifest is cached. Rate limits (429) are waited
 * out (Retry-After, else backoff 2 s doubling to 60 s, 5 attempts; LITHO_RETRY_BASE_MS sets
 * the base for tests), and so are 5xx answers and broken connections. Connections time out
 * after 30 s and transfers after 60 s without progress (LITHO_HTTP_TIMEOUT, in seconds,
 * overrides both). Errors name the reference and what failed, e.g.
 *   "docker://127.0.0.1:5000/x:y: manifest unknown",
 *   "docker://...: registry 127.0.0.1:5001: authentication failed for user bob". */
int img_open_opts(const char *ref, const img_platform *platform, const img_registry_opts *ropts,
		  img_source **src, img_image **image, lt_error **err);

/* Starts downloading every layer blob of a registry source that is not cached yet, in
 * background threads (at most ropts->jobs at once), into the cache (or the private temporary
 * files with disable_cache). img_blob_open() never downloads a blob twice: it reads the cached
 * file, or follows the download in flight (reading what has arrived, waiting for more), or
 * starts the download itself. A no-op for local sources. Failures surface in img_blob_read. */
void img_prefetch_start(img_source *src);

void img_close(img_source *src);
void img_image_free(img_image *image);

/* Opens the blob of layer `index` (0 = base). Reading it yields the stored (compressed) bytes;
 * at end of stream the size and digest are checked and a mismatch is an error from
 * img_blob_read. Several blobs of one source may be open at once, also from different threads
 * (each blob on one thread). For compressed archives each open decompresses the archive up to
 * the member, so readers should prefer img_layer_order().
 * Registry sources stream from the network while the blob is written to the cache (the
 * download runs in a background thread; the reader follows it), resume interrupted downloads
 * with Range requests, and read later opens from the cache. A blob whose digest does not match
 * is never left in the cache. */
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

/* ---------------------------------------------------------------------------------------------
 * Registry credentials (`litho registry login/logout/list`)
 *
 * litho's store is $LITHO_CONFIGDIR/registry-auth.json (default ~/.litho/registry-auth.json),
 * mode 0600, rewritten atomically, in Docker's format: {"auths":{"HOST":{"auth":"<base64
 * user:pass>"}}}. HOST is a registry as in references: "docker.io" (Docker Hub; index.docker.io
 * and registry-1.docker.io are the same), "quay.io", "127.0.0.1:5000".
 */
/* `registry` is "HOST[:PORT]", optionally with a "docker://", "oras://" or "https://" prefix
 * and a path (ignored). With verify, the credentials are checked against the registry first
 * (/v2/ with Basic auth, or a token request to the Bearer realm): "registry HOST:
 * authentication failed for user USER" when refused; a registry that needs no authentication
 * accepts any. opts (may be NULL) gives the transport settings (no_https, insecure, ca_file). */
int img_registry_login(const char *registry, const char *username, const char *password,
		       const img_registry_opts *opts, bool verify, lt_error **err);
/* Removes the stored credentials of `registry`; "not logged in to HOST" when there are none. */
int img_registry_logout(const char *registry, lt_error **err);

typedef struct img_registry_login_entry {
	char *registry; /* "HOST[:PORT]" */
	char *username;
} img_registry_login_entry;
/* Lists the registries of litho's store (sorted). */
int img_registry_list(img_registry_login_entry **entries, size_t *n, lt_error **err);
void img_registry_list_free(img_registry_login_entry *entries, size_t n);

/* ---------------------------------------------------------------------------------------------
 * ORAS (oras://): SIF files in OCI registries, with exactly Apptainer's shapes
 */
typedef struct img_oras_opts {
	img_registry_opts registry;
	/* Extra manifest annotations, "KEY=VALUE" strings (Apptainer's push --annotation). */
	const char *const *annotations;
	size_t n_annotations;
	/* Uploads larger than this (bytes) go in chunks (PATCH), smaller ones in one PUT;
	 * 0 = $LITHO_UPLOAD_CHUNK_SIZE or 64 MiB. */
	int64_t chunk_threshold;
	/* Chunk size; 0 = the threshold (raised to the registry's OCI-Chunk-Min-Length). */
	int64_t chunk_size;
} img_oras_opts;

/* Pushes the SIF file `sif_path` to `ref` ("oras://HOST/NAME[:TAG]", tag default "latest"):
 * the config blob "{}" (application/vnd.sylabs.sif.config.v1+json, also embedded as "data"),
 * one layer application/vnd.sylabs.sif.layer.v1.sif titled with the file's basename, and an
 * OCI image manifest with the annotation org.opencontainers.image.created (the SIF's creation
 * time) plus opts->annotations. Blobs the repository already has (HEAD) are not uploaded.
 * On success *manifest_digest (when not NULL) is the pushed manifest's digest (new string). */
int img_oras_push(const char *sif_path, const char *ref, const img_oras_opts *opts,
		  char **manifest_digest, lt_error **err);

/* Pulls the SIF of `ref` (oras://...) to out_path: the manifest must have exactly one layer of
 * type application/vnd.sylabs.sif.layer.v1.sif (or the legacy
 * "appliciation/vnd.sylabs.sif.layer.tar"). The file is written beside out_path under a
 * temporary name, its digest and SIF magic are checked, and it is renamed over out_path (an
 * existing file is replaced: the caller checks --force first). With the cache on, the SIF is
 * also kept in the cache (kind "oras") and later pulls of the same digest copy it from there.
 * On success *layer_digest (when not NULL) is the SIF's digest (new string). */
int img_oras_pull(const char *ref, const char *out_path, const img_registry_opts *opts,
		  char **layer_digest, lt_error **err);

/* Downloads `url` (http, https; redirects followed) into a new file `path` with `mode`, written
 * under a temporary name and renamed when complete. opts (may be NULL) gives insecure and
 * ca_file. Errors name the URL and the HTTP status or transfer error. */
int img_http_download(const char *url, const img_registry_opts *opts, const char *path, mode_t mode,
		      lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Cache (`litho cache list/clean`, and the build's converted-SIF cache)
 *
 * Folder: $LITHO_CACHEDIR; else $APPTAINER_CACHEDIR/litho (beside Apptainer's own entries,
 * never mixed with them); else $XDG_CACHE_HOME/litho; else ~/.cache/litho. Layout:
 *   blobs/sha256/<hex>   layers, configs and manifests, content-addressed
 *   sif/<hex>.sif        converted SIF images, <hex> = sha256 of the caller's key
 *   oras/sha256/<hex>    SIF files pulled from oras:// references, by digest
 * Every entry is written under a temporary name beside it and renamed only once complete and
 * verified; concurrent processes share the folder safely (per-blob flock, atomic renames).
 */
enum img_cache_kind {
	IMG_CACHE_BLOB = 1,
	IMG_CACHE_SIF = 2,
	IMG_CACHE_ORAS = 4,
	IMG_CACHE_ALL = 7,
};

typedef struct img_cache_entry {
	enum img_cache_kind kind;
	char *name; /* "sha256:<hex>" for blob and oras, the file name for sif */
	char *path;
	int64_t size;
	int64_t mtime; /* last use (seconds since the epoch): cache hits refresh it */
} img_cache_entry;

/* The cache folder (new string; not created). */
char *img_cache_dir(void);
/* "blob" / "sif" / "oras"; img_cache_kind_parse accepts those (and "all"), 0 if unknown. */
const char *img_cache_kind_name(enum img_cache_kind kind);
unsigned img_cache_kind_parse(const char *name);

/* Lists the entries of the given kinds (a mask), sorted by kind then name. cache_dir NULL =
 * img_cache_dir(). A missing cache is empty. */
int img_cache_list(const char *cache_dir, unsigned kinds, img_cache_entry **entries, size_t *n,
		   lt_error **err);
void img_cache_entries_free(img_cache_entry *entries, size_t n);

typedef struct img_cache_clean_opts {
	unsigned kinds; /* mask; 0 = all */
	int days;	/* only entries not used for at least this many days; 0 = every entry */
	bool dry_run;	/* list what would be removed, remove nothing */
} img_cache_clean_opts;
/* Removes entries (and temporary files left by killed processes, older than an hour); the
 * removed (or, with dry_run, removable) entries are returned like img_cache_list's. */
int img_cache_clean(const char *cache_dir, const img_cache_clean_opts *opts,
		    img_cache_entry **removed, size_t *n, lt_error **err);

/* Converted-SIF cache. `key` is any string that identifies the result (e.g. the manifest
 * digest plus the build options). img_cache_sif_path gives the final path (the sif/ folder
 * is created; the file may not exist: check it, and use it read-only). To add an entry, open
 * it with img_cache_sif_begin, write the SIF through af->fd and call lt_atomic_commit(af)
 * (or lt_atomic_abort). cache_dir NULL = img_cache_dir(). */
int img_cache_sif_path(const char *cache_dir, const char *key, char **path, lt_error **err);
int img_cache_sif_begin(const char *cache_dir, const char *key, lt_atomic_file *af, lt_error **err);

#endif
