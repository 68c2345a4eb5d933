/* The SquashFS writer on a small tree with every inode type, read back with unsquashfs
 * (squashfs-tools) and checked field by field; plus determinism across thread counts and the
 * duplicate-file index. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "squash/squash.h"
#include "tap.h"

static char tmpdir[] = "/tmp/litho-squash-XXXXXX";

static tree_inode *reg(tree_fs *t, tree_node *dir, const char *name, const char *data, size_t len)
{
	tree_inode *ino = tree_inode_new(TREE_FT_REG);
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	tree_inode_set_buffer(ino, copy, len);
	ino->mtime = 1700000000;
	tree_add(t, dir, name, ino);
	return ino;
}

static tree_fs *sample_tree(void)
{
	tree_fs *t = tree_new();
	tree_node *root = tree_root(t);
	root->inode->mtime = 1700000000;
	tree_inode *d = tree_inode_new(TREE_FT_DIR);
	d->mode = 0750;
	d->uid = 1000;
	d->gid = 100;
	d->mtime = 1600000000;
	tree_inode_set_xattr(d, "user.dir", "v", 1);
	tree_node *dn = tree_add(t, root, "dir", d);
	tree_add(t, dn, "sub", tree_inode_new(TREE_FT_DIR));
	tree_inode *f = reg(t, dn, "hello", "hello world\n", 12);
	f->mode = 04755;
	tree_inode_set_xattr(f, "security.capability", "\x01\x00\x00\x02", 4);
	tree_inode_set_xattr(f, "user.comment", "hi", 2);
	tree_add(t, root, "hardlink", f); /* second name */
	reg(t, root, "dup1", "same bytes", 10);
	reg(t, root, "dup2", "same bytes", 10);
	reg(t, root, "empty", "", 0);
	/* big enough for several blocks, with an all-zero block in the middle (a hole) */
	size_t big = 5 * 4096;
	char *bigdata = calloc(1, big);
	memset(bigdata, 'a', 4096);
	memset(bigdata + 3 * 4096, 'b', 2 * 4096);
	reg(t, root, "big", bigdata, big);
	reg(t, root, "big-copy", bigdata, big);
	free(bigdata);
	/* blocks plus a tail in a fragment, bytes that differ everywhere */
	size_t tail_len = 3 * 4096 + 123;
	char *tail = malloc(tail_len);
	for (size_t k = 0; k < tail_len; k++)
		tail[k] = (char)((k * 2654435761u) >> 13);
	reg(t, root, "tail", tail, tail_len);
	free(tail);
	tree_inode *s = tree_inode_new(TREE_FT_SYMLINK);
	s->symlink = strdup("dir/hello");
	tree_add(t, root, "link", s);
	tree_inode *c = tree_inode_new(TREE_FT_CHR);
	c->rdev_major = 1;
	c->rdev_minor = 300000;
	tree_add(t, root, "chr", c);
	tree_add(t, root, "fifo", tree_inode_new(TREE_FT_FIFO));
	tree_inode *late = tree_inode_new(TREE_FT_REG);
	late->mtime = -5; /* clamped to 0 */
	tree_add(t, root, "old", late);
	return t;
}

static int feed_buffers(tree_node *node, void *arg)
{
	sq_writer *w = arg;
	tree_inode *ino = node->inode;
	if (ino->type != TREE_FT_REG || ino->src != TREE_SRC_BUFFER || ino->writer_data)
		return 0;
	lt_error *err = NULL;
	if (sq_writer_begin_file(w, ino, &err) < 0 ||
	    sq_writer_append(w, ino->src_buffer, ino->size, &err) < 0 ||
	    sq_writer_end_file(w, &err) < 0) {
		printf("# feed: %s\n", err->message);
		lt_error_free(&err);
		return 1;
	}
	return 0;
}

/* Writes the sample tree at offset 4096 of path (after 4096 bytes of 0xEE). */
static int write_image(const char *path, unsigned jobs, int comp, uint64_t *size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t junk[4096];
	memset(junk, 0xEE, sizeof(junk));
	if (write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		return -1;
	tree_fs *t = sample_tree();
	sq_options o = {.compressor = comp, .jobs = jobs, .block_size = 4096, .mkfs_time = 42};
	sq_writer *w = NULL;
	lt_error *err = NULL;
	int rc = sq_writer_new(fd, 4096, path, &o, &w, &err);
	if (rc == 0)
		rc = tree_walk(t, feed_buffers, w) ? -1 : 0;
	if (rc == 0)
		rc = sq_writer_finish(w, t, &err);
	if (rc == 0)
		*size = sq_writer_stats(w)->image_size;
	if (err) {
		printf("# %s\n", err->message);
		lt_error_free(&err);
	}
	sq_writer_free(w);
	tree_free(t);
	close(fd);
	return rc;
}

static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return strdup("");
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);
	size_t n;
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0)
		len += n;
	pclose(p);
	return out;
}

