/* The cache folder: where it is, content-addressed blob entries (written under a temporary name,
 * verified, renamed), per-blob cross-process locks, listing and cleaning, and the converted-SIF
 * entries of the build module.
 *
 * Concurrency: a finished entry only ever appears through rename(), so readers see a whole,
 * verified file or nothing. Two processes that want the same missing blob serialise on
 * "<entry>.lock" (flock); the one that waited then finds the entry and uses it. The lock file is
 * unlinked by its holder before it lets go, so a waiter that wins the lock on an unlinked file
 * notices (the inode no longer matches the path) and locks again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

#define TMP_MAX_AGE 3600 /* seconds before `clean` takes a temporary file for abandoned */

const char *img_home_dir(void)
{
	const char *home = getenv("HOME");
	if (home != NULL && home[0] != '\0')
		return home;
	struct passwd *pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

char *img_cache_dir(void)
{
	const char *v;
	if ((v = lt_env_nonempty("LITHO_CACHEDIR")) != NULL)
		return lt_xstrdup(v);
	/* Apptainer's cache folder holds its own layout; litho keeps to a subfolder of it. */
	if ((v = lt_env_nonempty("APPTAINER_CACHEDIR")) != NULL ||
	    (v = lt_env_nonempty("SINGULARITY_CACHEDIR")) != NULL)
		return lt_path_join(v, "litho");
	if ((v = lt_env_nonempty("XDG_CACHE_HOME")) != NULL)
		return lt_path_join(v, "litho");
	return lt_strdup_printf("%s/.cache/litho", img_home_dir());
}

char *img_cache_dir_for(const img_registry_opts *o)
{
	if (o != NULL && o->disable_cache)
		return NULL;
	char *dir = o != NULL && o->cache_dir != NULL && o->cache_dir[0] != '\0'
			? lt_xstrdup(o->cache_dir)
			: img_cache_dir();
	/* A cache that cannot be written (read-only home, no HOME) must not stop a pull. */
	char *probe = lt_path_join(dir, "blobs/sha256/probe");
	lt_error *err = NULL;
	int r = img_cache_mkdirs_for(probe, &err);
	free(probe);
	char *blobs = lt_path_join(dir, "blobs/sha256");
	if (r == 0 && access(blobs, W_OK) < 0)
		r = lt_error_set(&err, errno, "%s", blobs);
	free(blobs);
	if (r < 0) {
		lt_warn("not using the cache: %s", err->message);
		lt_error_free(&err);
		free(dir);
		return NULL;
	}
	return dir;
}

const char *img_cache_kind_name(enum img_cache_kind kind)
{
	switch (kind) {
	case IMG_CACHE_BLOB:
		return "blob";
	case IMG_CACHE_SIF:
		return "sif";
	case IMG_CACHE_ORAS:
		return "oras";
	default:
		return "all";
	}
}

unsigned img_cache_kind_parse(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "blob") == 0 || strcmp(name, "blobs") == 0)
		return IMG_CACHE_BLOB;
	/* "oci" is Apptainer's name for its converted images (oci-tmp/) */
	if (strcmp(name, "sif") == 0 || strcmp(name, "oci") == 0)
		return IMG_CACHE_SIF;
	if (strcmp(name, "oras") == 0)
		return IMG_CACHE_ORAS;
	if (strcmp(name, "all") == 0)
		return IMG_CACHE_ALL;
	return 0;
}

char *img_cache_blob_path(const char *dir, const char *kind, const char *digest)
{
	return lt_strdup_printf("%s/%s/sha256/%s", dir, kind, digest + 7);
}

int img_cache_mkdirs_for(const char *path, lt_error **err)
{
	char *dir = lt_path_dirname(path);
	int rc = 0;
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			rc = lt_error_set(err, errno, "creating the cache folder %s", dir);
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(dir);
	return rc;
}

