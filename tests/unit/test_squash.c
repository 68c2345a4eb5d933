/* The SquashFS writer on a small tree with every inode type, read back with unsquashfs
 * (squashfs-tools) and checked field by field; plus determinism across thread counts and the
 * duplicate-file index. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "squash.h"
#include "tap.h"

static char tmpdir[] = "/tmp/litho-squash-XXXXXX";

static lt_inode *reg(lt_tree *t, lt_node *dir, const char *name, const char *data, size_t len)
{
	lt_inode *ino = lt_inode_new(LT_FT_REG);
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	lt_inode_set_buffer(ino, copy, len);
	ino->mtime = 1700000000;
	lt_tree_add(t, dir, name, ino);
	return ino;
}

static lt_tree *sample_tree(void)
{
	lt_tree *t = lt_tree_new();
	lt_node *root = lt_tree_root(t);
	root->inode->mtime = 1700000000;
	lt_inode *d = lt_inode_new(LT_FT_DIR);
	d->mode = 0750;
	d->uid = 1000;
	d->gid = 100;
	d->mtime = 1600000000;
	lt_inode_set_xattr(d, "user.dir", "v", 1);
	lt_node *dn = lt_tree_add(t, root, "dir", d);
	lt_tree_add(t, dn, "sub", lt_inode_new(LT_FT_DIR));
	lt_inode *f = reg(t, dn, "hello", "hello world\n", 12);
	f->mode = 04755;
	lt_inode_set_xattr(f, "security.capability", "\x01\x00\x00\x02", 4);
	lt_inode_set_xattr(f, "user.comment", "hi", 2);
	lt_tree_add(t, root, "hardlink", f); /* second name */
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
	lt_inode *s = lt_inode_new(LT_FT_SYMLINK);
	s->symlink = strdup("dir/hello");
	lt_tree_add(t, root, "link", s);
	lt_inode *c = lt_inode_new(LT_FT_CHR);
	c->rdev_major = 1;
	c->rdev_minor = 300000;
	lt_tree_add(t, root, "chr", c);
	lt_tree_add(t, root, "fifo", lt_inode_new(LT_FT_FIFO));
	lt_inode *late = lt_inode_new(LT_FT_REG);
	late->mtime = -5; /* clamped to 0 */
	lt_tree_add(t, root, "old", late);
	return t;
}

static int feed_buffers(lt_node *node, void *arg)
{
	sq_writer *w = arg;
	lt_inode *ino = node->inode;
	if (ino->type != LT_FT_REG || ino->src != LT_SRC_BUFFER || ino->writer_data)
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
	lt_tree *t = sample_tree();
	sq_options o = {.compressor = comp, .jobs = jobs, .block_size = 4096, .mkfs_time = 42};
	sq_writer *w = NULL;
	lt_error *err = NULL;
	int rc = sq_writer_new(fd, 4096, path, &o, &w, &err);
	if (rc == 0)
		rc = lt_tree_walk(t, feed_buffers, w) ? -1 : 0;
	if (rc == 0)
		rc = sq_writer_finish(w, t, &err);
	if (rc == 0)
		*size = sq_writer_stats(w)->image_size;
	if (err) {
		printf("# %s\n", err->message);
		lt_error_free(&err);
	}
	sq_writer_free(w);
	lt_tree_free(t);
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
		       "-rw-r--r-- 0/0 1970-01-01 /old\n");
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
	CHECK(strstr(out, "Parent inode: 14") != NULL);
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
	CHECK(strstr(out, "Number of inodes 13") != NULL);
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
	RUN(test_options);
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	free(cmd);
	return tap_done();
}