static bool have(const char *tool)
{
	char *cmd = lt_strdup_printf("command -v %s >/dev/null 2>&1", tool);
	int rc = system(cmd);
	free(cmd);
	return rc == 0;
}

static void test_listing(void)
{
	char *img = lt_path_join(tmpdir, "a.img");
	uint64_t size = 0;
	CHECK_INT(write_image(img, 2, SQ_COMP_ZSTD, &size), 0);
	CHECK_INT(size % 4096, 0);
	struct stat st;
	stat(img, &st);
	CHECK_INT(st.st_size, 4096 + (int64_t)size);
	if (!have("unsquashfs")) {
		printf("# unsquashfs missing: listing not checked\n");
		free(img);
		return;
	}
	char *cmd = lt_strdup_printf("unsquashfs -o 4096 -lln '%s' | awk '{print $1, $2, $(NF-2), "
				     "$NF}' | sed 's/ [^ ]*squashfs-root/ /'",
				     img);
	char *out = run(cmd);
	CHECK_STR(out, "drwxr-xr-x 0/0 2023-11-14 \n"
		       "-rw-r--r-- 0/0 2023-11-14 /big\n"
		       "-rw-r--r-- 0/0 2023-11-14 /big-copy\n"
		       "crw-r--r-- 0/0 1970-01-01 /chr\n"
		       "drwxr-x--- 1000/100 2020-09-13 /dir\n"
		       "-rwsr-xr-x 0/0 2023-11-14 /dir/hello\n"
		       "drwxr-xr-x 0/0 1970-01-01 /dir/sub\n"
		       "-rw-r--r-- 0/0 2023-11-14 /dup1\n"
		       "-rw-r--r-- 0/0 2023-11-14 /dup2\n"
		       "-rw-r--r-- 0/0 2023-11-14 /empty\n"
		       "prw-r--r-- 0/0 1970-01-01 /fifo\n"
		       "-rwsr-xr-x 0/0 2023-11-14 /hardlink\n"
		       "lrwxrwxrwx 0/0 /link dir/hello\n"
		       "-rw-r--r-- 0/0 1970-01-01 /old\n"
		       "-rw-r--r-- 0/0 2023-11-14 /tail\n");
	free(out);
	free(cmd);
	/* contents, device numbers, xattrs and the hole survive */
	cmd =
	    lt_strdup_printf("d=$(mktemp -d) && unsquashfs -o 4096 -q -no-progress -d $d/r '%s' "
			     ">/dev/null 2>&1; cat $d/r/dir/hello; cmp $d/r/big $d/r/big-copy && "
			     "echo same; tail -c +4097 '%s' > $d/raw; rdsquashfs -x /dir/hello "
			     "$d/raw; rdsquashfs -s / $d/raw; rdsquashfs -s /dir $d/raw; "
			     "rdsquashfs -s /chr $d/raw; rdsquashfs -s /hardlink $d/raw; rm -rf $d",
			     img, img);
	out = run(cmd);
	CHECK(strstr(out, "hello world\n") != NULL);
	CHECK(strstr(out, "same") != NULL);
	CHECK(strstr(out, "user.comment=hi") != NULL);
	CHECK(strstr(out, "security.capability=") != NULL);
	/* the root's parent is inode_count + 1; directories count 2 + subdirectories */
	CHECK(strstr(out, "Parent inode: 15") != NULL);
	CHECK(strstr(out, "Hard link count: 3\n") != NULL);
	CHECK(strstr(out, "Device number: 1:300000") != NULL);
	CHECK(strstr(out, "Hard link count: 2\n") != NULL);
	if (tap_current_failed)
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
			printf("# | %s\n", line);
	free(out);
	free(cmd);
	/* superblock: inode count, flags (exportable, xattrs present), mkfs time */
	cmd = lt_strdup_printf("unsquashfs -o 4096 -s '%s'", img);
	out = run(cmd);
	CHECK(strstr(out, "Number of inodes 14") != NULL);
	CHECK(strstr(out, "Filesystem is exportable via NFS") != NULL);
	CHECK(strstr(out, "Block size 4096") != NULL);
	CHECK(strstr(out, "Compression zstd") != NULL);
	free(out);
	free(cmd);
	free(img);
}

