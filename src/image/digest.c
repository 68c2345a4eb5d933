/* Digests (OCI grammar; only sha256 can be verified), media types and descriptors. */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

static bool is_alg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alg_sep(char c)
{
	return c == '+' || c == '.' || c == '_' || c == '-';
}

static bool is_enc_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '=' || c == '_' || c == '-';
}

bool img_is_sha256_digest(const char *s)
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == LT_SHA256_HEX_LEN;
}

int img_check_digest(const char *digest, const char *what, lt_error **err)
{
	if (digest == NULL)
		return lt_error_set(err, 0, "%s: missing digest", what);
	/* algorithm ::= component (separator component)*; component ::= [a-z0-9]+ */
	const char *p = digest;
	bool need_component = true;
	for (; *p && *p != ':'; p++) {
		if (is_alg_char(*p)) {
			need_component = false;
		} else if (is_alg_sep(*p) && !need_component) {
			need_component = true;
		} else {
			need_component = true;
			break;
		}
	}
	bool ok = *p == ':' && p != digest && !need_component && p[1] != '\0';
	for (const char *q = p + (*p == ':'); ok && *q; q++)
		if (!is_enc_char(*q))
			ok = false;
	if (!ok)
		return lt_error_set(err, 0, "%s: invalid digest \"%s\"", what, digest);
	size_t alg_len = (size_t)(p - digest);
	if (alg_len != 6 || strncmp(digest, "sha256", 6) != 0)
		return lt_error_set(err, 0,
				    "%s: unsupported digest algorithm \"%.*s\" in %s (only sha256 "
				    "can be verified)",
				    what, (int)alg_len, digest, digest);
	if (!img_is_sha256_digest(digest))
		return lt_error_set(err, 0,
				    "%s: invalid sha256 digest \"%s\" (must be 64 lowercase hex "
				    "digits)",
				    what, digest);
	return 0;
}

bool img_blob_path_digest(const char *path, char digest[72])
{
	if (!lt_str_has_prefix(path, "blobs/sha256/"))
		return false;
	char tmp[80];
	if (snprintf(tmp, sizeof(tmp), "sha256:%s", path + 13) >= (int)sizeof(tmp))
		return false;
	if (!img_is_sha256_digest(tmp))
		return false;
	memcpy(digest, tmp, 72);
	return true;
}

enum img_doc_kind img_doc_kind_of(const char *mt)
{
	if (mt == NULL)
		return DOC_UNKNOWN;
	if (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0)
		return DOC_MANIFEST;
	if (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)
		return DOC_INDEX;
	if (strcmp(mt, MT_DOCKER_SCHEMA1) == 0 || strcmp(mt, MT_DOCKER_SCHEMA1S) == 0)
		return DOC_SCHEMA1;
	return DOC_UNKNOWN;
}

static const char *const layer_types[] = {
    MT_OCI_LAYER_TAR,
    MT_OCI_LAYER_GZIP,
    MT_OCI_LAYER_ZSTD,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

int img_check_layer_media_type(const char *mt, const char *what, lt_error **err)
{
	if (mt == NULL)
		return lt_error_set(err, 0, "%s has no mediaType", what);
	if (strstr(mt, "+encrypted") != NULL)
		return lt_error_set(err, 0,
				    "%s is encrypted (%s); encrypted layers are not supported, "
				    "decrypt the image first",
				    what, mt);
	for (size_t i = 0; i < LT_ARRAY_SIZE(layer_types); i++)
		if (strcmp(mt, layer_types[i]) == 0)
			return 0;
	return lt_error_set(err, 0, "%s has unsupported media type %s", what, mt);
}

const char *img_layer_media_type_for_magic(const unsigned char *magic, size_t len)
{
	if (len >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
		return MT_OCI_LAYER_GZIP;
	if (len >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
	    magic[3] == 0xfd)
		return MT_OCI_LAYER_ZSTD;
	return MT_OCI_LAYER_TAR;
}

void img_desc_set_path(img_desc *d)
{
	snprintf(d->path, sizeof(d->path), "blobs/sha256/%s", d->digest + 7);
}

int img_desc_parse(const json_t *obj, const char *what, img_desc *d, lt_error **err)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return lt_error_set(err, 0, "%s: descriptor is not a JSON object", what);
	d->json = obj;
	json_t *mt = json_object_get(obj, "mediaType");
	if (mt != NULL && !json_is_null(mt) && !json_is_string(mt))
		return lt_error_set(err, 0, "%s: mediaType is not a string", what);
	d->media_type = json_is_string(mt) ? json_string_value(mt) : NULL;
	d->digest = lt_json_string(obj, "digest");
	if (img_check_digest(d->digest, what, err) < 0)
		return -1;
	json_t *size = json_object_get(obj, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return lt_error_set(err, 0, "%s: descriptor of %s has no valid size", what,
				    d->digest);
	d->size = (int64_t)json_integer_value(size);
	img_desc_set_path(d);
	return 0;
}
