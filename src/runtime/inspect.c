/* `inspect` and `run-help`, following Apptainer's cmd/internal/cli/inspect.go and
 * run_help_linux.go:
 *
 *  - a SIF with an inspect-metadata.json object (what Apptainer and litho builds store) is
 *    answered from that object, the definition file from the Def.FILE object;
 *  - otherwise Apptainer runs a shell snippet inside the container that prints the files it
 *    finds under /.singularity.d (or /scif/apps/APP/scif) between section markers; litho reads
 *    the same files straight from the SquashFS partition or the sandbox directory, with the
 *    same rules (the first path that is a regular file, symlinks followed inside the image;
 *    content with its trailing newlines removed);
 *  - the result is printed like Apptainer's text output, or as its JSON (the Go struct
 *    pkg/inspect.Metadata through json.MarshalIndent with a tab).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __has_include
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2 1
#endif
#endif

#include "runtime/runtime.h"
#include "sif/sif.h"
#include "squash/squash.h"

#define FILE_LIMIT    (64u << 20)
#define METADATA_NAME "inspect-metadata.json"

/* ---------------------------------------------------------------------------------------------
 * Reading files from the image
 */
typedef struct image {
	const char *path;
	int dirfd; /* sandbox root, or -1 */
	int fd;	   /* SIF or SquashFS file, or -1 */
	sif_image *sif;
	sq_image *sq;
	sq_reader *r;
} image;

static void image_close(image *m)
{
	sq_reader_free(m->r);
	sq_image_close(m->sq);
	sif_close(m->sif);
	if (m->fd >= 0)
		close(m->fd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	m->r = NULL;
	m->sq = NULL;
	m->sif = NULL;
	m->fd = m->dirfd = -1;
}

/* Opens path inside the sandbox, symlinks resolved inside it where the kernel can. */
static int sandbox_open(const image *m, const char *path, int flags)
{
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
#if defined(HAVE_OPENAT2) && defined(SYS_openat2)
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, m->dirfd, path, &how, sizeof(how));
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd;
#endif
	return openat(m->dirfd, path, flags | O_CLOEXEC);
}