static void test_deterministic_threads(void)
{
	char *a = lt_path_join(tmpdir, "j1.img"), *b = lt_path_join(tmpdir, "j4.img");
	uint64_t sa = 0, sb = 0;
	CHECK_INT(write_image(a, 1, SQ_COMP_GZIP, &sa), 0);
	CHECK_INT(write_image(b, 4, SQ_COMP_GZIP, &sb), 0);
	CHECK_INT(sa, sb);
	char *cmd = lt_strdup_printf("cmp -s '%s' '%s'", a, b);
	CHECK_INT(system(cmd), 0);
	free(cmd);
	free(a);
	free(b);
}

static int collect_names(void *ctx, const char *name, uint64_t ref, uint32_t inum, uint32_t type)
{
	char *list = ctx;
	strcat(list, name);
	strcat(list, ",");
	return 0;
}

static int collect_xattrs(void *ctx, const char *key, const void *value, size_t len)
{
	char *list = ctx;
	strcat(list, key);
	strcat(list, "=");
	strncat(list, value, len);
	strcat(list, ";");
	return 0;
}

static void test_reader(void)
{
	char *img = lt_path_join(tmpdir, "r.img");
	uint64_t size = 0;
	CHECK_INT(write_image(img, 2, SQ_COMP_GZIP, &size), 0);
	int fd = open(img, O_RDONLY);
	lt_error *err = NULL;
	sq_image *si = NULL;
	CHECK_INT(sq_image_open(fd, 4096, size, "r.img", &si, &err), 0);
	sq_reader *r = si ? sq_reader_new(si, &err) : NULL;
	CHECK(r != NULL);
	if (r == NULL) {
		close(fd);
		free(img);
		return;
	}
	/* by path, through a symlink */
	char *data = NULL;
	size_t len = 0;
	CHECK_INT(sq_read_file(r, "link", 1 << 20, &data, &len, &err), 0);
	CHECK_STR(data, "hello world\n");
	free(data);
	CHECK_INT(sq_read_file(r, "dir/sub/../../big", 1 << 20, &data, &len, &err), 0);
	CHECK_INT(len, 5 * 4096);
	CHECK(data && data[0] == 'a' && data[4096] == 0 && data[3 * 4096] == 'b');
	free(data);
	CHECK_INT(sq_read_file(r, "nope", 100, &data, &len, &err), 1);
	uint64_t ref = 0;
	CHECK_INT(sq_resolve(r, "link", false, &ref, &err), 0);
	sq_inode *i = NULL;
	CHECK_INT(sq_inode_get(r, ref, &i, &err), 0);
	CHECK(i && sq_inode_is_symlink(i));
	sq_inode_free(i);
	/* attributes, directory listing, xattrs */
	CHECK_INT(sq_resolve(r, "dir/hello", true, &ref, &err), 0);
	CHECK_INT(sq_inode_get(r, ref, &i, &err), 0);
	sq_attr a;
	sq_inode_attr(r, i, &a);
	CHECK_INT(a.mode, 0104755);
	CHECK_INT(a.nlink, 2);
	CHECK_INT(a.size, 12);
	char list[512] = "";
	CHECK_INT(sq_xattrs(r, i, collect_xattrs, list, &err), 0);
	CHECK(strstr(list, "user.comment=hi;") != NULL);
	if (tap_current_failed)
		printf("# xattrs: %s\n", list);
	sq_inode_free(i);
	CHECK_INT(sq_inode_get(r, sq_image_root(si), &i, &err), 0);
	list[0] = '\0';
	CHECK_INT(sq_readdir(r, i, 9, collect_names, list, &err), 0);
	CHECK_STR(list, "link,old,tail,");
	sq_inode_free(i);
	CHECK_INT(sq_resolve(r, "chr", true, &ref, &err), 0);
	CHECK_INT(sq_inode_get(r, ref, &i, &err), 0);
	sq_inode_attr(r, i, &a);
	CHECK_INT(a.rdev_major, 1);
	CHECK_INT(a.rdev_minor, 300000);
	sq_inode_free(i);
	/* extraction keeps contents, links and modes */
	char *dest = lt_path_join(tmpdir, "x");
	CHECK_INT(sq_extract(si, dest, &err), 0);
	char *cmd = lt_strdup_printf("cd '%s' && cat dir/hello && stat -c '%%h %%a' hardlink && "
				     "readlink link && stat -c '%%t:%%T' chr",
				     dest);
	char *out = run(cmd);
	CHECK_STR(out, "hello world\n2 4755\ndir/hello\n1:493e0\n");
	free(out);
	free(cmd);
	free(dest);
	if (err)
		printf("# %s\n", err->message);
	lt_error_free(&err);
	sq_reader_free(r);
	sq_image_close(si);
	close(fd);
	free(img);
}

