/* The second half of writing an image: inodes and directories in post-order (children before
 * their directory, the root last), then the tables in the order the kernel checks them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "squash_internal.h"

#define NO_XATTR 0xFFFFFFFFu
#define PAD_SIZE 4096

static uint16_t type_bits(enum tree_ftype t)
{
	switch (t) {
	case TREE_FT_DIR:
		return S_IFDIR;
	case TREE_FT_SYMLINK:
		return S_IFLNK;
	case TREE_FT_CHR:
		return S_IFCHR;
	case TREE_FT_BLK:
		return S_IFBLK;
	case TREE_FT_FIFO:
		return S_IFIFO;
	case TREE_FT_SOCK:
		return S_IFSOCK;
	default:
		return S_IFREG;
	}
}

/* Linux new_encode_dev: what the kernel and squashfuse decode. */
static uint32_t encode_dev(uint32_t major, uint32_t minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* Numbers every inode in the order they will be written: a directory's children (depth
 * first) before the directory, a hard-linked inode where it is met first. */
static uint32_t number_inodes(tree_node *dir, uint32_t next)
{
	for (tree_node *c = dir->first_child; c != NULL; c = c->next_sibling) {
		if (c->inode->type == TREE_FT_DIR)
			next = number_inodes(c, next);
		else if (c->inode->writer_number == 0)
			c->inode->writer_number = ++next;
	}
	dir->inode->writer_number = ++next;
	return next;
}

static int xattr_index(sq_writer *w, const tree_inode *ino, uint32_t *idx, lt_error **err)
{
	*idx = NO_XATTR;
	size_t stored = 0;
	for (size_t i = 0; i < ino->n_xattrs; i++)
		if (sqfs_get_xattr_prefix_id(ino->xattrs[i].key) >= 0)
			stored++;
	if (stored == 0)
		return 0;
	int r = sqfs_xattr_writer_begin(w->xattrs, 0);
	for (size_t i = 0; r == 0 && i < ino->n_xattrs; i++) {
		if (sqfs_get_xattr_prefix_id(ino->xattrs[i].key) < 0) {
			lt_debug("%s: xattr %s cannot be stored in SquashFS", w->name,
				 ino->xattrs[i].key);
			continue;
		}
		r = sqfs_xattr_writer_add(w->xattrs, ino->xattrs[i].key, ino->xattrs[i].value,
					  ino->xattrs[i].len);
	}
	if (r == 0)
		r = sqfs_xattr_writer_end(w->xattrs, idx);
	if (r != 0)
		return sq_fail(w, r, "recording extended attributes", err);
	w->have_xattrs = true;
	return 0;
}

static int set_common(sq_writer *w, sqfs_inode_generic_t *gi, const tree_inode *ino, lt_error **err)
{
	/* Linux ignores a symlink's permission bits and always shows 0777 (tars may carry
	 * others); mksquashfs stores 0777 too. */
	uint32_t perm = ino->type == TREE_FT_SYMLINK ? 0777 : (ino->mode & 07777);
	gi->base.mode = (uint16_t)(type_bits(ino->type) | perm);
	int r = sqfs_id_table_id_to_index(w->ids, ino->uid, &gi->base.uid_idx);
	if (r == 0)
		r = sqfs_id_table_id_to_index(w->ids, ino->gid, &gi->base.gid_idx);
	if (r != 0)
		return sq_fail(w, r, "recording owners (SquashFS holds at most 65536 ids)", err);
	int64_t t = ino->mtime;
	gi->base.mod_time = t < 0 ? 0 : (t > UINT32_MAX ? UINT32_MAX : (uint32_t)t);
	gi->base.inode_number = ino->writer_number;
	return 0;
}

static int emit_inode(sq_writer *w, sqfs_inode_generic_t *gi, tree_inode *ino, lt_error **err)
{
	sqfs_u64 block = 0;
	sqfs_u32 offset = 0;
	sqfs_meta_writer_get_position(w->inode_mw, &block, &offset);
	int r = sqfs_meta_writer_write_inode(w->inode_mw, gi);
	if (r != 0)
		return sq_fail(w, r, "writing the inode table", err);
	ino->writer_ref = (block << 16) | offset;
	ino->written = true;
	w->stats.inodes++;
	return 0;
}

static sqfs_inode_generic_t *new_generic(size_t payload)
{
	sqfs_inode_generic_t *gi = lt_xcalloc(1, sizeof(*gi) + payload);
	gi->payload_bytes_available = (sqfs_u32)payload;
	return gi;
}

