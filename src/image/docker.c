/* docker-archive (`docker save` output; oci.md §2): manifest.json selects the image by RepoTags.
 *  - Docker >= 25 and containerd archives are also OCI layouts: when manifest.json's Config is a
 *    blobs/sha256/ path and the layout has a manifest with that config, that manifest is used
 *    (real media types, manifest digest).
 *  - Legacy (Docker <= 24) and skopeo archives: the config is <hex>.json (checked against its
 *    name), layers are <v1id>/layer.tar or <diffid>.tar members (symlinks followed). A layer's
 *    digest is the sha256 of its member bytes: equal to the diff_id for an uncompressed layer,
 *    taken from the name for blobs/sha256/ members, computed here otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

/* "<64 hex>.json" as a config name: writes "sha256:<hex>". */
static bool config_name_digest(const char *path, char digest[72])
{
	if (img_blob_path_digest(path, digest))
		return true;
	const char *base = lt_path_basename(path);
	if (strlen(base) != LT_SHA256_HEX_LEN + 5 || !lt_str_has_suffix(base, ".json"))
		return false;
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "sha256:%.*s", LT_SHA256_HEX_LEN, base);
	if (!img_is_sha256_digest(tmp))
		return false;
	memcpy(digest, tmp, 72);
	return true;
}

static char *available_tags(const json_t *manifest)
{
	char **items = NULL;
	size_t n = 0, cap = 0;
	size_t i, j;
	json_t *entry, *tag;
	json_array_foreach(manifest, i, entry)
	{
		json_t *tags = json_object_get(entry, "RepoTags");
		size_t before = n;
		json_array_foreach(tags, j, tag)
		{
			if (!json_is_string(tag))
				continue;
			items = lt_array_grow(items, sizeof(*items), n + 1, &cap);
			items[n++] = lt_xstrdup(json_string_value(tag));
		}
		if (n == before) {
			items = lt_array_grow(items, sizeof(*items), n + 1, &cap);
			const char *cfg = lt_json_string(entry, "Config");
			items[n++] = lt_strdup_printf("<untagged %s>", cfg ? cfg : "?");
		}
	}
	char *s = img_join_list(items, n);
	for (size_t k = 0; k < n; k++)
		free(items[k]);
	free(items);
	return s;
}

/* Chooses the manifest.json entry; *tag is the RepoTag that names it (borrowed) or NULL. */
static int select_entry(const json_t *manifest, const img_ref *ref, const json_t **out,
			const char **tag, lt_error **err)
{
	*out = NULL;
	*tag = NULL;
	size_t n = json_array_size(manifest);
	if (n == 0)
		return lt_error_set(err, 0, "manifest.json lists no images");
	if (ref->name == NULL) {
		if (n > 1) {
			char *avail = available_tags(manifest);
			lt_error_set(err, 0,
				     "the archive holds %zu images; choose one with :NAME:TAG "
				     "(available: %s)",
				     n, avail);
			free(avail);
			return -1;
		}
		*out = json_array_get(manifest, 0);
		json_t *tags = json_object_get(*out, "RepoTags");
		*tag = json_string_value(json_array_get(tags, 0));
		return 0;
	}
	char *wanted_full = lt_strdup_printf("%s:%s", ref->name, ref->tag);
	char *want = img_docker_ref_canonical(wanted_full);
	size_t i, j;
	json_t *entry, *t;
	json_array_foreach(manifest, i, entry)
	{
		json_array_foreach(json_object_get(entry, "RepoTags"), j, t)
		{
			const char *s = json_string_value(t);
			char *c = s ? img_docker_ref_canonical(s) : NULL;
			bool match = c != NULL && want != NULL && strcmp(c, want) == 0;
			free(c);
			if (match && *out == NULL) {
				*out = entry;
				*tag = s;
			}
		}
	}
	free(want);
	if (*out == NULL) {
		char *avail = available_tags(manifest);
		lt_error_set(err, 0, "no image tagged %s (available: %s)", wanted_full, avail);
		free(avail);
	}
	free(wanted_full);
	return *out ? 0 : -1;
}

/* The image through the archive's OCI layout (Docker >= 25, containerd): 1 done, 0 not there. */
static int try_oci_manifest(img_source *src, const char *cfg_digest, size_t n_layers,
			    const img_wanted *w, img_image *img, lt_error **err)
{
	if (!img_oci_has_layout(src))
		return 0;
	json_t *desc;
	int r = img_oci_find_manifest_by_config(src, cfg_digest, &desc, err);
	if (r <= 0)
		return r;
	img_desc d;
	r = img_desc_parse(desc, "manifest", &d, err);
	if (r == 0)
		r = img_oci_load(src, &d, w, false, 0, img, err);
	json_decref(desc);
	if (r < 0)
		return -1;
	if (img->n_layers != n_layers)
		return lt_error_set(
		    err, 0, "manifest.json lists %zu layers but the OCI manifest %s has %zu",
		    n_layers, img->manifest_digest, img->n_layers);
	lt_debug("%s: using the OCI manifest %s", src->display, img->manifest_digest);
	return 1;
}