/* Reads a file through sq_read in pieces of `chunk` bytes from `start` and compares. */
static void read_in_chunks(sq_reader *r, const char *name, const char *want, size_t len,
			   size_t start, size_t chunk)
{
	lt_error *err = NULL;
	uint64_t ref = 0;
	sq_inode *i = NULL;
	if (sq_resolve(r, name, true, &ref, &err) < 0 || sq_inode_get(r, ref, &i, &err) < 0) {
		CHECK(false);
		lt_error_free(&err);
		return;
	}
	char *got = calloc(1, len + 1);
	size_t pos = start;
	while (pos < len) {
		ssize_t n = sq_read(r, i, pos, got + pos, chunk, &err);
		if (n <= 0)
			break;
		pos += (size_t)n;
	}
	CHECK_INT(pos, len);
	CHECK(memcmp(got + start, want + start, len - start) == 0);
	/* past the end: nothing */
	CHECK_INT(sq_read(r, i, len, got, 10, &err), 0);
	free(got);
	sq_inode_free(i);
}

static void test_read_pieces(void)
{
	char *img = lt_path_join(tmpdir, "p.img");
	uint64_t size = 0;
	CHECK_INT(write_image(img, 2, SQ_COMP_ZSTD, &size), 0);
	int fd = open(img, O_RDONLY);
	lt_error *err = NULL;
	sq_image *si = NULL;
	CHECK_INT(sq_image_open(fd, 4096, size, "p.img", &si, &err), 0);
	sq_reader *r = si ? sq_reader_new(si, &err) : NULL;
	CHECK(r != NULL);
	size_t tail_len = 3 * 4096 + 123, big = 5 * 4096;
	char *tail = malloc(tail_len);
	for (size_t k = 0; k < tail_len; k++)
		tail[k] = (char)((k * 2654435761u) >> 13);
	char *bigdata = calloc(1, big);
	memset(bigdata, 'a', 4096);
	memset(bigdata + 3 * 4096, 'b', 2 * 4096);
	static const size_t chunks[] = {1, 7, 4095, 4096, 4097, 8192, 10000, 1 << 20};
	static const size_t starts[] = {0, 1, 4095, 4096, 8191, 12288, 12300};
	for (size_t c = 0; r && c < LT_ARRAY_SIZE(chunks); c++)
		for (size_t s = 0; s < LT_ARRAY_SIZE(starts); s++) {
			read_in_chunks(r, "tail", tail, tail_len, starts[s], chunks[c]);
			read_in_chunks(r, "big", bigdata, big, starts[s], chunks[c]);
		}
	free(tail);
	free(bigdata);
	sq_reader_free(r);
	sq_image_close(si);
	close(fd);
	free(img);
}

static void test_options(void)
{
	lt_error *err = NULL;
	int comp = 0;
	CHECK_INT(sq_parse_compressor("zstd", &comp, &err), 0);
	CHECK_INT(comp, SQ_COMP_ZSTD);
	CHECK_INT(sq_parse_compressor("brotli", &comp, &err), -1);
	CHECK_ERR(err, "unknown compressor 'brotli'");
	sq_options o = {.compressor = SQ_COMP_GZIP, .level = 12};
	CHECK_INT(sq_check_options(&o, &err), -1);
	CHECK_ERR(err, "out of range for gzip (1-9)");
	o = (sq_options){.block_size = 3000};
	CHECK_INT(sq_check_options(&o, &err), -1);
	CHECK_ERR(err, "--block-size");
	lt_error_free(&err);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 2;
	RUN(test_listing);
	RUN(test_deterministic_threads);
	RUN(test_reader);
	RUN(test_read_pieces);
	RUN(test_options);
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	free(cmd);
	return tap_done();
}
