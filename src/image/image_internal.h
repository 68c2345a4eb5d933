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
 *
 *  registry.c       docker:// and oras:// references, resolving a registry image (manifests,
 *                   indexes and configs through the oci.c code), the source hooks
 *  registry_http.c  the HTTP client over libcurl: one transfer (headers, bodies, uploads,
 *                   redirects, TLS, timeouts), retry timing, registry error bodies
 *  registry_session.c  the /v2/ ping, authentication state, img_reg_do (auth + retries)
 *  auth.c           WWW-Authenticate challenges, Basic and Bearer tokens, credential lookup,
 *                   litho's credential store (login/logout)
 *  registry_blob.c  blob downloads: resume with Range, streaming verification, tee to the
 *                   cache, background prefetch, readers that follow a download in flight
 *  cache.c          the cache folder: blob paths, locks, list/clean, converted-SIF entries
 *  oras.c           oras:// push and pull
 */
#ifndef LITHO_IMAGE_INTERNAL_H
#define LITHO_IMAGE_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "image/image.h"

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
enum img_transport { IMG_OCI_DIR, IMG_OCI_ARCHIVE, IMG_DOCKER_ARCHIVE, IMG_REGISTRY };

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

int img_tar_index_build(int fd, tar_index *idx, lt_error **err);
void img_tar_index_free(tar_index *idx);
/* Looks `name` up, following symlink and hard link members (confined to the archive).
 * 1 found (a regular file), 0 missing, -1 error. */
int img_tar_resolve(const tar_index *idx, const char *name, const tar_member **out, lt_error **err);

typedef struct tar_stream tar_stream;
int img_tar_stream_open(const tar_index *idx, const tar_member *m, tar_stream **out,
			lt_error **err);
ssize_t img_tar_stream_read(tar_stream *s, void *buf, size_t len, lt_error **err);
void img_tar_stream_close(tar_stream *s);

/* ---------------------------------------------------------------------------------------------
 * Sources
 */
typedef struct src_layer {
	char *path;   /* file in the layout / archive member */
	char *digest; /* expected blob digest */
	int64_t size; /* expected size, -1 unknown */
	size_t ordinal;
} src_layer;

typedef struct reg_source reg_source;

struct img_source {
	char *display; /* "oci:/path", "docker://host/name:tag": prefix of every error */
	enum img_transport transport;
	int fd;	     /* layout directory or archive file */
	bool is_dir; /* OCI layout directory */
	tar_index tar;
	size_t n_layers;
	src_layer *layers;
	reg_source *reg; /* registry sources: everything else is NULL / -1 */
};

typedef struct src_file {
	int64_t size;
	const tar_member *member; /* archives */
	char *path;		  /* directory: relative path; archives: resolved member name */
} src_file;

/* 1 found, 0 missing, -1 error. Free with img_src_file_clear(). */
int img_src_find(const img_source *src, const char *path, src_file *f, lt_error **err);
void img_src_file_clear(src_file *f);
/* Whole contents of a file (at most `limit` bytes), NUL terminated. */
int img_src_read_all(const img_source *src, const src_file *f, size_t limit, char **data,
		     size_t *len, lt_error **err);

typedef struct src_stream src_stream;
int img_src_stream_open(const img_source *src, const src_file *f, src_stream **out, lt_error **err);
ssize_t img_src_stream_read(src_stream *s, void *buf, size_t len, lt_error **err);
void img_src_stream_close(src_stream *s);

/* Reads blob `digest` (size -1 = unknown) verifying size and digest; `what` names it. */
int img_src_read_blob(const img_source *src, const char *digest, int64_t size, const char *what,
		      char **data, size_t *len, lt_error **err);
/* The same for a manifest or index document (registries fetch those from another endpoint). */
int img_src_read_doc(const img_source *src, const char *digest, int64_t size, const char *what,
		     char **data, size_t *len, lt_error **err);
/* Hashes a whole file: "sha256:<hex>" into out. */
int img_src_hash_file(const img_source *src, const src_file *f, char out[72], lt_error **err);

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
int img_oci_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
		    lt_error **err);
