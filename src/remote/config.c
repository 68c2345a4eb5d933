/* remote.yaml: read with libyaml, written in the layout Apptainer's yaml.Marshal gives it. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "remote/remote.h"

static const char *home_dir(void)
{
	const char *h = lt_env_nonempty("HOME");
	return h ? h : "/";
}

char *rmt_user_path(void)
{
	const char *dir = lt_env_nonempty("LITHO_CONFIGDIR");
	if (dir != NULL)
		return lt_path_join(dir, "remote.yaml");
	return lt_strdup_printf("%s/.litho/remote.yaml", home_dir());
}

char *rmt_system_path(void)
{
	const char *etc = lt_env_nonempty("LITHO_SYSCONFDIR");
	return lt_strdup_printf("%s/litho/remote.yaml", etc ? etc : "/etc");
}

void rmt_free(rmt_config *c)
{
	free(c->active);
	for (size_t i = 0; i < c->n; i++) {
		rmt_endpoint *e = &c->remotes[i];
		free(e->name);
		free(e->uri);
		free(e->token);
		for (size_t j = 0; j < e->n_keyservers; j++)
			free(e->keyservers[j].uri);
		free(e->keyservers);
	}
	free(c->remotes);
	for (size_t i = 0; i < c->n_creds; i++) {
		free(c->creds[i].uri);
		free(c->creds[i].auth);
	}
	free(c->creds);
	memset(c, 0, sizeof(*c));
}

rmt_endpoint *rmt_find(rmt_config *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->remotes[i].name, name) == 0)
			return &c->remotes[i];
	return NULL;
}

rmt_endpoint *rmt_add(rmt_config *c, const char *name, const char *uri, lt_error **err)
{
	if (rmt_find(c, name) != NULL) {
		lt_error_set(err, 0, "%s is already a remote", name);
		return NULL;
	}
	size_t at = 0;
	while (at < c->n && strcmp(c->remotes[at].name, name) < 0)
		at++;
	c->remotes = lt_xrealloc(c->remotes, (c->n + 1) * sizeof(*c->remotes));
	memmove(&c->remotes[at + 1], &c->remotes[at], (c->n - at) * sizeof(*c->remotes));
	c->n++;
	rmt_endpoint *e = &c->remotes[at];
	memset(e, 0, sizeof(*e));
	e->name = lt_xstrdup(name);
	e->uri = lt_xstrdup(uri);
	return e;
}

int rmt_remove(rmt_config *c, const char *name, lt_error **err)
{
	rmt_endpoint *e = rmt_find(c, name);
	if (e == NULL)
		return lt_error_set(err, 0, "%s is not a remote", name);
	if (e->system)
		return lt_error_set(err, 0, "%s is global and can't be removed", name);
	if (c->active != NULL && strcmp(c->active, name) == 0) {
		free(c->active);
		c->active = NULL;
	}
	free(e->name);
	free(e->uri);
	free(e->token);
	for (size_t j = 0; j < e->n_keyservers; j++)
		free(e->keyservers[j].uri);
	free(e->keyservers);
	size_t at = (size_t)(e - c->remotes);
	memmove(&c->remotes[at], &c->remotes[at + 1], (c->n - at - 1) * sizeof(*c->remotes));
	c->n--;
	return 0;
}

int rmt_sync_system(rmt_config *user, const rmt_config *sys, lt_error **err)
{
	for (size_t i = 0; i < sys->n; i++) {
		const rmt_endpoint *s = &sys->remotes[i];
		rmt_endpoint *u = rmt_find(user, s->name);
		if (u != NULL && !u->system) {
			lt_info("%s defined both globally and individually, using individual",
				s->name);
			continue;
		}
		if (u == NULL && (u = rmt_add(user, s->name, s->uri, err)) == NULL)
			return -1;
		free(u->uri);
		u->uri = lt_xstrdup(s->uri);
		u->system = true;
		u->exclusive = s->exclusive;
		if (s->exclusive) {
			free(user->active);
			user->active = lt_xstrdup(s->name);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 */
typedef struct reader {
	yaml_document_t *doc;
	const char *path;
	lt_error **err;
} reader;

static int bad(reader *r, const yaml_node_t *n, const char *what)
{
	return lt_error_set(r->err, 0,
			    "while parsing remote config data: failed to decode YAML data from %s: "
			    "line %zu: %s",
			    r->path, n ? n->start_mark.line + 1 : 0, what);
}

static const char *scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_string(reader *r, const yaml_node_t *n, char **out)
{
	const char *s = scalar(n);
	if (s == NULL)
		return bad(r, n, "expected a string");
	free(*out);
	*out = lt_xstrdup(s);
	return 0;
}

static int get_bool(reader *r, const yaml_node_t *n, bool *out)
{
	const char *s = scalar(n);
	if (s != NULL && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)) {
		*out = strcasecmp(s, "true") == 0;
		return 0;
	}
	return bad(r, n, "expected true or false");
}

typedef int (*field_fn)(reader *r, void *obj, const char *key, yaml_node_t *value);

