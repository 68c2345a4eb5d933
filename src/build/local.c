/* Files whose bytes litho holds itself (the Apptainer metadata) or reads from the host (sandbox
 * directories), and putting the metadata into the tree. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_internal.h"

static tree_inode *meta_inode(const meta_entry *e, int64_t mtime)
{
	tree_inode *ino = NULL;
	switch (e->kind) {
	case META_DIR:
		ino = tree_inode_new(TREE_FT_DIR);
		break;
	case META_FILE: {
		ino = tree_inode_new(TREE_FT_REG);
		uint8_t *copy = lt_xmalloc(e->len ? e->len : 1);
		if (e->len)
			memcpy(copy, e->data, e->len);
		tree_inode_set_buffer(ino, copy, e->len);
		break;
	}
	case META_SYMLINK:
		ino = tree_inode_new(TREE_FT_SYMLINK);
		ino->symlink = lt_xstrdup(e->target);
		ino->size = strlen(e->target);
		break;
	}
	ino->mode = e->mode & 07777;
	ino->mtime = mtime;
	return ino;
}

int build_insert_meta(build_ctx *c, const meta_image *m, lt_error **err)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		const meta_entry *e = &m->entries[i];
		const char *slash = strrchr(e->path, '/');
		char *parent =
		    slash ? lt_xstrndup(e->path, (size_t)(slash - e->path)) : lt_xstrdup("");
		const char *base = slash ? slash + 1 : e->path;
		tree_node *dir = NULL;
		int rc = tree_resolve_dir(c->tree, NULL, parent, true, &dir, err);
		free(parent);
		if (rc < 0)
			return lt_error_wrap(err, "adding /%s to the image", e->path);
		tree_node *existing = tree_child(c->tree, dir, base);
		if (existing != NULL) {
			bool same_kind_dir =
			    e->kind == META_DIR && existing->inode->type == TREE_FT_DIR;
			if (same_kind_dir || !e->replace)
				continue; /* keep what the image has */
			tree_replace_inode(c->tree, existing, meta_inode(e, c->opts->build_time));
			existing->implicit = false;
			continue;
		}
		tree_add(c->tree, dir, base, meta_inode(e, c->opts->build_time));
	}
	return 0;
}

typedef struct feed_ctx {
	build_ctx *c;
	const build_sink *w;
	lt_error **err;
} feed_ctx;

static int feed_path(feed_ctx *f, tree_inode *ino)
{
	int fd = open(ino->src_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return lt_error_set(f->err, errno, "opening %s", ino->src_path);
	int rc = f->w->begin_file(f->w->ctx, ino, f->err);
	char *buf = rc == 0 ? lt_xmalloc(1 << 20) : NULL;
	uint64_t total = 0;
	while (rc == 0) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lt_error_set(f->err, errno, "reading %s", ino->src_path);
			break;
		}
		if (n == 0)
			break;
		if ((uint64_t)n + total > ino->size) {
			rc = lt_error_set(f->err, 0, "%s grew while it was being read",
					  ino->src_path);
			break;
		}
		rc = f->w->append(f->w->ctx, buf, (size_t)n, f->err);
		total += (uint64_t)n;
		lt_progress_add(f->c->progress, (uint64_t)n, 0);
	}
	if (rc == 0 && total != ino->size)
		rc = lt_error_set(f->err, 0, "%s shrank while it was being read", ino->src_path);
	if (rc == 0)
		rc = f->w->end_file(f->w->ctx, f->err);
	free(buf);
	close(fd);
	return rc;
}

static int feed_node(tree_node *node, void *arg)
{
	feed_ctx *f = arg;
	tree_inode *ino = node->inode;
	if (ino->type != TREE_FT_REG || f->w->has_data(f->w->ctx, ino))
		return 0;
	if (ino->src == TREE_SRC_BUFFER) {
		if (f->w->begin_file(f->w->ctx, ino, f->err) < 0 ||
		    f->w->append(f->w->ctx, ino->src_buffer, ino->size, f->err) < 0 ||
		    f->w->end_file(f->w->ctx, f->err) < 0)
			return -1;
		return 0;
	}
	if (ino->src == TREE_SRC_PATH)
		return feed_path(f, ino);
	return 0;
}

static bool squash_has_data(void *ctx, const tree_inode *ino)
{
	return ino->writer_data != NULL;
}

static int squash_begin(void *ctx, tree_inode *ino, lt_error **err)
{
	return sq_writer_begin_file(ctx, ino, err);
}

static int squash_append(void *ctx, const void *data, size_t len, lt_error **err)
{
	return sq_writer_append(ctx, data, len, err);
}

static int squash_zeros(void *ctx, uint64_t len, lt_error **err)
{
	return sq_writer_append_zeros(ctx, len, err);
}