/* Loads the image manifest `d` (following indexes) and its config. `by_platform` says whether
 * an index already chose the platform (otherwise the config is checked and warned about). */
int img_oci_load(img_source *src, const img_desc *d, const img_wanted *w, bool by_platform,
		 int depth, img_image *img, lt_error **err);
/* Searches the layout's index.json (and nested indexes) for an image manifest whose config has
 * digest cfg_digest; 1 found (*out is a new reference to its descriptor), 0 none, -1 error. */
int img_oci_find_manifest_by_config(img_source *src, const char *cfg_digest, json_t **out,
				    lt_error **err);
/* Whether the source holds an OCI layout (oci-layout and index.json). */
bool img_oci_has_layout(const img_source *src);

int img_docker_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
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

/* ---------------------------------------------------------------------------------------------
 * Registries: references (registry.c)
 */
#define MT_SIF_CONFIG	    "application/vnd.sylabs.sif.config.v1+json"
#define MT_SIF_LAYER	    "application/vnd.sylabs.sif.layer.v1.sif"
#define MT_SIF_LAYER_LEGACY "appliciation/vnd.sylabs.sif.layer.tar" /* sic, Singularity < 3.7 */
#define EMPTY_JSON_DIGEST   "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define ANNOT_TITLE	    "org.opencontainers.image.title"
#define ANNOT_CREATED	    "org.opencontainers.image.created"
#define DOCKER_HUB	    "docker.io"
#define DOCKER_HUB_API	    "registry-1.docker.io"
/* Accept header of manifest requests: every type we can parse (oci.md §4.2 step 4). */
#define MANIFEST_ACCEPT                                                                            \
	MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_SCHEMA1S ", " MT_DOCKER_SCHEMA1     \
			", " MT_DOCKER_LIST ", " MT_OCI_INDEX

typedef struct reg_ref {
	char *host;	/* registry as written ("docker.io" when absent), for messages and logins */
	char *api_host; /* where the API is ("registry-1.docker.io" for docker.io) */
	char *repo;	/* "library/busybox" */
	char *tag; /* "latest" when neither a tag nor a digest is given; NULL with only @digest */
	char *digest;  /* @DIGEST, or NULL */
	char *display; /* "docker://host/repo:tag" (or "@digest") */
} reg_ref;

/* Parses "SCHEME://[HOST[:PORT]/]NAME[:TAG][@DIGEST]" (scheme "docker" or "oras"). */
int img_reg_ref_parse(const char *ref, const char *scheme, reg_ref *out, lt_error **err);
void img_reg_ref_free(reg_ref *r);
/* Normalises a registry name for credentials: scheme and path dropped, lower case, Docker Hub's
 * aliases mapped to "docker.io". NULL when it is empty or invalid. */
char *img_reg_host_key(const char *registry);
/* True for localhost, 127.0.0.0/8 and [::1] (with or without a port). */
bool img_reg_host_is_loopback(const char *host);

/* ---------------------------------------------------------------------------------------------
 * Registries: HTTP client (registry_http.c) and authentication (auth.c)
 */
typedef struct reg_client reg_client;

typedef struct reg_resp {
	long status; /* of the last response (after redirects) */
	char *content_type;
	char *digest; /* Docker-Content-Digest */
	char *location;
	char *www_auth; /* the Bearer or Basic challenge */
	char *retry_after;
	char *content_range;
	char *range;
	char *chunk_min;	/* OCI-Chunk-Min-Length */
	int64_t content_length; /* -1 when absent */
	char *body;		/* buffered body (error bodies, small documents), NUL terminated */
	size_t body_len;
	int curl_code; /* CURLcode of the transfer (0 = a complete response) */
	int64_t sunk;  /* bytes handed to the sink */
} reg_resp;

/* Receives the body of a 2xx response (resp has its headers); -1 with *err aborts. */
typedef int (*reg_sink_fn)(void *ctx, const reg_resp *resp, const char *data, size_t len,
			   lt_error **err);

