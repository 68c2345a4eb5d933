/* Assembling the SIF: descriptors exactly as Apptainer writes them for an image build
 * (Def.FILE, JSON.Generic inspect-metadata.json and oci-config.json, then the SquashFS
 * partition, all in group 1), written under a temporary name and renamed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "def_build.h"
#include "sif/sif.h"

const char *build_strip_transport(const char *ref, const char **agent)
{
	static const struct {
		const char *prefix, *agent;
	} transports[] = {
	    {"oci-archive:", "oci-archive"},
	    {"docker-archive:", "docker-archive"},
	    {"oci:", "oci"},
	    {"docker://", "docker"},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(transports); i++) {
		if (lt_str_has_prefix(ref, transports[i].prefix)) {
			*agent = transports[i].agent;
			return ref + strlen(transports[i].prefix);
		}
	}
	*agent = "localimage";
	return ref;
}

static int add_json(sif_image *sif, const char *name, const char *json, int64_t t, lt_error **err)
{
	if (json == NULL || *json == '\0')
		return 0;
	sif_object_spec spec = {.datatype = SIF_DATA_GENERIC_JSON,
				.group = 1,
				.alignment = -1,
				.name = name,
				.time = t};
	return sif_add_from_buffer(sif, &spec, json, strlen(json), err);
}

static const char *partition_arch(const build_ctx *c)
{
	const char *code = c->image && c->image->arch ? sif_arch_from_go(c->image->arch) : NULL;
	return code ? code : sif_host_arch();
}

/* Writes the SIF into fd (a fresh temporary file). */
int build_write_sif(build_ctx *c, const meta_image *meta, int fd, lt_error **err)
{
	const build_opts *o = c->opts;
	if (o->fix_perms)
		build_fix_perms_tree(c);
	int64_t sif_time = o->deterministic ? SIF_ZERO_TIME : o->build_time;
	sif_create_opts co = {
	    .launch_script = SIF_LAUNCH_SCRIPT,
	    .deterministic = o->deterministic,
	    .time = sif_time,
	};
	sif_image *sif = NULL;
	if (sif_create_fd(fd, o->output, &co, &sif, err) < 0)
		return -1;
	int rc = -1;
	sq_writer *w = NULL;
	sif_object_spec def = {
	    .datatype = SIF_DATA_DEFFILE, .group = 1, .alignment = -1, .time = sif_time};
	if (sif_add_from_buffer(sif, &def, meta->deffile, strlen(meta->deffile), err) < 0 ||
	    add_json(sif, "inspect-metadata.json", meta->inspect_json, sif_time, err) < 0 ||
	    add_json(sif, "oci-config.json", meta->oci_config_json, sif_time, err) < 0)
		goto out;

	sif_object_spec part = {
	    .datatype = SIF_DATA_PARTITION,
	    .group = 1,
	    .alignment = -1,
	    .time = sif_time,
	    .fstype = SIF_FS_SQUASHFS,
	    .parttype = SIF_PART_PRIMSYS,
	    .arch = partition_arch(c),
	};
	int64_t offset = 0;
	if (sif_begin_object(sif, &part, &offset, err) < 0)
		goto out;
	sq_options sq = o->squash;
	sq.mkfs_time = o->build_time < 0 ? 0 : (uint32_t)o->build_time;
	if (sq_writer_new(fd, (uint64_t)offset, o->output, &sq, &w, err) < 0)
		goto out;
	build_sink sink;
	build_sink_squash(&sink, w);
	if (c->image != NULL && build_oci_feed(c, &sink, err) < 0)
		goto out;
	if (build_feed_local(c, &sink, err) < 0 || sq_writer_finish(w, c->tree, err) < 0)
		goto out;
	const sq_stats *st = sq_writer_stats(w);
	c->report->image_bytes = st->image_size;
	c->report->file_bytes = st->bytes_in;
	c->report->inodes = st->inodes;
	c->report->dedup_files = st->dedup_files;
	if (sif_end_object(sif, (int64_t)st->image_size, err) < 0 || sif_commit(sif, err) < 0)
		goto out;
	rc = 0;
out:
	sq_writer_free(w);
	sif_close(sif);
	return rc;
}

/* Unix seconds of an RFC 3339 time ("2021-08-02T19:09:36.5Z", "...+02:00"); -1 if invalid. */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (rest == NULL)
		return -1;
	int64_t t = (int64_t)timegm(&tm);
	if (*rest == '.')
		while (*++rest >= '0' && *rest <= '9') {
		}
	if ((*rest == '+' || *rest == '-') && strlen(rest) >= 6) {
		int h = (rest[1] - '0') * 10 + (rest[2] - '0');
		int m = (rest[4] - '0') * 10 + (rest[5] - '0');
		int64_t off = (int64_t)(h * 3600 + m * 60);
		t += *rest == '+' ? -off : off;
	}
	return t;
}

