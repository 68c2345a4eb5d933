/* The signed metadata: digests of the header, the descriptors and the objects, and the JSON
 * payload that carries them, exactly as the reference library (pkg/integrity) computes and
 * encodes them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

static const struct {
	const char *name;
	const EVP_MD *(*md)(void);
} digests[] = {
    {"sha224", NULL}, {"sha256", NULL},	    {"sha384", NULL},
    {"sha512", NULL}, {"sha512_224", NULL}, {"sha512_256", NULL},
};

static const EVP_MD *md_at(size_t i)
{
	switch (i) {
	case 0:
		return EVP_sha224();
	case 1:
		return EVP_sha256();
	case 2:
		return EVP_sha384();
	case 3:
		return EVP_sha512();
	case 4:
		return EVP_sha512_224();
	default:
		return EVP_sha512_256();
	}
}

const EVP_MD *sign_md_by_name(const char *name, const char **canonical)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(digests); i++)
		if (strcmp(digests[i].name, name) == 0) {
			if (canonical)
				*canonical = digests[i].name;
			return md_at(i);
		}
	return NULL;
}

/* The descriptor's hash types that the reference maps to digests it supports (BLAKE2 ones it
 * does not). */
const EVP_MD *sign_md_by_hashtype(int32_t hashtype, const char **canonical)
{
	switch (hashtype) {
	case SIF_HASH_SHA256:
		return sign_md_by_name("sha256", canonical);
	case SIF_HASH_SHA384:
		return sign_md_by_name("sha384", canonical);
	case SIF_HASH_SHA512:
		return sign_md_by_name("sha512", canonical);
	default:
		return NULL;
	}
}

uint32_t sign_group_min_id(const sif_image *img, uint32_t group)
{
	uint32_t min = 0;
	for (int64_t i = 0; i < sif_slot_count(img); i++) {
		const sif_descriptor *d = sif_slot(img, i);
		if (d->used && sif_group_of(d) == group && (min == 0 || d->id < min))
			min = d->id;
	}
	return min;
}

static int by_id(const void *a, const void *b)
{
	const sif_descriptor *x = *(const sif_descriptor *const *)a;
	const sif_descriptor *y = *(const sif_descriptor *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

const sif_descriptor **sign_group_objects(const sif_image *img, uint32_t group, size_t *n)
{
	const sif_descriptor **v = lt_xcalloc((size_t)sif_slot_count(img) + 1, sizeof(*v));
	*n = 0;
	for (int64_t i = 0; i < sif_slot_count(img); i++) {
		const sif_descriptor *d = sif_slot(img, i);
		if (d->used && sif_group_of(d) == group)
			v[(*n)++] = d;
	}
	qsort(v, *n, sizeof(*v), by_id);
	return v;
}

static void digest_init(EVP_MD_CTX **ctx, const EVP_MD *md)
{
	*ctx = EVP_MD_CTX_new();
	if (*ctx == NULL || EVP_DigestInit_ex(*ctx, md, NULL) != 1) {
		fputs("litho: cannot initialise a digest\n", stderr);
		abort();
	}
}

static void digest_final(EVP_MD_CTX *ctx, const EVP_MD *md, sign_digest *out)
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(ctx, out->value, &n) != 1) {
		fputs("litho: digest failed\n", stderr);
		abort();
	}
	EVP_MD_CTX_free(ctx);
	out->len = n;
	out->md = md;
}

static void set_name(const EVP_MD *md, sign_digest *out)
{
	out->name = "sha256";
	for (size_t i = 0; i < LT_ARRAY_SIZE(digests); i++)
		if (md_at(i) == md)
			out->name = digests[i].name;
}

void sign_digest_header(const sif_image *img, const EVP_MD *md, sign_digest *out)
{
	const sif_header *h = sif_get_header(img);
	EVP_MD_CTX *ctx;
	digest_init(&ctx, md);
	EVP_DigestUpdate(ctx, h->launch_script, sizeof(h->launch_script));
	EVP_DigestUpdate(ctx, h->magic, sizeof(h->magic));
	EVP_DigestUpdate(ctx, h->version, sizeof(h->version));
	EVP_DigestUpdate(ctx, h->id, sizeof(h->id));
	digest_final(ctx, md, out);
	set_name(md, out);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* DataType, Used, relative ID, LinkedID, Size, CreatedAt, UID, GID, Name, Extra: what the
 * reference's descriptor integrity reader yields. Offset, padded size and the modification
 * time are left out so that objects can move and be touched. */
void sign_digest_descriptor(const sif_descriptor *d, uint32_t min_id, const EVP_MD *md,
			    sign_digest *out)
{
	uint8_t b[4 + 1 + 4 + 4 + 8 * 4];
	put_le(b, (uint32_t)d->datatype, 4);
	b[4] = d->used ? 1 : 0;
	put_le(b + 5, (uint32_t)(d->id - min_id), 4);
	put_le(b + 9, d->linked_id, 4);
	put_le(b + 13, (uint64_t)d->size, 8);
	put_le(b + 21, (uint64_t)d->created_at, 8);
	put_le(b + 29, (uint64_t)d->uid, 8);
	put_le(b + 37, (uint64_t)d->gid, 8);
	EVP_MD_CTX *ctx;
	digest_init(&ctx, md);
	EVP_DigestUpdate(ctx, b, sizeof(b));
	EVP_DigestUpdate(ctx, d->name, sizeof(d->name));
	EVP_DigestUpdate(ctx, d->extra, sizeof(d->extra));
	digest_final(ctx, md, out);
	set_name(md, out);
}

int sign_digest_objects(const sif_image *img, const sif_descriptor *const *d, size_t n,
			const EVP_MD *md, sign_digest *out, lt_error **err)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = lt_xmalloc(CHUNK);
	EVP_MD_CTX *ctx;
	digest_init(&ctx, md);
	for (size_t i = 0; i < n; i++) {
		for (int64_t pos = 0; pos < d[i]->size;) {
			size_t len = (size_t)(d[i]->size - pos < CHUNK ? d[i]->size - pos : CHUNK);
			if (sif_read_object(img, d[i], pos, buf, len, err) < 0) {
				EVP_MD_CTX_free(ctx);
				free(buf);
				return -1;
			}
			EVP_DigestUpdate(ctx, buf, len);
			pos += (int64_t)len;
		}
	}
	free(buf);
	digest_final(ctx, md, out);
	set_name(md, out);
	return 0;
}

