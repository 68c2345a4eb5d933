/* DSSE envelopes with OpenSSL: the keys Apptainer's `sign --key` and `verify --key` take (PEM
 * ECDSA, RSA, Ed25519; sigstore's signers with SHA-256) and X.509 certificates. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

struct sign_key {
	EVP_PKEY *pkey;
	char *id;	  /* SHA256:<ssh fingerprint> */
	const char *algo; /* ECDSA, RSA, ED25519 */
};

void sign_openssl_error(lt_error **err, const char *fmt, ...)
{
	char why[256] = "unknown reason";
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	va_list ap;
	va_start(ap, fmt);
	char *what = lt_strdup_vprintf(fmt, ap);
	va_end(ap);
	lt_error_set(err, 0, "%s: %s", what, why);
	free(what);
}

static void put_string(sign_buf *b, const void *data, size_t len)
{
	b->data = lt_xrealloc(b->data, b->len + 4 + len);
	uint8_t *p = b->data + b->len;
	p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16), p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	memcpy(p + 4, data, len);
	b->len += 4 + len;
}

/* An SSH mpint: big-endian, a leading zero when the top bit is set. */
static int put_bn(sign_buf *b, EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		return -1;
	size_t n = (size_t)(BN_num_bits(bn) + 7) / 8;
	uint8_t *v = lt_xcalloc(1, n + 1);
	BN_bn2bin(bn, v + 1);
	BN_free(bn);
	bool lead = n > 0 && (v[1] & 0x80);
	put_string(b, lead ? v : v + 1, lead ? n + 1 : n);
	free(v);
	return 0;
}

/* The key ID the reference puts in envelopes: golang.org/x/crypto/ssh's FingerprintSHA256 of
 * the key in SSH wire format ("SHA256:" and unpadded base64 of its SHA-256). */
static int key_id(sign_key *k, lt_error **err)
{
	sign_buf w = {0};
	int rc = -1;
	switch (EVP_PKEY_get_base_id(k->pkey)) {
	case EVP_PKEY_ED25519: {
		uint8_t raw[32];
		size_t n = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1)
			goto out;
		put_string(&w, "ssh-ed25519", 11);
		put_string(&w, raw, n);
		k->algo = "ED25519";
		break;
	}
	case EVP_PKEY_RSA:
		put_string(&w, "ssh-rsa", 7);
		if (put_bn(&w, k->pkey, "e") < 0 || put_bn(&w, k->pkey, "n") < 0)
			goto out;
		k->algo = "RSA";
		break;
	case EVP_PKEY_EC: {
		char group[64];
		uint8_t point[256];
		size_t n = 0;
		const char *curve;
		if (EVP_PKEY_get_utf8_string_param(k->pkey, "group", group, sizeof(group), NULL) !=
			1 ||
		    EVP_PKEY_get_octet_string_param(k->pkey, "encoded-pub-key", point,
						    sizeof(point), &n) != 1)
			goto out;
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			curve = "nistp256";
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			curve = "nistp384";
		else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			curve = "nistp521";
		else {
			lt_error_set(err, 0, "unsupported elliptic curve %s", group);
			sign_buf_free(&w);
			return -1;
		}
		char *type = lt_strdup_printf("ecdsa-sha2-%s", curve);
		put_string(&w, type, strlen(type));
		put_string(&w, curve, strlen(curve));
		put_string(&w, point, n);
		free(type);
		k->algo = "ECDSA";
		break;
	}
	default:
		lt_error_set(err, 0, "unsupported key type (ECDSA, RSA or Ed25519 expected)");
		return -1;
	}
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(w.data, w.len, d);
	char *b64 = sign_base64_encode(d, sizeof(d));
	size_t l = strlen(b64);
	while (l > 0 && b64[l - 1] == '=')
		b64[--l] = '\0';
	k->id = lt_strdup_printf("SHA256:%s", b64);
	free(b64);
	rc = 0;
out:
	if (rc < 0 && (err == NULL || *err == NULL))
		sign_openssl_error(err, "cannot read the public key");
	sign_buf_free(&w);
	return rc;
}

static int finish_key(EVP_PKEY *pkey, const char *path, sign_key **out, lt_error **err)
{
	sign_key *k = lt_xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	if (key_id(k, err) < 0) {
		sign_key_free(k);
		return lt_error_wrap(err, "%s", path);
	}
	*out = k;
	return 0;
}

