/* Layered images: pass 1 scans the layers in parallel and merges them in order; pass 2 reads
 * them again and streams the bytes of the files that survived into the SquashFS writer. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "build_internal.h"

typedef struct blob_ctx {
	img_blob *blob;
	lt_progress *progress;
} blob_ctx;

static ssize_t read_blob(void *ctx, void *buf, size_t len, lt_error **err)
{
	blob_ctx *b = ctx;
	ssize_t n = img_blob_read(b->blob, buf, len, err);
	if (n > 0)
		lt_progress_add(b->progress, (uint64_t)n, 0);
	return n;
}

static char *layer_name(const build_ctx *c, size_t i)
{
	const img_layer *l = &c->image->layers[i];
	const char *d = l->digest ? l->digest : "?";
	/* The source reference is already in the top-level message ("building X from REF"). */
	const char *colon = strchr(d, ':');
	int alg_len = colon ? (int)(colon - d + 1) : 0;
	return lt_strdup_printf("layer %zu/%zu (%.*s%.12s)", i + 1, c->image->n_layers, alg_len, d,
				d + alg_len);
}

/* Opens layer i as a tar stream; both passes go through here. Pass 1 checks the diff_id (the
 * hash of the uncompressed tar); pass 2 does not hash the tar again: the blob's digest, checked
 * on every read, already pins the bytes pass 1 verified. */
static int open_layer(build_ctx *c, size_t i, bool check_diff_id, blob_ctx *bc, layer_reader **out,
		      lt_error **err)
{
	bc->progress = c->progress;
	char *name = layer_name(c, i);
	if (img_blob_open(c->img, i, &bc->blob, err) < 0) {
		lt_error_wrap(err, "%s", name);
		free(name);
		return -1;
	}
	*out = layer_reader_new(read_blob, bc, name,
				check_diff_id ? c->image->layers[i].diff_id : NULL);
	free(name);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 1                                                                                      */

typedef struct scan_job {
	layer_list list;
	lt_error *err;
	bool done;
} scan_job;

typedef struct scan_pool {
	build_ctx *c;
	scan_job *jobs;
	size_t *order; /* layers in the order they are handed out */
	size_t next;   /* next index into order */
	bool abort;
	pthread_mutex_t lock;
	pthread_cond_t cond;
} scan_pool;

static void *scan_worker(void *arg)
{
	scan_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->abort || p->next >= p->c->image->n_layers) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		size_t i = p->order[p->next++];
		pthread_mutex_unlock(&p->lock);

		scan_job *job = &p->jobs[i];
		blob_ctx bc = {0};
		layer_reader *r = NULL;
		lt_error *err = NULL;
		if (open_layer(p->c, i, true, &bc, &r, &err) == 0) {
			layer_scan(r, &job->list, &err);
			layer_reader_free(r);
			img_blob_close(bc.blob);
		}
		pthread_mutex_lock(&p->lock);
		job->err = err;
		job->done = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
}

static int bigger_first(const void *a, const void *b, void *ctx)
{
	const img_layer *l = ((const build_ctx *)ctx)->image->layers;
	int64_t x = l[*(const size_t *)a].size, y = l[*(const size_t *)b].size;
	return x > y ? -1 : x < y;
}

/* Archives are cheapest read in their own order (each layer decompresses the archive up to
 * it). Otherwise the biggest layers go first, so that a big one started last does not leave the
 * other threads idle at the end of the pass. */
static size_t *scan_order(const build_ctx *c)
{
	size_t n = c->image->n_layers;
	size_t *order = lt_xcalloc(n ? n : 1, sizeof(*order));
	img_layer_order(c->img, order);
	bool natural = true;
	for (size_t i = 0; i < n && natural; i++)
		natural = order[i] == i;
	if (natural)
		qsort_r(order, n, sizeof(*order), bigger_first, (void *)c);
	return order;
}

static unsigned scan_threads(const build_ctx *c)
{
	unsigned n = c->opts->squash.jobs;
	if (n == 0) {
		cpu_set_t set;
		n = sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
	}
	if (n > c->image->n_layers)
		n = (unsigned)c->image->n_layers;
	return n ? n : 1;
}

static void add_want(build_ctx *c, tree_inode *ino)
{
	*lt_array_push(&c->wants[ino->src_layer]) =
	    (build_want){.entry = ino->src_entry, .inode = ino};
}

static int collect_wants(tree_node *node, void *arg)
{
	build_ctx *c = arg;
	tree_inode *ino = node->inode;
	if (ino->type == TREE_FT_REG && ino->src == TREE_SRC_LAYER && !ino->mark) {
		ino->mark = true;
		add_want(c, ino);
	}
	return 0;
}

static int compare_wants(const void *a, const void *b)
{
	const build_want *x = a, *y = b;
	return x->entry < y->entry ? -1 : (x->entry > y->entry);
}

