/* {{ var }} templating of definition files (shared/docs/compat.md §3.3).
 *
 * Values come from --build-arg (later wins), then --build-arg-file, then the %arguments defaults
 * of the stage being templated. A placeholder is `{{`, optional blanks, a word of [A-Za-z0-9_],
 * optional blanks, `}}`, all on one line. Like Apptainer, a placeholder is left alone when the
 * line has a '#' before it that is not the "#!" of a shebang: it is in a comment, so neither an
 * undefined name there is an error nor a build arg named there counts as used.
 *
 * A value may itself hold placeholders (a default built from another argument); they are
 * replaced too, through the same lookup. Apptainer does that one level deep and leaves names it
 * cannot resolve in place; here the replacement is recursive and an unresolved name is the same
 * error as anywhere else, so that no "{{ x }}" survives into a built image.
 */
#include <stdlib.h>
#include <string.h>

#include "deffile.h"

typedef struct def_var {
	char *name;
	char *value;
	bool used;
} def_var;

typedef struct def_var_list {
	def_var *items;
	size_t n;
	size_t cap;
} def_var_list;

struct def_vars {
	const char *path;
	bool warn_unused;
	def_var_list given;    /* --build-arg-file, then --build-arg */
	def_var_list defaults; /* the current stage's %arguments */
};

/* Nesting of values deeper than this can only be a loop through several names. */
#define MAX_NESTING 64

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static def_var *list_find(def_var_list *l, const char *name, size_t name_len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->items[i].name) == name_len &&
		    memcmp(l->items[i].name, name, name_len) == 0)
			return &l->items[i];
	return NULL;
}

/* Takes ownership of name and value. A name set again keeps its first position (so that the
 * unused-arguments message lists them in the order given) with the newer value. */
static void list_set(def_var_list *l, char *name, char *value)
{
	def_var *existing = list_find(l, name, strlen(name));
	if (existing) {
		free(name);
		free(existing->value);
		existing->value = value;
		return;
	}
	l->items = lt_array_grow(l->items, sizeof(*l->items), l->n + 1, &l->cap);
	l->items[l->n++] = (def_var){.name = name, .value = value};
}

static void list_clear(def_var_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].value);
	}
	free(l->items);
	*l = (def_var_list){0};
}

/* Splits "KEY=VALUE" (both trimmed, as Apptainer does); false when there is no '=' or no key. */
static bool split_key_value(const char *s, size_t len, char **key, char **value)
{
	const char *eq = memchr(s, '=', len);
	if (!eq)
		return false;
	size_t key_len, value_len;
	const char *k = lt_str_trim(s, (size_t)(eq - s), &key_len);
	const char *v = lt_str_trim(eq + 1, len - (size_t)(eq + 1 - s), &value_len);
	if (key_len == 0)
		return false;
	*key = lt_xstrndup(k, key_len);
	*value = lt_xstrndup(v, value_len);
	return true;
}

static int read_arg_file(def_vars *v, const char *file, lt_error **err)
{
	char *data;
	size_t len;
	if (lt_read_file(file, &data, &len, err) < 0)
		return lt_error_wrap(err, "reading the build arg file");
	size_t lineno = 0;
	for (const char *line = data; line < data + len;) {
		const char *nl = memchr(line, '\n', (size_t)(data + len - line));
		size_t line_len = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
		lineno++;
		size_t text_len;
		const char *text = lt_str_trim(line, line_len, &text_len);
		if (text_len > 0 && text[0] != '#') {
			char *key, *value;
			if (split_key_value(text, text_len, &key, &value))
				list_set(&v->given, key, value);
			else
				lt_warn("%s:%zu: skipping '%.*s': not KEY=VALUE", file, lineno,
					(int)text_len, text);
		}
		line += line_len + (nl ? 1 : 0);
	}
	free(data);
	return 0;
}

int build_def_vars_new(const char *path, const def_args *args, def_vars **out, lt_error **err)
{
	def_vars *v = lt_xcalloc(1, sizeof(*v));
	v->path = path;
	v->warn_unused = args && args->warn_unused;
	if (args && args->file && read_arg_file(v, args->file, err) < 0) {
		build_def_vars_free(v);
		return -1;
	}
	for (size_t i = 0; args && i < args->n_values; i++) {
		const char *arg = args->values[i];
		char *key, *value;
		if (!split_key_value(arg, strlen(arg), &key, &value)) {
			build_def_vars_free(v);
			return lt_error_set(err, 0, "--build-arg '%s': not KEY=VALUE", arg);
		}
		/* A newline would shift every later line of the file, and line numbers are
		 * those of the file as written. */
		if (strchr(value, '\n')) {
			free(key);
			free(value);
			build_def_vars_free(v);
			return lt_error_set(err, 0, "--build-arg '%s': the value holds a newline",
					    arg);
		}
		list_set(&v->given, key, value);
	}
	*out = v;
	return 0;
}

void build_def_vars_free(def_vars *v)
{
	if (!v)
		return;
	list_clear(&v->given);
	list_clear(&v->defaults);
	free(v);
}

void build_def_vars_begin_stage(def_vars *v)
{
	list_clear(&v->defaults);
}