/* Calls fn for each key of a mapping (a null node is an empty mapping). */
static int each_field(reader *r, yaml_node_t *map, void *obj, field_fn fn)
{
	if (map == NULL || (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return bad(r, map, "expected a mapping");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
		const char *key = scalar(k);
		if (key == NULL)
			return bad(r, k, "expected a string key");
		if (fn(r, obj, key, yaml_document_get_node(r->doc, p->value)) < 0)
			return -1;
	}
	return 0;
}

/* A list of mappings into a growing array of elements of `size` bytes (a null node is an
 * empty list). */
static int each_item(reader *r, yaml_node_t *seq, const char *what, void **array, size_t *n,
		     size_t size, field_fn fn)
{
	if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE)
		return bad(r, seq, what);
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		*array = lt_xrealloc(*array, (*n + 1) * size);
		char *elem = (char *)*array + *n * size;
		memset(elem, 0, size);
		(*n)++;
		if (each_field(r, yaml_document_get_node(r->doc, *i), elem, fn) < 0)
			return -1;
	}
	return 0;
}

/* The scalar fields of a struct by name: strings (char *) and booleans. */
typedef struct field {
	const char *name;
	bool is_bool;
	size_t offset;
} field;

static int set_field(reader *r, void *obj, const field *f, size_t n, const char *key,
		     yaml_node_t *v, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(key, f[i].name) != 0)
			continue;
		char *p = (char *)obj + f[i].offset;
		return f[i].is_bool ? get_bool(r, v, (bool *)p) : get_string(r, v, (char **)p);
	}
	return bad(r, v, what);
}

static int keyserver_field(reader *r, void *obj, const char *key, yaml_node_t *v)
{
	static const field f[] = {{"URI", false, offsetof(rmt_keyserver, uri)},
				  {"Skip", true, offsetof(rmt_keyserver, skip)},
				  {"External", true, offsetof(rmt_keyserver, external)},
				  {"Insecure", true, offsetof(rmt_keyserver, insecure)}};
	return set_field(r, obj, f, LT_ARRAY_SIZE(f), key, v, "unknown field in a keyserver");
}

static int endpoint_field(reader *r, void *obj, const char *key, yaml_node_t *v)
{
	static const field f[] = {{"URI", false, offsetof(rmt_endpoint, uri)},
				  {"Token", false, offsetof(rmt_endpoint, token)},
				  {"System", true, offsetof(rmt_endpoint, system)},
				  {"Exclusive", true, offsetof(rmt_endpoint, exclusive)},
				  {"Insecure", true, offsetof(rmt_endpoint, insecure)}};
	rmt_endpoint *e = obj;
	if (strcmp(key, "Keyservers") == 0)
		return each_item(r, v, "Keyservers: expected a list", (void **)&e->keyservers,
				 &e->n_keyservers, sizeof(*e->keyservers), keyserver_field);
	return set_field(r, obj, f, LT_ARRAY_SIZE(f), key, v, "unknown field in a remote");
}

static int remote_entry(reader *r, void *obj, const char *key, yaml_node_t *v)
{
	rmt_config *c = obj;
	rmt_endpoint *e = rmt_add(c, key, "", r->err);
	if (e == NULL)
		return -1;
	free(e->uri);
	e->uri = NULL;
	if (each_field(r, v, e, endpoint_field) < 0)
		return -1;
	if (e->uri == NULL)
		e->uri = lt_xstrdup("");
	return 0;
}

static int credential_field(reader *r, void *obj, const char *key, yaml_node_t *v)
{
	static const field f[] = {{"URI", false, offsetof(rmt_credential, uri)},
				  {"Auth", false, offsetof(rmt_credential, auth)},
				  {"Insecure", true, offsetof(rmt_credential, insecure)}};
	return set_field(r, obj, f, LT_ARRAY_SIZE(f), key, v, "unknown field in a credential");
}

static int top_field(reader *r, void *obj, const char *key, yaml_node_t *v)
{
	rmt_config *c = obj;
	if (strcmp(key, "Active") == 0) {
		if (get_string(r, v, &c->active) < 0)
			return -1;
		if (c->active[0] == '\0') {
			free(c->active);
			c->active = NULL;
		}
		return 0;
	}
	if (strcmp(key, "Remotes") == 0)
		return each_field(r, v, c, remote_entry);
	if (strcmp(key, "Credentials") == 0)
		return each_item(r, v, "Credentials: expected a list", (void **)&c->creds,
				 &c->n_creds, sizeof(*c->creds), credential_field);
	return bad(r, v, "unknown field");
}

