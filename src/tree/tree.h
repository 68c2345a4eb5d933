/* tree: the in-memory file system tree an image is assembled in before it is written out.
 *
 * A tree is made of names (lt_node: one directory entry) that point at inodes (lt_inode: type,
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

#include "util.h"

enum lt_ftype {
	LT_FT_REG = 1,
	LT_FT_DIR,
	LT_FT_SYMLINK,
	LT_FT_CHR,
	LT_FT_BLK,
	LT_FT_FIFO,
	LT_FT_SOCK,
};

/* Where a regular file's bytes come from. */
enum lt_src_kind {
	LT_SRC_NONE = 0, /* empty file */
	LT_SRC_LAYER,	 /* entry number `entry` of layer `layer` of the source image */
	LT_SRC_BUFFER,	 /* bytes held by the tree (metadata files) */
	LT_SRC_PATH,	 /* a file on the host, relative to the source directory */
};

typedef struct lt_xattr {
	char *key;
	uint8_t *value;
	size_t len;
} lt_xattr;

typedef struct lt_inode {
	enum lt_ftype type;
	uint32_t mode; /* permission and set-id/sticky bits (07777) */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t size;	     /* regular files: logical size */
	uint32_t rdev_major; /* devices */
	uint32_t rdev_minor;
	char *symlink;	  /* symlinks: target */
	lt_xattr *xattrs; /* sorted by key */
	size_t n_xattrs;
	enum lt_src_kind src;
	uint32_t src_layer;
	uint64_t src_entry;
	uint8_t *src_buffer; /* LT_SRC_BUFFER (owned) */
	char *src_path;	     /* LT_SRC_PATH (owned) */
	uint32_t nlink;	     /* names that refer to this inode (dirs: 1) */
	uint32_t refs;	     /* lt_inode_ref holds */
	/* Free for the writer of the tree (e.g. the SquashFS inode and its number). */
	void *writer_data;
	uint32_t writer_number;
	uint64_t writer_ref;
	bool written;
	bool mark; /* scratch flag for tree walks */
} lt_inode;

typedef struct lt_node lt_node;
struct lt_node {
	char *name; /* "" for the root */
	lt_node *parent;
	lt_inode *inode;
	lt_node *first_child; /* directories; unsorted until lt_tree_sort() */
	lt_node *next_sibling;
	size_t n_children;
	/* Bookkeeping for whoever builds the tree (the layer applier): */
	int32_t layer; /* layer that last wrote this name by an explicit entry, -1 if none */
	bool implicit; /* created as a missing parent, not by an entry */
};

typedef struct lt_tree lt_tree;

/* A new tree holding only the root directory (0755, root:root, mtime 0). */
lt_tree *lt_tree_new(void);
void lt_tree_free(lt_tree *t);
lt_node *lt_tree_root(lt_tree *t);
size_t lt_tree_node_count(const lt_tree *t);

lt_inode *lt_inode_new(enum lt_ftype type);
/* Copies key/value into the inode, replacing an existing key; keeps keys sorted. */
void lt_inode_set_xattr(lt_inode *ino, const char *key, const void *value, size_t len);
void lt_inode_clear_xattrs(lt_inode *ino);
/* Extra references beyond the names (a holder keeps an inode alive after its last name goes);
 * lt_inode_unref frees the inode when nothing refers to it any more. */
void lt_inode_ref(lt_inode *ino);
void lt_inode_unref(lt_inode *ino);
/* Takes ownership of `data` (malloc'd) as the file contents. */
void lt_inode_set_buffer(lt_inode *ino, uint8_t *data, size_t len);

/* Child of a directory by name, or NULL. */
lt_node *lt_tree_child(lt_tree *t, const lt_node *dir, const char *name);
/* Adds a new name under dir (which must not have a child of that name) for inode (whose
 * nlink is incremented). */
lt_node *lt_tree_add(lt_tree *t, lt_node *dir, const char *name, lt_inode *inode);
/* Removes a name and, for directories, everything below it; inodes whose last name goes are
 * freed. */
void lt_tree_remove(lt_tree *t, lt_node *node);
/* Points an existing name at another inode (for replacing a file by a hard link or an entry of
 * another type); a directory's children are removed first. */
void lt_tree_replace_inode(lt_tree *t, lt_node *node, lt_inode *inode);

/* Adds a directory created only because something below it needed a parent (0755,
 * root:root, mtime 0, marked implicit). */
lt_node *lt_tree_add_implicit_dir(lt_tree *t, lt_node *dir, const char *name);

/* Resolves a directory path below `start` (NULL = the root) like openat2(RESOLVE_IN_ROOT):
 * symlinks are followed inside the tree (absolute targets restart at the root), ".." stops at
 * the root, and nothing outside the tree is ever looked at. With `create`, missing components
 * become implicit directories and non-directories in the way are replaced by one; without it,
 * *out is NULL when a component is missing or not a directory. Errors: symlink loops. */
int lt_tree_resolve_dir(lt_tree *t, lt_node *start, const char *path, bool create, lt_node **out,
			lt_error **err);

/* Looks a path up without following symlinks in any component (paths are relative to the
 * root, components separated by '/'; "" is the root). */
lt_node *lt_tree_lookup(lt_tree *t, const char *path);
/* The path of a node relative to the root ("" for the root); free() it. */
char *lt_node_path(const lt_node *node);

/* Sorts every directory's children by name in unsigned byte order (what SquashFS needs). */
void lt_tree_sort(lt_tree *t);

/* Calls fn for every node in depth-first pre-order (a directory before its children); stops
 * and returns fn's value when it is not 0. */
int lt_tree_walk(lt_tree *t, int (*fn)(lt_node *node, void *arg), void *arg);

#endif
