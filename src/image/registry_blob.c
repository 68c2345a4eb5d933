/* Layer blobs of registry sources.
 *
 * Each distinct blob is a task. A task's bytes go to one file: the cache entry's temporary file
 * (renamed into the cache once its size and digest are verified), or an unlinked temporary file
 * when the cache is off (kept open until img_close, so that the second pass of a build reads it
 * again without a second download). Downloads run in background worker threads (at most
 * `jobs` per source); img_blob_open starts one at once (ahead of prefetched ones) or attaches to
 * the download in flight, and its reader follows the file as it grows: the first pass of a build
 * parses a layer while it downloads, and no blob is ever downloaded twice by one source.
 *
 * Downloads resume with `Range: bytes=N-` after a broken connection, keeping the hash state; a
 * 200 answer to a Range request restarts from byte 0, and a Content-Range that does not start at
 * N is an error. Content is addressed by digest, so bytes that a reader has already read are the
 * same after a restart (and if they were not, both the download and the reader report a digest
 * mismatch). */
#include "dlib/dlib.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

#define MAX_RESUMES 20 /* reconnections per blob, with or without progress */

enum task_state { T_IDLE, T_QUEUED, T_RUNNING, T_DONE, T_FAILED };

struct reg_task {
	char *digest;
	int64_t size;
	enum task_state state;
	uint64_t prio; /* lower runs first */
	int fd;	       /* where the bytes are (-1 before the download starts) */
	int64_t written;
	bool from_cache;
	char *cache_path; /* final cache entry, NULL without a cache */
	lt_error *err;
	reg_source *rs;
};

struct reg_reader {
	reg_source *rs;
	reg_task *t;
	int64_t off;
};

/* ---------------------------------------------------------------------------------------------
 * The download itself (also used by oras pulls)
 */
typedef struct fetch {
	reg_client *c;
	const char *digest;
	const char *what;
	int fd;
	int64_t size;
	int64_t off;
	bool started; /* this response has delivered bytes */
	lt_sha256 *h;
	reg_progress_fn on_data;
	void *ctx;
} fetch;

/* "bytes N-M/T" -> N */
static int64_t content_range_start(const char *v)
{
	if (v == NULL)
		return -1;
	while (*v == ' ')
		v++;
	if (strncasecmp(v, "bytes", 5) == 0)
		v += 5;
	while (*v == ' ' || *v == '=')
		v++;
	char *end;
	long long n = strtoll(v, &end, 10);
	return end == v || *end != '-' ? -1 : (int64_t)n;
}

static int fetch_sink(void *ctx, const reg_resp *r, const char *data, size_t len, lt_error **err)
{
	fetch *f = ctx;
	if (!f->started) {
		f->started = true;
		if (r->status == 206) {
			int64_t start = content_range_start(r->content_range);
			if (start != f->off)
				return lt_error_set(err, 0,
						    "%s: %s: asked for the bytes from %" PRId64
						    ", got Content-Range \"%s\"",
						    img_reg_client_name(f->c), f->what, f->off,
						    r->content_range ? r->content_range : "");
		} else if (f->off > 0) {
			lt_verbose("%s: %s: the server ignored Range; downloading it again",
				   img_reg_client_name(f->c), f->what);
			f->off = 0;
			lt_sha256_free(f->h);
			f->h = lt_sha256_new();
			if (f->on_data)
				f->on_data(f->ctx, 0);
		}
	}
	if (f->size >= 0 && f->off + (int64_t)len > f->size)
		return lt_error_set(err, 0,
				    "%s: %s: the registry sends more than the %" PRId64
				    " bytes of the descriptor",
				    img_reg_client_name(f->c), f->what, f->size);
	if (lt_pwrite_all(f->fd, data, len, (off_t)f->off, f->what, err) < 0)
		return -1;
	lt_sha256_update(f->h, data, len);
	f->off += (int64_t)len;
	if (f->on_data)
		f->on_data(f->ctx, f->off);
	return 0;
}

