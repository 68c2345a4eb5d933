#include <stdlib.h>
#include <string.h>

#include "tree/tree.h"

/* (parent, name) -> node, open addressing with linear probing; tombstones keep probe chains
 * intact after removals and are reused by inserts. */
#define TOMBSTONE ((tree_node *)1)

struct tree_fs {
	tree_node *root;
	tree_node **slots;
	size_t capacity; /* power of two */
	size_t used;	 /* live entries */
	size_t filled;	 /* live entries + tombstones */
};

static uint64_t hash_key(const tree_node *parent, const char *name)
{
	/* FNV-1a over the name, mixed with the parent pointer. */
	uint64_t h = 1469598103934665603ULL ^ ((uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15ULL);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static void table_insert_raw(tree_fs *t, tree_node *node)
{
	size_t mask = t->capacity - 1;
	size_t i = hash_key(node->parent, node->name) & mask;
	while (t->slots[i] != NULL && t->slots[i] != TOMBSTONE)
		i = (i + 1) & mask;
	if (t->slots[i] == NULL)
		t->filled++;
	t->slots[i] = node;
	t->used++;
}

static void table_grow(tree_fs *t)
{
	tree_node **old = t->slots;
	size_t old_cap = t->capacity;
	size_t cap = old_cap ? old_cap : 1024;
	while (t->used * 2 >= cap)
		cap *= 2;
	t->slots = lt_xcalloc(cap, sizeof(*t->slots));
	t->capacity = cap;
	t->used = t->filled = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != NULL && old[i] != TOMBSTONE)
			table_insert_raw(t, old[i]);
	free(old);
}

static void table_insert(tree_fs *t, tree_node *node)
{
	if ((t->filled + 1) * 4 >= t->capacity * 3)
		table_grow(t);
	table_insert_raw(t, node);
}

static size_t table_find(const tree_fs *t, const tree_node *parent, const char *name)
{
	size_t mask = t->capacity - 1;
	size_t i = hash_key(parent, name) & mask;
	for (;;) {
		tree_node *n = t->slots[i];
		if (n == NULL)
			return SIZE_MAX;
		if (n != TOMBSTONE && n->parent == parent && strcmp(n->name, name) == 0)
			return i;
		i = (i + 1) & mask;
	}
}

static void table_remove(tree_fs *t, const tree_node *node)
{
	size_t i = table_find(t, node->parent, node->name);
	if (i != SIZE_MAX) {
		t->slots[i] = TOMBSTONE;
		t->used--;
	}
}

tree_inode *tree_inode_new(enum tree_ftype type)
{
	tree_inode *ino = lt_xcalloc(1, sizeof(*ino));
	ino->type = type;
	ino->mode = type == TREE_FT_DIR ? 0755 : (type == TREE_FT_SYMLINK ? 0777 : 0644);
	return ino;
}

void tree_inode_clear_xattrs(tree_inode *ino)
{
	for (size_t i = 0; i < ino->n_xattrs; i++) {
		free(ino->xattrs[i].key);
		free(ino->xattrs[i].value);
	}
	free(ino->xattrs);
	ino->xattrs = NULL;
	ino->n_xattrs = 0;
}

static void inode_free(tree_inode *ino)
{
	tree_inode_clear_xattrs(ino);
	free(ino->symlink);
	free(ino->src_buffer);
	free(ino->src_path);
	free(ino);
}

void tree_inode_set_xattr(tree_inode *ino, const char *key, const void *value, size_t len)
{
	size_t i = 0;
	while (i < ino->n_xattrs && strcmp(ino->xattrs[i].key, key) < 0)
		i++;
	uint8_t *copy = lt_xmalloc(len);
	if (len)
		memcpy(copy, value, len);
	if (i < ino->n_xattrs && strcmp(ino->xattrs[i].key, key) == 0) {
		free(ino->xattrs[i].value);
		ino->xattrs[i].value = copy;
		ino->xattrs[i].len = len;
		return;
	}
	ino->xattrs = lt_xreallocarray(ino->xattrs, ino->n_xattrs + 1, sizeof(*ino->xattrs));
	memmove(&ino->xattrs[i + 1], &ino->xattrs[i], (ino->n_xattrs - i) * sizeof(*ino->xattrs));
	ino->xattrs[i].key = lt_xstrdup(key);
	ino->xattrs[i].value = copy;
	ino->xattrs[i].len = len;
	ino->n_xattrs++;
}

void tree_inode_set_buffer(tree_inode *ino, uint8_t *data, size_t len)
{
	free(ino->src_buffer);
	free(ino->src_path);
	ino->src_path = NULL;
	ino->src_buffer = data;
	ino->size = len;
	ino->src = len ? TREE_SRC_BUFFER : TREE_SRC_NONE;
}

tree_fs *tree_new(void)
{
	tree_fs *t = lt_xcalloc(1, sizeof(*t));
	t->root = lt_xcalloc(1, sizeof(*t->root));
	t->root->name = lt_xstrdup("");
	t->root->inode = tree_inode_new(TREE_FT_DIR);
	t->root->inode->nlink = 1;
	t->root->layer = -1;
	table_grow(t);
	return t;
}

tree_node *tree_root(tree_fs *t)
{
	return t->root;
}

size_t tree_node_count(const tree_fs *t)
{
	return t->used + 1;
}

tree_node *tree_child(tree_fs *t, const tree_node *dir, const char *name)
{
	size_t i = table_find(t, dir, name);
	return i == SIZE_MAX ? NULL : t->slots[i];
}

tree_node *tree_add(tree_fs *t, tree_node *dir, const char *name, tree_inode *inode)
{
	tree_node *n = lt_xcalloc(1, sizeof(*n));
	n->name = lt_xstrdup(name);
	n->parent = dir;
	n->inode = inode;
	n->layer = -1;
	inode->nlink++;
	n->next_sibling = dir->first_child;
	dir->first_child = n;
	dir->n_children++;
	table_insert(t, n);
	return n;
}

static void release_inode(tree_inode *ino)
{
	if (--ino->nlink == 0 && ino->refs == 0)
		inode_free(ino);
}

void tree_inode_ref(tree_inode *ino)
{
	ino->refs++;
}

void tree_inode_unref(tree_inode *ino)
{
	if (--ino->refs == 0 && ino->nlink == 0)
		inode_free(ino);
}

static void free_subtree(tree_fs *t, tree_node *node);

/* Frees the children of dir and their subtrees, leaving dir empty. */
static void free_children(tree_fs *t, tree_node *dir)
{
	/* Iterative over siblings, recursive over depth (bounded by path depth). */
	tree_node *c = dir->first_child;
	while (c != NULL) {
		tree_node *next = c->next_sibling;
		table_remove(t, c);
		free_subtree(t, c);
		c = next;
	}
	dir->first_child = NULL;
	dir->n_children = 0;
}

/* Frees a node and its subtree; the caller has unlinked it from its parent. */
static void free_subtree(tree_fs *t, tree_node *node)
{
	free_children(t, node);
	release_inode(node->inode);
	free(node->name);
	free(node);
}

static void unlink_child(tree_node *parent, tree_node *node)
{
	tree_node **pp = &parent->first_child;
	while (*pp != node)
		pp = &(*pp)->next_sibling;
	*pp = node->next_sibling;
	parent->n_children--;
}

void tree_remove(tree_fs *t, tree_node *node)
{
	if (node == t->root || node->parent == NULL)
		return;
	unlink_child(node->parent, node);
	table_remove(t, node);
	free_subtree(t, node);
}

void tree_replace_inode(tree_fs *t, tree_node *node, tree_inode *inode)
{
	free_children(t, node);
	inode->nlink++;
	release_inode(node->inode);
	node->inode = inode;
}

#define MAX_COMPONENT 4096

/* Copies the next element of the '/'-separated path at *p into name (MAX_COMPONENT bytes) and
 * moves *p past it: 1, or 0 at the end, or -1 when the element does not fit. */
static int next_component(const char **p, char name[MAX_COMPONENT])
{
	const char *s = *p;
	while (*s == '/')
		s++;
	*p = s;
	if (!*s)
		return 0;
	const char *e = strchr(s, '/');
	size_t len = e ? (size_t)(e - s) : strlen(s);
	if (len >= MAX_COMPONENT)
		return -1;
	memcpy(name, s, len);
	name[len] = '\0';
	*p = s + len;
	return 1;
}

tree_node *tree_lookup(tree_fs *t, const char *path)
{
	tree_node *cur = t->root;
	const char *p = path;
	char name[MAX_COMPONENT];
	int r;
	while ((r = next_component(&p, name)) > 0) {
		cur = tree_child(t, cur, name);
		if (cur == NULL)
			return NULL;
	}
	return r < 0 ? NULL : cur;
}

char *tree_node_path(const tree_node *node)
{
	size_t len = 0;
	for (const tree_node *n = node; n->parent != NULL; n = n->parent)
		len += strlen(n->name) + 1;
	if (len == 0)
		return lt_xstrdup("");
	char *out = lt_xmalloc(len);
	size_t pos = len - 1;
	out[pos] = '\0';
	for (const tree_node *n = node; n->parent != NULL; n = n->parent) {
		size_t l = strlen(n->name);
		pos -= l;
		memcpy(out + pos, n->name, l);
		if (pos > 0)
			out[--pos] = '/';
	}
	return out;
}

static int compare_names(const void *a, const void *b)
{
	const tree_node *x = *(const tree_node *const *)a, *y = *(const tree_node *const *)b;
	/* strcmp compares as unsigned char, which is the order SquashFS lookups rely on. */
	return strcmp(x->name, y->name);
}

static void sort_children(tree_node *dir)
{
	if (dir->n_children > 1) {
		tree_node **arr = lt_xmalloc(dir->n_children * sizeof(*arr));
		size_t i = 0;
		for (tree_node *c = dir->first_child; c != NULL; c = c->next_sibling)
			arr[i++] = c;
		qsort(arr, dir->n_children, sizeof(*arr), compare_names);
		for (i = 0; i + 1 < dir->n_children; i++)
			arr[i]->next_sibling = arr[i + 1];
		arr[dir->n_children - 1]->next_sibling = NULL;
		dir->first_child = arr[0];
		free(arr);
	}
	for (tree_node *c = dir->first_child; c != NULL; c = c->next_sibling)
		if (c->inode->type == TREE_FT_DIR)
			sort_children(c);
}

void tree_sort(tree_fs *t)
{
	sort_children(t->root);
}

static int walk(tree_node *node, int (*fn)(tree_node *, void *), void *arg)
{
	int r = fn(node, arg);
	if (r != 0)
		return r;
	for (tree_node *c = node->first_child; c != NULL; c = c->next_sibling) {
		r = walk(c, fn, arg);
		if (r != 0)
			return r;
	}
	return 0;
}

int tree_walk(tree_fs *t, int (*fn)(tree_node *node, void *arg), void *arg)
{
	return walk(t->root, fn, arg);
}

void tree_free(tree_fs *t)
{
	if (t == NULL)
		return;
	tree_node *c = t->root->first_child;
	while (c != NULL) {
		tree_node *next = c->next_sibling;
		free_subtree(t, c);
		c = next;
	}
	release_inode(t->root->inode);
	free(t->root->name);
	free(t->root);
	free(t->slots);
	free(t);
}

static tree_inode *implicit_dir_inode(void)
{
	tree_inode *ino = tree_inode_new(TREE_FT_DIR);
	ino->mode = 0755;
	return ino;
}

tree_node *tree_add_implicit_dir(tree_fs *t, tree_node *dir, const char *name)
{
	tree_node *n = tree_add(t, dir, name, implicit_dir_inode());
	n->implicit = true;
	return n;
}

#define MAX_SYMLINKS 40

static int resolve(tree_fs *t, tree_node *start, const char *path, bool create, int *links,
		   tree_node **out, lt_error **err)
{
	tree_node *cur = start;
	const char *p = path;
	char comp[MAX_COMPONENT];
	*out = NULL;
	int r;
	while ((r = next_component(&p, comp)) > 0) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			if (cur->parent != NULL)
				cur = cur->parent;
			continue;
		}
		tree_node *child = tree_child(t, cur, comp);
		if (child == NULL) {
			if (!create)
				return 0;
			cur = tree_add_implicit_dir(t, cur, comp);
			continue;
		}
		switch (child->inode->type) {
		case TREE_FT_DIR:
			cur = child;
			break;
		case TREE_FT_SYMLINK: {
			if (++*links > MAX_SYMLINKS)
				return lt_error_set(
				    err, 0, "too many levels of symbolic links at %s", comp);
			const char *target = child->inode->symlink;
			tree_node *base = target[0] == '/' ? t->root : cur;
			tree_node *resolved = NULL;
			if (resolve(t, base, target, create, links, &resolved, err) < 0)
				return -1;
			if (resolved == NULL)
				return 0;
			cur = resolved;
			break;
		}
		default:
			if (!create)
				return 0;
			/* A file where a directory is needed is replaced (as umoci 0.5 does). */
			tree_replace_inode(t, child, implicit_dir_inode());
			child->implicit = true;
			child->layer = -1;
			cur = child;
			break;
		}
	}
	if (r < 0)
		return lt_error_set(err, 0, "path component too long");
	*out = cur;
	return 0;
}

int tree_resolve_dir(tree_fs *t, tree_node *start, const char *path, bool create, tree_node **out,
		     lt_error **err)
{
	int links = 0;
	return resolve(t, start ? start : t->root, path, create, &links, out, err);
}