/* 0 and the contents of a regular file, 1 when there is none at path, -1 on error. */
static int image_read(image *m, const char *path, char **data, size_t *len, lt_error **err)
{
	*data = NULL;
	*len = 0;
	if (m->r != NULL) {
		int rc = sq_read_file(m->r, path, FILE_LIMIT, data, len, err);
		if (rc < 0)
			return lt_error_wrap(err, "%s: reading %s", m->path, path);
		return rc;
	}
	int fd = sandbox_open(m, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return 1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 1;
	}
	if ((uint64_t)st.st_size > FILE_LIMIT) {
		close(fd);
		return lt_error_set(err, EFBIG, "%s: %s is too large", m->path, path);
	}
	char *buf = lt_xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	for (;;) {
		if (got == (size_t)st.st_size)
			break;
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return lt_error_set(err, e, "%s: reading %s", m->path, path);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

static bool image_is_dir(image *m, const char *path)
{
	if (m->r != NULL) {
		uint64_t ref = 0;
		lt_error *e = NULL;
		if (sq_resolve(m->r, path, true, &ref, &e) != 0) {
			lt_error_free(&e);
			return false;
		}
		sq_inode *i = NULL;
		if (sq_inode_get(m->r, ref, &i, &e) < 0) {
			lt_error_free(&e);
			return false;
		}
		bool dir = sq_inode_is_dir(i);
		sq_inode_free(i);
		return dir;
	}
	int fd = sandbox_open(m, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int collect_name(void *ctx, const char *name, uint64_t ref, uint32_t inum, uint32_t type)
{
	lt_strv_add(ctx, name);
	return 0;
}

/* The names in a directory (no dot files, as a shell glob), sorted; empty when it is not one. */
static int image_list(image *m, const char *path, lt_strv *out, lt_error **err)
{
	*out = (lt_strv){0};
	if (m->r != NULL) {
		uint64_t ref = 0;
		lt_error *e = NULL;
		int rc = sq_resolve(m->r, path, true, &ref, &e);
		lt_error_free(&e);
		if (rc != 0)
			return 0;
		sq_inode *i = NULL;
		if (sq_inode_get(m->r, ref, &i, err) < 0)
			return -1;
		if (sq_inode_is_dir(i) && sq_readdir(m->r, i, 0, collect_name, out, err) < 0) {
			sq_inode_free(i);
			lt_strv_clear(out);
			return lt_error_wrap(err, "%s: listing %s", m->path, path);
		}
		sq_inode_free(i);
	} else {
		int fd = sandbox_open(m, path, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return 0;
		DIR *d = fdopendir(fd);
		if (d == NULL) {
			close(fd);
			return 0;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL)
			lt_strv_add(out, de->d_name);
		closedir(d);
	}
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (out->v[i][0] == '.')
			free(out->v[i]);
		else
			out->v[k++] = out->v[i];
	}
	out->n = k;
	if (out->v != NULL)
		out->v[k] = NULL;
	lt_strv_sort(out);
	return 0;
}

static bool has_prefix_name(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Opens the image: a sandbox directory, a SIF, or a bare SquashFS file. */
static int image_open(image *m, const char *path, lt_error **err)
{
	memset(m, 0, sizeof(*m));
	m->path = path;
	m->fd = m->dirfd = -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return lt_error_set(err, errno, "could not open image %s", path);
	if (S_ISDIR(st.st_mode)) {
		m->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (m->dirfd < 0)
			return lt_error_set(err, errno, "could not open image %s", path);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return lt_error_set(err, 0, "%s is not a SIF image or a sandbox directory", path);
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return lt_error_set(err, errno, "could not open image %s", path);
	char magic[64] = {0};
	ssize_t n = pread(m->fd, magic, sizeof(magic), 0);
	if (n >= 4 && memcmp(magic, "hsqs", 4) == 0) {
		if (sq_image_open(m->fd, 0, (uint64_t)st.st_size, path, &m->sq, err) < 0)
			goto fail;
		m->r = sq_reader_new(m->sq, err);
		if (m->r == NULL)
			goto fail;
		return 0;
	}
	if (n < 42 || memcmp(magic + 32, "SIF_MAGIC", 9) != 0) {
		lt_error_set(
		    err, 0, "%s is not a SIF image, a SquashFS image or a sandbox directory", path);
		goto fail;
	}
	if (sif_open_fd(m->fd, path, false, &m->sif, err) < 0)
		goto fail;
	return 0;
fail:
	image_close(m);
	return -1;
}

/* The SIF's primary partition, for reading files. */
static int image_mount_sif(image *m, lt_error **err)
{
	if (m->sif == NULL || m->r != NULL)
		return 0;
	const sif_descriptor *d = sif_find_primary(m->sif);
	if (d == NULL)
		return lt_error_set(
		    err, 0,
		    "%s has no root file system partition and no %s object: nothing "
		    "to inspect",
		    m->path, METADATA_NAME);
	sif_partition_info pi;
	sif_partition_of(d, &pi);
	if (pi.fstype != SIF_FS_SQUASHFS)
		return lt_error_set(err, 0,
				    "%s: the root file system is %s, litho reads SquashFS only",
				    m->path, sif_fstype_name(pi.fstype));
	if (sq_image_open(m->fd, (uint64_t)d->offset, (uint64_t)d->size, m->path, &m->sq, err) < 0)
		return -1;
	m->r = sq_reader_new(m->sq, err);
	return m->r == NULL ? -1 : 0;
}

/* The first non-partition object named `name` (Apptainer's image.NewSectionReader), or of
 * datatype `type` when name is NULL. */
static const sif_descriptor *find_section(const sif_image *s, const char *name, int32_t type)
{
	for (int64_t i = 0; i < sif_slot_count(s); i++) {
		const sif_descriptor *d = sif_slot(s, i);
		if (!d->used || d->datatype == 0)
			continue;
		if (d->datatype == SIF_DATA_PARTITION)
			continue; /* partitions are never sections */
		if (name != NULL) {
			char n[SIF_NAME_LEN + 1];
			sif_name_of(d, n);
			if (strcmp(n, name) == 0)
				return d;
		} else if (d->datatype == type) {
			return d;
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The metadata (pkg/inspect.Metadata as JSON values)
 */
typedef struct meta {
	json_t *attrs; /* apps, environment, labels, runscript, test, helpfile, deffile,
			  startscript */
} meta;

static json_t *obj_member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, key, v);
	}
	return v;
}

static json_t *add_app(meta *m, const char *name)
{
	json_t *apps = obj_member(m->attrs, "apps");
	json_t *a = json_object_get(apps, name);
	if (a == NULL) {
		a = json_object();
		json_object_set_new(apps, name, a);
	}
	return a;
}

static const char *str_member(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* Decodes inspect-metadata.json the way Go's json.Unmarshal fills pkg/inspect.Metadata: a
 * member of the wrong type is an error, unknown members are ignored. */
static int check_string_map(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -1;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x)
	{
		if (!json_is_string(x) && !json_is_null(x))
			return -1;
	}
	return 0;
}

static int check_strings(const json_t *o, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (v != NULL && !json_is_string(v) && !json_is_null(v))
			return -1;
	}
	return 0;
}

static const char *const attr_strings[] = {"runscript", "test", "helpfile", "deffile",
					   "startscript"};
static const char *const app_strings[] = {"runscript", "startscript", "test", "helpfile"};

static json_t *decode_metadata(const char *data, size_t len, lt_error **err)
{
	json_t *doc = lt_json_parse(data, len, METADATA_NAME, err);
	if (doc == NULL)
		return NULL;
	json_t *dat = json_object_get(doc, "data");
	json_t *attrs = json_is_object(dat) ? json_object_get(dat, "attributes") : NULL;
	bool bad = !json_is_object(doc) ||
		   (dat != NULL && !json_is_object(dat) && !json_is_null(dat)) ||
		   (attrs != NULL && !json_is_object(attrs) && !json_is_null(attrs));
	json_t *out = json_object();
	if (!bad && json_is_object(attrs)) {
		bad = check_string_map(json_object_get(attrs, "environment")) < 0 ||
		      check_string_map(json_object_get(attrs, "labels")) < 0 ||
		      check_strings(attrs, attr_strings, LT_ARRAY_SIZE(attr_strings)) < 0;
		json_t *apps = json_object_get(attrs, "apps");
		if (!bad && apps != NULL && !json_is_null(apps)) {
			if (!json_is_object(apps))
				bad = true;
			const char *k;
			json_t *a;
			json_object_foreach(apps, k, a)
			{
				if (bad || json_is_null(a))
					continue;
				bad = !json_is_object(a) ||
				      check_string_map(json_object_get(a, "environment")) < 0 ||
				      check_string_map(json_object_get(a, "labels")) < 0 ||
				      check_strings(a, app_strings, LT_ARRAY_SIZE(app_strings)) < 0;
			}
		}
		if (!bad)
			json_object_update(out, attrs);
	}
	json_decref(doc);
	if (bad) {
		json_decref(out);
		lt_error_set(err, 0, "while decoding inspect metadata: unexpected JSON types");
		return NULL;
	}
	return out;
}

/* ---------------------------------------------------------------------------------------------
 * Go's json.MarshalIndent(v, "", "\t") of the metadata
 */
static void go_string(FILE *f, const char *s, size_t len)
{
	size_t n;
	char *q = lt_json_go_string(s, len, &n);
	fwrite(q, 1, n, f);
	free(q);
}

static void go_jstr(FILE *f, const json_t *s)
{
	go_string(f, json_string_value(s), json_string_length(s));
}

static void indent(FILE *f, int level)
{
	fputc('\n', f);
	for (int i = 0; i < level; i++)
		fputc('\t', f);
}

/* Opens a struct field: `,` before all but the first, the key, `: `. */
static void field(FILE *f, bool *first, int level, const char *name)
{
	if (!*first)
		fputc(',', f);
	*first = false;
	indent(f, level);
	go_string(f, name, strlen(name));
	fputs(": ", f);
}

static void string_map(FILE *f, const json_t *o, int level)
{
	size_t n;
	const char **keys = lt_json_sorted_keys(o, &n);
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		indent(f, level + 1);
		go_string(f, keys[i], strlen(keys[i]));
		fputs(": ", f);
		json_t *v = json_object_get(o, keys[i]);
		if (json_is_string(v))
			go_jstr(f, v);
		else
			fputs("\"\"", f);
		if (i + 1 < n)
			fputc(',', f);
	}
	if (n > 0)
		indent(f, level);
	fputc('}', f);
	free(keys);
}

static void map_field(FILE *f, bool *first, int level, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_object(v) || json_object_size(v) == 0)
		return; /* omitempty */
	field(f, first, level, key);
	string_map(f, v, level);
}

static void str_field(FILE *f, bool *first, int level, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return; /* omitempty */
	field(f, first, level, key);
	go_jstr(f, v);
}

static void close_struct(FILE *f, bool first, int level)
{
	if (!first)
		indent(f, level);
	fputc('}', f);
}

static void print_json(FILE *f, const meta *m)
{
	fputs("{", f);
	indent(f, 1);
	fputs("\"data\": {", f);
	indent(f, 2);
	fputs("\"attributes\": {", f);
	bool first = true;
	const json_t *apps = json_object_get(m->attrs, "apps");
	if (json_is_object(apps) && json_object_size(apps) > 0) {
		field(f, &first, 3, "apps");
		size_t n;
		const char **keys = lt_json_sorted_keys(apps, &n);
		fputc('{', f);
		for (size_t i = 0; i < n; i++) {
			indent(f, 4);
			go_string(f, keys[i], strlen(keys[i]));
			fputs(": {", f);
			const json_t *a = json_object_get(apps, keys[i]);
			bool afirst = true;
			map_field(f, &afirst, 5, a, "environment");
			map_field(f, &afirst, 5, a, "labels");
			str_field(f, &afirst, 5, a, "runscript");
			str_field(f, &afirst, 5, a, "startscript");
			str_field(f, &afirst, 5, a, "test");
			str_field(f, &afirst, 5, a, "helpfile");
			close_struct(f, afirst, 4);
			if (i + 1 < n)
				fputc(',', f);
		}
		indent(f, 3);
		fputc('}', f);
		free(keys);
	}
	map_field(f, &first, 3, m->attrs, "environment");
	map_field(f, &first, 3, m->attrs, "labels");
	for (size_t i = 0; i < LT_ARRAY_SIZE(attr_strings); i++)
		str_field(f, &first, 3, m->attrs, attr_strings[i]);
	close_struct(f, first, 2);
	indent(f, 1);
	fputs("},", f);
	indent(f, 1);
	fputs("\"type\": \"container\"\n}\n", f);
}

/* ---------------------------------------------------------------------------------------------
 * Text output
 */
static void print_sorted_map(FILE *f, const json_t *o, bool env)
{
	size_t n;
	const char **keys = lt_json_sorted_keys(o, &n);
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_object_get(o, keys[i]));
		if (env)
			fprintf(f, "=== %s ===\n%s\n\n", keys[i], v ? v : "");
		else
			fprintf(f, "%s: %s\n", keys[i], v ? v : "");
	}
	free(keys);
}

static void print_str_or_app(FILE *f, const json_t *attrs, const json_t *app, const char *key)
{
	const char *top = str_member(attrs, key);
	if (top[0] != '\0')
		fprintf(f, "%s\n", top);
	else if (app != NULL && str_member(app, key)[0] != '\0')
		fprintf(f, "%s\n", str_member(app, key));
}

static void print_map_or_app(FILE *f, const json_t *attrs, const json_t *app, const char *key,
			     bool env)
{
	const json_t *top = json_object_get(attrs, key);
	const json_t *a = app ? json_object_get(app, key) : NULL;
	if (json_is_object(top) && json_object_size(top) > 0)
		print_sorted_map(f, top, env);
	else if (json_is_object(a) && json_object_size(a) > 0)
		print_sorted_map(f, a, env);
}

static void print_text(FILE *f, const meta *m, const rt_inspect_opts *o, const char *app_name)
{
	const json_t *apps = json_object_get(m->attrs, "apps");
	const json_t *app = app_name ? json_object_get(apps, app_name) : NULL;
	if (o->list_apps && json_is_object(apps)) {
		size_t n;
		const char **keys = lt_json_sorted_keys(apps, &n);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s\n", keys[i]);
		free(keys);
	}
	const char *def = str_member(m->attrs, "deffile");
	if (def[0] != '\0')
		fprintf(f, "%s\n", def);
	print_str_or_app(f, m->attrs, app, "runscript");
	print_str_or_app(f, m->attrs, app, "startscript");
	print_str_or_app(f, m->attrs, app, "test");
	print_str_or_app(f, m->attrs, app, "helpfile");
	print_map_or_app(f, m->attrs, app, "environment", true);
	print_map_or_app(f, m->attrs, app, "labels", false);
}

/* ---------------------------------------------------------------------------------------------
 * Reading the files (Apptainer's in-container snippet)
 */

/* Apptainer's setAttribute: file is the path inside the image. */
static void set_attribute(meta *m, const char *section, char *value, const char *file)
{
	size_t len = strlen(value);
	while (len > 0 && value[len - 1] == '\n')
		value[--len] = '\0';
	char *app = NULL;
	if (file != NULL && has_prefix_name(file, "/scif/apps/")) {
		const char *s = file + strlen("/scif/apps/");
		size_t n = strcspn(s, "/ \t\n");
		if (n > 0)
			app = lt_xstrndup(s, n);
	}
	json_t *target = app ? add_app(m, app) : m->attrs;
	if (strcmp(section, "deffile") == 0) {
		if (str_member(m->attrs, "deffile")[0] == '\0')
			json_object_set_new(m->attrs, "deffile", json_string(value));
	} else if (strcmp(section, "labels") == 0) {
		json_error_t je;
		json_t *l = json_loads(value, JSON_DECODE_ANY, &je);
		json_t *labels = json_object();
		if (check_string_map(l) < 0 || l == NULL) {
			lt_warn("Unable to parse labels: %s", l == NULL ? je.text
									: "not an object of "
									  "strings");
		} else if (json_is_object(l)) {
			json_object_update(labels, l);
		}
		json_decref(l);
		json_object_set_new(target, "labels", labels);
	} else if (strcmp(section, "environment") == 0) {
		json_object_set_new(obj_member(target, "environment"), file, json_string(value));
	} else {
		json_object_set_new(target, section, json_string(value));
	}
	free(app);
}

typedef struct walk {
	image *img;
	meta *m;
	lt_strv paths; /* ALL_PATH */
} walk;

/* cat_file for every prefix that has `file`. */
static int single_file(walk *w, const char *file, const char *section, lt_error **err)
{
	for (size_t i = 0; i < w->paths.n; i++) {
		char *p = lt_strdup_printf("%s/%s", w->paths.v[i], file);
		char *data = NULL;
		size_t len = 0;
		int rc = image_read(w->img, p, &data, &len, err);
		if (rc < 0) {
			free(p);
			return -1;
		}
		if (rc == 0)
			set_attribute(w->m, section, data, p);
		free(data);
		free(p);
	}
	return 0;
}

static int env_glob(walk *w, const char *dir, const char *prefix, const char *suffix,
		    lt_error **err)
{
	lt_strv l;
	if (image_list(w->img, dir, &l, err) < 0)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		size_t n = strlen(l.v[i]);
		if (!has_prefix_name(l.v[i], prefix) || n < strlen(prefix) + strlen(suffix) ||
		    strcmp(l.v[i] + n - strlen(suffix), suffix) != 0)
			continue;
		char *p = lt_strdup_printf("%s/%s", dir, l.v[i]);
		char *data = NULL;
		size_t len = 0;
		int rc = image_read(w->img, p, &data, &len, err);
		if (rc == 0)
			set_attribute(w->m, "environment", data, p);
		free(data);
		free(p);
		if (rc < 0) {
			lt_strv_clear(&l);
			return -1;
		}
	}
	lt_strv_clear(&l);
	return 0;
}