typedef struct reg_req {
	const char *method; /* NULL = GET; HEAD, PUT, POST, PATCH */
	const char *url;    /* absolute, or a path ("/v2/...") on the registry */
	const char *scope;  /* Bearer scope ("repository:NAME:pull"); NULL for /v2/ */
	const char *what;   /* for messages ("manifest latest", "blob sha256:...") */
	const char *accept;
	const char *content_type;
	const char *range;	   /* "N-" (CURLOPT_RANGE) */
	const char *content_range; /* PATCH chunks: "start-end" */
	const char *authorization; /* explicit Authorization value: no automatic auth */
	bool no_auth;		   /* never authenticate (the ping) */
	bool follow;		   /* follow redirects (without Authorization to other hosts) */
	bool no_retry;		   /* return transport errors and 5xx at once */
	const void *body;	   /* upload from memory ... */
	size_t body_len;
	int body_fd; /* ... or from a file (when body_fd > 0) */
	int64_t body_off, body_size;
	bool has_body;	  /* PUT/PATCH/POST with a body (possibly empty) */
	reg_sink_fn sink; /* where a 2xx body goes (else it is buffered) */
	void *sink_ctx;
	size_t max_body;	    /* limit of a buffered 2xx body; 0 = 64 KiB */
	const volatile bool *abort; /* set from another thread: the transfer stops */
} reg_req;

/* Settings of the process, read from the environment once. */
int64_t img_reg_retry_base_ms(void); /* LITHO_RETRY_BASE_MS, default 2000 */
#define REG_MAX_ATTEMPTS   5
#define REG_MAX_BACKOFF_MS 60000
/* The delay before attempt `attempt` (1-based retry count): base doubling, at most 60 s. */
int64_t img_reg_backoff_ms(int attempt);
/* Sleeps ms milliseconds, waking early when *abort becomes true; false when aborted. */
bool img_reg_sleep_ms(int64_t ms, const volatile bool *abort);
/* Retry-After in milliseconds (seconds or an HTTP date), -1 when absent or unparsable. */
int64_t img_reg_retry_after_ms(const char *value, time_t now);

reg_client *img_reg_client_new(const char *host, const char *api_host, const img_registry_opts *o);
void img_reg_client_free(reg_client *c);
/* "registry HOST" prefix of messages. */
const char *img_reg_client_name(const reg_client *c);
const char *img_reg_client_host(const reg_client *c);
/* GET /v2/: learns the authentication scheme (and switches a loopback registry to plain HTTP
 * when it does not speak TLS). Done once; later calls return at once. */
int img_reg_ping(reg_client *c, const volatile bool *abort, lt_error **err);
/* Performs a request with authentication (proactive once the scheme is known, and after a
 * 401), 429 / 5xx / transport-error retries with backoff (when nothing was handed to the sink
 * yet). Returns 0 when a response arrived (any status other than the ones retried; the caller
 * checks resp->status), -1 with *err on transport errors (resp->curl_code set), exhausted
 * retries, or authentication failures. */
int img_reg_do(reg_client *c, const reg_req *req, reg_resp *resp, lt_error **err);
void img_reg_resp_clear(reg_resp *r);
/* Formats "registry HOST: WHAT: HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" from a
 * response; returns -1. */
int img_reg_http_error(const reg_client *c, const char *what, const reg_resp *r, lt_error **err);
/* libcurl's global initialisation, once per process; false when it failed. */
bool img_reg_curl_ready(void);
/* The first error code of the registry's JSON error body ("MANIFEST_UNKNOWN"), or NULL; and
 * its message. New strings. */
char *img_reg_error_code(const reg_resp *r, char **message);
/* Absolute URL for a Location header (relative ones resolve against the registry). */
char *img_reg_abs_url(const reg_client *c, const char *location);
/* The credentials in use (after a lookup), NULL when anonymous. */
const char *img_reg_client_user(reg_client *c);

/* auth.c */
typedef struct reg_creds {
	char *user, *pass;
	char *source; /* "the environment (LITHO_DOCKER_USERNAME)", "/root/.docker/config.json" */
} reg_creds;
/* 1 found, 0 none. Problems with config files are warnings, not errors. */
int img_reg_creds_lookup(const char *host, const img_registry_opts *o, reg_creds *out);
void img_reg_creds_clear(reg_creds *c);