int img_reg_fetch_blob(reg_client *c, const char *repo, const char *scope, const char *digest,
		       int64_t size, int fd, reg_progress_fn on_data, void *ctx,
		       const volatile bool *abort, lt_error **err)
{
	char *url = lt_strdup_printf("/v2/%s/blobs/%s", repo, digest);
	char *what = lt_strdup_printf("blob %s", digest);
	fetch f = {.c = c,
		   .digest = digest,
		   .what = what,
		   .fd = fd,
		   .size = size,
		   .h = lt_sha256_new(),
		   .on_data = on_data,
		   .ctx = ctx};
	int rc = -1, stalls = 0;
	for (int resumes = 0;; resumes++) {
		char range[32];
		snprintf(range, sizeof(range), "%" PRId64 "-", f.off);
		reg_req q = {.url = url,
			     .what = what,
			     .scope = scope,
			     .range = f.off > 0 ? range : NULL,
			     .follow = true,
			     .sink = fetch_sink,
			     .sink_ctx = &f,
			     .abort = abort};
		reg_resp r = {0};
		int64_t before = f.off;
		f.started = false;
		lt_error *e = NULL;
		int x = img_reg_do(c, &q, &r, &e);
		bool transient = false;
		if (x == 0 && (r.status == 200 || r.status == 206)) {
			if (!f.started && r.status == 200 && f.off > 0) {
				f.off = 0; /* an empty 200 to a Range request */
				lt_sha256_free(f.h);
				f.h = lt_sha256_new();
			}
			if (size < 0 || f.off == size) {
				img_reg_resp_clear(&r);
				rc = 0;
				break;
			}
			transient = true;
			lt_error_set(&e, 0, "%s: %s: the connection closed after %" PRId64 " bytes",
				     img_reg_client_name(c), what, f.off);
		} else if (x == 0) {
			if (r.status == 404)
				lt_error_set(&e, 0,
					     "%s: %s: blob unknown to the registry (HTTP 404)",
					     img_reg_client_name(c), what);
			else
				img_reg_http_error(c, what, &r, &e);
		} else {
			/* A connection that broke after bytes arrived is resumed here; img_reg_do
			 * already retried the ones that failed before. */
			transient = f.started && r.curl_code != CURLE_OK &&
				    r.curl_code != CURLE_WRITE_ERROR &&
				    r.curl_code != CURLE_ABORTED_BY_CALLBACK;
		}
		img_reg_resp_clear(&r);
		if (!transient) {
			lt_error_move(err, &e);
			break;
		}
		stalls = f.off > before ? 0 : stalls + 1;
		if (stalls >= REG_MAX_ATTEMPTS || resumes >= MAX_RESUMES) {
			lt_error_set(err, 0, "%s (gave up after %d attempts)", e->message,
				     resumes + 1);
			lt_error_free(&e);
			break;
		}
		int64_t ms = stalls ? img_reg_backoff_ms(stalls) : 0;
		lt_warn("%s; resuming at byte %" PRId64 "%s", e->message, f.off,
			stalls ? "" : " at once");
		lt_error_free(&e);
		if (!img_reg_sleep_ms(ms, abort)) {
			lt_error_set(err, 0, "%s: %s: interrupted", img_reg_client_name(c), what);
			break;
		}
	}
	if (rc == 0 && size >= 0 && f.off != size)
		rc = lt_error_set(err, 0, "%s: %s: %" PRId64 " bytes instead of %" PRId64,
				  img_reg_client_name(c), what, f.off, size);
	if (rc == 0) {
		uint8_t d[LT_SHA256_LEN];
		char got[72];
		lt_sha256_final(f.h, d);
		f.h = NULL;
		lt_sha256_digest_string(d, got);
		if (strcmp(got, digest) != 0)
			rc = lt_error_set(
			    err, 0, "%s: %s: digest mismatch: the downloaded bytes hash to %s",
			    img_reg_client_name(c), what, got);
	}
	lt_sha256_free(f.h);
	free(url);
	free(what);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Tasks and workers
 */
void img_reg_tasks_init(img_source *src)
{
	reg_source *rs = src->reg;
	rs->layer_task = lt_xcalloc(src->n_layers + 1, sizeof(size_t));
	rs->tasks = lt_xcalloc(src->n_layers + 1, sizeof(reg_task *));
	for (size_t i = 0; i < src->n_layers; i++) {
		const src_layer *l = &src->layers[i];
		size_t k;
		for (k = 0; k < rs->n_tasks; k++)
			if (strcmp(rs->tasks[k]->digest, l->digest) == 0)
				break;
		if (k == rs->n_tasks) {
			reg_task *t = lt_xcalloc(1, sizeof(*t));
			t->digest = lt_xstrdup(l->digest);
			t->size = l->size;
			t->fd = -1;
			t->rs = rs;
			if (rs->cache_dir != NULL)
				t->cache_path =
				    img_cache_blob_path(rs->cache_dir, "blobs", l->digest);
			rs->tasks[rs->n_tasks++] = t;
		}
		rs->layer_task[i] = k;
	}
}

static void task_progress(void *ctx, int64_t written)
{
	reg_task *t = ctx;
	pthread_mutex_lock(&t->rs->lock);
	t->written = written;
	pthread_cond_broadcast(&t->rs->cond);
	pthread_mutex_unlock(&t->rs->lock);
}

/* Makes fd the task's file (readers may follow it from now on). */
static void task_set_fd(reg_task *t, int fd)
{
	pthread_mutex_lock(&t->rs->lock);
	t->fd = fd;
	t->written = 0;
	pthread_mutex_unlock(&t->rs->lock);
}

/* Downloads a task's blob into the cache (or an anonymous file). */
static int task_download(reg_task *t, lt_error **err)
{
	reg_source *rs = t->rs;
	reg_client *c = rs->client;
	if (t->cache_path == NULL) {
		int fd;
		if (img_cache_anon_file(&fd, err) < 0)
			return -1;
		task_set_fd(t, fd);
		return img_reg_fetch_blob(c, rs->ref.repo, rs->scope, t->digest, t->size, fd,
					  task_progress, t, &rs->abort, err);
	}
	int lock;
	if (img_cache_lock(t->cache_path, &lock, &rs->abort, err) < 0)
		return -1;
	/* Another process may have finished it while we waited. */
	int fd;
	int r = img_cache_open_blob(t->cache_path, t->size, &fd, err);
	if (r != 0) {
		if (r > 0) {
			pthread_mutex_lock(&rs->lock);
			t->fd = fd;
			t->written = t->size;
			t->from_cache = true;
			pthread_mutex_unlock(&rs->lock);
		}
		img_cache_unlock(t->cache_path, lock);
		return r < 0 ? -1 : 0;
	}
	lt_atomic_file af;
	if (img_cache_atomic_open(t->cache_path, &af, err) < 0) {
		img_cache_unlock(t->cache_path, lock);
		return -1;
	}
	/* Readers follow a descriptor of their own: committing closes the temporary's. */
	fd = fcntl(af.fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		r = lt_error_set(err, errno, "cache: %s", t->cache_path);
		lt_atomic_abort(&af);
		img_cache_unlock(t->cache_path, lock);
		return r;
	}
	task_set_fd(t, fd);
	lt_verbose("%s: downloading %s (%" PRId64 " bytes)", rs->ref.display, t->digest, t->size);
	r = img_reg_fetch_blob(c, rs->ref.repo, rs->scope, t->digest, t->size, fd, task_progress, t,
			       &rs->abort, err);
	if (r == 0 && lt_atomic_commit(&af, err) < 0)
		r = lt_error_wrap(err, "cache: storing %s", t->cache_path);
	lt_atomic_abort(
	    &af); /* nothing unverified ever stays in the cache (no-op once committed) */
	img_cache_unlock(t->cache_path, lock);
	return r;
}

static reg_task *next_task(reg_source *rs)
{
	reg_task *best = NULL;
	for (size_t i = 0; i < rs->n_tasks; i++) {
		reg_task *t = rs->tasks[i];
		if (t->state == T_QUEUED && (best == NULL || t->prio < best->prio))
			best = t;
	}
	return best;
}

static void *worker(void *arg)
{
	reg_source *rs = arg;
	pthread_mutex_lock(&rs->lock);
	for (;;) {
		reg_task *t = rs->abort ? NULL : next_task(rs);
		if (t == NULL)
			break;
		t->state = T_RUNNING;
		pthread_mutex_unlock(&rs->lock);
		lt_error *err = NULL;
		int r = task_download(t, &err);
		pthread_mutex_lock(&rs->lock);
		if (r == 0) {
			t->state = T_DONE;
			t->written = t->size;
		} else {
			t->state = T_FAILED;
			t->err = err;
		}
		pthread_cond_broadcast(&rs->cond);
	}
	rs->n_workers--;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

/* Starts workers for the queued tasks (rs->lock held). */
static void spawn_workers(reg_source *rs)
{
	size_t pending = 0;
	for (size_t i = 0; i < rs->n_tasks; i++)
		if (rs->tasks[i]->state == T_QUEUED || rs->tasks[i]->state == T_RUNNING)
			pending++;
	while (rs->n_workers < rs->jobs && rs->n_workers < pending) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker, rs) != 0) {
			if (rs->n_workers > 0)
				return; /* the running ones will get to it */
			lt_error *e = NULL;
			lt_error_set(&e, errno, "cannot start a download thread");
			for (size_t i = 0; i < rs->n_tasks; i++) {
				reg_task *t = rs->tasks[i];
				if (t->state == T_QUEUED) {
					t->state = T_FAILED;
					lt_error_set(&t->err, 0, "%s", e->message);
				}
			}
			lt_error_free(&e);
			pthread_cond_broadcast(&rs->cond);
			return;
		}
		rs->threads = lt_xreallocarray(rs->threads, rs->n_threads + 1, sizeof(pthread_t));
		rs->threads[rs->n_threads++] = th;
		rs->n_workers++;
	}
}