static int environment_files(walk *w, lt_error **err)
{
	for (size_t i = 0; i < w->paths.n; i++) {
		const char *prefix = w->paths.v[i];
		char *env = lt_strdup_printf("%s/env", prefix);
		int rc = 0;
		if (strcmp(lt_path_basename(prefix), ".singularity.d") == 0)
			rc = env_glob(w, env, "10-docker", ".sh", err);
		if (rc == 0)
			rc = env_glob(w, env, "9", "-environment.sh", err);
		free(env);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * inspect
 */
static bool default_to_labels(const rt_inspect_opts *o)
{
	return !(o->helpfile || o->deffile || o->runscript || o->startscript || o->test ||
		 o->environment || o->list_apps);
}

/* Copies one member of the SIF's app attributes (or of the top level). */
static void copy_member(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);
	if (v != NULL && !json_is_null(v))
		json_object_set(dst, key, v);
	else
		json_object_del(dst, key);
}

static void from_sif(meta *m, const json_t *sifm, const char *app, const char *key)
{
	if (app != NULL) {
		const json_t *apps = json_object_get(sifm, "apps");
		const json_t *a = json_object_get(apps, app);
		if (json_is_object(a)) {
			json_t *dst = add_app(m, app);
			copy_member(dst, a, key);
		}
	} else {
		copy_member(m->attrs, sifm, key);
	}
}

static int inspect_meta(image *img, const rt_inspect_opts *o, const char *app, meta *m,
			lt_error **err)
{
	bool all = o->all;
	json_t *sifm = NULL;
	if (img->sif != NULL) {
		const sif_descriptor *d = find_section(img->sif, METADATA_NAME, 0);
		if (d != NULL) {
			char *data = NULL;
			lt_error *e = NULL;
			if (sif_read_object_alloc(img->sif, d, FILE_LIMIT, &data, &e) == 0)
				sifm = decode_metadata(data, strlen(data), &e);
			if (sifm == NULL) {
				lt_warn("Unable to read %s SIF descriptor: %s", METADATA_NAME,
					e ? e->message : "?");
				lt_error_free(&e);
			}
			free(data);
		}
	}
	if (sifm != NULL && (o->list_apps || all)) {
		json_t *apps = json_object_get(sifm, "apps");
		if (json_is_object(apps))
			json_object_set_new(m->attrs, "apps", json_deep_copy(apps));
	}

	/* what the in-container snippet would print; also when the metadata lacks the apps the
	 * image has (litho wrote none before): they are read from the image then */
	walk w = {.img = img, .m = m};
	bool script = sifm == NULL;
	if (!script && (o->list_apps || app != NULL || all) &&
	    json_object_size(json_object_get(sifm, "apps")) == 0) {
		lt_error *e = NULL;
		lt_strv found = {0};
		if (image_mount_sif(img, &e) == 0 && image_list(img, "/scif/apps", &found, &e) == 0)
			for (size_t i = 0; i < found.n && !script; i++) {
				char *scif = lt_strdup_printf("/scif/apps/%s/scif", found.v[i]);
				script = image_is_dir(img, scif);
				free(scif);
			}
		lt_error_free(&e);
		lt_strv_clear(&found);
	}
	const char *want[7];
	const char *want_section[7];
	size_t n_want = 0;
	bool labels = o->labels || default_to_labels(o) || all;
	if (labels) {
		if (script) {
			want[n_want] = "labels.json";
			want_section[n_want++] = "labels";
		} else {
			from_sif(m, sifm, app, "labels");
		}
	}
	if (o->deffile || all) {
		const sif_descriptor *d =
		    img->sif ? find_section(img->sif, NULL, SIF_DATA_DEFFILE) : NULL;
		if (d == NULL) {
			if (img->sif != NULL)
				lt_warn("No SIF metadata partition, searching in container...");
			want[n_want] = "Singularity";
			want_section[n_want++] = "deffile";
		} else if (sifm != NULL) {
			copy_member(m->attrs, sifm, "deffile");
		} else {
			char *data = NULL;
			lt_error *e = NULL;
			if (sif_read_object_alloc(img->sif, d, FILE_LIMIT, &data, &e) < 0) {
				lt_warn("Unable to inspect deffile: %s", e->message);
				lt_error_free(&e);
			} else {
				json_object_set_new(m->attrs, "deffile", json_string(data));
			}
			free(data);
		}
	}
	static const struct {
		const char *file, *section;
		size_t flag;
	} singles[] = {
	    {"runscript.help", "helpfile", offsetof(rt_inspect_opts, helpfile)},
	    {"runscript", "runscript", offsetof(rt_inspect_opts, runscript)},
	    {"startscript", "startscript", offsetof(rt_inspect_opts, startscript)},
	    {"test", "test", offsetof(rt_inspect_opts, test)},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(singles); i++) {
		if (!*(const bool *)((const char *)o + singles[i].flag) && !all)
			continue;
		if (script) {
			want[n_want] = singles[i].file;
			want_section[n_want++] = singles[i].section;
		} else {
			from_sif(m, sifm, app, singles[i].section);
		}
	}
	bool environment = o->environment || all;
	if (environment && !script)
		from_sif(m, sifm, app, "environment");
	json_decref(sifm);
	if (!script)
		return 0;

	/* the snippet: apps first, then every selected file under each path */
	if (image_mount_sif(img, err) < 0)
		return -1;
	lt_strv apps;
	if (image_list(img, "/scif/apps", &apps, err) < 0)
		return -1;
	if (app != NULL && !all) {
		char *prefix = lt_strdup_printf("/scif/apps/%s/scif", app);
		lt_strv_add(&w.paths, prefix);
		free(prefix);
	} else {
		lt_strv_add(&w.paths, "/.singularity.d");
	}
	for (size_t i = 0; i < apps.n; i++) {
		char *scif = lt_strdup_printf("/scif/apps/%s/scif", apps.v[i]);
		if (image_is_dir(img, scif)) {
			add_app(m, apps.v[i]);
			if (all)
				lt_strv_add(&w.paths, scif);
		}
		free(scif);
	}
	lt_strv_clear(&apps);
	int rc = 0;
	for (size_t i = 0; i < n_want && rc == 0; i++)
		rc = single_file(&w, want[i], want_section[i], err);
	if (rc == 0 && environment)
		rc = environment_files(&w, err);
	lt_strv_clear(&w.paths);
	return rc;
}

int rt_inspect(FILE *out, const char *path, const rt_inspect_opts *opts, lt_error **err)
{
	rt_inspect_opts o = *opts;
	if (o.all) {
		o.json = true;
		o.app = NULL;
	}
	const char *app = o.app != NULL && o.app[0] != '\0' ? o.app : NULL;
	image img;
	if (image_open(&img, path, err) < 0)
		return -1;
	meta m = {.attrs = json_object()};
	int rc = inspect_meta(&img, &o, app, &m, err);
	image_close(&img);
	if (rc < 0) {
		json_decref(m.attrs);
		return lt_error_wrap(err, "could not inspect %s", path);
	}
	/* only the asked-for app stays, unless listing or showing everything */
	json_t *apps = json_object_get(m.attrs, "apps");
	if (json_is_object(apps) && !o.list_apps && !o.all) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(apps, tmp, k, v)
		{
			if (app == NULL || strcmp(k, app) != 0)
				json_object_del(apps, k);
		}
	}
	if (app != NULL && !o.all && json_object_get(apps, app) == NULL)
		lt_warn("no app named '%s' in %s", app, path);
	if (o.json)
		print_json(out, &m);
	else
		print_text(out, &m, &o, app);
	json_decref(m.attrs);
	if (fflush(out) != 0 || ferror(out))
		return lt_error_set(err, errno, "writing the output");
	return 0;
}

int rt_run_help(FILE *out, const char *path, const char *app, lt_error **err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return lt_error_set(err, errno, "container not found: %s", path);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (mem == NULL)
		return lt_error_set(err, errno, "open_memstream");
	rt_inspect_opts o = {.helpfile = true, .app = app};
	int rc = rt_inspect(mem, path, &o, err);
	fclose(mem);
	if (rc == 0) {
		if (len == 0)
			fputs("No help sections were defined for this image\n", out);
		else
			fwrite(buf, 1, len, out);
		if (fflush(out) != 0 || ferror(out))
			rc = lt_error_set(err, errno, "writing the output");
	} else {
		lt_error_wrap(err, "while getting run-help");
	}
	free(buf);
	return rc;
}
