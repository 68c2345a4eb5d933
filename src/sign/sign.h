/* sign: digital signatures in SIF images, byte for byte as the SIF reference library
 * (github.com/apptainer/sif v2, pkg/integrity) writes and checks them, so that Apptainer
 * verifies what litho signs and litho verifies what Apptainer signed.
 *
 * A signature is a Signature object (no group, linked to the group it covers, hash type
 * SHA-256) whose data is either
 *  - a DSSE envelope (payload type application/vnd.sylabs.sif-metadata+json) signed with a
 *    PEM key through OpenSSL: ECDSA, RSA (PKCS #1 v1.5) or Ed25519; the entity field is zero;
 *  - an OpenPGP clear-signed message made with a key of the user's keyring through GPGME; the
 *    entity field holds the 20-byte fingerprint of the signing key.
 * Both carry the same JSON payload: {"version":1,"header":{"digest":...},"objects":[{
 * "relativeId","descriptorDigest","objectDigest"},...]}: digests of the header fields
 * (launch script, magic, version, ID), of each object's descriptor (every field but offset,
 * padded size and modification time; the ID relative to the smallest ID of the group) and of
 * each object's data. Legacy signatures (Singularity < 3.6: clear-signed "SIFHASH:\n<hex>" over
 * one object or a group's concatenated data) are only checked on request.
 *
 * The OpenPGP keyring is Apptainer's: $APPTAINER_KEYSDIR (or LITHO_KEYSDIR, SINGULARITY_SYPGPDIR,
 * else ~/.apptainer/keys) holding the binary keyrings pgp-public and pgp-secret. GPGME needs a
 * GnuPG home, so each operation imports what it needs into a temporary one (mode 0700, removed
 * afterwards, its gpg-agent stopped); the user's ~/.gnupg is never touched.
 */
#ifndef LITHO_SIGN_H
#define LITHO_SIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sif/sif.h"
#include "util/util.h"

