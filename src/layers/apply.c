/* Applying a layer to the tree with the OCI changeset rules (image-spec layer.md):
 *  - a layer's whiteouts and opaque markers act on the lower layers only, so they are applied
 *    first, before any entry of the same layer (which also makes an opaque marker take effect
 *    "wherever it appears" in the layer);
 *  - an entry replaces whatever is at its path, except that a directory over a directory only
 *    takes the new attributes;
 *  - missing parents are created (0755 root:root); parents that are symlinks are followed inside
 *    the tree, never on the host, with ".." stopping at the root;
 *  - hard links name the inode at their target path, so the data survives when another name of
 *    it is deleted or replaced later.
 */
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"

typedef struct held_inode {
	char *path;
	tree_inode *inode;
} held_inode;

typedef struct apply_ctx {
	tree_fs *tree;
	uint32_t layer;
	const char *name;
	layer_apply_stats *stats;
	bool hold;	  /* keep inodes deleted by this layer's whiteouts for its hard links */
	held_inode *held; /* deleted by this layer's whiteouts */
	size_t n_held, cap_held;
} apply_ctx;

/* Splits "a/b/c" into "a/b" and "c" (the directory part is "" at the top). */
static char *split_path(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		*base = path;
		return lt_xstrdup("");
	}
	*base = slash + 1;
	return lt_xstrndup(path, (size_t)(slash - path));
}

static int hold_subtree(tree_node *node, void *arg)
{
	apply_ctx *c = arg;
	if (node->inode->type == TREE_FT_DIR)
		return 0;
	c->held = lt_array_grow(c->held, sizeof(*c->held), c->n_held + 1, &c->cap_held);
	c->held[c->n_held].path = tree_node_path(node);
	c->held[c->n_held].inode = node->inode;
	tree_inode_ref(node->inode); /* keeps the inode alive while held */
	c->n_held++;
	return 0;
}

/* Pre-order walk of one subtree (tree_walk covers the whole tree). */
static void walk_subtree(tree_node *node, int (*fn)(tree_node *, void *), void *arg)
{
	fn(node, arg);
	for (tree_node *ch = node->first_child; ch != NULL; ch = ch->next_sibling)
		walk_subtree(ch, fn, arg);
}

static void delete_node(apply_ctx *c, tree_node *node)
{
	if (c->hold)
		walk_subtree(node, hold_subtree, c);
	tree_remove(c->tree, node);
}

static void release_held(apply_ctx *c)
{
	for (size_t i = 0; i < c->n_held; i++) {
		tree_inode_unref(c->held[i].inode);
		free(c->held[i].path);
	}
	free(c->held);
	c->held = NULL;
	c->n_held = c->cap_held = 0;
}

static tree_inode *find_held(apply_ctx *c, const char *path)
{
	for (size_t i = c->n_held; i-- > 0;)
		if (strcmp(c->held[i].path, path) == 0)
			return c->held[i].inode;
	return NULL;
}

static int apply_whiteout(apply_ctx *c, const layer_entry *e, lt_error **err)
{
	tree_node *dir = NULL;
	if (e->opaque) {
		c->stats->opaques++;
		if (tree_resolve_dir(c->tree, tree_root(c->tree), e->path, false, &dir, err) < 0)
			return -1;
		if (dir == NULL)
			return 0;
		while (dir->first_child != NULL)
			delete_node(c, dir->first_child);
		return 0;
	}
	c->stats->whiteouts++;
	const char *base;
	char *parent = split_path(e->path, &base);
	int rc = tree_resolve_dir(c->tree, tree_root(c->tree), parent, false, &dir, err);
	free(parent);
	if (rc < 0)
		return -1;
	if (dir == NULL)
		return 0; /* nothing to delete: a missing target is not an error */
	tree_node *victim = tree_child(c->tree, dir, base);
	if (victim != NULL)
		delete_node(c, victim);
	return 0;
}

static void set_attributes(tree_inode *ino, const layer_entry *e)
{
	ino->mode = e->mode;
	ino->uid = e->uid;
	ino->gid = e->gid;
	ino->mtime = e->mtime;
	tree_inode_clear_xattrs(ino);
	for (size_t i = 0; i < e->n_xattrs; i++)
		tree_inode_set_xattr(ino, e->xattrs[i].key, e->xattrs[i].value, e->xattrs[i].len);
}