static int squash_end(void *ctx, lt_error **err)
{
	return sq_writer_end_file(ctx, err);
}

void build_sink_squash(build_sink *sink, sq_writer *w)
{
	*sink = (build_sink){.ctx = w,
			     .has_data = squash_has_data,
			     .begin_file = squash_begin,
			     .append = squash_append,
			     .append_zeros = squash_zeros,
			     .end_file = squash_end};
}

int build_feed_local(build_ctx *c, const build_sink *w, lt_error **err)
{
	feed_ctx f = {.c = c, .w = w, .err = err};
	tree_sort(c->tree);
	return tree_walk(c->tree, feed_node, &f) == 0 ? 0 : -1;
}

/* Reads a small file of the tree (metadata or a host file) into a new string; NULL when the
 * path is missing or not a regular file. Symlinks inside the tree are followed. */
char *build_tree_file(build_ctx *c, const char *path, lt_error **err)
{
	tree_node *n = tree_lookup(c->tree, path);
	for (int hops = 0; n != NULL && n->inode->type == TREE_FT_SYMLINK && hops < 40; hops++) {
		const char *target = n->inode->symlink;
		char *parent = tree_node_path(n->parent);
		char *joined =
		    target[0] == '/' ? lt_xstrdup(target + 1) : lt_path_join(parent, target);
		free(parent);
		char *clean = lt_path_confine(joined, NULL);
		n = tree_lookup(c->tree, clean);
		free(joined);
		free(clean);
	}
	if (n == NULL || n->inode->type != TREE_FT_REG)
		return NULL;
	tree_inode *ino = n->inode;
	if (ino->src == TREE_SRC_BUFFER)
		return lt_xstrndup((const char *)ino->src_buffer, ino->size);
	if (ino->src == TREE_SRC_PATH) {
		char *data = NULL;
		if (lt_read_file(ino->src_path, &data, NULL, err) < 0)
			return NULL;
		return data;
	}
	return lt_xstrdup("");
}

/* The SCIF apps of the tree for inspect-metadata.json, as Apptainer's `inspect --all` finds
 * them: /scif/apps/<name> with a scif/ directory; labels.json, runscript, startscript, test,
 * runscript.help and env/9*-environment.sh of that. */
typedef struct app_meta {
	meta_inspect_app *v;
	size_t n;
	json_t **labels;
	char **texts;	       /* 4 per app */
	meta_inspect_env *env; /* 16 per app */
	char **env_strings;    /* 32 per app: paths, contents */
} app_meta;

static void collect_apps(build_ctx *c, app_meta *a)
{
	memset(a, 0, sizeof(*a));
	tree_node *dir = tree_lookup(c->tree, "scif/apps");
	if (dir == NULL || dir->inode->type != TREE_FT_DIR)
		return;
	tree_sort(c->tree);
	size_t cap = 0;
	for (tree_node *e = dir->first_child; e != NULL; e = e->next_sibling) {
		tree_node *scif = tree_child(c->tree, e, "scif");
		if (e->inode->type != TREE_FT_DIR || scif == NULL ||
		    scif->inode->type != TREE_FT_DIR)
			continue;
		if (a->n == cap) {
			cap = cap ? cap * 2 : 4;
			a->v = lt_xrealloc(a->v, cap * sizeof(*a->v));
			a->labels = lt_xrealloc(a->labels, cap * sizeof(*a->labels));
			a->texts = lt_xrealloc(a->texts, cap * 4 * sizeof(*a->texts));
			a->env = lt_xrealloc(a->env, cap * 16 * sizeof(*a->env));
			a->env_strings = lt_xrealloc(a->env_strings, cap * 32 * sizeof(char *));
		}
		static const char *const files[] = {"runscript", "startscript", "test",
						    "runscript.help"};
		char **t = a->texts + a->n * 4;
		for (size_t i = 0; i < 4; i++) {
			char *rel = lt_strdup_printf("scif/apps/%s/scif/%s", e->name, files[i]);
			t[i] = build_tree_file(c, rel, NULL);
			free(rel);
		}
		char *rel = lt_strdup_printf("scif/apps/%s/scif/labels.json", e->name);
		char *labels = build_tree_file(c, rel, NULL);
		free(rel);
		json_t *l = NULL;
		lt_error *e_labels = NULL;
		if (labels != NULL && labels[0] != '\0') {
			l = lt_json_parse(labels, strlen(labels), "labels.json", &e_labels);
			if (l != NULL && !json_is_object(l)) {
				json_decref(l);
				l = NULL;
			}
			lt_error_free(&e_labels);
		}
		free(labels);
		meta_inspect_env *env = a->env + a->n * 16;
		char **strings = a->env_strings + a->n * 32;
		size_t n_env = 0;
		tree_node *envdir = tree_child(c->tree, scif, "env");
		for (tree_node *f =
			 envdir && envdir->inode->type == TREE_FT_DIR ? envdir->first_child : NULL;
		     f != NULL && n_env < 16; f = f->next_sibling) {
			if (f->name[0] != '9' || !lt_str_has_suffix(f->name, "-environment.sh"))
				continue;
			char *frel = lt_strdup_printf("scif/apps/%s/scif/env/%s", e->name, f->name);
			char *data = build_tree_file(c, frel, NULL);
			free(frel);
			if (data == NULL)
				continue;
			strings[2 * n_env] =
			    lt_strdup_printf("/scif/apps/%s/scif/env/%s", e->name, f->name);
			strings[2 * n_env + 1] = data;
			env[n_env] = (meta_inspect_env){strings[2 * n_env], data};
			n_env++;
		}
		a->labels[a->n] = l;
		a->v[a->n] = (meta_inspect_app){.name = e->name,
						.env = env,
						.n_env = n_env,
						.labels = l,
						.runscript = t[0],
						.startscript = t[1],
						.test = t[2],
						.helpfile = t[3]};
		a->n++;
	}
}