/* Uses the cache entry when there is one (rs->lock held). */
static void task_check_cache(reg_task *t)
{
	if (t->state != T_IDLE || t->cache_path == NULL)
		return;
	int fd;
	lt_error *err = NULL;
	int r = img_cache_open_blob(t->cache_path, t->size, &fd, &err);
	if (r > 0) {
		t->fd = fd;
		t->written = t->size;
		t->from_cache = true;
		t->state = T_DONE;
	} else if (r < 0) {
		lt_debug("%s", err->message);
		lt_error_free(&err);
	}
}

static void enqueue(reg_source *rs, reg_task *t, bool urgent, size_t index)
{
	uint64_t prio = urgent ? rs->seq++ : (UINT64_C(1) << 40) + index;
	if (t->state == T_IDLE) {
		t->state = T_QUEUED;
		t->prio = prio;
	} else if (t->state == T_QUEUED && prio < t->prio) {
		t->prio = prio;
	}
}

void img_reg_prefetch(img_source *src)
{
	reg_source *rs = src->reg;
	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < rs->n_tasks; i++) {
		task_check_cache(rs->tasks[i]);
		enqueue(rs, rs->tasks[i], false, i);
	}
	spawn_workers(rs);
	pthread_mutex_unlock(&rs->lock);
}