typedef struct reg_challenge {
	char scheme[16]; /* "basic", "bearer" (lower case) */
	char *realm, *service, *scope, *error;
} reg_challenge;
/* Parses a WWW-Authenticate value; -1 when it has no Basic or Bearer challenge. */
int img_reg_challenge_parse(const char *value, reg_challenge *ch);
void img_reg_challenge_clear(reg_challenge *ch);
/* Requests a token from a Bearer realm (GET realm?service=&scope=[&account=], with Basic
 * credentials when given). expires_in below 60 s counts as 60 s. */
int img_reg_token_fetch(reg_client *c, const char *realm, const char *service, const char *scope,
			const reg_creds *cr, const volatile bool *abort, char **token,
			int64_t *expires_in, lt_error **err);
/* base64 of s (new string); decoding returns NULL when the input is not valid base64. */
char *img_reg_base64(const char *s, size_t len);
char *img_reg_unbase64(const char *s, size_t *len);
/* Path of litho's credential store (new string). */
char *img_reg_store_path(void);

/* The client's state (private to registry_http.c and registry_session.c). */
#define REG_MAX_TOKENS	32
#define REG_SHARE_LOCKS 16

enum reg_scheme { SCHEME_UNKNOWN, SCHEME_NONE, SCHEME_BASIC, SCHEME_BEARER };

typedef struct reg_token {
	char *scope;
	char *token;
	time_t expires;
} reg_token;

struct reg_client {
	char *host;	/* as in references: for messages, credentials */
	char *api_host; /* where the API lives */
	char *name;	/* "registry HOST" */
	char *base;	/* "https://api_host" */
	char *ca_file;
	bool insecure, no_https;
	img_registry_opts opts; /* username/password only (copied) */

	pthread_mutex_t lock; /* everything below */
	bool pinged;
	enum reg_scheme scheme;
	char *realm, *service;
	bool creds_loaded;
	reg_creds creds;
	reg_token tokens[REG_MAX_TOKENS];
	size_t n_tokens;
	char **warnings;
	size_t n_warnings;

	pthread_mutex_t auth_lock;		      /* serialises token requests */
	void *share;				      /* CURLSH */
	pthread_mutex_t share_locks[REG_SHARE_LOCKS]; /* per curl_lock_data */
};

/* One HTTP exchange without authentication logic or retries; returns the CURLcode (0 for any
 * complete response), errbuf (CURL_ERROR_SIZE) says what failed, *sink_err is the sink's
 * error. */
int img_reg_perform(reg_client *c, const reg_req *q, const char *authorization, reg_resp *r,
		    char *errbuf, lt_error **sink_err);
/* Loads the credentials once; returns them (NULL when anonymous). Called with c->lock held. */
const reg_creds *img_reg_creds_locked(reg_client *c);
/* An integer from the environment within [min, max], else def (with a warning when set). */
int64_t img_reg_env_int(const char *name, int64_t def, int64_t min, int64_t max);

/* ---------------------------------------------------------------------------------------------
 * Registries: sources and blobs (registry.c, registry_blob.c)
 */
typedef struct reg_task reg_task;

struct reg_source {
	reg_client *client;
	reg_ref ref;
	char *scope;	 /* "repository:NAME:pull" */
	char *cache_dir; /* NULL with disable_cache */
	unsigned jobs;
	/* manifests already fetched (by digest) */
	struct reg_doc {
		char *digest;
		char *data;
		size_t len;
	} * docs;
	size_t n_docs;
	/* layer blobs: one task per distinct digest */
	reg_task **tasks;
	size_t n_tasks;
	size_t *layer_task; /* per layer: index into tasks */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned n_workers; /* running worker threads */
	pthread_t *threads;
	size_t n_threads;
	volatile bool abort;
	uint64_t seq; /* queue order */
};

int img_reg_open(img_source *src, const char *reference, const img_wanted *w,
		 const img_registry_opts *o, img_image *img, lt_error **err);
void img_reg_source_free(reg_source *rs);
int img_reg_read_manifest(const img_source *src, const char *digest, int64_t size, const char *what,
			  char **data, size_t *len, lt_error **err);