/* --reproducible without SOURCE_DATE_EPOCH: the image's own creation time, so that rebuilding
 * the same image gives the same bytes. */
int64_t build_reproducible_time(const build_ctx *c)
{
	const char *created = c->image ? lt_json_string(c->image->config, "created") : NULL;
	int64_t t = parse_rfc3339(created);
	return t >= 0 ? t : 0;
}

int build_open_source(build_ctx *c, meta_source *ms, lt_error **err)
{
	const build_opts *o = c->opts;
	if (img_is_reference(o->source)) {
		if (img_open_opts(o->source, &o->platform, &o->registry, &c->img, &c->image, err) <
		    0)
			return -1;
		/* downloads of registry layers start now and overlap the first pass */
		img_prefetch_start(c->img);
		ms->from = build_strip_transport(o->source, &ms->bootstrap);
		ms->config = c->image->config;
		ms->base_name = c->image->name;
		ms->base_digest = c->image->manifest_digest;
		ms->arch = c->image->arch;
		ms->variant = c->image->variant;
		return build_oci_merge(c, err);
	}
	struct stat st;
	int found = stat(o->source, &st);
	bool missing = found < 0 && errno == ENOENT;
	if (found == 0 && S_ISDIR(st.st_mode)) {
		ms->bootstrap = "localimage";
		ms->from = o->source;
		return build_dir_scan(c, o->source, err);
	}
	/* Apptainer's words for a definition file (or anything else) that is not there */
	if (missing && strchr(o->source, ':') == NULL)
		return lt_error_set(err, ENOENT, "unable to open file %s", o->source);
	return lt_error_set(err, 0,
			    "%s: unknown source: expected oci:DIR, oci-archive:FILE or "
			    "docker-archive:FILE",
			    o->source);
}

/* Puts the metadata into the tree. A sandbox source keeps its own files: only what is missing
 * of the skeleton is added, and the SIF metadata describes what the directory holds. */
int build_prepare_meta(build_ctx *c, meta_image *meta, lt_error **err)
{
	if (c->image == NULL)
		for (size_t i = 0; i < meta->n_entries; i++)
			meta->entries[i].replace = false;
	if (build_insert_meta(c, meta, err) < 0)
		return -1;
	return c->image == NULL ? build_sandbox_metadata(c, meta, err) : 0;
}

/* Everything after the source is open: metadata, the tree, the SIF into af. */
int build_assemble_sif(build_ctx *c, meta_source *ms, lt_atomic_file *af, lt_error **err)
{
	build_opts *resolved = (build_opts *)c->opts;
	if (resolved->build_time < 0)
		resolved->build_time = build_reproducible_time(c);
	ms->build_time = resolved->build_time;
	meta_image meta;
	memset(&meta, 0, sizeof(meta));
	int rc = -1;
	if (meta_for_image(ms, &meta, err) < 0 || build_prepare_meta(c, &meta, err) < 0)
		goto out;
	rc = build_write_sif(c, &meta, af->fd, err);
out:
	meta_image_free(&meta);
	return rc;
}

void build_ctx_init(build_ctx *c, const build_opts *opts, build_report *report)
{
	memset(c, 0, sizeof(*c));
	c->opts = opts;
	c->report = report;
	c->tree = tree_new();
	c->progress = lt_progress_new();
}

void build_ctx_free(build_ctx *c)
{
	lt_progress_free(c->progress);
	if (c->wants != NULL) {
		for (size_t i = 0; i < (c->image ? c->image->n_layers : 0); i++)
			lt_array_free(&c->wants[i]);
		free(c->wants);
	}
	tree_free(c->tree);
	img_image_free(c->image);
	img_close(c->img);
}

static int pull_oras(const build_opts *o, lt_error **err)
{
	return img_oras_pull(o->source, o->output, &o->registry, NULL, err);
}