static int write_leaf(sq_writer *w, tree_node *node, lt_error **err)
{
	tree_inode *ino = node->inode;
	uint32_t xidx = NO_XATTR;
	if (xattr_index(w, ino, &xidx, err) < 0)
		return -1;
	sqfs_inode_generic_t *gi = NULL;
	bool from_processor = false;
	switch (ino->type) {
	case TREE_FT_REG: {
		sqfs_inode_generic_t **slot = ino->writer_data;
		if (slot != NULL) {
			gi = *slot;
			*slot = NULL;
			from_processor = true;
		} else {
			if (ino->size != 0) {
				char *path = tree_node_path(node);
				lt_error_set(err, 0, "%s: no data was written for /%s", w->name,
					     path);
				free(path);
				return -1;
			}
			gi = new_generic(0);
			gi->base.type = SQFS_INODE_FILE;
			gi->data.file.fragment_index = 0xFFFFFFFF;
		}
		if (ino->nlink > 1 || xidx != NO_XATTR || gi->base.type == SQFS_INODE_EXT_FILE) {
			sqfs_inode_make_extended(gi);
			gi->data.file_ext.nlink = ino->nlink;
		}
		break;
	}
	case TREE_FT_SYMLINK: {
		size_t len = strlen(ino->symlink);
		gi = new_generic(len);
		memcpy(gi->extra, ino->symlink, len);
		gi->payload_bytes_used = (sqfs_u32)len;
		gi->base.type = SQFS_INODE_SLINK;
		gi->data.slink.nlink = ino->nlink;
		gi->data.slink.target_size = (sqfs_u32)len;
		break;
	}
	case TREE_FT_CHR:
	case TREE_FT_BLK:
		gi = new_generic(0);
		gi->base.type = ino->type == TREE_FT_CHR ? SQFS_INODE_CDEV : SQFS_INODE_BDEV;
		gi->data.dev.nlink = ino->nlink;
		gi->data.dev.devno = encode_dev(ino->rdev_major, ino->rdev_minor);
		break;
	default:
		gi = new_generic(0);
		gi->base.type = ino->type == TREE_FT_FIFO ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
		gi->data.ipc.nlink = ino->nlink;
		break;
	}
	int rc = 0;
	if (xidx != NO_XATTR && sqfs_inode_set_xattr_index(gi, xidx) != 0)
		rc = lt_error_set(err, 0, "%s: cannot set xattrs of %s", w->name, node->name);
	if (rc == 0)
		rc = set_common(w, gi, ino, err);
	if (rc == 0)
		rc = emit_inode(w, gi, ino, err);
	if (from_processor)
		sqfs_free(gi);
	else
		free(gi);
	return rc;
}

static int write_dir(sq_writer *w, tree_node *dir, uint32_t parent_number, lt_error **err)
{
	uint32_t subdirs = 0;
	for (tree_node *c = dir->first_child; c != NULL; c = c->next_sibling) {
		tree_inode *ino = c->inode;
		if (ino->type == TREE_FT_DIR) {
			subdirs++;
			if (write_dir(w, c, dir->inode->writer_number, err) < 0)
				return -1;
		} else if (!ino->written && write_leaf(w, c, err) < 0) {
			return -1;
		}
	}
	int r = sqfs_dir_writer_begin(w->dirs, 0);
	for (tree_node *c = dir->first_child; r == 0 && c != NULL; c = c->next_sibling)
		r = sqfs_dir_writer_add_entry(w->dirs, c->name, c->inode->writer_number,
					      c->inode->writer_ref, type_bits(c->inode->type));
	if (r == 0)
		r = sqfs_dir_writer_end(w->dirs);
	if (r != 0)
		return sq_fail(w, r, "writing a directory listing", err);

	uint32_t xidx = NO_XATTR;
	if (xattr_index(w, dir->inode, &xidx, err) < 0)
		return -1;
	sqfs_inode_generic_t *gi = sqfs_dir_writer_create_inode(w->dirs, 0, xidx, parent_number);
	if (gi == NULL)
		return lt_error_set(err, ENOMEM, "%s: directory inode", w->name);
	/* libsquashfs counts 2 + entries; mksquashfs and every Unix file system count
	 * 2 + subdirectories, which is what find(1) and friends rely on. */
	if (gi->base.type == SQFS_INODE_DIR)
		gi->data.dir.nlink = 2 + subdirs;
	else
		gi->data.dir_ext.nlink = 2 + subdirs;
	int rc = set_common(w, gi, dir->inode, err);
	if (rc == 0)
		rc = emit_inode(w, gi, dir->inode, err);
	sqfs_free(gi);
	return rc;
}

