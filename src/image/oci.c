/* OCI image layouts (a directory, or the same inside an archive): oci-layout and index.json,
 * selection by ref name or digest, nested indexes and Docker manifest lists with platform
 * selection, and the image manifest with its config. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define MAX_INDEX_DEPTH 8

bool img_oci_has_layout(const img_source *src)
{
	src_file f;
	int r = img_src_find(src, "oci-layout", &f, NULL);
	img_src_file_clear(&f);
	if (r != 1)
		return false;
	r = img_src_find(src, "index.json", &f, NULL);
	img_src_file_clear(&f);
	return r == 1;
}

static json_t *read_json_file(const img_source *src, const char *path, lt_error **err)
{
	src_file f;
	int r = img_src_find(src, path, &f, err);
	if (r <= 0) {
		if (r == 0) {
			bool docker = false;
			if (src->transport != IMG_DOCKER_ARCHIVE) {
				src_file m;
				docker = img_src_find(src, "manifest.json", &m, NULL) == 1;
				img_src_file_clear(&m);
			}
			lt_error_set(err, 0, "not an OCI image layout: %s is missing%s", path,
				     docker ? " (docker save output? use docker-archive:)" : "");
		}
		return NULL;
	}
	char *data;
	size_t len;
	r = img_src_read_all(src, &f, IMG_MAX_JSON, &data, &len, err);
	img_src_file_clear(&f);
	if (r < 0)
		return NULL;
	json_t *j = lt_json_parse(data, len, path, err);
	free(data);
	return j;
}

/* Validates oci-layout and returns index.json (checked to hold a manifests array). */
static json_t *load_layout(const img_source *src, lt_error **err)
{
	json_t *layout = read_json_file(src, "oci-layout", err);
	if (layout == NULL)
		return NULL;
	const char *version = lt_json_string(layout, "imageLayoutVersion");
	if (version == NULL) {
		json_decref(layout);
		lt_error_set(err, 0, "oci-layout has no imageLayoutVersion");
		return NULL;
	}
	if (!lt_str_has_prefix(version, "1.")) {
		lt_error_set(err, 0, "unsupported imageLayoutVersion \"%s\" in oci-layout",
			     version);
		json_decref(layout);
		return NULL;
	}
	json_decref(layout);
	json_t *index = read_json_file(src, "index.json", err);
	if (index == NULL)
		return NULL;
	json_t *sv = json_object_get(index, "schemaVersion");
	if (!json_is_array(json_object_get(index, "manifests"))) {
		lt_error_set(err, 0, "index.json has no manifests array");
	} else if (sv != NULL && (!json_is_integer(sv) || json_integer_value(sv) != 2)) {
		lt_error_set(err, 0, "index.json: unsupported schemaVersion");
	} else {
		return index;
	}
	json_decref(index);
	return NULL;
}

static int refuse_schema1(const char *digest, lt_error **err)
{
	return lt_error_set(err, 0,
			    "manifest %s is a Docker schema1 manifest; schema1 is deprecated and "
			    "not supported (convert the image to schema2 or OCI)",
			    digest);
}