static void append_digest(char **s, size_t *len, const char *key, const sign_digest *d)
{
	char hex[2 * SIGN_MAX_DIGEST + 1];
	lt_hex_encode(d->value, d->len, hex);
	char *piece = lt_strdup_printf("\"%s\":\"%s:%s\"", key, d->name, hex);
	size_t n = strlen(piece);
	*s = lt_xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, piece, n + 1);
	*len += n;
	free(piece);
}

static void append(char **s, size_t *len, const char *text)
{
	size_t n = strlen(text);
	*s = lt_xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, text, n + 1);
	*len += n;
}

/* Go's json.Marshal of the reference's imageMetadata: fields in declaration order, no spaces. */
int sign_metadata_build(const sif_image *img, uint32_t group, const sif_descriptor *const *ods,
			size_t n, char **json, lt_error **err)
{
	uint32_t min = sign_group_min_id(img, group);
	const EVP_MD *md = EVP_sha256();
	char *s = NULL;
	size_t len = 0;
	sign_digest dg;
	append(&s, &len, "{\"version\":1,\"header\":{");
	sign_digest_header(img, md, &dg);
	append_digest(&s, &len, "digest", &dg);
	append(&s, &len, "},\"objects\":[");
	for (size_t i = 0; i < n; i++) {
		char num[48];
		snprintf(num, sizeof(num), "%s{\"relativeId\":%" PRIu32 ",", i ? "," : "",
			 ods[i]->id - min);
		append(&s, &len, num);
		sign_digest_descriptor(ods[i], min, md, &dg);
		append_digest(&s, &len, "descriptorDigest", &dg);
		append(&s, &len, ",");
		if (sign_digest_objects(img, &ods[i], 1, md, &dg, err) < 0) {
			free(s);
			return -1;
		}
		append_digest(&s, &len, "objectDigest", &dg);
		append(&s, &len, "}");
	}
	append(&s, &len, "]}");
	*json = s;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Even-length hex into out; the number of bytes or -1. */
static int hex_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	if (len % 2 != 0 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

static int parse_digest(const json_t *v, const char *what, sign_digest *out, lt_error **err)
{
	if (!json_is_string(v))
		return lt_error_set(err, 0, "digest malformed: %s is not a string", what);
	const char *s = json_string_value(v);
	const char *colon = strchr(s, ':');
	if (colon == NULL || strchr(colon + 1, ':') != NULL)
		return lt_error_set(err, 0, "digest malformed: %s", what);
	char *name = lt_xstrndup(s, (size_t)(colon - s));
	out->md = sign_md_by_name(name, &out->name);
	free(name);
	if (out->md == NULL)
		return lt_error_set(err, 0, "hash algorithm unsupported: %s", what);
	int n = hex_decode(colon + 1, strlen(colon + 1), out->value, sizeof(out->value));
	if (n < 0 || n != EVP_MD_get_size(out->md))
		return lt_error_set(err, 0, "digest malformed: %s", what);
	out->len = (size_t)n;
	return 0;
}

int sign_metadata_parse(const uint8_t *data, size_t len, sign_metadata **out, lt_error **err)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return lt_error_set(err, 0, "signed metadata is not JSON: %s", je.text);
	sign_metadata *m = lt_xcalloc(1, sizeof(*m));
	int rc = -1;
	const json_t *version = json_object_get(root, "version");
	const json_t *header = json_object_get(root, "header");
	const json_t *objects = json_object_get(root, "objects");
	if (!json_is_object(root) || !json_is_integer(version) ||
	    json_integer_value(version) != 1) {
		lt_error_set(err, 0, "signed metadata: not version 1 of the SIF metadata format");
		goto out;
	}
	if (!json_is_object(header) ||
	    parse_digest(json_object_get(header, "digest"), "header digest", &m->header, err) < 0)
		goto out;
	if (!json_is_array(objects) || json_array_size(objects) == 0) {
		lt_error_set(err, 0, "signed metadata: no objects");
		goto out;
	}
	m->n = json_array_size(objects);
	m->objects = lt_xcalloc(m->n, sizeof(*m->objects));
	for (size_t i = 0; i < m->n; i++) {
		const json_t *o = json_array_get(objects, i);
		const json_t *rel = json_object_get(o, "relativeId");
		sign_object_meta *om = &m->objects[i];
		if (!json_is_object(o) || !json_is_integer(rel) || json_integer_value(rel) < 0 ||
		    json_integer_value(rel) > UINT32_MAX) {
			lt_error_set(err, 0, "signed metadata: object %zu has no valid relativeId",
				     i);
			goto out;
		}
		om->relative_id = (uint32_t)json_integer_value(rel);
		if (parse_digest(json_object_get(o, "descriptorDigest"), "descriptor digest",
				 &om->descriptor, err) < 0 ||
		    parse_digest(json_object_get(o, "objectDigest"), "object digest", &om->object,
				 err) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		sign_metadata_free(m);
	else
		*out = m;
	return rc;
}

void sign_metadata_free(sign_metadata *m)
{
	if (m == NULL)
		return;
	free(m->objects);
	free(m);
}

static bool digest_matches(const sign_digest *want, const sign_digest *got)
{
	return want->len == got->len && memcmp(want->value, got->value, want->len) == 0;
}

int sign_metadata_match(const sign_metadata *m, const sif_image *img, uint32_t group,
			const sif_descriptor *const *ods, size_t n, bool subset,
			uint32_t *bad_object, lt_error **err)
{
	uint32_t min = sign_group_min_id(img, group);
	sign_digest got;
	*bad_object = 0;
	if (!subset) {
		/* the signed set of IDs and the group's must be the same */
		for (size_t i = 0; i < n; i++) {
			bool found = false;
			for (size_t j = 0; j < m->n && !found; j++)
				found = (uint32_t)(min + m->objects[j].relative_id) == ods[i]->id;
			if (!found)
				return lt_error_set(err, 0, "object %" PRIu32 ": object not signed",
						    ods[i]->id);
		}
		for (size_t j = 0; j < m->n; j++) {
			bool found = false;
			uint32_t id = min + m->objects[j].relative_id;
			for (size_t i = 0; i < n && !found; i++)
				found = ods[i]->id == id;
			if (!found)
				return lt_error_set(
				    err, 0, "object %" PRIu32 ": signed object not found", id);
		}
	}
	sign_digest_header(img, m->header.md, &got);
	if (!digest_matches(&m->header, &got))
		return lt_error_set(err, 0,
				    "header integrity compromised (launch script, magic, version "
				    "or image ID changed)");
	for (size_t i = 0; i < n; i++) {
		const sign_object_meta *om = NULL;
		for (size_t j = 0; j < m->n && om == NULL; j++)
			if ((uint32_t)(min + m->objects[j].relative_id) == ods[i]->id)
				om = &m->objects[j];
		if (om == NULL)
			return lt_error_set(err, 0, "object %" PRIu32 ": object not signed",
					    ods[i]->id);
		sign_digest_descriptor(ods[i], min, om->descriptor.md, &got);
		if (!digest_matches(&om->descriptor, &got))
			return lt_error_set(
			    err, 0, "data object descriptor integrity compromised: %" PRIu32,
			    ods[i]->id);
		if (sign_digest_objects(img, &ods[i], 1, om->object.md, &got, err) < 0)
			return -1;
		if (!digest_matches(&om->object, &got)) {
			*bad_object = ods[i]->id;
			return lt_error_set(err, 0, "data object integrity compromised: %" PRIu32,
					    ods[i]->id);
		}
	}
	return 0;
}

int sign_legacy_digest(const uint8_t *plain, size_t len, int32_t hashtype, uint8_t out[64])
{
	static const char prefix[] = "SIFHASH:\n";
	const EVP_MD *md = sign_md_by_hashtype(hashtype, NULL);
	if (md == NULL)
		return -1;
	if (len >= sizeof(prefix) - 1 && memcmp(plain, prefix, sizeof(prefix) - 1) == 0) {
		plain += sizeof(prefix) - 1;
		len -= sizeof(prefix) - 1;
	}
	if (len > 0 && plain[len - 1] == '\n')
		len--;
	int n = hex_decode((const char *)plain, len, out, 64);
	return n == EVP_MD_get_size(md) ? n : -1;
}

int sign_read_signature(const sif_image *img, const sif_descriptor *sig, sign_buf *out,
			lt_error **err)
{
	char *data = NULL;
	if (sif_read_object_alloc(img, sig, SIGN_MAX_SIGNATURE, &data, err) < 0)
		return -1;
	out->data = (uint8_t *)data;
	out->len = (size_t)sig->size;
	return 0;
}

void sign_buf_free(sign_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}
