/* tree: the in-memory file system tree an image is assembled in before it is written out.
 *
 * A tree is made of names (tree_node: one directory entry) that point at inodes (tree_inode: type,
 * owner, mode, times, xattrs and where a regular file's bytes come from). Several names may
 * share an inode (hard links); an inode lives as long as a name refers to it. Directories own
 * their children. Nothing here touches the host: file bytes are only described (a layer entry,
 * a memory buffer, a host path), never copied in.
 *
 * Lookups by (directory, name) go through one hash table for the whole tree, so adding or
 * finding a child is O(1) whatever the size of the directory.
 */
#ifndef LITHO_TREE_H
#define LITHO_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum tree_ftype {
	TREE_FT_REG = 1,
	TREE_FT_DIR,
	TREE_FT_SYMLINK,
	TREE_FT_CHR,
	TREE_FT_BLK,
	TREE_FT_FIFO,
	TREE_FT_SOCK,
};

/* Where a regular file's bytes come from. */
enum tree_src_kind {
	TREE_SRC_NONE = 0, /* empty file */
	TREE_SRC_LAYER,	   /* entry number `entry` of layer `layer` of the source image */
	TREE_SRC_BUFFER,   /* bytes held by the tree (metadata files) */
	TREE_SRC_PATH,	   /* a file on the host, relative to the source directory */
};

typedef struct tree_xattr {
	char *key;
	uint8_t *value;
	size_t len;
} tree_xattr;

typedef struct tree_inode {
	enum tree_ftype type;
	uint32_t mode; /* permission and set-id/sticky bits (07777) */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t size;	     /* regular files: logical size */
	uint32_t rdev_major; /* devices */
	uint32_t rdev_minor;
	char *symlink;	    /* symlinks: target */
	tree_xattr *xattrs; /* sorted by key */
	size_t n_xattrs;
	enum tree_src_kind src;
	uint32_t src_layer;
	uint64_t src_entry;
	uint8_t *src_buffer; /* TREE_SRC_BUFFER (owned) */
	char *src_path;	     /* TREE_SRC_PATH (owned) */
	uint32_t nlink;	     /* names that refer to this inode (dirs: 1) */
	uint32_t refs;	     /* tree_inode_ref holds */
	/* Free for the writer of the tree (e.g. the SquashFS inode and its number). */
	void *writer_data;
	uint32_t writer_number;
	uint64_t writer_ref;
	bool written;
	bool mark; /* scratch flag for tree walks */
} tree_inode;

typedef struct tree_node tree_node;
struct tree_node {
	char *name; /* "" for the root */
	tree_node *parent;
	tree_inode *inode;
	tree_node *first_child; /* directories; unsorted until tree_sort() */
	tree_node *next_sibling;
	size_t n_children;
	/* Bookkeeping for whoever builds the tree (the layer applier): */
	int32_t layer; /* layer that last wrote this name by an explicit entry, -1 if none */
	bool implicit; /* created as a missing parent, not by an entry */
};

typedef struct tree_fs tree_fs;

/* A new tree holding only the root directory (0755, root:root, mtime 0). */
tree_fs *tree_new(void);
void tree_free(tree_fs *t);
tree_node *tree_root(tree_fs *t);
size_t tree_node_count(const tree_fs *t);

tree_inode *tree_inode_new(enum tree_ftype type);
/* Copies key/value into the inode, replacing an existing key; keeps keys sorted. */
void tree_inode_set_xattr(tree_inode *ino, const char *key, const void *value, size_t len);
void tree_inode_clear_xattrs(tree_inode *ino);
/* Extra references beyond the names (a holder keeps an inode alive after its last name goes);
 * tree_inode_unref frees the inode when nothing refers to it any more. */
void tree_inode_ref(tree_inode *ino);
void tree_inode_unref(tree_inode *ino);
/* Takes ownership of `data` (malloc'd) as the file contents. */
void tree_inode_set_buffer(tree_inode *ino, uint8_t *data, size_t len);

/* Child of a directory by name, or NULL. */
tree_node *tree_child(tree_fs *t, const tree_node *dir, const char *name);
/* Adds a new name under dir (which must not have a child of that name) for inode (whose
 * nlink is incremented). */
tree_node *tree_add(tree_fs *t, tree_node *dir, const char *name, tree_inode *inode);
/* Removes a name and, for directories, everything below it; inodes whose last name goes are
 * freed. */
void tree_remove(tree_fs *t, tree_node *node);
/* Points an existing name at another inode (for replacing a file by a hard link or an entry of
 * another type); a directory's children are removed first. */
void tree_replace_inode(tree_fs *t, tree_node *node, tree_inode *inode);

/* Adds a directory created only because something below it needed a parent (0755,
 * root:root, mtime 0, marked implicit). */
tree_node *tree_add_implicit_dir(tree_fs *t, tree_node *dir, const char *name);

/* Resolves a directory path below `start` (NULL = the root) like openat2(RESOLVE_IN_ROOT):
 * symlinks are followed inside the tree (absolute targets restart at the root), ".." stops at
 * the root, and nothing outside the tree is ever looked at. With `create`, missing components
 * become implicit directories and non-directories in the way are replaced by one; without it,
 * *out is NULL when a component is missing or not a directory. Errors: symlink loops. */
int tree_resolve_dir(tree_fs *t, tree_node *start, const char *path, bool create, tree_node **out,
		     lt_error **err);

/* Looks a path up without following symlinks in any component (paths are relative to the
 * root, components separated by '/'; "" is the root). */
tree_node *tree_lookup(tree_fs *t, const char *path);
/* The path of a node relative to the root ("" for the root); free() it. */
char *tree_node_path(const tree_node *node);

/* Sorts every directory's children by name in unsigned byte order (what SquashFS needs). */
void tree_sort(tree_fs *t);

/* Calls fn for every node in depth-first pre-order (a directory before its children); stops
 * and returns fn's value when it is not 0. */
int tree_walk(tree_fs *t, int (*fn)(tree_node *node, void *arg), void *arg);

#endif
