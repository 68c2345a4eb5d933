/* Private to the sign module. */
#ifndef LITHO_SIGN_INTERNAL_H
#define LITHO_SIGN_INTERNAL_H

#include "dlib/dlib.h"
#include "sign/sign.h"

#define SIGN_MEDIA_TYPE "application/vnd.sylabs.sif-metadata+json"
#define SIGN_MAX_DIGEST 64
/* Signature objects are a few KiB; this bounds what a hostile image makes litho read. */
#define SIGN_MAX_SIGNATURE (16u << 20)

/* A digest as the payload carries it: "alg:hex". */
typedef struct sign_digest {
	const EVP_MD *md;
	const char *name; /* Go's name: sha256, sha512_224 ... */
	uint8_t value[SIGN_MAX_DIGEST];
	size_t len;
} sign_digest;

typedef struct sign_object_meta {
	uint32_t relative_id;
	uint32_t id; /* absolute: the group's smallest ID + relative_id */
	sign_digest descriptor, object;
} sign_object_meta;

struct sign_metadata {
	sign_digest header;
	sign_object_meta *objects;
	size_t n;
};

/* The digest named by the payload, or the descriptor's hash type (NULL when unsupported). */
const EVP_MD *sign_md_by_name(const char *name, const char **canonical);
const EVP_MD *sign_md_by_hashtype(int32_t hashtype, const char **canonical);
/* The smallest ID of a group's objects; 0 when the group has none. */
uint32_t sign_group_min_id(const sif_image *img, uint32_t group);
/* The used descriptors of a group in ID order (free the array). */
const sif_descriptor **sign_group_objects(const sif_image *img, uint32_t group, size_t *n);

/* Digests of the signed parts of an image. */
void sign_digest_header(const sif_image *img, const EVP_MD *md, sign_digest *out);
void sign_digest_descriptor(const sif_descriptor *d, uint32_t min_id, const EVP_MD *md,
			    sign_digest *out);
/* The data of the objects one after the other (one object: n = 1). */
int sign_digest_objects(const sif_image *img, const sif_descriptor *const *d, size_t n,
			const EVP_MD *md, sign_digest *out, lt_error **err);

/* The payload for the objects ods (sorted by ID) of a group: a new JSON string. */
int sign_metadata_build(const sif_image *img, uint32_t group, const sif_descriptor *const *ods,
			size_t n, char **json, lt_error **err);
/* Checks header and objects (all of the group unless subset) against m; the error says what
 * differs. verified gets the objects that matched (caller frees). */
int sign_metadata_match(const sign_metadata *m, const sif_image *img, uint32_t group,
			const sif_descriptor *const *ods, size_t n, bool subset,
			uint32_t *bad_object, lt_error **err);

/* Signature data, read whole (bounded). */
int sign_read_signature(const sif_image *img, const sif_descriptor *sig, sign_buf *out,
			lt_error **err);
bool sign_is_envelope(const uint8_t *data, size_t len);
/* The plaintext of a clear-signed legacy signature starts with "SIFHASH:\n". */
bool sign_is_legacy(const uint8_t *data, size_t len);

/* Encoding helpers. */
char *sign_base64_encode(const uint8_t *data, size_t len);
/* ASCII armor with a CRC-24 line ("PGP PUBLIC KEY BLOCK" ...). */
char *sign_armor_encode(const char *type, const uint8_t *data, size_t len);
/* The body of the first armored block of any type; -1 when there is none. */
int sign_armor_decode(const uint8_t *data, size_t len, sign_buf *out);
char *sign_envelope_encode(const char *payload, size_t len, const char *const *key_ids,
			   const sign_buf *sigs, size_t n);

/* DSSE with OpenSSL. */
int sign_dsse_sign(const sign_key *k, const char *payload, size_t len, char **envelope,
		   lt_error **err);
/* Checks the envelope's signatures against keys like the reference (threshold 1): accepted
 * gets the IDs of the keys that verified one. The payload is returned in *payload. */
int sign_dsse_verify(const sign_envelope *e, const sign_key *const *keys, size_t n_keys,
		     const char ***accepted, size_t *n_accepted, lt_error **err);

/* OpenPGP through GPGME, in a temporary GnuPG home. */
typedef struct sign_pgp sign_pgp;
int sign_pgp_open(sign_pgp **out, lt_error **err);
void sign_pgp_close(sign_pgp *p);
int sign_pgp_import(sign_pgp *p, const uint8_t *data, size_t len, lt_error **err);
int sign_pgp_import_file(sign_pgp *p, const char *path, lt_error **err);
/* Clear-signs text with the secret key fpr (imported before). */
int sign_pgp_clearsign(sign_pgp *p, const char *fpr, sign_passphrase_fn pass, void *pass_ctx,
		       const char *text, size_t len, sign_buf *out, lt_error **err);
/* Checks a clear-signed message: the signer's primary fingerprint and name on success. */
int sign_pgp_verify(sign_pgp *p, const sign_clearsigned *c, char fpr[SIGN_FPR_LEN + 1], char **name,
		    lt_error **err);
/* The keys of a key block (binary or armored), without importing them. */
int sign_pgp_keys_of(sign_pgp *p, const uint8_t *data, size_t len, sign_pgp_list *out,
		     lt_error **err);
/* Binary export of one imported key (public, or secret with its passphrase). */
int sign_pgp_export(sign_pgp *p, const char *fpr, bool secret, sign_passphrase_fn pass,
		    void *pass_ctx, sign_buf *out, lt_error **err);
/* A passphrase callback that answers ctx (a string). */
int sign_fixed_passphrase(const char *prompt, char **out, void *ctx, lt_error **err);
int sign_pgp_generate(sign_pgp *p, const sign_newpair_opts *o, char fpr[SIGN_FPR_LEN + 1],
		      lt_error **err);

/* Keyring files. */
char *sign_keyring_path(const char *dir, bool secret);
/* The transferable keys of a binary keyring, each a slice of data. */
typedef struct sign_key_block {
	const uint8_t *data;
	size_t len;
} sign_key_block;
int sign_split_keyring(const uint8_t *data, size_t len, sign_key_block **blocks, size_t *n,
		       const char *name, lt_error **err);

void sign_openssl_error(lt_error **err, const char *fmt, ...) LT_PRINTF(2, 3);

#endif
