/* img_open and friends: parse the reference, open the directory or index the archive, resolve
 * the image through the OCI layout or the docker-archive manifest.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

int img_parse_config(img_image *img, const char *media_type, const json_t **diff_ids,
		     lt_error **err)
{
	*diff_ids = NULL;
	bool known = media_type == NULL || strcmp(media_type, MT_OCI_CONFIG) == 0 ||
		     strcmp(media_type, MT_DOCKER_CONFIG) == 0;
	img->config = lt_json_parse(img->config_data, img->config_len, "config", err);
	if (img->config == NULL) {
		if (!known)
			lt_error_wrap(err, "config of media type %s", media_type);
		return -1;
	}
	if (!json_is_object(img->config))
		return lt_error_set(err, 0, "config is not a JSON object");
	const char *os = lt_json_string(img->config, "os");
	const char *arch = lt_json_string(img->config, "architecture");
	const char *variant = lt_json_string(img->config, "variant");
	img->os = os ? lt_xstrdup(os) : NULL;
	img->arch = arch ? lt_xstrdup(arch) : NULL;
	img->variant = variant && variant[0] ? lt_xstrdup(variant) : NULL;

	json_t *rootfs = json_object_get(img->config, "rootfs");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(rootfs) || !json_is_array(ids))
		return lt_error_set(err, 0,
				    "config%s%s has no rootfs.diff_ids; not a container image",
				    known ? "" : " of media type ", known ? "" : media_type);
	const char *type = lt_json_string(rootfs, "type");
	if (type == NULL || strcmp(type, "layers") != 0)
		return lt_error_set(err, 0,
				    "config: unsupported rootfs type \"%s\" (expected "
				    "\"layers\")",
				    type ? type : "");
	for (size_t i = 0; i < json_array_size(ids); i++) {
		char what[40];
		snprintf(what, sizeof(what), "config: diff_id %zu", i);
		if (img_check_digest(json_string_value(json_array_get(ids, i)), what, err) < 0)
			return -1;
	}
	*diff_ids = ids;
	return 0;
}

void img_alloc_layers(img_source *src, img_image *img, size_t n)
{
	img->n_layers = n;
	img->layers = lt_xcalloc(n, sizeof(*img->layers));
	src->n_layers = n;
	src->layers = lt_xcalloc(n, sizeof(*src->layers));
}

void img_set_name_tag(img_image *img, const char *ref_name)
{
	if (ref_name == NULL)
		return;
	free(img->name);
	free(img->tag);
	img->name = img->tag = NULL;
	if ((strchr(ref_name, '/') != NULL || strchr(ref_name, ':') != NULL) &&
	    img_docker_ref_split(ref_name, &img->name, &img->tag) == 0)
		return;
	img->tag = lt_xstrdup(ref_name);
}

static void source_free(img_source *src)
{
	if (src == NULL)
		return;
	if (src->fd >= 0)
		close(src->fd);
	img_reg_source_free(src->reg);
	img_tar_index_free(&src->tar);
	for (size_t i = 0; i < src->n_layers; i++) {
		free(src->layers[i].path);
		free(src->layers[i].digest);
	}
	free(src->layers);
	free(src->display);
	free(src);
}

void img_close(img_source *src)
{
	source_free(src);
}

void img_image_free(img_image *img)
{
	if (img == NULL)
		return;
	free(img->reference);
	free(img->name);
	free(img->tag);
	free(img->manifest_digest);
	free(img->manifest_media_type);
	free(img->config_digest);
	free(img->config_data);
	json_decref(img->config);
	free(img->os);
	free(img->arch);
	free(img->variant);
	for (size_t i = 0; i < img->n_layers; i++) {
		free(img->layers[i].digest);
		free(img->layers[i].media_type);
		free(img->layers[i].diff_id);
	}
	free(img->layers);
	free(img);
}

static int open_source(img_source *src, const img_ref *ref, lt_error **err)
{
	if (ref->transport == IMG_OCI_DIR) {
		src->is_dir = true;
		src->fd = open(ref->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src->fd < 0)
			return lt_error_set(err, errno, "opening the layout directory");
		return 0;
	}
	src->fd = open(ref->path, O_RDONLY | O_CLOEXEC);
	if (src->fd < 0)
		return lt_error_set(err, errno, "opening the archive");
	struct stat st;
	if (fstat(src->fd, &st) < 0)
		return lt_error_set(err, errno, "opening the archive");
	if (S_ISDIR(st.st_mode))
		return lt_error_set(err, 0, "is a directory, not an archive%s",
				    ref->transport == IMG_OCI_ARCHIVE ? " (use oci:)" : "");
	return img_tar_index_build(src->fd, &src->tar, err);
}

void img_prefetch_start(img_source *src)
{
	if (src != NULL && src->reg != NULL)
		img_reg_prefetch(src);
}

/* docker:// references. */
static int open_registry(const char *reference, const img_platform *platform,
			 const img_registry_opts *ropts, img_source **srcp, img_image **imagep,
			 lt_error **err)
{
	img_source *src = lt_xcalloc(1, sizeof(*src));
	src->fd = -1;
	src->transport = IMG_REGISTRY;
	src->display = lt_xstrdup(reference);
	img_image *img = lt_xcalloc(1, sizeof(*img));
	img->reference = lt_xstrdup(reference);
	img_wanted w;
	img_wanted_init(platform, &w);
	if (img_reg_open(src, reference, &w, ropts, img, err) < 0) {
		lt_error_wrap(err, "%s", src->display);
		source_free(src);
		img_image_free(img);
		return -1;
	}
	lt_debug("%s: %zu layers, manifest %s, config %s", src->display, img->n_layers,
		 img->manifest_digest, img->config_digest);
	*srcp = src;
	*imagep = img;
	return 0;
}

int img_open(const char *reference, const img_platform *platform, img_source **srcp,
	     img_image **imagep, lt_error **err)
{
	return img_open_opts(reference, platform, NULL, srcp, imagep, err);
}

int img_open_opts(const char *reference, const img_platform *platform,
		  const img_registry_opts *ropts, img_source **srcp, img_image **imagep,
		  lt_error **err)
{
	*srcp = NULL;
	*imagep = NULL;
	if (lt_str_has_prefix(reference, "docker://"))
		return open_registry(reference, platform, ropts, srcp, imagep, err);
	if (img_is_oras_reference(reference))
		return lt_error_set(err, 0,
				    "%s: oras:// references hold SIF files, not container images "
				    "(pull the SIF instead)",
				    reference);
	img_ref ref;
	if (img_ref_parse(reference, &ref, err) < 0)
		return -1;
	img_source *src = lt_xcalloc(1, sizeof(*src));
	src->fd = -1;
	src->transport = ref.transport;
	src->display = lt_strdup_printf("%s:%s", ref.transport_name, ref.path);
	img_image *img = lt_xcalloc(1, sizeof(*img));
	img->reference = lt_xstrdup(reference);
	img_wanted w;
	img_wanted_init(platform, &w);

	int r = open_source(src, &ref, err);
	if (r == 0) {
		if (ref.transport == IMG_DOCKER_ARCHIVE)
			r = img_docker_resolve(src, &ref, &w, img, err);
		else
			r = img_oci_resolve(src, &ref, &w, img, err);
	}
	img_ref_free(&ref);
	if (r < 0) {
		lt_error_wrap(err, "%s", src->display);
		source_free(src);
		img_image_free(img);
		return -1;
	}
	lt_debug("%s: %zu layers, config %s", src->display, img->n_layers, img->config_digest);
	*srcp = src;
	*imagep = img;
	return 0;
}