static BIO *read_bio(const char *path, char **data, lt_error **err)
{
	size_t len = 0;
	if (lt_read_file(path, data, &len, err) < 0)
		return NULL;
	BIO *b = BIO_new_mem_buf(*data, (int)len);
	if (b == NULL)
		sign_openssl_error(err, "%s", path);
	return b;
}

typedef struct pass_ctx {
	sign_passphrase_fn fn;
	void *ctx;
	const char *path;
	lt_error *err;
} pass_ctx;

static int pem_pass(char *buf, int size, int rwflag, void *u)
{
	pass_ctx *p = u;
	char *pw = NULL;
	if (p->fn == NULL) {
		lt_error_set(&p->err, 0, "%s: the key is encrypted and no passphrase was given",
			     p->path);
		return -1;
	}
	if (p->fn("Enter password for private key: ", &pw, p->ctx, &p->err) < 0)
		return -1;
	int n = (int)strlen(pw);
	if (n > size)
		n = size;
	memcpy(buf, pw, (size_t)n);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return n;
}

int sign_key_load_private(const char *path, sign_passphrase_fn pass, void *pass_ctx_arg,
			  sign_key **out, lt_error **err)
{
	char *data = NULL;
	BIO *b = read_bio(path, &data, err);
	if (b == NULL) {
		free(data);
		return -1;
	}
	pass_ctx pc = {pass, pass_ctx_arg, path, NULL};
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, pem_pass, &pc);
	BIO_free(b);
	explicit_bzero(data, strlen(data));
	free(data);
	if (k == NULL) {
		if (pc.err != NULL) {
			ERR_clear_error();
			return lt_error_move(err, &pc.err);
		}
		sign_openssl_error(err, "%s: not a PEM private key (or a wrong passphrase)", path);
		return -1;
	}
	return finish_key(k, path, out, err);
}

static EVP_PKEY *decode_public(BIO *b)
{
	EVP_PKEY *k = NULL;
	OSSL_DECODER_CTX *dc =
	    OSSL_DECODER_CTX_new_for_pkey(&k, "PEM", NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	if (dc == NULL)
		return NULL;
	if (OSSL_DECODER_from_bio(dc, b) != 1)
		k = NULL;
	OSSL_DECODER_CTX_free(dc);
	return k;
}

int sign_key_load_public(const char *path, sign_key **out, lt_error **err)
{
	char *data = NULL;
	BIO *b = read_bio(path, &data, err);
	if (b == NULL) {
		free(data);
		return -1;
	}
	EVP_PKEY *k = decode_public(b);
	BIO_free(b);
	free(data);
	if (k == NULL) {
		sign_openssl_error(err, "%s: not a PEM public key", path);
		return -1;
	}
	return finish_key(k, path, out, err);
}

static int add_certs(X509_STORE *store, const char *path, lt_error **err)
{
	char *data = NULL;
	BIO *b = read_bio(path, &data, err);
	if (b == NULL) {
		free(data);
		return -1;
	}
	int n = 0;
	X509 *c;
	while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_cert(store, c);
		X509_free(c);
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	free(data);
	return n > 0 ? 0 : lt_error_set(err, 0, "%s: no PEM certificate in it", path);
}

/* Like Go's x509.Verify with KeyUsages [CodeSigning], as Apptainer checks a --certificate.
 * Intermediates go into the store too: without X509_V_FLAG_PARTIAL_CHAIN OpenSSL still
 * accepts only chains that end at a self-signed root, so they anchor nothing themselves. */
int sign_key_load_certificate(const char *path, const char *intermediates, const char *roots,
			      sign_key **out, lt_error **err)
{
	char *data = NULL;
	BIO *b = read_bio(path, &data, err);
	if (b == NULL) {
		free(data);
		return -1;
	}
	X509 *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(data);
	if (cert == NULL) {
		sign_openssl_error(err, "%s: not a PEM certificate", path);
		return -1;
	}
	int rc = -1;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL) {
		sign_openssl_error(err, "%s", path);
		goto out;
	}
	if (roots != NULL ? add_certs(store, roots, err) < 0
			  : X509_STORE_set_default_paths(store) != 1)
		goto out;
	if (intermediates != NULL && add_certs(store, intermediates, err) < 0)
		goto out;
	if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		sign_openssl_error(err, "%s", path);
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		lt_error_set(err, 0, "%s: certificate not trusted: %s", path,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	uint32_t xku = X509_get_extended_key_usage(cert);
	if (xku != UINT32_MAX && !(xku & XKU_CODE_SIGN)) {
		lt_error_set(err, 0, "%s: the certificate is not for code signing", path);
		goto out;
	}
	EVP_PKEY *k = X509_get_pubkey(cert);
	if (k == NULL) {
		sign_openssl_error(err, "%s", path);
		goto out;
	}
	rc = finish_key(k, path, out, err);
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	return rc;
}

void sign_key_free(sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->id);
	free(k);
}

