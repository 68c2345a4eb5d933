/* Layer merging rules (oci.md §3) on hand-made entry lists, and the layer reader on tars
 * written with libarchive (plain, gzip, zstd, PAX long names, xattrs, sparse files). */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"
#include "tap.h"

/* ------------------------------------------------------------------------------------------ */
/* Building entry lists                                                                        */

static void push(layer_list *l, layer_entry e)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->entries = realloc(l->entries, l->cap * sizeof(*l->entries));
	}
	e.ordinal = l->count;
	e.path = strdup(e.path);
	if (e.hardlink)
		e.hardlink = strdup(e.hardlink);
	if (e.symlink)
		e.symlink = strdup(e.symlink);
	l->entries[l->count++] = e;
}

static void dir(layer_list *l, const char *path, uint32_t mode)
{
	push(l, (layer_entry){.path = (char *)path, .type = TREE_FT_DIR, .mode = mode});
}

static void file(layer_list *l, const char *path, uint64_t size)
{
	push(l,
	     (layer_entry){.path = (char *)path, .type = TREE_FT_REG, .mode = 0644, .size = size});
}

static void symlink_(layer_list *l, const char *path, const char *target)
{
	push(l, (layer_entry){.path = (char *)path,
			      .type = TREE_FT_SYMLINK,
			      .mode = 0777,
			      .symlink = (char *)target});
}

static void hardlink(layer_list *l, const char *path, const char *target)
{
	push(l, (layer_entry){.path = (char *)path,
			      .type = TREE_FT_REG,
			      .mode = 0644,
			      .hardlink = (char *)target});
}

static void whiteout(layer_list *l, const char *path)
{
	push(l, (layer_entry){.path = (char *)path, .whiteout = true});
}

static void opaque(layer_list *l, const char *dirpath)
{
	push(l, (layer_entry){.path = (char *)dirpath, .opaque = true});
}

static int apply(tree_fs *t, uint32_t layer, layer_list *l, lt_error **err)
{
	int rc = layer_apply(t, layer, l, "test layer", NULL, err);
	layer_list_free(l);
	return rc;
}

static tree_node *get(tree_fs *t, const char *path)
{
	return tree_lookup(t, path);
}

/* Where a file's bytes come from: layer*1000 + entry, or -1. */
static long src_of(tree_fs *t, const char *path)
{
	tree_node *n = get(t, path);
	if (n == NULL || n->inode->src != TREE_SRC_LAYER)
		return -1;
	return (long)n->inode->src_layer * 1000 + (long)n->inode->src_entry;
}

/* ------------------------------------------------------------------------------------------ */

static void test_basic_and_implicit_parents(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	file(&l, "a/b/c", 5);
	dir(&l, "a", 0700);
	CHECK_INT(apply(t, 0, &l, &err), 0);
	CHECK(get(t, "a") && get(t, "a")->inode->mode == 0700 && !get(t, "a")->implicit);
	CHECK(get(t, "a/b") && get(t, "a/b")->implicit);
	CHECK_INT(get(t, "a/b")->inode->mode, 0755);
	CHECK_INT(get(t, "a/b")->inode->uid, 0);
	CHECK_INT(src_of(t, "a/b/c"), 0);
	tree_free(t);
}

static void test_whiteout_and_same_layer_rule(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	file(&l, "f1", 1);
	file(&l, "f2", 1);
	dir(&l, "d", 0755);
	file(&l, "d/x", 1);
	CHECK_INT(apply(t, 0, &l, &err), 0);
	/* Layer 1: deletes f1 and d; recreates f2 in the same layer after its whiteout, and
	 * whites out f3 that only this layer has (a whiteout never hides its own layer). */
	file(&l, "f2", 2);
	whiteout(&l, "f2");
	whiteout(&l, "f1");
	whiteout(&l, "d");
	file(&l, "d/new", 1);
	file(&l, "f3", 1);
	whiteout(&l, "f3");
	whiteout(&l, "nonexistent/deep");
	CHECK_INT(apply(t, 1, &l, &err), 0);
	CHECK(get(t, "f1") == NULL);
	CHECK_INT(src_of(t, "f2"), 1000);
	CHECK(get(t, "d/x") == NULL);
	CHECK(get(t, "d/new") != NULL);
	CHECK(get(t, "d")->implicit); /* the lower d is gone; d now only holds d/new */
	CHECK(get(t, "f3") != NULL);
	CHECK(get(t, "nonexistent") == NULL); /* whiteouts create no parents */
	tree_free(t);
}