int build_oci_merge(build_ctx *c, lt_error **err)
{
	size_t n = c->image->n_layers;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += c->image->layers[i].size > 0 ? (uint64_t)c->image->layers[i].size : 0;
	lt_progress_stage(c->progress, "reading layers", 1, 2, total * 2);

	scan_pool p = {.c = c, .jobs = lt_xcalloc(n ? n : 1, sizeof(scan_job))};
	p.order = scan_order(c);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	unsigned nthreads = scan_threads(c);
	pthread_t *threads = lt_xcalloc(nthreads, sizeof(*threads));
	unsigned started = 0;
	for (; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, scan_worker, &p) != 0)
			break;
	if (started == 0) {
		scan_worker(&p); /* no thread could start: scan here */
	}

	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		pthread_mutex_lock(&p.lock);
		while (!p.jobs[i].done)
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		scan_job *job = &p.jobs[i];
		if (job->err != NULL) {
			rc = lt_error_move(err, &job->err);
			break;
		}
		char *name = layer_name(c, i);
		layer_apply_stats stats = {0};
		rc = layer_apply(c->tree, (uint32_t)i, &job->list, name, &stats, err);
		if (job->list.clamped > 0)
			lt_warn("%s: %zu entr%s named outside the root (\"..\" or absolute) were "
				"placed inside it",
				name, job->list.clamped, job->list.clamped == 1 ? "y" : "ies");
		if (job->list.dropped_xattrs > 0)
			lt_verbose("%s: %zu extended attribute(s) cannot be stored in SquashFS "
				   "and were left out",
				   name, job->list.dropped_xattrs);
		lt_debug("%s: %zu entries, %zu whiteouts, %zu opaque, %zu hard links", name,
			 stats.entries, stats.whiteouts, stats.opaques, stats.hardlinks);
		c->report->clamped_names += job->list.clamped;
		c->report->dropped_xattrs += job->list.dropped_xattrs;
		c->report->stored_bytes += job->list.stored_bytes;
		c->report->tar_bytes += job->list.tar_bytes;
		free(name);
		layer_list_free(&job->list);
	}
	pthread_mutex_lock(&p.lock);
	p.abort = true;
	pthread_mutex_unlock(&p.lock);
	for (unsigned t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	for (size_t i = 0; i < n; i++) {
		layer_list_free(&p.jobs[i].list);
		lt_error_free(&p.jobs[i].err);
	}
	free(threads);
	free(p.jobs);
	free(p.order);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	c->report->layers = n;
	return rc < 0 ? -1 : 0;
}

/* What pass 2 reads of each layer, from the finished tree: only once the metadata is in, since
 * it replaces some files of the image (an /etc/resolv.conf a layer brought becomes empty) and
 * their inodes go away. */
static void collect_all_wants(build_ctx *c)
{
	size_t n = c->image->n_layers;
	c->wants = lt_xcalloc(n ? n : 1, sizeof(*c->wants));
	tree_walk(c->tree, collect_wants, c);
	for (size_t i = 0; i < n; i++)
		qsort(c->wants[i].v, c->wants[i].n, sizeof(build_want), compare_wants);
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 2                                                                                      */

static int feed_entry(layer_reader *r, const layer_entry *e, tree_inode *ino, const build_sink *w,
		      const char *name, lt_error **err)
{
	if (e->path == NULL || e->size != ino->size)
		return lt_error_set(err, 0, "%s changed while it was being read (entry %llu)", name,
				    (unsigned long long)e->ordinal);
	if (w->begin_file(w->ctx, ino, err) < 0)
		return -1;
	uint64_t pos = 0;
	for (;;) {
		const void *buf = NULL;
		size_t len = 0;
		uint64_t off = 0;
		int rc = layer_reader_data(r, &buf, &len, &off, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		if (off < pos || off + len > ino->size)
			return lt_error_set(err, 0, "%s: entry %s: data outside the file's size",
					    name, e->path);
		if (off > pos && w->append_zeros(w->ctx, off - pos, err) < 0)
			return -1;
		if (len > 0 && w->append(w->ctx, buf, len, err) < 0)
			return -1;
		pos = off + len;
	}
	if (pos < ino->size && w->append_zeros(w->ctx, ino->size - pos, err) < 0)
		return -1;
	return w->end_file(w->ctx, err);
}

static int feed_layer(build_ctx *c, size_t i, const build_sink *w, lt_error **err)
{
	blob_ctx bc = {0};
	layer_reader *r = NULL;
	if (open_layer(c, i, false, &bc, &r, err) < 0)
		return -1;
	char *name = layer_name(c, i);
	const build_want *wants = c->wants[i].v;
	size_t n = c->wants[i].n, k = 0;
	int rc = 0;
	while (k < n) {
		const layer_entry *e = NULL;
		rc = layer_reader_next(r, &e, err);
		if (rc <= 0)
			break;
		/* Several inodes can name one entry (a hard link entry that carried data). */
		while (k < n && wants[k].entry == e->ordinal) {
			rc = feed_entry(r, e, wants[k].inode, w, name, err);
			if (rc < 0)
				break;
			k++;
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && k < n)
		rc =
		    lt_error_set(err, 0, "%s ended before entry %llu; it changed since it was read",
				 name, (unsigned long long)wants[k].entry);
	if (rc >= 0)
		rc = layer_reader_finish(r, err);
	layer_reader_free(r);
	img_blob_close(bc.blob);
	free(name);
	return rc < 0 ? -1 : 0;
}

/* Layers are fed base first whatever order the source stores them in, so that the image's
 * bytes do not depend on how the layers were packed (a compressed archive costs a second
 * decompression of its beginning for every layer stored out of order). */
int build_oci_feed(build_ctx *c, const build_sink *w, lt_error **err)
{
	if (c->wants == NULL)
		collect_all_wants(c);
	size_t n = c->image->n_layers;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		lt_progress_stage(c->progress, "compressing", 2, 2, 0);
		if (c->wants[i].n == 0) {
			/* nothing of this layer survived: skip reading it */
			if (c->image->layers[i].size > 0)
				lt_progress_add(c->progress, (uint64_t)c->image->layers[i].size, 0);
			continue;
		}
		rc = feed_layer(c, i, w, err);
	}
	return rc;
}
