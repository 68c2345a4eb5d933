/* Sandbox (directory) outputs and SIF extraction. */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_internal.h"
#include "sif/sif.h"

/* The sandbox from the tree, into the empty directory `dest`. */
/* --fix-perms (Apptainer's): the owner may read and write everything and enter every
 * directory, so that a user can change and remove what the image holds. */
static uint32_t fixed_mode(enum tree_ftype type, uint32_t mode)
{
	if (type == TREE_FT_DIR)
		return mode | 0700;
	return mode | 0600 | ((mode & 0111) ? 0100 : 0);
}

static int fix_node(tree_node *node, void *arg)
{
	tree_inode *ino = node->inode;
	if (ino->type != TREE_FT_SYMLINK)
		ino->mode = fixed_mode(ino->type, ino->mode);
	return 0;
}

void build_fix_perms_tree(build_ctx *c)
{
	tree_walk(c->tree, fix_node, NULL);
}

static int fix_path(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_SL || S_ISLNK(st->st_mode))
		return 0;
	enum tree_ftype t = S_ISDIR(st->st_mode) ? TREE_FT_DIR : TREE_FT_REG;
	uint32_t mode = fixed_mode(t, (uint32_t)st->st_mode & 07777);
	if (mode != ((uint32_t)st->st_mode & 07777))
		chmod(path, mode);
	return 0;
}

int build_fix_perms_dir(const char *dir, lt_error **err)
{
	/* FTW_PHYS: symlinks are not followed; directories are made enterable before their
	 * contents are visited (pre-order) */
	if (nftw(dir, fix_path, 64, FTW_PHYS) < 0)
		return lt_error_set(err, errno, "--fix-perms: %s", dir);
	return 0;
}

int build_write_sandbox(build_ctx *c, const char *dest, lt_error **err)
{
	if (c->opts->fix_perms)
		build_fix_perms_tree(c);
	build_dir_writer *w = NULL;
	build_sink sink;
	if (build_dir_writer_new(c, dest, &w, err) < 0)
		return -1;
	build_dir_writer_sink(w, &sink);
	int rc = -1;
	if ((c->image == NULL || build_oci_feed(c, &sink, err) == 0) &&
	    build_feed_local(c, &sink, err) == 0 && build_dir_writer_finish(w, err) == 0)
		rc = 0;
	build_dir_writer_free(w);
	return rc;
}

bool build_is_sif_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char magic[9]; /* after the 32-byte launch script */
	bool sif = pread(fd, magic, sizeof(magic), 32) == (ssize_t)sizeof(magic) &&
		   memcmp(magic, "SIF_MAGIC", 9) == 0;
	close(fd);
	return sif;
}

bool build_is_def_file(const char *path)
{
	struct stat st;
	return !img_is_reference(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       !build_is_sif_file(path);
}

/* A SIF's primary SquashFS partition extracted into the empty directory `dest`. */
int build_extract_sif(const char *sif_path, const char *dest, lt_error **err)
{
	sif_image *sif = NULL;
	sq_image *img = NULL;
	int fd = -1, rc = -1;
	if (sif_open(sif_path, false, &sif, err) < 0)
		return -1;
	const sif_descriptor *part = sif_find_primary(sif);
	sif_partition_info info = {0};
	if (part != NULL)
		sif_partition_of(part, &info);
	if (part == NULL || info.fstype != SIF_FS_SQUASHFS) {
		lt_error_set(err, 0, "%s has no primary SquashFS partition", sif_path);
		goto out;
	}
	fd = open(sif_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lt_error_set(err, errno, "opening %s", sif_path);
		goto out;
	}
	if (sq_image_open(fd, (uint64_t)part->offset, (uint64_t)part->size, sif_path, &img, err) <
	    0)
		goto out;
	/* sq_extract makes the directory itself */
	if (rmdir(dest) < 0) {
		lt_error_set(err, errno, "removing the empty %s", dest);
		goto out;
	}
	if (sq_extract(img, dest, err) < 0)
		goto out;
	rc = 0;
out:
	sq_image_close(img);
	if (fd >= 0)
		close(fd);
	sif_close(sif);
	return rc;
}

/* Replaces `output` by the finished directory `tmp` (an existing sandbox only with force). */
int build_commit_sandbox(const char *tmp, const char *output, bool force, lt_error **err)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, output, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EEXIST || !force)
		return lt_error_set(err, errno, "renaming %s to %s", tmp, output);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, output, RENAME_EXCHANGE) < 0)
		return lt_error_set(err, errno, "replacing %s", output);
	/* tmp now names the old output */
	if (lt_remove_tree(tmp) < 0)
		lt_warn("could not remove all of the old %s (left in %s)", output, tmp);
	return 0;
}

int build_sandbox(const build_opts *o, build_report *report, lt_error **err)
{
	char *tmp = lt_strdup_printf("%s.tmp.XXXXXX", o->output);
	if (mkdtemp(tmp) == NULL) {
		lt_error_set(err, errno, "creating a directory like %s", tmp);
		free(tmp);
		return -1;
	}
	build_opts resolved = *o;
	build_ctx c;
	build_ctx_init(&c, &resolved, report);
	meta_source ms = {0};
	int rc = -1;
	if (!img_is_reference(o->source) && build_is_sif_file(o->source)) {
		rc = build_extract_sif(o->source, tmp, err);
	} else if (build_open_source(&c, &ms, err) == 0) {
		if (resolved.build_time < 0)
			resolved.build_time = build_reproducible_time(&c);
		ms.build_time = resolved.build_time;
		meta_image meta;
		memset(&meta, 0, sizeof(meta));
		if (meta_for_image(&ms, &meta, err) == 0 &&
		    build_prepare_meta(&c, &meta, err) == 0 &&
		    build_write_sandbox(&c, tmp, err) == 0)
			rc = 0;
		meta_image_free(&meta);
	}
	if (rc == 0)
		rc = build_commit_sandbox(tmp, o->output, o->force, err);
	if (rc < 0)
		lt_remove_tree(tmp);
	free(tmp);
	build_ctx_free(&c);
	return rc;
}