/* Loads and parses the document of descriptor d (a manifest or an index). */
static json_t *load_doc(const img_source *src, const img_desc *d, const char *what,
			enum img_doc_kind *kind, const char **doc_mt, lt_error **err)
{
	*kind = img_doc_kind_of(d->media_type);
	if (*kind == DOC_SCHEMA1) {
		refuse_schema1(d->digest, err);
		return NULL;
	}
	if (*kind == DOC_UNKNOWN && d->media_type != NULL) {
		lt_error_set(err, 0, "%s %s has unsupported media type %s", what, d->digest,
			     d->media_type);
		return NULL;
	}
	char *data;
	size_t len;
	if (img_src_read_doc(src, d->digest, d->size, what, &data, &len, err) < 0)
		return NULL;
	json_t *j = lt_json_parse(data, len, d->digest, err);
	if (j == NULL) {
		free(data);
		return NULL;
	}
	if (!json_is_object(j)) {
		lt_error_set(err, 0, "%s %s is not a JSON object", what, d->digest);
		goto fail;
	}
	*doc_mt = lt_json_string(j, "mediaType");
	json_t *sv = json_object_get(j, "schemaVersion");
	enum img_doc_kind doc_kind = img_doc_kind_of(*doc_mt);
	if (doc_kind == DOC_SCHEMA1 || (json_is_integer(sv) && json_integer_value(sv) == 1)) {
		refuse_schema1(d->digest, err);
		goto fail;
	}
	if (*kind == DOC_UNKNOWN)
		*kind = doc_kind;
	if (*kind == DOC_UNKNOWN) {
		if (json_is_array(json_object_get(j, "manifests")))
			*kind = DOC_INDEX;
		else if (json_object_get(j, "config") != NULL)
			*kind = DOC_MANIFEST;
	}
	if (*kind == DOC_UNKNOWN) {
		lt_error_set(err, 0, "%s %s is neither an image manifest nor an index", what,
			     d->digest);
		goto fail;
	}
	if (*doc_mt != NULL && d->media_type != NULL && doc_kind != *kind)
		lt_debug("%s: media type %s in the descriptor, %s in the document; trusting the "
			 "descriptor",
			 d->digest, d->media_type, *doc_mt);
	free(data);
	return j;
fail:
	json_decref(j);
	free(data);
	return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Walking indexes
 */
/* Called for every descriptor; returns 1 to stop (found), 0 to go on, -1 on error. */
typedef int (*walk_fn)(img_source *src, json_t *entry, void *ctx, lt_error **err);

static int walk(img_source *src, const json_t *manifests, int depth, walk_fn fn, void *ctx,
		lt_error **err)
{
	size_t i;
	json_t *entry;
	json_array_foreach(manifests, i, entry)
	{
		int r = fn(src, entry, ctx, err);
		if (r != 0)
			return r;
		img_desc d;
		if (depth >= MAX_INDEX_DEPTH ||
		    img_doc_kind_of(lt_json_string(entry, "mediaType")) != DOC_INDEX ||
		    img_desc_parse(entry, "index entry", &d, NULL) < 0)
			continue;
		src_file f;
		r = img_src_find(src, d.path, &f, NULL);
		img_src_file_clear(&f);
		if (r != 1)
			continue;
		enum img_doc_kind kind;
		const char *mt;
		json_t *j = load_doc(src, &d, "index", &kind, &mt, err);
		if (j == NULL)
			return -1;
		r = kind == DOC_INDEX
			? walk(src, json_object_get(j, "manifests"), depth + 1, fn, ctx, err)
			: 0;
		json_decref(j);
		if (r != 0)
			return r;
	}
	return 0;
}

typedef struct find_ctx {
	const char *digest;
	json_t *found;
} find_ctx;

static int find_by_digest(img_source *src, json_t *entry, void *ctx, lt_error **err)
{
	find_ctx *c = ctx;
	(void)src;
	(void)err;
	const char *digest = lt_json_string(entry, "digest");
	if (digest == NULL || strcmp(digest, c->digest) != 0)
		return 0;
	c->found = json_incref(entry);
	return 1;
}

static int find_by_config(img_source *src, json_t *entry, void *ctx, lt_error **err)
{
	find_ctx *c = ctx;
	img_desc d;
	const char *mt = lt_json_string(entry, "mediaType");
	if ((mt != NULL && img_doc_kind_of(mt) != DOC_MANIFEST) ||
	    img_desc_parse(entry, "index entry", &d, NULL) < 0)
		return 0;
	src_file f;
	int r = img_src_find(src, d.path, &f, NULL);
	img_src_file_clear(&f);
	if (r != 1)
		return 0;
	enum img_doc_kind kind;
	const char *doc_mt;
	json_t *j = load_doc(src, &d, "manifest", &kind, &doc_mt, err);
	if (j == NULL)
		return -1;
	const char *cfg = lt_json_string(json_object_get(j, "config"), "digest");
	r = kind == DOC_MANIFEST && cfg != NULL && strcmp(cfg, c->digest) == 0;
	json_decref(j);
	if (r)
		c->found = json_incref(entry);
	return r;
}

int img_oci_find_manifest_by_config(img_source *src, const char *cfg_digest, json_t **out,
				    lt_error **err)
{
	*out = NULL;
	json_t *index = load_layout(src, err);
	if (index == NULL)
		return -1;
	find_ctx c = {.digest = cfg_digest};
	int r = walk(src, json_object_get(index, "manifests"), 0, find_by_config, &c, err);
	json_decref(index);
	if (r < 0)
		return -1;
	*out = c.found;
	return c.found != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Platform selection among index entries
 */
typedef struct cand {
	json_t *entry; /* own reference */
	img_desc d;
	bool has_platform;
	char *platform; /* "linux/arm/v7" */
} cand;

typedef struct cand_list {
	cand *v;
	size_t n, cap;
} cand_list;

static void cands_free(cand_list *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		json_decref(cl->v[i].entry);
		free(cl->v[i].platform);
	}
	free(cl->v);
	memset(cl, 0, sizeof(*cl));
}

/* Collects the usable entries of an index, expanding nested indexes that carry no platform and
 * skipping attestations and unknown media types. */
static int collect(img_source *src, const json_t *manifests, int depth, cand_list *cl,
		   lt_error **err)
{
	size_t i;
	json_t *entry;
	json_array_foreach(manifests, i, entry)
	{
		if (!json_is_object(entry) || img_desc_is_attestation(entry))
			continue;
		const char *mt = lt_json_string(entry, "mediaType");
		enum img_doc_kind kind = img_doc_kind_of(mt);
		if (mt != NULL && kind == DOC_UNKNOWN) {
			lt_debug("%s: skipping index entry of media type %s", src->display, mt);
			continue;
		}
		img_desc d;
		if (img_desc_parse(entry, "index entry", &d, err) < 0)
			return -1;
		json_t *p = json_object_get(entry, "platform");
		if (kind == DOC_INDEX && !json_is_object(p) && depth < MAX_INDEX_DEPTH) {
			src_file f;
			int r = img_src_find(src, d.path, &f, err);
			img_src_file_clear(&f);
			if (r < 0)
				return -1;
			if (r == 0) {
				lt_debug("%s: nested index %s is missing", src->display, d.digest);
				continue;
			}
			const char *doc_mt;
			json_t *j = load_doc(src, &d, "index", &kind, &doc_mt, err);
			if (j == NULL)
				return -1;
			if (kind == DOC_INDEX)
				r = collect(src, json_object_get(j, "manifests"), depth + 1, cl,
					    err);
			json_decref(j);
			if (r < 0)
				return -1;
			if (kind == DOC_INDEX)
				continue;
		}
		cl->v = lt_array_grow(cl->v, sizeof(*cl->v), cl->n + 1, &cl->cap);
		cand *c = &cl->v[cl->n++];
		c->entry = json_incref(entry);
		c->d = d;
		c->has_platform = json_is_object(p);
		c->platform = c->has_platform
				  ? img_platform_format(lt_json_string(p, "os"),
							lt_json_string(p, "architecture"),
							lt_json_string(p, "variant"))
				  : NULL;
	}
	return 0;
}

static char *list_platforms(const img_source *src, const cand_list *cl, bool present_only)
{
	char **items = lt_xcalloc(cl->n + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < cl->n; i++) {
		if (!cl->v[i].has_platform)
			continue;
		if (present_only) {
			src_file f;
			int r = img_src_find(src, cl->v[i].d.path, &f, NULL);
			img_src_file_clear(&f);
			if (r != 1)
				continue;
		}
		items[n++] = cl->v[i].platform;
	}
	char *s = img_join_list(items, n);
	free(items);
	return s;
}

/* Picks the best candidate for w; entries without a platform are the last resort. */
static int choose(img_source *src, const img_wanted *w, const cand_list *cl, const cand **out,
		  lt_error **err)
{
	*out = NULL;
	if (cl->n == 0)
		return lt_error_set(err, 0, "the index lists no image manifests");
	int best = -1, best_rank = 0, fallback = -1;
	for (size_t i = 0; i < cl->n; i++) {
		const cand *c = &cl->v[i];
		if (!c->has_platform) {
			if (fallback < 0)
				fallback = (int)i;
			continue;
		}
		json_t *p = json_object_get(c->entry, "platform");
		int rank =
		    img_platform_rank(w, lt_json_string(p, "os"), lt_json_string(p, "architecture"),
				      lt_json_string(p, "variant"));
		if (rank >= 0 && (best < 0 || rank < best_rank)) {
			best = (int)i;
			best_rank = rank;
		}
	}
	if (best < 0)
		best = fallback;
	char *want = img_platform_format(w->os, w->arch, w->variant);
	if (best < 0) {
		char *avail = list_platforms(src, cl, false);
		lt_error_set(err, 0, "no image for %s (available: %s)", want, avail);
		free(avail);
		free(want);
		return -1;
	}
	const cand *c = &cl->v[best];
	src_file f;
	int r = img_src_find(src, c->d.path, &f, err);
	img_src_file_clear(&f);
	if (r == 0) {
		char *avail = list_platforms(src, cl, true);
		lt_error_set(err, 0,
			     "the manifest for %s (%s) is missing: blob %s is not in the source "
			     "(platforms present: %s)",
			     c->platform ? c->platform : want, c->d.digest, c->d.digest, avail);
		free(avail);
	}
	free(want);
	if (r <= 0)
		return -1;
	lt_debug("%s: selected %s (%s)", src->display, c->d.digest,
		 c->platform ? c->platform : "no platform");
	*out = c;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Image manifest and config
 */
static int load_manifest(img_source *src, const img_desc *d, json_t *m, const char *mt,
			 const img_wanted *w, bool by_platform, img_image *img, lt_error **err)
{
	json_t *sv = json_object_get(m, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return lt_error_set(err, 0, "manifest %s: unsupported schemaVersion", d->digest);
	img_desc cfg;
	if (img_desc_parse(json_object_get(m, "config"), "config", &cfg, err) < 0)
		return lt_error_wrap(err, "manifest %s", d->digest);
	json_t *layers = json_object_get(m, "layers");
	if (!json_is_array(layers))
		return lt_error_set(err, 0, "manifest %s has no layers array", d->digest);
	size_t n = json_array_size(layers);
	img_desc *ld = lt_xcalloc(n, sizeof(*ld));
	int ret = -1;
	for (size_t i = 0; i < n; i++) {
		char what[32];
		snprintf(what, sizeof(what), "layer %zu", i + 1);
		if (img_desc_parse(json_array_get(layers, i), what, &ld[i], err) < 0 ||
		    img_check_layer_media_type(ld[i].media_type, what, err) < 0) {
			lt_error_wrap(err, "manifest %s", d->digest);
			goto out;
		}
	}

	img->manifest_digest = lt_xstrdup(d->digest);
	img->manifest_media_type = lt_xstrdup(mt ? mt : MT_OCI_MANIFEST);
	img->config_digest = lt_xstrdup(cfg.digest);
	if (img_src_read_blob(src, cfg.digest, cfg.size, "config", &img->config_data,
			      &img->config_len, err) < 0)
		goto out;
	const json_t *diff_ids;
	if (img_parse_config(img, cfg.media_type, &diff_ids, err) < 0)
		goto out;
	if (json_array_size(diff_ids) != n) {
		lt_error_set(err, 0, "manifest %s lists %zu layers but its config has %zu diff_ids",
			     d->digest, n, json_array_size(diff_ids));
		goto out;
	}
	img_alloc_layers(src, img, n);
	for (size_t i = 0; i < n; i++) {
		img_layer *l = &img->layers[i];
		src_layer *sl = &src->layers[i];
		l->digest = lt_xstrdup(ld[i].digest);
		l->size = ld[i].size;
		l->media_type = lt_xstrdup(ld[i].media_type);
		l->diff_id = lt_xstrdup(json_string_value(json_array_get(diff_ids, i)));
		sl->path = lt_xstrdup(ld[i].path);
		sl->digest = lt_xstrdup(ld[i].digest);
		sl->size = ld[i].size;
		src_file f;
		int r = img_src_find(src, sl->path, &f, err);
		if (r == 0)
			lt_error_set(err, 0, "blob %s (layer %zu) is missing%s", l->digest, i + 1,
				     strstr(l->media_type, "foreign") != NULL ||
					     strstr(l->media_type, "nondistributable") != NULL
					 ? " (non-distributable layers are not downloaded from "
					   "their urls)"
					 : "");
		if (r <= 0)
			goto out;
		if (f.size >= 0 && f.size != l->size) {
			lt_error_set(err, 0,
				     "layer %zu: size mismatch for %s: the descriptor says %" PRId64
				     " bytes, the blob has %" PRId64,
				     i + 1, l->digest, l->size, f.size);
			img_src_file_clear(&f);
			goto out;
		}
		sl->ordinal = f.member ? f.member->ordinal : i;
		img_src_file_clear(&f);
	}
	if (!by_platform)
		img_platform_check_config(src, img, w);
	ret = 0;
out:
	free(ld);
	return ret;
}

int img_oci_load(img_source *src, const img_desc *d, const img_wanted *w, bool by_platform,
		 int depth, img_image *img, lt_error **err)
{
	if (depth > MAX_INDEX_DEPTH)
		return lt_error_set(err, 0, "indexes nested too deeply");
	enum img_doc_kind kind;
	const char *doc_mt;
	json_t *j = load_doc(src, d, "manifest", &kind, &doc_mt, err);
	if (j == NULL)
		return -1;
	int r;
	if (kind == DOC_MANIFEST) {
		const char *mt = d->media_type ? d->media_type : doc_mt;
		r = load_manifest(src, d, j, mt, w, by_platform, img, err);
	} else {
		cand_list cl = {0};
		const cand *c;
		r = collect(src, json_object_get(j, "manifests"), depth + 1, &cl, err);
		if (r == 0)
			r = choose(src, w, &cl, &c, err);
		if (r < 0)
			lt_error_wrap(err, "index %s", d->digest);
		else
			r = img_oci_load(src, &c->d, w, c->has_platform, depth + 1, img, err);
		cands_free(&cl);
	}
	json_decref(j);
	return r;
}

/* ---------------------------------------------------------------------------------------------
 * index.json
 */
static const char *entry_ref_name(const json_t *entry)
{
	return lt_json_string(json_object_get(entry, "annotations"), ANNOT_REF_NAME);
}

static const char *entry_containerd_name(const json_t *entry)
{
	return lt_json_string(json_object_get(entry, "annotations"), ANNOT_CONTAINERD_NAME);
}

static bool entry_matches(const json_t *entry, const char *tag, const char *canon)
{
	const char *ref = entry_ref_name(entry);
	const char *full = entry_containerd_name(entry);
	if ((ref && strcmp(ref, tag) == 0) || (full && strcmp(full, tag) == 0))
		return true;
	if (canon == NULL)
		return false;
	bool match = false;
	for (int k = 0; k < 2 && !match; k++) {
		const char *s = k == 0 ? full : ref;
		/* A bare ref.name is a tag, not a repository: only full names normalise. */
		if (s == NULL || (k == 1 && strchr(s, '/') == NULL && strchr(s, ':') == NULL))
			continue;
		char *c = img_docker_ref_canonical(s);
		match = c != NULL && strcmp(c, canon) == 0;
		free(c);
	}
	return match;
}

static char *available_refs(const json_t *manifests)
{
	size_t n = json_array_size(manifests), k = 0;
	char **items = lt_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(manifests, i);
		if (img_desc_is_attestation(e))
			continue;
		const char *ref = entry_ref_name(e);
		char *item = ref ? lt_xstrdup(ref)
				 : lt_strdup_printf("@%s", lt_json_string(e, "digest")
							       ? lt_json_string(e, "digest")
							       : "?");
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(items[j], item) == 0;
		if (dup)
			free(item);
		else
			items[k++] = item;
	}
	char *s = img_join_list(items, k);
	for (size_t j = 0; j < k; j++)
		free(items[j]);
	free(items);
	return s;
}

/* Resolves a set of top-level entries: one is used as it is; several are told apart by
 * platform. */
static int resolve_entries(img_source *src, json_t *entries, const img_wanted *w, img_image *img,
			   lt_error **err)
{
	const json_t *chosen = NULL;
	int r;
	if (json_array_size(entries) == 1) {
		img_desc d;
		chosen = json_array_get(entries, 0);
		r = img_desc_parse(chosen, "index.json entry", &d, err);
		if (r == 0)
			r = img_oci_load(src, &d, w, false, 0, img, err);
	} else {
		cand_list cl = {0};
		const cand *c = NULL;
		r = collect(src, entries, 0, &cl, err);
		if (r == 0)
			r = choose(src, w, &cl, &c, err);
		if (r == 0) {
			/* Names come from index.json: the chosen entry when it is one of them,
			 * else (it came from a nested index) the first, which names them all. */
			chosen = json_array_get(entries, 0);
			for (size_t i = 0; i < json_array_size(entries); i++)
				if (json_array_get(entries, i) == c->entry)
					chosen = c->entry;
			r = img_oci_load(src, &c->d, w, c->has_platform, 1, img, err);
		}
		cands_free(&cl);
	}
	if (r == 0) {
		const char *full = entry_containerd_name(chosen);
		img_set_name_tag(img, full ? full : entry_ref_name(chosen));
	}
	return r;
}

/* Entries matching one tag must be one image (differing only by platform). */
static int check_ambiguous(const json_t *entries, const char *tag, lt_error **err)
{
	const char *first = entry_containerd_name(json_array_get(entries, 0));
	for (size_t i = 1; i < json_array_size(entries); i++) {
		const char *name = entry_containerd_name(json_array_get(entries, i));
		if (first != NULL && name != NULL && strcmp(first, name) != 0)
			return lt_error_set(err, 0,
					    "tag %s is ambiguous (%s, %s, ...); give the full name",
					    tag, first, name);
	}
	return 0;
}

int img_oci_resolve(img_source *src, const img_ref *ref, const img_wanted *w, img_image *img,
		    lt_error **err)
{
	json_t *index = load_layout(src, err);
	if (index == NULL)
		return -1;
	json_t *manifests = json_object_get(index, "manifests");
	int r = -1;
	if (ref->digest != NULL) {
		find_ctx c = {.digest = ref->digest};
		if (walk(src, manifests, 0, find_by_digest, &c, err) < 0)
			goto out;
		img_desc d;
		if (c.found != NULL) {
			r = img_desc_parse(c.found, ref->digest, &d, err);
			if (r == 0)
				r = img_oci_load(src, &d, w, false, 0, img, err);
			json_decref(c.found);
			goto out;
		}
		/* Not listed anywhere: the blob itself may still be in the layout. */
		memset(&d, 0, sizeof(d));
		d.digest = ref->digest;
		d.size = -1;
		img_desc_set_path(&d);
		src_file f;
		int found = img_src_find(src, d.path, &f, err);
		img_src_file_clear(&f);
		if (found == 0)
			lt_error_set(err, 0, "no manifest with digest %s", ref->digest);
		if (found > 0)
			r = img_oci_load(src, &d, w, false, 0, img, err);
		goto out;
	}

	json_t *entries = json_array();
	size_t i;
	json_t *entry;
	if (ref->tag != NULL) {
		char *canon = img_docker_ref_canonical(ref->tag);
		json_array_foreach(manifests, i, entry)
		{
			if (json_is_object(entry) && !img_desc_is_attestation(entry) &&
			    entry_matches(entry, ref->tag, canon))
				json_array_append(entries, entry);
		}
		free(canon);
		if (json_array_size(entries) == 0) {
			char *avail = available_refs(manifests);
			lt_error_set(err, 0, "no image tagged %s (available: %s)", ref->tag, avail);
			free(avail);
		} else if (check_ambiguous(entries, ref->tag, err) == 0) {
			r = resolve_entries(src, entries, w, img, err);
		}
	} else {
		/* No tag: fine when there is one image (one entry, or entries that differ only
		 * by platform and share one ref name). */
		const char *first = NULL;
		bool same = true, all_platform = true;
		json_array_foreach(manifests, i, entry)
		{
			if (!json_is_object(entry) || img_desc_is_attestation(entry))
				continue;
			const char *name = entry_ref_name(entry);
			if (json_array_size(entries) == 0)
				first = name;
			else if ((first == NULL) != (name == NULL) ||
				 (first && strcmp(first, name) != 0))
				same = false;
			if (!json_is_object(json_object_get(entry, "platform")))
				all_platform = false;
			json_array_append(entries, entry);
		}
		if (json_array_size(entries) == 0) {
			lt_error_set(err, 0, "index.json lists no images");
		} else if (json_array_size(entries) > 1 &&
			   (!same || (first == NULL && !all_platform) ||
			    check_ambiguous(entries, first, NULL) < 0)) {
			char *avail = available_refs(manifests);
			lt_error_set(err, 0,
				     "the layout holds %zu images; choose one with :TAG or "
				     "@DIGEST (available: %s)",
				     json_array_size(entries), avail);
			free(avail);
		} else {
			r = resolve_entries(src, entries, w, img, err);
		}
	}
	json_decref(entries);
out:
	json_decref(index);
	return r;
}