bool img_cache_same_file(const char *path, int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Removes path when it still is the file open as fd. */
static void unlink_if_same(const char *path, int fd)
{
	if (img_cache_same_file(path, fd))
		unlink(path);
}

int img_cache_open_blob(const char *path, int64_t size, int *fdp, lt_error **err)
{
	*fdp = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return lt_error_set(err, errno, "opening the cached blob %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return lt_error_set(err, e, "reading the cached blob %s", path);
	}
	if (!S_ISREG(st.st_mode) || (size >= 0 && st.st_size != size)) {
		lt_warn("cache: removing %s: %lld bytes instead of %lld", path,
			(long long)st.st_size, (long long)size);
		unlink_if_same(path, fd);
		close(fd);
		return 0;
	}
	/* The mtime tells `cache clean --days` when the entry was last used. */
	futimens(fd, NULL);
	*fdp = fd;
	return 1;
}

int img_cache_read_small(const char *path, const char *digest, int64_t size, char **data,
			 size_t *len, lt_error **err)
{
	*data = NULL;
	*len = 0;
	int fd;
	int r = img_cache_open_blob(path, size, &fd, err);
	if (r <= 0)
		return r;
	close(fd);
	if (lt_read_file(path, data, len, err) < 0)
		return -1;
	uint8_t d[LT_SHA256_LEN];
	char got[72];
	lt_sha256_buffer(*data, *len, d);
	lt_sha256_digest_string(d, got);
	if (strcmp(got, digest) != 0) {
		lt_warn("cache: removing %s: its digest is %s", path, got);
		unlink(path);
		free(*data);
		*data = NULL;
		*len = 0;
		return 0;
	}
	return 1;
}

void img_cache_store_small(const char *path, const char *data, size_t len)
{
	lt_error *err = NULL;
	lt_atomic_file af;
	if (img_cache_mkdirs_for(path, &err) < 0 || lt_atomic_open(&af, path, 0644, &err) < 0) {
		lt_debug("cache: %s", err->message);
		lt_error_free(&err);
		return;
	}
	if (lt_write_all(af.fd, data, len, path, &err) < 0) {
		lt_atomic_abort(&af);
	} else if (lt_atomic_commit(&af, &err) == 0) {
		return;
	}
	lt_debug("cache: %s", err->message);
	lt_error_free(&err);
}

int img_cache_atomic_open(const char *path, lt_atomic_file *af, lt_error **err)
{
	*af = (lt_atomic_file){.fd = -1};
	if (img_cache_mkdirs_for(path, err) < 0)
		return -1;
	return lt_atomic_open(af, path, 0644, err);
}

int img_cache_lock(const char *path, int *fdp, const volatile bool *abort, lt_error **err)
{
	*fdp = -1;
	char *lock = lt_strdup_printf("%s.lock", path);
	if (img_cache_mkdirs_for(lock, err) < 0) {
		free(lock);
		return -1;
	}
	int waited = 0;
	for (;;) {
		int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			lt_error_set(err, errno, "creating the lock file %s", lock);
			free(lock);
			return -1;
		}
		while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK && errno != EINTR) {
				lt_error_set(err, errno, "locking %s", lock);
				close(fd);
				free(lock);
				return -1;
			}
			if (waited++ == 10)
				lt_verbose("waiting for another process that downloads %s", path);
			if (!img_reg_sleep_ms(100, abort)) {
				close(fd);
				free(lock);
				return lt_error_set(err, 0, "interrupted");
			}
		}
		if (img_cache_same_file(lock, fd)) {
			*fdp = fd;
			free(lock);
			return 0;
		}
		/* The holder removed it when it finished: lock the current one. */
		close(fd);
	}
}

void img_cache_unlock(const char *path, int fd)
{
	if (fd < 0)
		return;
	char *lock = lt_strdup_printf("%s.lock", path);
	unlink(lock);
	free(lock);
	close(fd);
}

int img_cache_anon_file(int *fdp, lt_error **err)
{
	const char *dir = lt_env_nonempty("TMPDIR");
	if (dir == NULL)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char *tmp = lt_strdup_printf("%s/litho-blob.XXXXXX", dir);
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmp);
		free(tmp);
	}
	if (fd < 0)
		return lt_error_set(err, errno, "creating a temporary file in %s", dir);
	*fdp = fd;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Listing and cleaning
 */
typedef struct entry_list {
	img_cache_entry *v;
	size_t n, cap;
} entry_list;

static void list_add(entry_list *l, enum img_cache_kind kind, char *name, char *path,
		     const struct stat *st)
{
	l->v = lt_array_grow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	l->v[l->n++] = (img_cache_entry){
	    .kind = kind, .name = name, .path = path, .size = st->st_size, .mtime = st->st_mtime};
}

/* Scans one folder of entries. Temporary files older than TMP_MAX_AGE go to `stale`. */
static int scan_dir(const char *dir, enum img_cache_kind kind, entry_list *l, entry_list *stale,
		    lt_error **err)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return lt_error_set(err, errno, "reading the cache folder %s", dir);
	}
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (n[0] == '.')
			continue;
		char *path = lt_path_join(dir, n);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		/* Temporary files, and the lock files of downloads (their holders remove them),
		 * left by killed processes. */
		if (strstr(n, ".tmp.") != NULL || lt_str_has_suffix(n, ".lock")) {
			if (stale != NULL && now - st.st_mtime > TMP_MAX_AGE)
				list_add(stale, kind, lt_xstrdup(n), path, &st);
			else
				free(path);
			continue;
		}
		char *name = NULL;
		if (kind == IMG_CACHE_SIF) {
			if (lt_str_has_suffix(n, ".sif"))
				name = lt_xstrdup(n);
		} else {
			char *digest = lt_strdup_printf("sha256:%s", n);
			if (img_is_sha256_digest(digest))
				name = digest;
			else
				free(digest);
		}
		if (name == NULL) {
			free(path); /* lock files and anything foreign */
			continue;
		}
		list_add(l, kind, name, path, &st);
	}
	closedir(d);
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const img_cache_entry *x = a, *y = b;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->name, y->name);
}