static tree_inode *inode_for_entry(apply_ctx *c, const layer_entry *e)
{
	tree_inode *ino = tree_inode_new(e->type);
	set_attributes(ino, e);
	switch (e->type) {
	case TREE_FT_REG:
		ino->size = e->size;
		if (e->size > 0) {
			ino->src = TREE_SRC_LAYER;
			ino->src_layer = c->layer;
			ino->src_entry = e->ordinal;
		}
		break;
	case TREE_FT_SYMLINK:
		ino->symlink = lt_xstrdup(e->symlink);
		ino->size = strlen(e->symlink);
		break;
	case TREE_FT_CHR:
	case TREE_FT_BLK:
		ino->rdev_major = e->rdev_major;
		ino->rdev_minor = e->rdev_minor;
		break;
	default:
		break;
	}
	return ino;
}

static int find_link_target(apply_ctx *c, const layer_entry *e, tree_inode **out, lt_error **err)
{
	const char *base;
	char *parent = split_path(e->hardlink, &base);
	tree_node *dir = NULL;
	int rc = tree_resolve_dir(c->tree, tree_root(c->tree), parent, false, &dir, err);
	free(parent);
	if (rc < 0)
		return -1;
	tree_node *target = dir ? tree_child(c->tree, dir, base) : NULL;
	tree_inode *ino = target ? target->inode : find_held(c, e->hardlink);
	if (ino == NULL)
		return lt_error_set(err, 0, "%s: hard link %s points to %s, which does not exist",
				    c->name, e->path, e->hardlink);
	if (ino->type == TREE_FT_DIR)
		return lt_error_set(err, 0, "%s: hard link %s points to the directory %s", c->name,
				    e->path, e->hardlink);
	*out = ino;
	return 0;
}

static int apply_entry(apply_ctx *c, const layer_entry *e, lt_error **err)
{
	c->stats->entries++;
	tree_node *root = tree_root(c->tree);
	if (e->path[0] == '\0') {
		if (e->type != TREE_FT_DIR || e->hardlink != NULL)
			return lt_error_set(err, 0,
					    "%s: the entry for the root directory is not a "
					    "directory",
					    c->name);
		set_attributes(root->inode, e);
		root->layer = (int32_t)c->layer;
		return 0;
	}
	if (e->type == TREE_FT_SOCK)
		return 0; /* cannot come from a tar; nothing sensible to create */

	const char *base;
	char *parent_path = split_path(e->path, &base);
	tree_node *dir = NULL;
	int rc = tree_resolve_dir(c->tree, root, parent_path, true, &dir, err);
	free(parent_path);
	if (rc < 0)
		return lt_error_wrap(err, "%s: entry %s", c->name, e->path);

	tree_node *existing = tree_child(c->tree, dir, base);
	tree_node *node = NULL;
	if (e->hardlink != NULL) {
		c->stats->hardlinks++;
		tree_inode *target = NULL;
		if (find_link_target(c, e, &target, err) < 0)
			return -1;
		if (existing != NULL && existing->inode == target) {
			node = existing;
		} else if (existing != NULL) {
			tree_replace_inode(c->tree, existing, target);
			node = existing;
		} else {
			node = tree_add(c->tree, dir, base, target);
		}
		if (e->size > 0) {
			/* A hard link entry that carries data gives the shared inode new bytes. */
			target->size = e->size;
			target->src = TREE_SRC_LAYER;
			target->src_layer = c->layer;
			target->src_entry = e->ordinal;
		}
	} else if (e->type == TREE_FT_DIR && existing != NULL &&
		   existing->inode->type == TREE_FT_DIR) {
		set_attributes(existing->inode, e);
		node = existing;
	} else if (existing != NULL) {
		tree_replace_inode(c->tree, existing, inode_for_entry(c, e));
		node = existing;
	} else {
		node = tree_add(c->tree, dir, base, inode_for_entry(c, e));
	}
	node->layer = (int32_t)c->layer;
	node->implicit = false;
	return 0;
}

int layer_apply(tree_fs *tree, uint32_t layer, const layer_list *list, const char *name,
		layer_apply_stats *stats, lt_error **err)
{
	layer_apply_stats dummy = {0};
	apply_ctx c = {
	    .tree = tree,
	    .layer = layer,
	    .name = name,
	    .stats = stats ? stats : &dummy,
	};
	for (size_t i = 0; i < list->count; i++)
		if (list->entries[i].hardlink != NULL)
			c.hold = true;

	int rc = 0;
	for (size_t i = 0; i < list->count && rc == 0; i++) {
		const layer_entry *e = &list->entries[i];
		if (e->whiteout || e->opaque)
			rc = apply_whiteout(&c, e, err);
	}
	for (size_t i = 0; i < list->count && rc == 0; i++) {
		const layer_entry *e = &list->entries[i];
		if (e->skip) {
			c.stats->ignored++;
			continue;
		}
		if (!e->whiteout && !e->opaque)
			rc = apply_entry(&c, e, err);
	}
	release_held(&c);
	return rc;
}