/* GET /v2/<repo>/manifests/<ref> with the full Accept list; checks the digest (expected =
 * the @DIGEST asked for, else Docker-Content-Digest when the registry sends one) and the size
 * (-1: any). *media_type is the Content-Type without parameters (or NULL); digest_out gets the
 * manifest's sha256 digest. 404 gives "manifest unknown". */
int img_reg_fetch_manifest(reg_client *c, const char *repo, const char *scope, const char *ref,
			   const char *expected, int64_t size, const volatile bool *abort,
			   char **data, size_t *len, char **media_type, char digest_out[72],
			   lt_error **err);
int img_reg_read_small_blob(const img_source *src, const char *digest, int64_t size,
			    const char *what, char **data, size_t *len, lt_error **err);

/* Creates the tasks for src->layers (after resolution). */
void img_reg_tasks_init(img_source *src);
void img_reg_tasks_free(reg_source *rs);
void img_reg_prefetch(img_source *src);

typedef struct reg_reader reg_reader;
int img_reg_reader_open(img_source *src, size_t index, reg_reader **out, lt_error **err);
ssize_t img_reg_reader_read(reg_reader *r, void *buf, size_t len, lt_error **err);
/* Called when the reader found a digest mismatch: drops a corrupt cache entry. */
void img_reg_reader_invalidate(reg_reader *r);
void img_reg_reader_close(reg_reader *r);

/* Downloads blob `digest` of `repo` into fd (pwrite from offset 0), resuming after a broken
 * connection with Range, verifying size and digest at the end. on_data (may be NULL) is told
 * how many leading bytes of the file are final so far. */
typedef void (*reg_progress_fn)(void *ctx, int64_t written);
int img_reg_fetch_blob(reg_client *c, const char *repo, const char *scope, const char *digest,
		       int64_t size, int fd, reg_progress_fn on_data, void *ctx,
		       const volatile bool *abort, lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Cache (cache.c)
 */
/* The cache folder for these options (new string), or NULL when caching is disabled. */
char *img_cache_dir_for(const img_registry_opts *o);
/* "<dir>/blobs/sha256/<hex>" (kind "blobs") or "<dir>/oras/sha256/<hex>" (new string). */
char *img_cache_blob_path(const char *dir, const char *kind, const char *digest);
/* Creates the folders of a path's parent (mode 0755, or 0700 for new top folders). */
int img_cache_mkdirs_for(const char *path, lt_error **err);
/* Opens a cached blob: 1 with *fd when it exists with the right size (size -1: any), 0 when
 * absent (a wrong-size file is removed), -1 on errors. Refreshes its mtime. */
int img_cache_open_blob(const char *path, int64_t size, int *fd, lt_error **err);
/* Reads a small cached blob and checks its digest (a corrupt one is removed): 1, 0, -1. */
int img_cache_read_small(const char *path, const char *digest, int64_t size, char **data,
			 size_t *len, lt_error **err);
/* Stores data (already verified) under path atomically; failures are only logged. */
void img_cache_store_small(const char *path, const char *data, size_t len);
/* Whether path names the file open as fd (the cache entry was not replaced meanwhile). */
bool img_cache_same_file(const char *path, int fd);
/* lt_atomic_open of a cache file (mode 0644), its folders made first. *af is initialised
 * even on failure, so lt_atomic_abort(af) is always allowed. */
int img_cache_atomic_open(const char *path, lt_atomic_file *af, lt_error **err);
/* Cross-process lock of one blob ("<path>.lock"): 0 with *fd held, -1 on errors or abort. */
int img_cache_lock(const char *path, int *fd, const volatile bool *abort, lt_error **err);
void img_cache_unlock(const char *path, int fd);
/* An unnamed temporary file in $TMPDIR (O_TMPFILE, else mkstemp + unlink). */
int img_cache_anon_file(int *fd, lt_error **err);

/* Per-user folders (the cache here, the credential store in auth.c) start from these: the home
 * folder is $HOME when set, else the password database's, else "/"; a variable set to "" counts
 * as unset. */
const char *img_home_dir(void);

#endif