static int pad_image(sq_writer *w, lt_error **err)
{
	sqfs_file_t *f = &w->file->base_iface;
	uint64_t size = f->get_size(f);
	uint64_t padded = (size + PAD_SIZE - 1) / PAD_SIZE * PAD_SIZE;
	if (padded > size) {
		static const uint8_t zeros[PAD_SIZE];
		int r = f->write_at(f, size, zeros, (size_t)(padded - size));
		if (r != 0)
			return sq_fail(w, r, "padding the image", err);
	}
	w->stats.image_size = padded;
	return 0;
}

int sq_writer_finish(sq_writer *w, tree_fs *tree, lt_error **err)
{
	if (w->in_file)
		return lt_error_set(err, 0, "%s: a file is still open", w->name);
	int r = sqfs_block_processor_finish(w->proc);
	if (r != 0)
		return sq_fail(w, r, "compressing file data", err);
	const sqfs_block_processor_stats_t *ps = sqfs_block_processor_get_stats(w->proc);
	w->stats.data_blocks = ps->data_block_count;
	w->stats.dedup_files = sq_dedup_writer_files(w->bw);

	sqfs_file_t *f = &w->file->base_iface;
	w->ids = sqfs_id_table_create(0);
	w->xattrs = sqfs_xattr_writer_create(0);
	w->inode_mw = sqfs_meta_writer_create(f, w->cmp, 0);
	w->dir_mw = sqfs_meta_writer_create(f, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	w->dirs = w->dir_mw
		      ? sqfs_dir_writer_create(
			    w->dir_mw, w->opts.no_exports ? 0 : SQFS_DIR_WRITER_CREATE_EXPORT_TABLE)
		      : NULL;
	if (!w->ids || !w->xattrs || !w->inode_mw || !w->dir_mw || !w->dirs)
		return lt_error_set(err, ENOMEM, "%s", w->name);

	tree_sort(tree);
	tree_node *root = tree_root(tree);
	uint32_t count = number_inodes(root, 0);
	w->super.inode_table_start = f->get_size(f);
	/* mksquashfs gives the root's ".." the number one past the last inode; 0 (libsquashfs's
	 * choice) makes ".." vanish from readdir() on kernel mounts. */
	if (write_dir(w, root, count + 1, err) < 0)
		return -1;
	w->super.root_inode_ref = root->inode->writer_ref;
	w->super.inode_count = count;

	r = sqfs_meta_writer_flush(w->inode_mw);
	if (r == 0) {
		w->super.directory_table_start = f->get_size(f);
		r = sqfs_meta_writer_flush(w->dir_mw);
	}
	if (r == 0)
		r = sqfs_meta_write_write_to_file(w->dir_mw);
	if (r != 0)
		return sq_fail(w, r, "writing the inode and directory tables", err);

	/* Kernel order: fragments, export, ids, xattrs. */
	r = sqfs_frag_table_write(w->frag, f, &w->super, w->cmp);
	if (r != 0)
		return sq_fail(w, r, "writing the fragment table", err);
	if (!w->opts.no_exports) {
		r = sqfs_dir_writer_write_export_table(w->dirs, f, w->cmp,
						       root->inode->writer_number,
						       root->inode->writer_ref, &w->super);
		if (r != 0)
			return sq_fail(w, r, "writing the export table", err);
	}
	r = sqfs_id_table_write(w->ids, f, &w->super, w->cmp);
	if (r != 0)
		return sq_fail(w, r, "writing the id table", err);
	r = sqfs_xattr_writer_flush(w->xattrs, f, &w->super, w->cmp);
	if (r != 0)
		return sq_fail(w, r, "writing the xattr tables", err);

	if (sqfs_frag_table_get_size(w->frag) > 0)
		w->super.flags &= (sqfs_u16)~SQFS_FLAG_NO_FRAGMENTS;
	else
		w->super.flags |= SQFS_FLAG_NO_FRAGMENTS;
	if (w->have_xattrs)
		w->super.flags &= (sqfs_u16)~SQFS_FLAG_NO_XATTRS;
	w->super.flags |= SQFS_FLAG_NO_DUPLICATES;
	w->super.bytes_used = f->get_size(f);
	r = sqfs_super_write(&w->super, f);
	if (r != 0)
		return sq_fail(w, r, "writing the superblock", err);
	return pad_image(w, err);
}