static void test_opaque(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	dir(&l, "a", 0755);
	file(&l, "a/bar", 1);
	dir(&l, "a/sub", 0700);
	file(&l, "a/sub/deep", 1);
	CHECK_INT(apply(t, 0, &l, &err), 0);
	/* the marker comes after this layer's own entries: it still only hides lower ones */
	dir(&l, "a", 0711);
	file(&l, "a/sub/foo", 1);
	opaque(&l, "a");
	CHECK_INT(apply(t, 1, &l, &err), 0);
	CHECK(get(t, "a/bar") == NULL);
	CHECK(get(t, "a/sub/deep") == NULL);
	CHECK(get(t, "a/sub/foo") != NULL);
	CHECK(get(t, "a/sub")->implicit);
	CHECK_INT(get(t, "a")->inode->mode, 0711); /* the directory itself stays */
	tree_free(t);
}

static void test_replacement(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	dir(&l, "d1", 0755);
	file(&l, "d1/inner", 1);
	file(&l, "f1", 1);
	dir(&l, "d2", 0700);
	file(&l, "d2/keep", 1);
	symlink_(&l, "s", "target");
	CHECK_INT(apply(t, 0, &l, &err), 0);
	file(&l, "d1", 3);   /* dir -> file */
	dir(&l, "f1", 0750); /* file -> dir */
	dir(&l, "d2", 0755); /* dir over dir: attributes only */
	dir(&l, "s", 0755);  /* symlink -> dir */
	CHECK_INT(apply(t, 1, &l, &err), 0);
	CHECK_INT(get(t, "d1")->inode->type, TREE_FT_REG);
	CHECK(get(t, "d1/inner") == NULL);
	CHECK_INT(get(t, "f1")->inode->type, TREE_FT_DIR);
	CHECK_INT(get(t, "d2")->inode->mode, 0755);
	CHECK(get(t, "d2/keep") != NULL);
	CHECK_INT(get(t, "s")->inode->type, TREE_FT_DIR);
	/* duplicates in one layer: the later entry wins */
	file(&l, "dup", 1);
	file(&l, "dup", 2);
	CHECK_INT(apply(t, 2, &l, &err), 0);
	CHECK_INT(src_of(t, "dup"), 2001);
	tree_free(t);
}

static void test_symlinked_parents(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	dir(&l, "usr", 0755);
	dir(&l, "usr/lib", 0755);
	symlink_(&l, "lib", "usr/lib");
	symlink_(&l, "abs", "/usr/lib");
	symlink_(&l, "escape", "../../../../usr");
	CHECK_INT(apply(t, 0, &l, &err), 0);
	file(&l, "lib/libfoo.so", 1);
	file(&l, "abs/libbar.so", 1);
	file(&l, "escape/share/x", 1);
	CHECK_INT(apply(t, 1, &l, &err), 0);
	CHECK(get(t, "usr/lib/libfoo.so") != NULL);
	CHECK(get(t, "usr/lib/libbar.so") != NULL);
	CHECK(get(t, "usr/share/x") != NULL); /* ".." stopped at the root */
	CHECK_INT(get(t, "lib")->inode->type, TREE_FT_SYMLINK);
	/* whiteouts resolve parents the same way, and remove the link itself, not its target */
	whiteout(&l, "lib/libfoo.so");
	whiteout(&l, "abs");
	CHECK_INT(apply(t, 2, &l, &err), 0);
	CHECK(get(t, "usr/lib/libfoo.so") == NULL);
	CHECK(get(t, "abs") == NULL);
	CHECK(get(t, "usr/lib/libbar.so") != NULL);
	/* a symlink loop is an error, not a hang */
	symlink_(&l, "loop1", "loop2");
	symlink_(&l, "loop2", "loop1");
	file(&l, "loop1/x", 1);
	CHECK_INT(apply(t, 3, &l, &err), -1);
	CHECK_ERR(err, "too many levels of symbolic links");
	lt_error_free(&err);
	tree_free(t);
}