/* Asks for a passphrase (prompt is what to show); 0 with a new string in *out, -1 with *err. */
typedef int (*sign_passphrase_fn)(const char *prompt, char **out, void *ctx, lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * DSSE key material (PEM files, X.509 certificates)
 */
typedef struct sign_key sign_key;

/* A private key in PEM (PKCS #8, PKCS #1, SEC 1; encrypted PKCS #8 asks `pass`). */
int sign_key_load_private(const char *path, sign_passphrase_fn pass, void *pass_ctx, sign_key **out,
			  lt_error **err);
/* A public key in PEM (SubjectPublicKeyInfo or PKCS #1 RSA). */
int sign_key_load_public(const char *path, sign_key **out, lt_error **err);
/* The key of a PEM certificate, after checking its chain for code signing against `roots`
 * (PEM bundle; NULL = the system's trust store) with `intermediates` (may be NULL). */
int sign_key_load_certificate(const char *path, const char *intermediates, const char *roots,
			      sign_key **out, lt_error **err);
void sign_key_free(sign_key *k);
/* The DSSE key ID ("SHA256:" and the SSH-style base64 fingerprint) and the algorithm name. */
const char *sign_key_id(const sign_key *k);
const char *sign_key_algorithm(const sign_key *k);

/* ---------------------------------------------------------------------------------------------
 * The OpenPGP keyring
 */
#define SIGN_FPR_LEN 40

typedef struct sign_pgp_key {
	char fingerprint[SIGN_FPR_LEN + 1]; /* uppercase hex of the primary key */
	char **uids;			    /* "Name (Comment) <email>", NULL-terminated */
	char *name;			    /* name part of the primary user ID */
	int64_t created;
	unsigned bits;
	bool secret;
} sign_pgp_key;

typedef struct sign_pgp_list {
	sign_pgp_key *keys;
	size_t n;
} sign_pgp_list;

/* The keyring folder: LITHO_KEYSDIR, APPTAINER_KEYSDIR, SINGULARITY_SYPGPDIR, else
 * $APPTAINER_CONFIGDIR/keys, else ~/.apptainer/keys. */
char *sign_keyring_dir(void);
/* The keys of pgp-public (secret: pgp-secret) in file order; a missing file is empty. */
int sign_keyring_list(const char *dir, bool secret, sign_pgp_list *out, lt_error **err);
void sign_pgp_list_free(sign_pgp_list *l);
/* `key list` output. */
void sign_print_keys(FILE *out, const char *path, bool secret, const sign_pgp_list *l);

typedef struct sign_newpair_opts {
	const char *name, *email, *comment;
	const char *passphrase; /* "" = unprotected */
	unsigned bits;		/* RSA key length */
} sign_newpair_opts;

/* Generates an RSA key pair and appends it to both keyrings; fpr gets its fingerprint. */
int sign_keyring_newpair(const char *dir, const sign_newpair_opts *o, char fpr[SIGN_FPR_LEN + 1],
			 lt_error **err);
/* Imports every key of `file` (binary or armored): secret keys into pgp-secret (and their public
 * part into pgp-public), public keys into pgp-public. A key already there is an error.
 * Prints one line per key added to `report`. */
int sign_keyring_import(const char *dir, const char *file, FILE *report, lt_error **err);
/* Writes the key with this fingerprint (or 0-based index "N") to `path`, binary or armored. */
int sign_keyring_export(const char *dir, bool secret, bool armor, const char *which,
			const char *path, FILE *report, lt_error **err);
/* Removes the key with this fingerprint from the public and/or the secret keyring. */
int sign_keyring_remove(const char *dir, const char *fingerprint, bool pub, bool sec, FILE *report,
			lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Signing
 */
typedef struct sign_opts {
	const sign_key *key;	 /* DSSE with this private key; NULL = OpenPGP */
	const char *keyring_dir; /* OpenPGP: NULL = sign_keyring_dir() */
	int keyidx;		 /* OpenPGP: index in `key list --secret`; -1 = the only key, or
				    ask through `select` */
	/* Chooses among several secret keys; returns the index or -1 with *err. */
	int (*select)(const sign_pgp_list *keys, void *ctx, lt_error **err);
	void *select_ctx;
	sign_passphrase_fn passphrase; /* for protected keys */
	void *passphrase_ctx;
	const uint32_t *groups; /* sign these groups ... */
	size_t n_groups;
	const uint32_t *objects; /* ... and these objects (one signature per group); neither:
				    one signature per group of the image */
	size_t n_objects;
	bool all;     /* sign even where an earlier signature no longer matches the image */
	int64_t time; /* of the new descriptors; deterministic images keep the zero time */
} sign_opts;

/* Adds the signatures to the SIF at `path` (opened read-write, metadata committed at the end:
 * on error the image is unchanged). Refuses what the reference library refuses (group or
 * object not found, objects without a group, no groups, no key) and, unless o->all, images
 * whose earlier signatures no longer match their objects. */
int sign_image(const char *path, const sign_opts *o, lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * Verifying
 */
typedef struct sign_result {
	const sif_descriptor *signature;
	const sif_descriptor **verified; /* the objects this signature verified */
	size_t n_verified;
	bool pgp;			    /* OpenPGP: the signer is known */
	char fingerprint[SIGN_FPR_LEN + 1]; /* OpenPGP primary key of the signer */
	const char *signer;		    /* its primary user ID's name */
	const char **key_ids;		    /* DSSE: the keys that verified it */
	size_t n_key_ids;
	const char *error;   /* NULL when the signature verified */
	uint32_t bad_object; /* the object whose data did not match, 0 if none */
} sign_result;

typedef struct sign_verify_opts {
	const sign_key *const *keys; /* DSSE key material */
	size_t n_keys;
	bool pgp;		 /* use the OpenPGP keyring */
	const char *keyring_dir; /* NULL = sign_keyring_dir() */
	const uint32_t *groups;
	size_t n_groups;
	const uint32_t *objects;
	size_t n_objects;
	bool legacy; /* legacy signatures only (default: the primary partition's) */
	bool all;    /* with legacy: every grouped non-signature object */
	/* Called after each signature is checked (result valid during the call only). */
	void (*on_result)(const sif_image *img, const sign_result *r, void *ctx);
	void *ctx;
} sign_verify_opts;

/* Checks every signature the options select; the first failure is the error (naming the image,
 * the signature object and what did not match). 0 when all verified. */
int sign_verify(const sif_image *img, const sign_verify_opts *o, lt_error **err);

/* `verify` output of one result (Apptainer's layout). */
void sign_print_result(FILE *out, const sif_image *img, const sign_result *r);
/* `verify --json`: results collected, then printed as Apptainer prints them. */
typedef struct sign_json sign_json;
sign_json *sign_json_new(void);
void sign_json_add(sign_json *j, const sif_image *img, const sign_result *r);
void sign_json_print(FILE *out, const sign_json *j);
void sign_json_free(sign_json *j);

/* ---------------------------------------------------------------------------------------------
 * Parsers (exposed for the unit tests and the fuzz target)
 */
typedef struct sign_buf {
	uint8_t *data;
	size_t len;
} sign_buf;

/* Base64 as Go's encoding/base64 decodes StdEncoding, then URLEncoding (padding required,
 * CR and LF ignored). */
int sign_base64_decode(const char *s, size_t len, sign_buf *out);
/* A clear-signed message as the reference library decodes it: `text` the signed bytes (lines
 * joined with CRLF, trailing blanks removed, dash escapes undone), `plain` the message (each
 * line ended by LF), `armor` the signature block. -1 when data is no such message. */
typedef struct sign_clearsigned {
	sign_buf text, plain;
	const char *armor;
	size_t armor_len;
} sign_clearsigned;
int sign_clearsign_decode(const uint8_t *data, size_t len, sign_clearsigned *out);
void sign_clearsigned_free(sign_clearsigned *c);
/* A DSSE envelope: payload type, decoded payload and signatures. -1 with *err when malformed. */
typedef struct sign_envelope {
	char *payload_type;
	sign_buf payload;
	size_t n_sigs;
	char **key_ids;
	sign_buf *sigs;
} sign_envelope;
int sign_envelope_decode(const uint8_t *data, size_t len, sign_envelope *out, lt_error **err);
void sign_envelope_free(sign_envelope *e);
/* The signed metadata of a signature's payload, checked against an image (the verifier's
 * last step); exposed so that the fuzz target reaches the JSON parser. */
typedef struct sign_metadata sign_metadata;
int sign_metadata_parse(const uint8_t *data, size_t len, sign_metadata **out, lt_error **err);
void sign_metadata_free(sign_metadata *m);
/* A legacy "SIFHASH:\n<hex>" plaintext with the descriptor's hash type: digest length or -1. */
int sign_legacy_digest(const uint8_t *plain, size_t len, int32_t hashtype, uint8_t out[64]);

void sign_buf_free(sign_buf *b);

#endif
