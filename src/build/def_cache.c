/* The build cache for definition files (Apptainer has none). A SIF build is identified by
 * everything that decides its bytes and that litho can see: the def text after templating, the
 * identity of every stage's base (image manifest digest, or the local image's content), the
 * content of every %files / %appfiles input on the host, the options that change the SIF, and
 * whether the builder is root (owners differ). What %setup or %post fetch from elsewhere (the
 * network, other host files) is not seen: --disable-cache rebuilds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "def_build.h"

static void hash_str(lt_sha256 *h, const char *tag, const char *s)
{
	lt_sha256_update(h, tag, strlen(tag));
	lt_sha256_update(h, "=", 1);
	if (s != NULL)
		lt_sha256_update(h, s, strlen(s) + 1); /* the NUL separates fields */
	else
		lt_sha256_update(h, "\xff", 1);
}

static int hash_fd(lt_sha256 *h, int fd, const char *name, lt_error **err)
{
	char *buf = lt_xmalloc(1 << 20);
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lt_error_set(err, errno, "reading %s", name);
			break;
		}
		if (n == 0)
			break;
		lt_sha256_update(h, buf, (size_t)n);
	}
	free(buf);
	return rc;
}

/* A host path as cp -L would copy it: names, types, modes and contents, recursively. */
static int hash_path(lt_sha256 *h, const char *path, const char *rel, int depth, lt_error **err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		hash_str(h, "missing", rel);
		return 0; /* the build itself reports it */
	}
	char meta[64];
	snprintf(meta, sizeof(meta), "%o", (unsigned)st.st_mode);
	hash_str(h, "path", rel);
	hash_str(h, "mode", meta);
	if (S_ISREG(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return lt_error_set(err, errno, "reading %s", path);
		int rc = hash_fd(h, fd, path, err);
		close(fd);
		return rc;
	}
	if (!S_ISDIR(st.st_mode) || depth > 64)
		return 0;
	struct dirent **names = NULL;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return lt_error_set(err, errno, "reading the folder %s", path);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			char *child = lt_path_join(path, name);
			char *child_rel = lt_path_join(rel, name);
			rc = hash_path(h, child, child_rel, depth + 1, err);
			free(child);
			free(child_rel);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int hash_files(lt_sha256 *h, def_ctx *d, const def_stage *s, lt_error **err)
{
	for (size_t i = 0; i < s->n_sections; i++) {
		const def_section *x = &s->sections[i];
		bool host = (x->kind == DEF_FILES && x->args[0] == '\0') || x->kind == DEF_APPFILES;
		if (!host)
			continue;
		def_files_entry *e;
		size_t n;
		if (build_def_files_entries(d->def, x, &e, &n, err) < 0)
			return -1;
		int rc = 0;
		for (size_t k = 0; k < n && rc == 0; k++) {
			glob_t g;
			if (glob(e[k].src, GLOB_NOCHECK | GLOB_BRACE | GLOB_TILDE, NULL, &g) != 0) {
				hash_str(h, "glob", e[k].src);
				continue;
			}
			for (size_t j = 0; j < g.gl_pathc && rc == 0; j++)
				rc = hash_path(h, g.gl_pathv[j], g.gl_pathv[j], 0, err);
			globfree(&g);
		}
		build_def_files_entries_free(e, n);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The base of a stage: what it is made from, beyond the header text. */
static int hash_base(lt_sha256 *h, def_ctx *d, const def_stage *s, lt_error **err)
{
	const char *agent = s->bootstrap;
	const char *from = build_def_stage_header(s, "from");
	if (strcmp(agent, "localimage") == 0 && from != NULL) {
		/* a SIF, or a sandbox: its whole content, like a %files folder */
		struct stat st;
		if (stat(from, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			return hash_path(h, from, "base", 0, err);
		return 0;
	}
	char *ref;
	if (build_def_image_reference(d, s, &ref, err) < 0)
		return -1;
	if (ref == NULL)
		return 0; /* scratch, busybox, debootstrap ...: their headers are in the text */
	img_source *src = NULL;
	img_image *img = NULL;
	int rc = img_open_opts(ref, &d->o->platform, &d->o->registry, &src, &img, err);
	if (rc == 0) {
		hash_str(h, "manifest", img->manifest_digest);
		hash_str(h, "config", img->config_digest);
		for (size_t i = 0; i < img->n_layers; i++)
			hash_str(h, "layer", img->layers[i].digest);
		hash_str(h, "arch", img->arch);
	}
	img_image_free(img);
	img_close(src);
	free(ref);
	return rc;
}

char *build_def_cache_key(def_ctx *d, lt_error **err)
{
	lt_sha256 *h = lt_sha256_new();
	const build_opts *o = d->o;
	char opts[160];
	snprintf(opts, sizeof(opts), "comp=%d:%d bs=%u repro=%d root=%d owners=%d notest=%d",
		 o->squash.compressor, o->squash.level, o->squash.block_size, o->deterministic,
		 d->real_root, d->owners, o->notest);
	hash_str(h, "litho", LITHO_VERSION);
	hash_str(h, "options", opts);
	hash_str(h, "def", d->def->text);
	int rc = 0;
	for (size_t i = 0; i < d->def->n_stages && rc == 0; i++) {
		rc = hash_base(h, d, &d->def->stages[i], err);
		if (rc == 0)
			rc = hash_files(h, d, &d->def->stages[i], err);
	}
	uint8_t digest[LT_SHA256_LEN];
	lt_sha256_final(h, digest);
	if (rc < 0)
		return NULL;
	char hex[72];
	lt_sha256_digest_string(digest, hex);
	return lt_strdup_printf("def %s", hex);
}