int rmt_read(const char *path, rmt_config *c, lt_error **err)
{
	memset(c, 0, sizeof(*c));
	char *data = NULL;
	size_t len = 0;
	lt_error *e = NULL;
	if (lt_read_file(path, &data, &len, &e) < 0) {
		if (e->errnum == ENOENT) {
			lt_error_free(&e);
			return 0;
		}
		lt_error_move(err, &e);
		return lt_error_wrap(err, "while opening remote config file");
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	int rc = 0;
	if (!yaml_parser_load(&parser, &doc)) {
		rc = lt_error_set(
		    err, 0,
		    "while parsing remote config data: failed to decode YAML data from "
		    "%s: line %zu: %s",
		    path, parser.problem_mark.line + 1,
		    parser.problem ? parser.problem : "syntax error");
	} else {
		reader r = {.doc = &doc, .path = path, .err = err};
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (root != NULL)
			rc = each_field(&r, root, c, top_field);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	free(data);
	if (rc < 0)
		rmt_free(c);
	return rc;
}

int rmt_read_system(rmt_config *c, lt_error **err)
{
	char *path = rmt_system_path();
	struct stat st;
	int rc;
	if (stat(path, &st) == 0) {
		rc = rmt_read(path, c, err);
		for (size_t i = 0; rc == 0 && i < c->n; i++)
			c->remotes[i].system = true;
	} else {
		/* what Apptainer installs as its system remote.yaml */
		memset(c, 0, sizeof(*c));
		rmt_endpoint *e = rmt_add(c, RMT_DEFAULT_NAME, RMT_DEFAULT_CLOUD, err);
		e->system = true;
		c->active = lt_xstrdup(RMT_DEFAULT_NAME);
		rc = 0;
	}
	free(path);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 */

static bool plain_ok(const char *s)
{
	static const char *const words[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
	if (*s == '\0' || strchr("-?:,[]{}#&*!|>'\"%@`0123456789.+ ", *s) != NULL)
		return false;
	for (size_t i = 0; i < LT_ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f || ch == '#' || ch == '"' || ch == '\'' ||
		    (ch == ':' && (p[1] == ' ' || p[1] == '\0')))
			return false;
	}
	return s[strlen(s) - 1] != ' ';
}

/* A YAML scalar: plain where that reads back as the same string, else double-quoted. */
static void put_scalar(FILE *f, const char *s)
{
	if (plain_ok(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void put_field(FILE *f, int indent, const char *key, const char *value)
{
	fprintf(f, "%*s%s: ", indent, "", key);
	put_scalar(f, value);
	fputc('\n', f);
}

static void put_bool(FILE *f, int indent, const char *key, bool v)
{
	fprintf(f, "%*s%s: %s\n", indent, "", key, v ? "true" : "false");
}

static char *render(const rmt_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	put_field(f, 0, "Active", c->active ? c->active : "");
	fputs(c->n == 0 ? "Remotes: {}\n" : "Remotes:\n", f);
	for (size_t i = 0; i < c->n; i++) {
		const rmt_endpoint *e = &c->remotes[i];
		fputs("    ", f);
		put_scalar(f, e->name);
		fputs(":\n", f);
		if (e->uri && e->uri[0])
			put_field(f, 8, "URI", e->uri);
		if (e->token && e->token[0])
			put_field(f, 8, "Token", e->token);
		put_bool(f, 8, "System", e->system);
		put_bool(f, 8, "Exclusive", e->exclusive);
		if (e->insecure)
			put_bool(f, 8, "Insecure", true);
		if (e->n_keyservers > 0)
			fputs("        Keyservers:\n", f);
		for (size_t j = 0; j < e->n_keyservers; j++) {
			const rmt_keyserver *k = &e->keyservers[j];
			fputs("            - ", f);
			put_field(f, 0, "URI", k->uri ? k->uri : "");
			put_bool(f, 14, "Skip", k->skip);
			put_bool(f, 14, "External", k->external);
			put_bool(f, 14, "Insecure", k->insecure);
		}
	}
	if (c->n_creds > 0)
		fputs("Credentials:\n", f);
	for (size_t i = 0; i < c->n_creds; i++) {
		fputs("    - ", f);
		put_field(f, 0, "URI", c->creds[i].uri ? c->creds[i].uri : "");
		if (c->creds[i].auth && c->creds[i].auth[0])
			put_field(f, 6, "Auth", c->creds[i].auth);
		put_bool(f, 6, "Insecure", c->creds[i].insecure);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int rmt_write(const char *path, const rmt_config *c, bool world_readable, lt_error **err)
{
	char *dir = lt_path_dirname(path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		lt_error_set(err, errno, "while opening remote config file: creating %s", dir);
		free(dir);
		return -1;
	}
	free(dir);
	char *text = render(c);
	if (text == NULL)
		return lt_error_set(err, errno, "while writing remote config to file");
	lt_atomic_file af;
	int rc = lt_atomic_open(&af, path, world_readable ? 0644 : 0600, err);
	if (rc == 0 && lt_write_all(af.fd, text, strlen(text), path, err) < 0) {
		lt_atomic_abort(&af);
		rc = -1;
	}
	if (rc == 0)
		rc = lt_atomic_commit(&af, err);
	free(text);
	if (rc == 0)
		chmod(path, world_readable ? 0644 : 0600);
	return rc < 0 ? lt_error_wrap(err, "while writing remote config to file") : 0;
}