void build_def_vars_add_default(def_vars *v, const char *line, size_t len, size_t lineno)
{
	size_t text_len;
	const char *text = lt_str_trim(line, len, &text_len);
	if (text_len == 0 || text[0] == '#')
		return;
	char *key, *value;
	if (split_key_value(text, text_len, &key, &value))
		list_set(&v->defaults, key, value);
	else
		lt_warn("%s:%zu: skipping '%.*s' in %%arguments: not KEY=VALUE", v->path, lineno,
			(int)text_len, text);
}

/* Matches a placeholder at s[0] (which is "{{"); on success the name is [*name, *name +
 * *name_len) and the placeholder is *total bytes long. */
static bool match_placeholder(const char *s, size_t len, const char **name, size_t *name_len,
			      size_t *total)
{
	size_t i = 2;
	while (i < len && lt_is_blank(s[i]))
		i++;
	size_t start = i;
	while (i < len && is_word_char(s[i]))
		i++;
	if (i == start)
		return false;
	size_t end = i;
	while (i < len && lt_is_blank(s[i]))
		i++;
	if (i + 2 > len || s[i] != '}' || s[i + 1] != '}')
		return false;
	*name = s + start;
	*name_len = end - start;
	*total = i + 2;
	return true;
}

/* A '#' not followed by '!' earlier on the line (the character after it must also come before
 * the placeholder, as in Apptainer's check). */
static bool in_comment(const char *line, size_t placeholder_at)
{
	for (size_t j = 0; j + 1 < placeholder_at; j++)
		if (line[j] == '#' && line[j + 1] != '!')
			return true;
	return false;
}

static int expand(def_vars *v, const char *s, size_t len, bool skip_comments, size_t lineno,
		  const char *const *chain, size_t depth, lt_buf *out, lt_error **err);

/* Appends the value of `name` to out, with the placeholders inside it replaced. chain holds the
 * names being expanded around this one, innermost last. */
static int append_value(def_vars *v, const char *name, size_t name_len, size_t lineno,
			const char *const *chain, size_t depth, lt_buf *out, lt_error **err)
{
	def_var *var = list_find(&v->given, name, name_len);
	if (var)
		var->used = true;
	else
		var = list_find(&v->defaults, name, name_len);
	if (!var) {
		if (depth == 0)
			return lt_error_set(err, 0,
					    "%s:%zu: build variable '%.*s' is not defined through "
					    "--build-arg, --build-arg-file or %%arguments",
					    v->path, lineno, (int)name_len, name);
		return lt_error_set(err, 0,
				    "%s:%zu: build variable '%.*s' (in the value of '%s') is not "
				    "defined through --build-arg, --build-arg-file or %%arguments",
				    v->path, lineno, (int)name_len, name, chain[depth - 1]);
	}
	for (size_t i = 0; i < depth; i++)
		if (strcmp(chain[i], var->name) == 0)
			return lt_error_set(err, 0, "%s:%zu: build variable '%s' refers to itself",
					    v->path, lineno, var->name);
	if (depth >= MAX_NESTING)
		return lt_error_set(err, 0, "%s:%zu: build variable '%s' nests too deeply", v->path,
				    lineno, var->name);
	const char *inner[MAX_NESTING + 1];
	if (depth)
		memcpy(inner, chain, depth * sizeof(*chain));
	inner[depth] = var->name;
	return expand(v, var->value, strlen(var->value), false, lineno, inner, depth + 1, out, err);
}

static int expand(def_vars *v, const char *s, size_t len, bool skip_comments, size_t lineno,
		  const char *const *chain, size_t depth, lt_buf *out, lt_error **err)
{
	size_t copied = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '{' || s[i + 1] != '{')
			continue;
		const char *name;
		size_t name_len, total;
		if (!match_placeholder(s + i, len - i, &name, &name_len, &total))
			continue;
		if (skip_comments && in_comment(s, i))
			break;
		lt_buf_addn(out, s + copied, i - copied);
		if (append_value(v, name, name_len, lineno, chain, depth, out, err) < 0)
			return -1;
		i += total - 1;
		copied = i + 1;
	}
	lt_buf_addn(out, s + copied, len - copied);
	return 0;
}

int build_def_template_line(def_vars *v, const char *line, size_t len, size_t lineno, char **out,
			    lt_error **err)
{
	lt_buf b;
	lt_buf_init(&b);
	if (expand(v, line, len, true, lineno, NULL, 0, &b, err) < 0) {
		free(b.data);
		return -1;
	}
	*out = b.data;
	return 0;
}

int build_def_vars_check_unused(const def_vars *v, lt_error **err)
{
	lt_buf names = {0};
	for (size_t i = 0; i < v->given.n; i++) {
		if (v->given.items[i].used)
			continue;
		if (names.len)
			lt_buf_addn(&names, " ", 1);
		lt_buf_addn(&names, v->given.items[i].name, strlen(v->given.items[i].name));
	}
	if (!names.len)
		return 0;
	int rc = 0;
	if (v->warn_unused)
		lt_warn("%s: unused build args: %s", v->path, names.data);
	else
		rc =
		    lt_error_set(err, 0,
				 "%s: unused build args: %s (--warn-unused-build-args makes this a "
				 "warning)",
				 v->path, names.data);
	free(names.data);
	return rc;
}