static void test_hardlinks(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	dir(&l, "hl", 0755);
	file(&l, "hl/target", 4);
	hardlink(&l, "hl/link", "hl/target");
	file(&l, "orig", 4);
	CHECK_INT(apply(t, 0, &l, &err), 0);
	CHECK(get(t, "hl/link")->inode == get(t, "hl/target")->inode);
	CHECK_INT(get(t, "hl/link")->inode->nlink, 2);
	/* deleting the first name keeps the data under the other */
	whiteout(&l, "hl/target");
	hardlink(&l, "link2", "orig"); /* to a lower-layer file */
	CHECK_INT(apply(t, 1, &l, &err), 0);
	CHECK(get(t, "hl/target") == NULL);
	CHECK_INT(src_of(t, "hl/link"), 1);
	CHECK_INT(get(t, "hl/link")->inode->nlink, 1);
	CHECK(get(t, "link2")->inode == get(t, "orig")->inode);
	/* replacing one name gives it a new inode; the link keeps the old bytes */
	file(&l, "orig", 9);
	CHECK_INT(apply(t, 2, &l, &err), 0);
	CHECK_INT(src_of(t, "link2"), 3);
	CHECK_INT(src_of(t, "orig"), 2000);
	/* a link whose target this same layer whites out still finds it */
	file(&l, "gone", 2);
	CHECK_INT(apply(t, 3, &l, &err), 0);
	whiteout(&l, "gone");
	hardlink(&l, "kept", "gone");
	CHECK_INT(apply(t, 4, &l, &err), 0);
	CHECK(get(t, "gone") == NULL);
	CHECK_INT(src_of(t, "kept"), 3000);
	/* errors: missing target, directory target */
	hardlink(&l, "bad", "missing/file");
	CHECK_INT(apply(t, 5, &l, &err), -1);
	CHECK_ERR(err, "hard link bad points to missing/file, which does not exist");
	hardlink(&l, "bad", "hl");
	CHECK_INT(apply(t, 5, &l, &err), -1);
	CHECK_ERR(err, "points to the directory hl");
	lt_error_free(&err);
	tree_free(t);
}

static void test_root_entry(void)
{
	tree_fs *t = tree_new();
	lt_error *err = NULL;
	layer_list l = {0};
	dir(&l, "", 0700);
	CHECK_INT(apply(t, 0, &l, &err), 0);
	CHECK_INT(tree_root(t)->inode->mode, 0700);
	file(&l, "", 1);
	CHECK_INT(apply(t, 1, &l, &err), -1);
	CHECK_ERR(err, "root directory is not a directory");
	lt_error_free(&err);
	tree_free(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                      */

typedef struct mem_src {
	const uint8_t *data;
	size_t len, pos;
	size_t chunk; /* deliver in small pieces to exercise buffering */
} mem_src;

static ssize_t mem_read(void *ctx, void *buf, size_t len, lt_error **err)
{
	mem_src *m = ctx;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

typedef struct tarbuf {
	uint8_t *data;
	size_t len;
} tarbuf;

/* Writes a PAX tar with a few interesting entries, optionally compressed. */
static tarbuf make_tar(int filter)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter == 1)
		archive_write_add_filter_gzip(a);
	else if (filter == 2)
		archive_write_add_filter_zstd(a);
	size_t cap = 4 << 20, used = 0;
	uint8_t *buf = malloc(cap);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open_memory(a, buf, cap, &used);
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, "./etc/");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_write_header(a, e);

	archive_entry_clear(e);
	char longname[400];
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "etc/", 4);
	longname[sizeof(longname) - 1] = '\0';
	archive_entry_set_pathname(e, longname);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 04755);
	archive_entry_set_uid(e, 3000000);
	archive_entry_set_gid(e, 42);
	archive_entry_set_mtime(e, 1234567890, 0);
	archive_entry_set_size(e, 5);
	archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
	archive_entry_xattr_add_entry(e, "security.capability", "\x01\x02", 2);
	archive_entry_xattr_add_entry(e, "system.posix_acl_access", "x", 1);
	archive_write_header(a, e);
	archive_write_data(a, "hello", 5);

	archive_entry_clear(e);
	archive_entry_set_pathname(e, "../../escape");
	archive_entry_set_filetype(e, AE_IFCHR);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_rdevmajor(e, 1);
	archive_entry_set_rdevminor(e, 300000);
	archive_write_header(a, e);

	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/.wh.old");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	archive_write_header(a, e);

	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/link");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_hardlink(e, "./etc/nnnnnnnn");
	archive_entry_set_size(e, 0);
	archive_write_header(a, e);

	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return (tarbuf){buf, used};
}