static int load_legacy(img_source *src, const char *cfg_path, const json_t *layers,
		       const img_wanted *w, img_image *img, lt_error **err)
{
	src_file f;
	int r = img_src_find(src, cfg_path, &f, err);
	if (r == 0)
		lt_error_set(err, 0, "config %s is missing", cfg_path);
	if (r <= 0)
		return -1;
	r = img_src_read_all(src, &f, IMG_MAX_JSON, &img->config_data, &img->config_len, err);
	img_src_file_clear(&f);
	if (r < 0)
		return lt_error_wrap(err, "config %s", cfg_path);
	char got[72], want[72];
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(img->config_data, img->config_len, d);
	lt_sha256_digest_string(d, got);
	if (config_name_digest(cfg_path, want) && strcmp(got, want) != 0)
		return lt_error_set(err, 0, "config %s: digest mismatch for %s: got %s", cfg_path,
				    want, got);
	img->config_digest = lt_xstrdup(got);
	const json_t *diff_ids;
	if (img_parse_config(img, MT_DOCKER_CONFIG, &diff_ids, err) < 0)
		return -1;
	size_t n = json_array_size(layers);
	if (json_array_size(diff_ids) != n)
		return lt_error_set(
		    err, 0, "manifest.json lists %zu layers but the config has %zu diff_ids", n,
		    json_array_size(diff_ids));
	img_alloc_layers(src, img, n);
	for (size_t i = 0; i < n; i++) {
		img_layer *l = &img->layers[i];
		src_layer *sl = &src->layers[i];
		const char *given = json_string_value(json_array_get(layers, i));
		if (given == NULL)
			return lt_error_set(err, 0, "manifest.json: layer %zu is not a path",
					    i + 1);
		l->diff_id = lt_xstrdup(json_string_value(json_array_get(diff_ids, i)));
		r = img_src_find(src, given, &f, err);
		if (r == 0)
			return lt_error_set(err, 0, "layer %zu (%s) is missing", i + 1, given);
		if (r < 0)
			return lt_error_wrap(err, "layer %zu (%s)", i + 1, given);
		const tar_member *m = f.member;
		l->size = f.size;
		l->media_type = lt_xstrdup(img_layer_media_type_for_magic(m->magic, m->magic_len));
		char digest[72];
		char *confined = lt_path_confine(given, NULL);
		if (img_blob_path_digest(f.path, digest) ||
		    img_blob_path_digest(confined, digest)) {
			l->digest = lt_xstrdup(digest);
		} else if (strcmp(l->media_type, MT_OCI_LAYER_TAR) == 0) {
			/* An uncompressed layer's bytes are its diff_id's (checked when read). */
			l->digest = lt_xstrdup(l->diff_id);
		} else {
			lt_debug("%s: hashing compressed layer %s", src->display, given);
			if (img_src_hash_file(src, &f, digest, err) < 0) {
				free(confined);
				img_src_file_clear(&f);
				return lt_error_wrap(err, "layer %zu (%s)", i + 1, given);
			}
			l->digest = lt_xstrdup(digest);
		}
		free(confined);
		sl->path = lt_xstrdup(f.path);
		sl->digest = lt_xstrdup(l->digest);
		sl->size = l->size;
		sl->ordinal = m->ordinal;
		img_src_file_clear(&f);
	}
	img_platform_check_config(src, img, w);
	return 0;
}

int img_docker_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
		       lt_error **err)
{
	src_file f;
	int r = img_src_find(src, "manifest.json", &f, err);
	if (r == 0) {
		if (img_oci_has_layout(src))
			return lt_error_set(err, 0,
					    "no manifest.json: this is an OCI archive, use "
					    "oci-archive:");
		return lt_error_set(err, 0, "not a docker-archive: manifest.json is missing");
	}
	if (r < 0)
		return -1;
	char *data;
	size_t len;
	r = img_src_read_all(src, &f, IMG_MAX_JSON, &data, &len, err);
	img_src_file_clear(&f);
	if (r < 0)
		return -1;
	json_t *manifest = lt_json_parse(data, len, "manifest.json", err);
	free(data);
	if (manifest == NULL)
		return -1;
	r = -1;
	const json_t *entry;
	const char *tag;
	if (!json_is_array(manifest)) {
		lt_error_set(err, 0, "manifest.json is not an array");
		goto out;
	}
	if (select_entry(manifest, ref, &entry, &tag, err) < 0)
		goto out;
	const char *cfg = lt_json_string(entry, "Config");
	json_t *layers = json_object_get(entry, "Layers");
	if (cfg == NULL || !json_is_array(layers)) {
		lt_error_set(err, 0, "manifest.json: entry without Config or Layers");
		goto out;
	}
	char *cfg_path = lt_path_confine(cfg, NULL);
	char cfg_digest[72];
	r = 0;
	if (img_blob_path_digest(cfg_path, cfg_digest))
		r = try_oci_manifest(src, cfg_digest, json_array_size(layers), w, img, err);
	if (r == 0)
		r = load_legacy(src, cfg_path, layers, w, img, err);
	free(cfg_path);
	if (r >= 0) {
		r = 0;
		if (tag != NULL)
			img_set_name_tag(img, tag);
	}
out:
	json_decref(manifest);
	return r;
}