static void free_apps(app_meta *a)
{
	for (size_t i = 0; i < a->n; i++) {
		json_decref(a->labels[i]);
		for (size_t j = 0; j < 4; j++)
			free(a->texts[i * 4 + j]);
		for (size_t j = 0; j < a->v[i].n_env * 2; j++)
			free(a->env_strings[i * 32 + j]);
	}
	free(a->v);
	free(a->labels);
	free(a->texts);
	free(a->env);
	free(a->env_strings);
}

int build_sandbox_metadata(build_ctx *c, meta_image *m, lt_error **err)
{
	static const char *const texts[] = {
	    ".singularity.d/Singularity", ".singularity.d/runscript",
	    ".singularity.d/test",	  ".singularity.d/runscript.help",
	    ".singularity.d/startscript", ".singularity.d/labels.json",
	};
	char *t[LT_ARRAY_SIZE(texts)] = {0};
	for (size_t i = 0; i < LT_ARRAY_SIZE(texts); i++) {
		lt_error *e = NULL;
		t[i] = build_tree_file(c, texts[i], &e);
		if (e != NULL) {
			lt_warn("%s", e->message);
			lt_error_free(&e);
		}
	}
	json_t *labels = NULL;
	if (t[5] != NULL && *t[5] != '\0') {
		labels = lt_json_parse(t[5], strlen(t[5]), ".singularity.d/labels.json", err);
		if (labels == NULL) {
			lt_warn("%s; labels left out", (*err)->message);
			lt_error_free(err);
		}
	}
	/* The environment files `apptainer inspect` shows: 10-docker*.sh and 9*-environment.sh */
	meta_inspect_env env[64];
	char *env_paths[64], *env_data[64];
	size_t n_env = 0;
	tree_node *envdir = tree_lookup(c->tree, ".singularity.d/env");
	if (envdir != NULL && envdir->inode->type == TREE_FT_DIR) {
		tree_sort(c->tree);
		for (tree_node *e = envdir->first_child; e && n_env < 64; e = e->next_sibling) {
			bool docker = lt_str_has_prefix(e->name, "10-docker") &&
				      lt_str_has_suffix(e->name, ".sh");
			bool environment =
			    e->name[0] == '9' && lt_str_has_suffix(e->name, "-environment.sh");
			if (!docker && !environment)
				continue;
			char *rel = lt_strdup_printf(".singularity.d/env/%s", e->name);
			char *data = build_tree_file(c, rel, NULL);
			free(rel);
			if (data == NULL)
				continue;
			env_paths[n_env] = lt_strdup_printf("/.singularity.d/env/%s", e->name);
			env_data[n_env] = data;
			env[n_env] = (meta_inspect_env){env_paths[n_env], data};
			n_env++;
		}
	}
	app_meta apps;
	collect_apps(c, &apps);
	meta_inspect in = {
	    .env = env,
	    .n_env = n_env,
	    .labels = labels,
	    .deffile = t[0],
	    .runscript = t[1],
	    .test = t[2],
	    .helpfile = t[3],
	    .startscript = t[4],
	    .apps = apps.v,
	    .n_apps = apps.n,
	};
	free(m->inspect_json);
	m->inspect_json = meta_inspect_json(&in);
	free_apps(&apps);
	if (t[0] != NULL && *t[0] != '\0') {
		free(m->deffile);
		m->deffile = t[0];
		t[0] = NULL;
	}
	for (size_t i = 0; i < LT_ARRAY_SIZE(texts); i++)
		free(t[i]);
	for (size_t i = 0; i < n_env; i++) {
		free(env_paths[i]);
		free(env_data[i]);
	}
	json_decref(labels);
	return 0;
}
