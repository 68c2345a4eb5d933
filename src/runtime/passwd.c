/* /etc/passwd and /etc/group for the container: the image's files with the caller's entries
 * added (or replaced), so that `id`, `whoami` and ~ work inside. */
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_internal.h"

static bool line_matches(const char *line, size_t len, const char *name, const char *id)
{
	/* name:x:id:... ; match on the name or on the numeric id */
	const char *c1 = memchr(line, ':', len);
	if (c1 == NULL)
		return false;
	if ((size_t)(c1 - line) == strlen(name) && memcmp(line, name, strlen(name)) == 0)
		return true;
	const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
	if (c2 == NULL)
		return false;
	const char *c3 = memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - line));
	size_t idlen = (size_t)((c3 ? c3 : line + len) - (c2 + 1));
	return idlen == strlen(id) && memcmp(c2 + 1, id, idlen) == 0;
}

/* Copies `image` without the lines naming `name` or `id`, then appends `entry`. */
static char *merge(const char *image, const char *name, const char *id, const char *entry)
{
	size_t cap = (image ? strlen(image) : 0) + strlen(entry) + 2;
	char *out = lt_xmalloc(cap + 1);
	size_t n = 0;
	for (const char *p = image; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0 && !line_matches(p, len, name, id)) {
			memcpy(out + n, p, len);
			n += len;
			out[n++] = '\n';
		}
		p += len + (e ? 1 : 0);
	}
	size_t el = strlen(entry);
	memcpy(out + n, entry, el);
	n += el;
	out[n] = '\0';
	return out;
}

char *rt_make_passwd(const rt_ctx *c, const char *image_passwd)
{
	char id[32];
	snprintf(id, sizeof(id), "%u", (unsigned)c->uid);
	char *entry = lt_strdup_printf("%s:x:%u:%u:%s:%s:%s\n", c->user_name, (unsigned)c->uid,
				       (unsigned)c->gid, c->user_gecos ? c->user_gecos : "",
				       c->home_dst ? c->home_dst : "/",
				       c->user_shell ? c->user_shell : "/bin/sh");
	char *out = merge(image_passwd, c->user_name, id, entry);
	free(entry);
	return out;
}

char *rt_make_group(const rt_ctx *c, const char *image_group)
{
	char *cur = lt_xstrdup(image_group ? image_group : "");
	gid_t groups[256];
	int n = getgroups(LT_ARRAY_SIZE(groups), groups);
	if (n < 0)
		n = 0;
	/* the primary group first, then the supplementary ones */
	gid_t all[257];
	int total = 0;
	all[total++] = c->gid;
	for (int i = 0; i < n; i++)
		if (groups[i] != c->gid)
			all[total++] = groups[i];
	for (int i = 0; i < total; i++) {
		struct group *g = getgrgid(all[i]);
		if (g == NULL)
			continue;
		char id[32];
		snprintf(id, sizeof(id), "%u", (unsigned)all[i]);
		char *entry =
		    lt_strdup_printf("%s:x:%u:%s\n", g->gr_name, (unsigned)all[i], c->user_name);
		char *next = merge(cur, g->gr_name, id, entry);
		free(entry);
		free(cur);
		cur = next;
	}
	return cur;
}