int build_sif(const build_opts *o, build_report *report, lt_error **err)
{
	build_report dummy;
	if (report == NULL)
		report = &dummy;
	memset(report, 0, sizeof(*report));
	if (sq_check_options(&o->squash, err) < 0)
		return -1;
	if (build_is_def_file(o->source)) {
		if (build_from_def(o, report, err) < 0)
			return lt_error_wrap(err, "building %s from %s", o->output, o->source);
		return 0;
	}
	if (o->update)
		return lt_error_set(err, 0, "--update needs a definition file, not %s", o->source);
	struct stat st;
	if (!o->force && lstat(o->output, &st) == 0)
		return lt_error_set(err, 0, "%s already exists (use --force to overwrite it)",
				    o->output);
	if (lt_str_has_prefix(o->source, "oras://") && !o->sandbox)
		return pull_oras(o, err); /* its errors name the reference */
	if (o->sandbox) {
		if (build_sandbox(o, report, err) < 0)
			return lt_error_wrap(err, "building the sandbox %s from %s", o->output,
					     o->source);
		return 0;
	}
	if (sq_check_options(&o->squash, err) < 0)
		return -1;

	build_opts resolved = *o;
	build_ctx c;
	build_ctx_init(&c, &resolved, report);
	meta_source ms = {0};
	int rc = -1;
	lt_atomic_file af;
	if (build_open_source(&c, &ms, err) < 0 || lt_atomic_open(&af, o->output, 0755, err) < 0)
		goto out;
	if (build_assemble_sif(&c, &ms, &af, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	if (lt_atomic_commit(&af, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		lt_error_wrap(err, "building %s from %s", o->output, o->source);
	build_ctx_free(&c);
	return rc;
}

/* What identifies a converted image: the image (manifest digest, or config and layers for
 * archives without a manifest) and every option that changes the SIF's bytes. */
static char *cache_key(const build_ctx *c)
{
	const img_image *im = c->image;
	const sq_options *q = &c->opts->squash;
	char *what = NULL;
	if (im->manifest_digest != NULL) {
		what = lt_xstrdup(im->manifest_digest);
	} else {
		what = lt_xstrdup(im->config_digest ? im->config_digest : "");
		for (size_t i = 0; i < im->n_layers; i++) {
			char *next = lt_strdup_printf(
			    "%s,%s", what, im->layers[i].digest ? im->layers[i].digest : "");
			free(what);
			what = next;
		}
	}
	char *key = lt_strdup_printf(
	    "litho %s|%s|%s/%s/%s|comp=%d:%d|bs=%u|repro=%d", LITHO_VERSION, what,
	    im->os ? im->os : "", im->arch ? im->arch : "", im->variant ? im->variant : "",
	    q->compressor, q->level, q->block_size, c->opts->deterministic);
	free(what);
	return key;
}

int build_cached(const build_opts *o, char **path, bool *built, build_report *report,
		 lt_error **err)
{
	build_report dummy;
	if (report == NULL)
		report = &dummy;
	memset(report, 0, sizeof(*report));
	*path = NULL;
	*built = false;
	if (!img_is_reference(o->source) || lt_str_has_prefix(o->source, "oras://"))
		return lt_error_set(err, 0, "%s: not an image reference", o->source);
	if (sq_check_options(&o->squash, err) < 0)
		return -1;
	build_opts resolved = *o;
	build_ctx c;
	build_ctx_init(&c, &resolved, report);
	meta_source ms = {0};
	int rc = -1;
	char *key = NULL;
	/* Only the manifest and config are fetched before the cache is asked. */
	if (img_open_opts(o->source, &o->platform, &o->registry, &c.img, &c.image, err) < 0)
		goto out;
	key = cache_key(&c);
	if (img_cache_sif_path(o->registry.cache_dir, key, path, err) < 0)
		goto out;
	struct stat st;
	if (stat(*path, &st) == 0) {
		lt_verbose("%s: using the converted image in the cache (%s)", o->source, *path);
		utimensat(AT_FDCWD, *path, NULL, 0); /* last use, for `cache clean --days` */
		rc = 0;
		goto out;
	}
	img_prefetch_start(c.img);
	ms.from = build_strip_transport(o->source, &ms.bootstrap);
	ms.config = c.image->config;
	ms.base_name = c.image->name;
	ms.base_digest = c.image->manifest_digest;
	ms.arch = c.image->arch;
	ms.variant = c.image->variant;
	lt_atomic_file af;
	if (build_oci_merge(&c, err) < 0 ||
	    img_cache_sif_begin(o->registry.cache_dir, key, &af, err) < 0)
		goto out;
	resolved.output = af.path;
	if (build_assemble_sif(&c, &ms, &af, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	if (lt_atomic_commit(&af, err) < 0)
		goto out;
	*built = true;
	rc = 0;
out:
	if (rc < 0) {
		free(*path);
		*path = NULL;
		lt_error_wrap(err, "converting %s", o->source);
	}
	free(key);
	build_ctx_free(&c);
	return rc;
}