void img_reg_tasks_free(reg_source *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->abort = true;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	for (size_t i = 0; i < rs->n_threads; i++)
		pthread_join(rs->threads[i], NULL);
	free(rs->threads);
	rs->threads = NULL;
	rs->n_threads = 0;
	for (size_t i = 0; i < rs->n_tasks; i++) {
		reg_task *t = rs->tasks[i];
		if (t->fd >= 0)
			close(t->fd);
		lt_error_free(&t->err);
		free(t->digest);
		free(t->cache_path);
		free(t);
	}
	free(rs->tasks);
	free(rs->layer_task);
	rs->tasks = NULL;
	rs->layer_task = NULL;
	rs->n_tasks = 0;
}

/* ---------------------------------------------------------------------------------------------
 * Readers
 */
int img_reg_reader_open(img_source *src, size_t index, reg_reader **out, lt_error **err)
{
	(void)err;
	reg_source *rs = src->reg;
	reg_task *t = rs->tasks[rs->layer_task[index]];
	pthread_mutex_lock(&rs->lock);
	task_check_cache(t);
	enqueue(rs, t, true, index);
	spawn_workers(rs);
	pthread_mutex_unlock(&rs->lock);
	reg_reader *r = lt_xcalloc(1, sizeof(*r));
	r->rs = rs;
	r->t = t;
	*out = r;
	return 0;
}

ssize_t img_reg_reader_read(reg_reader *r, void *buf, size_t len, lt_error **err)
{
	reg_source *rs = r->rs;
	reg_task *t = r->t;
	pthread_mutex_lock(&rs->lock);
	int64_t avail;
	for (;;) {
		if (t->state == T_FAILED) {
			lt_error_set(err, t->err ? t->err->errnum : 0, "%s",
				     t->err ? t->err->message : "download failed");
			pthread_mutex_unlock(&rs->lock);
			return -1;
		}
		avail =
		    t->fd >= 0 && (t->state == T_RUNNING || t->state == T_DONE) ? t->written : 0;
		if (r->off < avail || t->state == T_DONE)
			break;
		if (rs->abort) {
			pthread_mutex_unlock(&rs->lock);
			return lt_error_set(err, 0, "interrupted");
		}
		pthread_cond_wait(&rs->cond, &rs->lock);
	}
	int fd = t->fd;
	pthread_mutex_unlock(&rs->lock);
	if (r->off >= avail)
		return 0; /* done: img_blob_read checks size and digest */
	if ((int64_t)len > avail - r->off)
		len = (size_t)(avail - r->off);
	ssize_t n;
	do {
		n = pread(fd, buf, len, (off_t)r->off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return lt_error_set(err, errno, "reading the downloaded blob %s", t->digest);
	if (n == 0)
		return lt_error_set(err, 0, "the downloaded blob %s is shorter than expected",
				    t->digest);
	r->off += n;
	return n;
}

void img_reg_reader_invalidate(reg_reader *r)
{
	reg_task *t = r->t;
	pthread_mutex_lock(&r->rs->lock);
	if (t->from_cache && t->cache_path != NULL && t->fd >= 0) {
		if (img_cache_same_file(t->cache_path, t->fd)) {
			lt_warn("cache: removing the corrupt entry %s (run again to download it)",
				t->cache_path);
			unlink(t->cache_path);
		}
	}
	pthread_mutex_unlock(&r->rs->lock);
}

void img_reg_reader_close(reg_reader *r)
{
	free(r);
}