static int scan(const char *cache_dir, unsigned kinds, entry_list *l, entry_list *stale,
		lt_error **err)
{
	char *dir = cache_dir ? lt_xstrdup(cache_dir) : img_cache_dir();
	static const struct {
		enum img_cache_kind kind;
		const char *sub;
	} dirs[] = {
	    {IMG_CACHE_BLOB, "blobs/sha256"},
	    {IMG_CACHE_SIF, "sif"},
	    {IMG_CACHE_ORAS, "oras/sha256"},
	};
	int rc = 0;
	for (size_t i = 0; i < LT_ARRAY_SIZE(dirs) && rc == 0; i++) {
		if (!(kinds & dirs[i].kind))
			continue;
		char *p = lt_path_join(dir, dirs[i].sub);
		rc = scan_dir(p, dirs[i].kind, l, stale, err);
		free(p);
	}
	free(dir);
	if (rc < 0)
		return -1;
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
	return 0;
}

void img_cache_entries_free(img_cache_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(entries[i].name);
		free(entries[i].path);
	}
	free(entries);
}

int img_cache_list(const char *cache_dir, unsigned kinds, img_cache_entry **entries, size_t *n,
		   lt_error **err)
{
	entry_list l = {0};
	*entries = NULL;
	*n = 0;
	if (scan(cache_dir, kinds ? kinds : IMG_CACHE_ALL, &l, NULL, err) < 0) {
		img_cache_entries_free(l.v, l.n);
		return -1;
	}
	*entries = l.v;
	*n = l.n;
	return 0;
}

int img_cache_clean(const char *cache_dir, const img_cache_clean_opts *o, img_cache_entry **removed,
		    size_t *n, lt_error **err)
{
	*removed = NULL;
	*n = 0;
	unsigned kinds = o && o->kinds ? o->kinds : IMG_CACHE_ALL;
	int days = o ? o->days : 0;
	bool dry = o && o->dry_run;
	entry_list l = {0}, stale = {0}, out = {0};
	if (scan(cache_dir, kinds, &l, &stale, err) < 0) {
		img_cache_entries_free(l.v, l.n);
		img_cache_entries_free(stale.v, stale.n);
		return -1;
	}
	time_t now = time(NULL);
	int rc = 0;
	for (size_t i = 0; i < l.n; i++) {
		img_cache_entry *e = &l.v[i];
		bool take = days <= 0 || now - e->mtime >= (time_t)days * 86400;
		if (take && !dry && unlink(e->path) < 0 && errno != ENOENT) {
			rc = lt_error_set(err, errno, "removing %s", e->path);
			take = false;
		}
		if (take) {
			out.v = lt_array_grow(out.v, sizeof(*out.v), out.n + 1, &out.cap);
			out.v[out.n++] = *e;
			e->name = e->path = NULL;
		}
	}
	for (size_t i = 0; i < stale.n && !dry; i++) {
		lt_verbose("cache: removing the abandoned temporary file %s", stale.v[i].path);
		unlink(stale.v[i].path);
	}
	img_cache_entries_free(l.v, l.n);
	img_cache_entries_free(stale.v, stale.n);
	if (rc < 0) {
		img_cache_entries_free(out.v, out.n);
		return -1;
	}
	*removed = out.v;
	*n = out.n;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Converted SIF images
 */
static char *sif_entry_path(const char *cache_dir, const char *key)
{
	uint8_t d[LT_SHA256_LEN];
	char hex[LT_SHA256_HEX_LEN + 1];
	lt_sha256_buffer(key, strlen(key), d);
	lt_hex_encode(d, sizeof(d), hex);
	char *dir = cache_dir ? lt_xstrdup(cache_dir) : img_cache_dir();
	char *p = lt_strdup_printf("%s/sif/%s.sif", dir, hex);
	free(dir);
	return p;
}

int img_cache_sif_path(const char *cache_dir, const char *key, char **path, lt_error **err)
{
	*path = NULL;
	if (key == NULL || key[0] == '\0')
		return lt_error_set(err, 0, "cache: empty key");
	char *p = sif_entry_path(cache_dir, key);
	if (img_cache_mkdirs_for(p, err) < 0) {
		free(p);
		return -1;
	}
	*path = p;
	return 0;
}

int img_cache_sif_begin(const char *cache_dir, const char *key, lt_atomic_file *af, lt_error **err)
{
	/* callers look at af->fd to know whether there is something to abort */
	*af = (lt_atomic_file){.fd = -1};
	char *p;
	if (img_cache_sif_path(cache_dir, key, &p, err) < 0)
		return -1;
	int r = lt_atomic_open(af, p, 0755, err);
	free(p);
	return r;
}