const char *sign_key_id(const sign_key *k)
{
	return k->id;
}

const char *sign_key_algorithm(const sign_key *k)
{
	return k->algo;
}

/* DSSE's pre-authentication encoding: "DSSEv1 <len> <type> <len> <body>". */
static sign_buf pae(const char *type, const uint8_t *body, size_t len)
{
	char head[160];
	int n = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, len);
	sign_buf b = {lt_xmalloc((size_t)n + len + 1), (size_t)n + len};
	memcpy(b.data, head, (size_t)n);
	memcpy(b.data + n, body, len);
	return b;
}

/* Ed25519 signs the message itself; ECDSA (ASN.1) and RSA (PKCS #1 v1.5) its SHA-256, the
 * hash sigstore's loaders fix for both signing and verifying. */
static const EVP_MD *md_for(const sign_key *k)
{
	return EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

int sign_dsse_sign(const sign_key *k, const char *payload, size_t len, char **envelope,
		   lt_error **err)
{
	sign_buf msg = pae(SIGN_MEDIA_TYPE, (const uint8_t *)payload, len);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	sign_buf sig = {0};
	int rc = -1;
	size_t n = 0;
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md_for(k), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, msg.data, msg.len) != 1) {
		sign_openssl_error(err, "cannot sign with the %s key", k->algo);
		goto out;
	}
	sig.data = lt_xmalloc(n);
	if (EVP_DigestSign(ctx, sig.data, &n, msg.data, msg.len) != 1) {
		sign_openssl_error(err, "cannot sign with the %s key", k->algo);
		goto out;
	}
	sig.len = n;
	const char *ids[] = {k->id};
	*envelope = sign_envelope_encode(payload, len, ids, &sig, 1);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	sign_buf_free(&sig);
	sign_buf_free(&msg);
	return rc;
}

static bool verify_one(const sign_key *k, const sign_buf *msg, const sign_buf *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md_for(k), NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig->data, sig->len, msg->data, msg->len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* The reference's envelope verifier with threshold 1: each signature is tried against the
 * keys not used yet, skipping keys whose ID differs from a non-empty key ID. */
int sign_dsse_verify(const sign_envelope *e, const sign_key *const *keys, size_t n_keys,
		     const char ***accepted, size_t *n_accepted, lt_error **err)
{
	*accepted = NULL;
	*n_accepted = 0;
	if (strcmp(e->payload_type, SIGN_MEDIA_TYPE) != 0)
		return lt_error_set(err, 0,
				    "dsse: unexpected payload type: got \"%s\", want \"%s\"",
				    e->payload_type, SIGN_MEDIA_TYPE);
	if (e->n_sigs == 0)
		return lt_error_set(err, 0, "dsse: verify envelope failed: no signature found");
	sign_buf msg = pae(e->payload_type, e->payload.data, e->payload.len);
	bool *used = lt_xcalloc(n_keys + 1, sizeof(bool));
	const char **ids = lt_xcalloc(n_keys + 1, sizeof(char *));
	size_t n = 0;
	for (size_t s = 0; s < e->n_sigs; s++) {
		for (size_t i = 0; i < n_keys; i++) {
			if (used[i] ||
			    (e->key_ids[s][0] != '\0' && strcmp(e->key_ids[s], keys[i]->id) != 0))
				continue;
			if (!verify_one(keys[i], &msg, &e->sigs[s]))
				continue;
			used[i] = true;
			ids[n++] = keys[i]->id;
			break;
		}
	}
	free(used);
	sign_buf_free(&msg);
	if (n == 0) {
		free(ids);
		return lt_error_set(
		    err, 0,
		    "dsse: verify envelope failed: accepted signatures do not match "
		    "threshold, Found: 0, Expected 1 (no signature made by the given "
		    "key%s)",
		    n_keys == 1 ? "" : "s");
	}
	*accepted = ids;
	*n_accepted = n;
	return 0;
}