static void test_reader(int filter)
{
	tarbuf tb = make_tar(filter);
	/* the expected diff_id: sha256 of the uncompressed tar */
	tarbuf plain = make_tar(0);
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(plain.data, plain.len, d);
	char diff_id[72];
	lt_sha256_digest_string(d, diff_id);

	mem_src src = {tb.data, tb.len, 0, 1000};
	layer_reader *r = layer_reader_new(mem_read, &src, "test layer", diff_id);
	layer_list list;
	lt_error *err = NULL;
	CHECK_INT(layer_scan(r, &list, &err), 0);
	if (err)
		printf("# %s\n", err->message);
	CHECK_INT(list.count, 5);
	if (list.count == 5) {
		CHECK_STR(list.entries[0].path, "etc");
		CHECK_INT(strlen(list.entries[1].path), 399);
		CHECK_INT(list.entries[1].mode, 04755);
		CHECK_INT(list.entries[1].uid, 3000000);
		CHECK_INT(list.entries[1].mtime, 1234567890);
		CHECK_INT(list.entries[1].n_xattrs, 2); /* system.* dropped */
		CHECK_STR(list.entries[2].path, "escape");
		CHECK(list.entries[2].clamped);
		CHECK_INT(list.entries[2].rdev_minor, 300000);
		CHECK(list.entries[3].whiteout);
		CHECK_STR(list.entries[3].path, "etc/old");
		CHECK_STR(list.entries[4].hardlink, "etc/nnnnnnnn");
	}
	CHECK_INT(list.clamped, 1);
	CHECK_INT(list.dropped_xattrs, 1);
	CHECK_INT(list.tar_bytes, plain.len);
	layer_list_free(&list);
	layer_reader_free(r);

	/* data of the long-named file */
	src.pos = 0;
	r = layer_reader_new(mem_read, &src, "test layer", NULL);
	const layer_entry *e = NULL;
	CHECK_INT(layer_reader_next(r, &e, &err), 1);
	CHECK_INT(layer_reader_next(r, &e, &err), 1);
	const void *buf;
	size_t len;
	uint64_t off;
	CHECK_INT(layer_reader_data(r, &buf, &len, &off, &err), 1);
	CHECK(len == 5 && memcmp(buf, "hello", 5) == 0 && off == 0);
	layer_reader_free(r);

	/* a wrong diff_id is caught */
	src.pos = 0;
	r = layer_reader_new(
	    mem_read, &src, "test layer",
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000");
	CHECK_INT(layer_scan(r, &list, &err), -1);
	CHECK_ERR(err, "diff_id mismatch");
	layer_reader_free(r);

	/* a truncated compressed stream is an error, not a short layer */
	if (filter != 0) {
		mem_src cut = {tb.data, tb.len / 2, 0, 0};
		r = layer_reader_new(mem_read, &cut, "test layer", NULL);
		CHECK_INT(layer_scan(r, &list, &err), -1);
		CHECK_ERR(err, "test layer");
		layer_reader_free(r);
	}
	lt_error_free(&err);
	free(tb.data);
	free(plain.data);
}

static void test_reader_plain(void)
{
	test_reader(0);
}
static void test_reader_gzip(void)
{
	test_reader(1);
}
static void test_reader_zstd(void)
{
	test_reader(2);
}

static void test_bare_whiteout(void)
{
	static const char name[] = "dir/.wh.";
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	size_t cap = 1 << 16, used = 0;
	uint8_t *buf = malloc(cap);
	archive_write_open_memory(a, buf, cap, &used);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, 0);
	archive_write_header(a, e);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	mem_src src = {buf, used, 0, 0};
	layer_reader *r = layer_reader_new(mem_read, &src, "evil layer", NULL);
	layer_list list;
	lt_error *err = NULL;
	CHECK_INT(layer_scan(r, &list, &err), -1);
	CHECK_ERR(err, "evil layer: invalid whiteout entry 'dir/.wh.'");
	layer_reader_free(r);
	lt_error_free(&err);
	free(buf);
}

int main(void)
{
	RUN(test_basic_and_implicit_parents);
	RUN(test_whiteout_and_same_layer_rule);
	RUN(test_opaque);
	RUN(test_replacement);
	RUN(test_symlinked_parents);
	RUN(test_hardlinks);
	RUN(test_root_entry);
	RUN(test_reader_plain);
	RUN(test_reader_gzip);
	RUN(test_reader_zstd);
	RUN(test_bare_whiteout);
	return tap_done();
}
