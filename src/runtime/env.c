/* The container environment, built by Apptainer's rules:
 *
 *  - rt_env_build: what the launcher passes to the action script (cmd/internal/cli
 *    actions_linux.go and internal/pkg/util/env/clean.go SetContainerEnv): the host
 *    environment without APPTAINER_*, SINGULARITY_*, LITHO_*, PATH, HOME and LD_LIBRARY_PATH
 *    (with --cleanenv only TERM and the proxy variables, plus LANG=C), HOME and the default
 *    PATH, the runtime variables (APPTAINER_CONTAINER, _NAME, _BIND, _SHELL, _APPNAME,
 *    _NO_EVAL and their SINGULARITY_ twins, APPTAINER_COMMAND), and separately the overrides
 *    to inject (APPTAINERENV_ and friends, --env, --env-file);
 *  - rt_env_emulate: the environment phase of the action script done in C for images without
 *    a shell;
 *  - a small evaluator for the shell subset of the files Apptainer generates and of env files.
 *
 * Override precedence (highest first): --env, --env-file, LITHO_ENV_FOO, APPTAINERENV_FOO,
 * SINGULARITYENV_FOO. Apptainer has the same order for its own three (--env and --env-file
 * become APPTAINERENV_ variables, which win over SINGULARITYENV_); LITHO_ENV_ is litho's own
 * prefix, so it wins over the ones litho shares with Apptainer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action_script.h"
#include "meta.h"

/* ---------------------------------------------------------------------------------------------
 * Environment lists
 */
void rt_env_init(rt_env *e)
{
	e->n = 0;
	e->cap = 8;
	e->v = lt_xcalloc(e->cap, sizeof(*e->v));
}

void rt_env_free(rt_env *e)
{
	if (e->v != NULL) {
		for (size_t i = 0; i < e->n; i++)
			free(e->v[i]);
		free(e->v);
	}
	e->v = NULL;
	e->n = e->cap = 0;
}

static void env_push(rt_env *e, char *entry)
{
	if (e->n + 1 >= e->cap) {
		e->cap *= 2;
		e->v = lt_xrealloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n++] = entry;
	e->v[e->n] = NULL;
}

void rt_env_copy(rt_env *dst, const rt_env *src)
{
	rt_env_init(dst);
	for (size_t i = 0; i < src->n; i++)
		env_push(dst, lt_xstrdup(src->v[i]));
}

static ssize_t env_find(const rt_env *e, const char *key, size_t klen)
{
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

const char *rt_env_getn(const rt_env *e, const char *key, size_t klen)
{
	ssize_t i = env_find(e, key, klen);
	return i < 0 ? NULL : e->v[i] + klen + 1;
}

const char *rt_env_get(const rt_env *e, const char *key)
{
	return rt_env_getn(e, key, strlen(key));
}

void rt_env_setn(rt_env *e, const char *key, size_t klen, const char *value, size_t vlen)
{
	char *entry = lt_xmalloc(klen + vlen + 2);
	memcpy(entry, key, klen);
	entry[klen] = '=';
	memcpy(entry + klen + 1, value, vlen);
	entry[klen + 1 + vlen] = '\0';
	ssize_t i = env_find(e, key, klen);
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = entry;
	} else {
		env_push(e, entry);
	}
}

void rt_env_set(rt_env *e, const char *key, const char *value)
{
	rt_env_setn(e, key, strlen(key), value, strlen(value));
}

bool rt_env_unset(rt_env *e, const char *key)
{
	ssize_t i = env_find(e, key, strlen(key));
	if (i < 0)
		return false;
	free(e->v[i]);
	memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i) * sizeof(*e->v));
	e->n--;
	return true;
}

void rt_env_add_strv(rt_env *e, char *const *v)
{
	for (; v != NULL && *v != NULL; v++) {
		const char *eq = strchr(*v, '=');
		if (eq != NULL)
			rt_env_setn(e, *v, (size_t)(eq - *v), eq + 1, strlen(eq + 1));
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void rt_env_sort(rt_env *e)
{
	qsort(e->v, e->n, sizeof(*e->v), cmp_str);
}

char **rt_env_steal(rt_env *e)
{
	char **v = e->v;
	e->v = NULL;
	e->n = e->cap = 0;
	return v;
}

void rt_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* ---------------------------------------------------------------------------------------------
 * Growable strings and string vectors
 */
typedef struct sbuf {
	char *d;
	size_t len, cap;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->d = lt_xrealloc(b->d, b->cap);
	}
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void sb_add(sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

/* The string (never NULL); b is left empty. */
static char *sb_steal(sbuf *b)
{
	char *s = b->d != NULL ? b->d : lt_xstrdup("");
	b->d = NULL;
	b->len = b->cap = 0;
	return s;
}

typedef struct strv {
	char **v;
	size_t n, cap;
} strv;

static void sv_push(strv *s, char *str)
{
	if (s->n + 1 >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = lt_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void sv_free(strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* ---------------------------------------------------------------------------------------------
 * The shell subset evaluator
 */
enum { CTX_WORD, CTX_BRACE };

typedef struct sh_parser {
	rt_sh *sh;
	const char *s;
	size_t i, len;
	bool words_mode; /* rt_sh_words: no statements, operators are errors */
	int skip;	 /* > 0: inside an operand that is not used (no side effects) */
	lt_error **err;
} sh_parser;

/* Builds the fields of one word. In split mode, unquoted expansions are field-split. */
typedef struct fields {
	sbuf cur;
	bool have; /* cur is a field even when empty (quotes were seen) */
	bool split;
	strv *out;
} fields;

static void fl_add(fields *f, const char *s, size_t n)
{
	sb_addn(&f->cur, s, n);
	f->have = true;
}

static void fl_end(fields *f)
{
	if (f->have && f->out != NULL)
		sv_push(f->out, sb_steal(&f->cur));
	f->have = false;
	f->cur.len = 0;
	if (f->cur.d != NULL)
		f->cur.d[0] = '\0';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Unquoted expansion result: split on blanks in split mode. */
static void fl_add_expansion(fields *f, const char *s, size_t n, bool quoted)
{
	if (quoted || !f->split) {
		if (n > 0)
			fl_add(f, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (is_blank(s[i]))
			fl_end(f);
		else
			fl_add(f, &s[i], 1);
	}
}

static unsigned sh_line(const sh_parser *p)
{
	unsigned line = 1;
	for (size_t i = 0; i < p->i && i < p->len; i++)
		if (p->s[i] == '\n')
			line++;
	return line;
}

LT_PRINTF(2, 3)
static int sh_fail(sh_parser *p, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (p->words_mode)
		lt_error_set(p->err, 0, "%s: %s", p->sh->name ? p->sh->name : "shell words",
			     msg ? msg : "error");
	else
		lt_error_set(p->err, 0, "%s: line %u: %s", p->sh->name ? p->sh->name : "script",
			     sh_line(p), msg ? msg : "error");
	free(msg);
	return -1;
}

static const char *sh_lookup(sh_parser *p, const char *name, size_t len)
{
	const char *v = rt_env_getn(p->sh->exported, name, len);
	if (v == NULL && p->sh->locals != NULL)
		v = rt_env_getn(p->sh->locals, name, len);
	return v;
}

static void sh_assign(rt_sh *sh, const char *name, size_t len, const char *value, size_t vlen)
{
	if (sh->allexport || sh->locals == NULL || rt_env_getn(sh->exported, name, len) != NULL) {
		rt_env_setn(sh->exported, name, len, value, vlen);
		if (sh->locals != NULL) {
			char *key = lt_xstrndup(name, len);
			rt_env_unset(sh->locals, key);
			free(key);
		}
	} else {
		rt_env_setn(sh->locals, name, len, value, vlen);
	}
}

static void sh_export(rt_sh *sh, const char *name)
{
	if (sh->locals == NULL)
		return;
	const char *v = rt_env_get(sh->locals, name);
	if (v != NULL) {
		char *copy = lt_xstrdup(v);
		rt_env_unset(sh->locals, name);
		rt_env_set(sh->exported, name, copy);
		free(copy);
	}
}

static void sh_unset(rt_sh *sh, const char *name)
{
	rt_env_unset(sh->exported, name);
	if (sh->locals != NULL)
		rt_env_unset(sh->locals, name);
}

static size_t name_len(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && lt_env_name_valid(s, n + 1))
		n++;
	return n;
}

static int parse_word(sh_parser *p, fields *f, int ctx, bool in_dq);

/* The operand of ${X:-word}: parsed up to the closing brace into *out. */
static int parse_operand(sh_parser *p, bool in_dq, char **out)
{
	strv none = {0};
	fields f = {.split = false, .out = &none};
	int rc = parse_word(p, &f, CTX_BRACE, in_dq);
	*out = sb_steal(&f.cur);
	sv_free(&none);
	return rc;
}

/* Positional and special parameters; NULL when name is not one. *set tells whether it is set. */
static char *special_param(sh_parser *p, const char *name, size_t len, bool *set)
{
	rt_sh *sh = p->sh;
	*set = true;
	if (len == 1 && name[0] == '#')
		return lt_strdup_printf("%zu", sh->n_args);
	if (len == 1 && name[0] == '?')
		return lt_xstrdup("0");
	if (len == 1 && name[0] == '$')
		return lt_strdup_printf("%ld", (long)getpid());
	if (len == 1 && (name[0] == '-' || name[0] == '!')) {
		*set = name[0] == '-';
		return lt_xstrdup("");
	}
	if (len == 1 && (name[0] == '@' || name[0] == '*')) {
		sbuf b = {0};
		for (size_t i = 0; i < sh->n_args; i++) {
			if (i > 0)
				sb_addc(&b, ' ');
			sb_add(&b, sh->args[i]);
		}
		*set = sh->n_args > 0;
		return sb_steal(&b);
	}
	if (len > 0 && name[0] >= '0' && name[0] <= '9') {
		size_t k = 0;
		for (size_t i = 0; i < len; i++) {
			if (name[i] < '0' || name[i] > '9')
				return NULL;
			k = k * 10 + (size_t)(name[i] - '0');
			if (k > 1000000)
				break;
		}
		if (k == 0)
			return lt_xstrdup(sh->name ? sh->name : "sh");
		*set = k <= sh->n_args;
		return lt_xstrdup(k <= sh->n_args ? sh->args[k - 1] : "");
	}
	return NULL;
}

/* A parameter's value (copied) and whether it is set. */
static char *param_value(sh_parser *p, const char *name, size_t len, bool *set)
{
	char *v = special_param(p, name, len, set);
	if (v != NULL)
		return v;
	const char *val = sh_lookup(p, name, len);
	*set = val != NULL;
	return lt_xstrdup(val ? val : "");
}

/* ${...}; p->i is just after the '{'. */
static int parse_braced(sh_parser *p, fields *f, bool quoted, bool in_dq)
{
	const char *s = p->s;
	bool length = false;
	if (p->i < p->len && s[p->i] == '#' && p->i + 1 < p->len && s[p->i + 1] != '}') {
		length = true;
		p->i++;
	}
	size_t start = p->i, len;
	if (p->i < p->len && strchr("@*#?$-!", s[p->i]) != NULL) {
		len = 1;
	} else if (p->i < p->len && s[p->i] >= '0' && s[p->i] <= '9') {
		len = 0;
		while (p->i + len < p->len && s[p->i + len] >= '0' && s[p->i + len] <= '9')
			len++;
	} else {
		len = name_len(s + p->i, p->len - p->i);
	}
	if (len == 0)
		return sh_fail(p, "bad substitution");
	p->i += len;
	bool set;
	char *val = param_value(p, s + start, len, &set);
	if (p->i >= p->len) {
		free(val);
		return sh_fail(p, "missing '}'");
	}
	if (length) {
		if (s[p->i] != '}') {
			free(val);
			return sh_fail(p, "bad substitution");
		}
		p->i++;
		char *n = lt_strdup_printf("%zu", strlen(val));
		fl_add_expansion(f, n, strlen(n), quoted);
		free(n);
		free(val);
		return 0;
	}
	if (s[p->i] == '}') {
		p->i++;
		fl_add_expansion(f, val, strlen(val), quoted);
		free(val);
		return 0;
	}
	bool colon = false;
	if (s[p->i] == ':') {
		colon = true;
		p->i++;
	}
	char op = p->i < p->len ? s[p->i] : '\0';
	if (op != '-' && op != '=' && op != '+' && op != '?') {
		free(val);
		return sh_fail(p, "unsupported parameter expansion");
	}
	p->i++;
	bool present = colon ? (set && val[0] != '\0') : set;
	bool use = (op == '+') ? present : !present;
	if (!use)
		p->skip++;
	char *word = NULL;
	int rc = parse_operand(p, in_dq, &word);
	if (!use)
		p->skip--;
	if (rc < 0 || p->i >= p->len || s[p->i] != '}') {
		free(val);
		free(word);
		return rc < 0 ? -1 : sh_fail(p, "missing '}'");
	}
	p->i++;
	const char *result = val;
	if (op == '+') {
		result = present ? word : "";
	} else if (!present) {
		result = word;
		if (op == '?') {
			int r = sh_fail(p, "%.*s: %s", (int)len, s + start,
					word[0] ? word : "parameter null or not set");
			free(val);
			free(word);
			return r;
		}
		if (op == '=' && p->skip == 0) {
			if (!lt_env_name_valid(s + start, len)) {
				free(val);
				free(word);
				return sh_fail(p, "%.*s: cannot assign in this way", (int)len,
					       s + start);
			}
			if (p->words_mode) {
				free(val);
				free(word);
				return sh_fail(p, "assignments are not supported here");
			}
			sh_assign(p->sh, s + start, len, word, strlen(word));
		}
	}
	fl_add_expansion(f, result, strlen(result), quoted);
	free(val);
	free(word);
	return 0;
}

/* $... or `...`; p->i is at the '$' or the '`'. */
static int parse_expansion(sh_parser *p, fields *f, bool quoted, bool in_dq)
{
	const char *s = p->s;
	if (s[p->i] == '`')
		return sh_fail(p, "command substitution is not supported (it needs a shell)");
	p->i++;
	if (p->i >= p->len) {
		fl_add(f, "$", 1);
		return 0;
	}
	char c = s[p->i];
	if (c == '{') {
		p->i++;
		return parse_braced(p, f, quoted, in_dq);
	}
	if (c == '(')
		return sh_fail(p, "command substitution and arithmetic expansion are not supported "
				  "(they need a shell)");
	size_t len = 0;
	if (strchr("@*#?$-!", c) != NULL || (c >= '0' && c <= '9'))
		len = 1;
	else
		len = name_len(s + p->i, p->len - p->i);
	if (len == 0) {
		fl_add(f, "$", 1);
		return 0;
	}
	bool set;
	char *val = param_value(p, s + p->i, len, &set);
	p->i += len;
	fl_add_expansion(f, val, strlen(val), quoted);
	free(val);
	return 0;
}

/* "..."; p->i is at the opening quote. */
static int parse_dq(sh_parser *p, fields *f)
{
	const char *s = p->s;
	p->i++;
	f->have = true;
	while (p->i < p->len) {
		char c = s[p->i];
		if (c == '"') {
			p->i++;
			return 0;
		}
		if (c == '\\' && p->i + 1 < p->len) {
			char n = s[p->i + 1];
			if (n == '\n') {
				p->i += 2;
				continue;
			}
			if (n == '$' || n == '`' || n == '"' || n == '\\') {
				fl_add(f, &n, 1);
				p->i += 2;
				continue;
			}
			fl_add(f, "\\", 1);
			p->i++;
			continue;
		}
		if (c == '$' || c == '`') {
			if (parse_expansion(p, f, true, true) < 0)
				return -1;
			continue;
		}
		fl_add(f, &c, 1);
		p->i++;
	}
	return sh_fail(p, "unterminated double quote");
}

static bool is_operator(char c)
{
	return c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')';
}

/* One word (or, for CTX_BRACE, the operand up to its closing brace). */
static int parse_word(sh_parser *p, fields *f, int ctx, bool in_dq)
{
	const char *s = p->s;
	size_t start = p->i;
	while (p->i < p->len) {
		char c = s[p->i];
		if (ctx == CTX_WORD && is_blank(c))
			break;
		if (ctx == CTX_WORD && is_operator(c)) {
			if (p->words_mode)
				return sh_fail(p, "unsupported shell syntax '%c'", c);
			break;
		}
		if (ctx == CTX_BRACE && c == '}')
			break;
		if (c == '\\') {
			if (p->i + 1 >= p->len) {
				fl_add(f, "\\", 1);
				p->i++;
				continue;
			}
			char n = s[p->i + 1];
			p->i += 2;
			if (n == '\n')
				continue;
			if (in_dq && n != '$' && n != '`' && n != '"' && n != '\\' && n != '}')
				fl_add(f, "\\", 1);
			fl_add(f, &n, 1);
			continue;
		}
		if (c == '\'' && !in_dq) {
			const char *end = memchr(s + p->i + 1, '\'', p->len - p->i - 1);
			if (end == NULL)
				return sh_fail(p, "unterminated single quote");
			fl_add(f, s + p->i + 1, (size_t)(end - (s + p->i + 1)));
			p->i = (size_t)(end - s) + 1;
			continue;
		}
		if (c == '"') {
			if (parse_dq(p, f) < 0)
				return -1;
			continue;
		}
		if (c == '$' || c == '`') {
			if (parse_expansion(p, f, in_dq, in_dq) < 0)
				return -1;
			continue;
		}
		if (c == '~' && p->i == start && ctx == CTX_WORD && !p->words_mode &&
		    (p->i + 1 >= p->len || s[p->i + 1] == '/' || is_blank(s[p->i + 1]) ||
		     is_operator(s[p->i + 1]))) {
			const char *home = sh_lookup(p, "HOME", 4);
			if (home != NULL) {
				fl_add(f, home, strlen(home));
				p->i++;
				continue;
			}
		}
		fl_add(f, &c, 1);
		p->i++;
	}
	return 0;
}

/* One word, all of its fields joined (assignments, declaration arguments). */
static int parse_word_joined(sh_parser *p, char **out)
{
	strv none = {0};
	fields f = {.split = false, .out = &none};
	int rc = parse_word(p, &f, CTX_WORD, false);
	*out = sb_steal(&f.cur);
	sv_free(&none);
	return rc;
}

static void skip_blanks(sh_parser *p, bool newlines)
{
	while (p->i < p->len) {
		char c = p->s[p->i];
		if (c == ' ' || c == '\t' || (newlines && c == '\n')) {
			p->i++;
		} else if (c == '\\' && p->i + 1 < p->len && p->s[p->i + 1] == '\n') {
			p->i += 2;
		} else {
			break;
		}
	}
}

/* NAME= at p->i: the length of NAME, 0 when the word is not an assignment. */
static size_t assignment_at(const sh_parser *p)
{
	size_t n = name_len(p->s + p->i, p->len - p->i);
	if (n > 0 && p->i + n < p->len && p->s[p->i + n] == '=')
		return n;
	return 0;
}

typedef struct assign {
	char *name;
	char *value;
} assign;

/* NAME=WORD at p->i, an being assignment_at()'s length of NAME; new strings in *a. */
static int parse_assignment(sh_parser *p, size_t an, assign *a)
{
	a->name = lt_xstrndup(p->s + p->i, an);
	p->i += an + 1;
	a->value = NULL;
	if (parse_word_joined(p, &a->value) < 0) {
		free(a->name);
		free(a->value);
		return -1;
	}
	return 0;
}

static bool is_reserved(const char *w)
{
	static const char *const words[] = {"if",	"then",	 "else", "elif", "fi",	 "for",
					    "while",	"until", "do",	 "done", "case", "esac",
					    "function", "{",	 "}",	 "!",	 "in",	 "select"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(words); i++)
		if (strcmp(w, words[i]) == 0)
			return true;
	return false;
}

static bool is_declaration(const char *w)
{
	return strcmp(w, "export") == 0 || strcmp(w, "readonly") == 0;
}

static int run_builtin(sh_parser *p, strv *words)
{
	rt_sh *sh = p->sh;
	const char *cmd = words->v[0];
	if (strcmp(cmd, ":") == 0 || strcmp(cmd, "true") == 0)
		return 0;
	if (is_declaration(cmd)) {
		bool exp = strcmp(cmd, "export") == 0;
		for (size_t i = 1; i < words->n; i++) {
			const char *w = words->v[i];
			if (w[0] == '-') {
				if (strcmp(w, "-p") == 0 || strcmp(w, "--") == 0)
					continue;
				return sh_fail(p, "%s: unsupported option %s", cmd, w);
			}
			const char *eq = strchr(w, '=');
			size_t nl = eq ? (size_t)(eq - w) : strlen(w);
			if (!lt_env_name_valid(w, nl))
				return sh_fail(p, "%s: '%s': not a valid identifier", cmd, w);
			if (eq != NULL) {
				if (exp) {
					rt_env_setn(sh->exported, w, nl, eq + 1, strlen(eq + 1));
					char *key = lt_xstrndup(w, nl);
					if (sh->locals != NULL)
						rt_env_unset(sh->locals, key);
					free(key);
				} else {
					sh_assign(sh, w, nl, eq + 1, strlen(eq + 1));
				}
			} else if (exp) {
				sh_export(sh, w);
			}
		}
		return 0;
	}
	if (strcmp(cmd, "unset") == 0) {
		for (size_t i = 1; i < words->n; i++) {
			if (strcmp(words->v[i], "-v") == 0)
				continue;
			if (words->v[i][0] == '-')
				return sh_fail(p, "unset: unsupported option %s", words->v[i]);
			sh_unset(sh, words->v[i]);
		}
		return 0;
	}
	if (strcmp(cmd, "set") == 0) {
		for (size_t i = 1; i < words->n; i++) {
			const char *w = words->v[i];
			if ((w[0] == '-' || w[0] == '+') && w[1] == 'o' && w[2] == '\0' &&
			    i + 1 < words->n) {
				if (strcmp(words->v[i + 1], "allexport") == 0)
					sh->allexport = w[0] == '-';
				i++;
				continue;
			}
			if ((w[0] == '-' || w[0] == '+') && w[1] != '\0' && w[1] != '-') {
				if (strchr(w + 1, 'a') != NULL)
					sh->allexport = w[0] == '-';
				continue;
			}
			return sh_fail(p,
				       "set: changing the positional parameters is not supported");
		}
		return 0;
	}
	sbuf b = {0};
	for (size_t i = 0; i < words->n; i++) {
		if (i > 0)
			sb_addc(&b, ' ');
		sb_add(&b, words->v[i]);
	}
	char *line = sb_steal(&b);
	int rc = sh_fail(p, "could not execute \"%s\": execution is disabled", line);
	free(line);
	return rc;
}

/* One simple command (up to a newline, ';' or comment). */
static int run_command(sh_parser *p)
{
	strv words = {0};
	assign *assigns = NULL;
	size_t n_assign = 0;
	int rc = -1;
	bool declaration = false;
	for (;;) {
		skip_blanks(p, false);
		if (p->i >= p->len || p->s[p->i] == '\n' || p->s[p->i] == ';')
			break;
		char c = p->s[p->i];
		if (c == '#') {
			while (p->i < p->len && p->s[p->i] != '\n')
				p->i++;
			break;
		}
		if (is_operator(c)) {
			sh_fail(p, "unsupported shell syntax '%c'", c);
			goto out;
		}
		size_t an = assignment_at(p);
		if (an > 0 && words.n == 0) {
			assign a;
			if (parse_assignment(p, an, &a) < 0)
				goto out;
			assigns = lt_xrealloc(assigns, (n_assign + 1) * sizeof(*assigns));
			assigns[n_assign++] = a;
			continue;
		}
		if (declaration && an > 0) {
			assign a;
			if (parse_assignment(p, an, &a) < 0)
				goto out;
			sv_push(&words, lt_strdup_printf("%s=%s", a.name, a.value));
			free(a.name);
			free(a.value);
			continue;
		}
		fields f = {.split = true, .out = &words};
		size_t before = words.n;
		if (parse_word(p, &f, CTX_WORD, false) < 0) {
			free(f.cur.d);
			goto out;
		}
		fl_end(&f);
		free(f.cur.d);
		if (before == 0 && words.n > 0) {
			if (is_reserved(words.v[0])) {
				sh_fail(p, "unsupported shell construct '%s'", words.v[0]);
				goto out;
			}
			declaration = is_declaration(words.v[0]);
		}
	}
	if (words.n == 0) {
		for (size_t i = 0; i < n_assign; i++)
			sh_assign(p->sh, assigns[i].name, strlen(assigns[i].name), assigns[i].value,
				  strlen(assigns[i].value));
		rc = 0;
	} else {
		rc = run_builtin(p, &words);
	}
out:
	for (size_t i = 0; i < n_assign; i++) {
		free(assigns[i].name);
		free(assigns[i].value);
	}
	free(assigns);
	sv_free(&words);
	return rc;
}

int rt_sh_source(rt_sh *sh, const char *text, lt_error **err)
{
	sh_parser p = {.sh = sh, .s = text, .len = strlen(text), .err = err};
	while (p.i < p.len) {
		skip_blanks(&p, true);
		if (p.i >= p.len)
			break;
		char c = p.s[p.i];
		if (c == ';') {
			p.i++;
			continue;
		}
		if (c == '#') {
			while (p.i < p.len && p.s[p.i] != '\n')
				p.i++;
			continue;
		}
		if (run_command(&p) < 0)
			return -1;
		if (p.i < p.len && (p.s[p.i] == ';' || p.s[p.i] == '\n'))
			p.i++;
	}
	return 0;
}

int rt_sh_words(rt_sh *sh, const char *text, char ***words, size_t *n, lt_error **err)
{
	sh_parser p = {.sh = sh, .s = text, .len = strlen(text), .words_mode = true, .err = err};
	strv out = {0};
	sv_push(&out, NULL);
	out.n = 0;
	for (;;) {
		skip_blanks(&p, true);
		if (p.i >= p.len)
			break;
		fields f = {.split = true, .out = &out};
		if (parse_word(&p, &f, CTX_WORD, false) < 0) {
			free(f.cur.d);
			sv_free(&out);
			return -1;
		}
		fl_end(&f);
		free(f.cur.d);
	}
	*words = out.v;
	*n = out.n;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * --env-file
 */
int rt_env_file_eval(const char *data, const char *name, char *const *host_env, const char *image,
		     char *const *args, size_t n_args, rt_env *out, lt_error **err)
{
	rt_env locals, exported;
	rt_env_init(&locals);
	rt_env_init(&exported);
	rt_env_add_strv(&locals, host_env);
	if (image != NULL)
		rt_env_set(&locals, "APPTAINER_IMAGE", image);
	rt_sh sh = {
	    .exported = &exported,
	    .locals = &locals,
	    .args = args,
	    .n_args = n_args,
	    .allexport = true,
	    .name = name,
	};
	int rc = rt_sh_source(&sh, data, err);
	if (rc == 0) {
		rt_env_init(out);
		for (size_t i = 0; i < exported.n; i++) {
			const char *e = exported.v[i];
			if (strncmp(e, "UID=", 4) == 0 || strncmp(e, "GID=", 4) == 0)
				continue;
			env_push(out, lt_xstrdup(e));
		}
	}
	rt_env_free(&locals);
	rt_env_free(&exported);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * OCI runscripts
 */
#define OCI_EVAL_LINE "eval \"set ${SINGULARITY_OCI_RUN}\""

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

/* The value of NAME=<one shell word> at the start of a line; "" when there is none. */
static int assignment_value(const char *text, const char *name, char **out, lt_error **err)
{
	size_t n = strlen(name);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			rt_env vars;
			rt_env_init(&vars);
			rt_sh sh = {.exported = &vars, .name = "/.singularity.d/runscript"};
			sh_parser ps = {
			    .sh = &sh, .s = p + n + 1, .len = strlen(p + n + 1), .err = err};
			int rc = parse_word_joined(&ps, out);
			rt_env_free(&vars);
			if (rc < 0) {
				free(*out);
				*out = NULL;
			}
			return rc;
		}
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	*out = lt_xstrdup("");
	return 0;
}

int rt_oci_runscript_parse(const char *text, char **entrypoint, char **cmd, lt_error **err)
{
	*entrypoint = *cmd = NULL;
	if (!has_line(text, OCI_EVAL_LINE))
		return 1;
	if (assignment_value(text, "OCI_ENTRYPOINT", entrypoint, err) < 0)
		return -1;
	if (assignment_value(text, "OCI_CMD", cmd, err) < 0) {
		free(*entrypoint);
		*entrypoint = NULL;
		return -1;
	}
	return 0;
}

static void push_all(strv *dst, char **src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sv_push(dst, lt_xstrdup(src[i]));
}

int rt_oci_runscript_argv(const char *entrypoint, const char *cmd, char *const *args, size_t n_args,
			  bool no_eval, const rt_env *env, char ***argv, size_t *argc,
			  lt_error **err)
{
	/* the runscript's own variables come first, as in its shell */
	rt_env vars;
	rt_env_copy(&vars, env);
	rt_env_set(&vars, "OCI_ENTRYPOINT", entrypoint);
	rt_env_set(&vars, "OCI_CMD", cmd);
	rt_sh sh = {
	    .exported = &vars,
	    .args = args,
	    .n_args = n_args,
	    .name = "/.singularity.d/runscript",
	};
	strv out = {0};
	sv_push(&out, NULL);
	out.n = 0;
	int rc = -1;
	char **ep = NULL, **cm = NULL;
	size_t n_ep = 0, n_cm = 0;
	if (no_eval) {
		/* the `set -- 'elem' "$@"` lines hold the same elements as the quoted lists */
		rt_env empty;
		rt_env_init(&empty);
		rt_sh lit = {.exported = &empty, .name = sh.name};
		int r1 = rt_sh_words(&lit, entrypoint, &ep, &n_ep, err);
		int r2 = r1 < 0 ? -1 : rt_sh_words(&lit, cmd, &cm, &n_cm, err);
		rt_env_free(&empty);
		if (r1 < 0 || r2 < 0)
			goto out;
		if (n_ep > 0) {
			push_all(&out, ep, n_ep);
			if (n_args > 0)
				push_all(&out, (char **)args, n_args);
			else
				push_all(&out, cm, n_cm);
		} else if (n_args > 0) {
			push_all(&out, (char **)args, n_args);
		} else {
			push_all(&out, cm, n_cm);
		}
	} else {
		/* SINGULARITY_OCI_RUN="${OCI_ENTRYPOINT} ${CMDLINE_ARGS}" or "... ${OCI_CMD}",
		 * CMDLINE_ARGS being ' "arg"' per argument, then eval "set ${SINGULARITY_OCI_RUN}"
		 */
		sbuf run = {0};
		sb_add(&run, entrypoint);
		sb_addc(&run, ' ');
		if (n_args > 0) {
			sbuf cl = {0};
			for (size_t i = 0; i < n_args; i++) {
				sb_add(&cl, " \"");
				sb_add(&cl, args[i]);
				sb_addc(&cl, '"');
			}
			char *cmdline = sb_steal(&cl);
			rt_env_set(&vars, "CMDLINE_ARGS", cmdline);
			sb_add(&run, cmdline);
			free(cmdline);
		} else {
			sb_add(&run, cmd);
		}
		char *oci_run = sb_steal(&run);
		rt_env_set(&vars, "SINGULARITY_OCI_RUN", oci_run);
		char **w = NULL;
		size_t nw = 0;
		rc = rt_sh_words(&sh, oci_run, &w, &nw, err);
		free(oci_run);
		if (rc < 0) {
			lt_error_wrap(err,
				      "evaluating the OCI runscript without a shell (--no-eval "
				      "avoids the evaluation)");
			goto out;
		}
		for (size_t i = 0; i < nw; i++)
			sv_push(&out, w[i]);
		free(w);
	}
	rc = 0;
	*argv = out.v;
	*argc = out.n;
	out.v = NULL;
out:
	rt_strv_free(ep);
	rt_strv_free(cm);
	if (out.v != NULL)
		sv_free(&out);
	rt_env_free(&vars);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * rt_env_build
 */
static const char *const always_pass[] = {
    "TERM",	"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
    "NO_PROXY", "all_proxy",  "ALL_PROXY",  "ftp_proxy",   "FTP_PROXY",
};

/* alwaysOmitKeys: never forwarded from the host; the first ones cannot be overridden. */
static const char *const omit_fixed[] = {
    "HOME",
    "PATH",
    "APPTAINER_SHELL",
    "APPTAINER_APPNAME",
    "SINGULARITY_SHELL",
    "SINGULARITY_APPNAME",
};

static bool in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

static bool must_forward(const char *key, size_t len, bool clean)
{
	if (in_list(key, len, always_pass, LT_ARRAY_SIZE(always_pass)))
		return true;
	if (in_list(key, len, omit_fixed, LT_ARRAY_SIZE(omit_fixed)) ||
	    (len == 15 && memcmp(key, "LD_LIBRARY_PATH", 15) == 0))
		return false;
	return !clean;
}

/* One override KEY=VALUE from `source` (for messages); first one set wins. */
static void add_override(rt_env *inject, const char *source, const char *key, size_t klen,
			 const char *value)
{
	const char *target = NULL;
	if (klen == 0)
		return;
	if (klen == 12 && memcmp(key, "PREPEND_PATH", 12) == 0)
		target = "SING_USER_DEFINED_PREPEND_PATH";
	else if (klen == 11 && memcmp(key, "APPEND_PATH", 11) == 0)
		target = "SING_USER_DEFINED_APPEND_PATH";
	else if (klen == 4 && memcmp(key, "PATH", 4) == 0)
		target = "SING_USER_DEFINED_PATH";
	if (target == NULL && in_list(key, klen, omit_fixed, LT_ARRAY_SIZE(omit_fixed))) {
		lt_warn("Overriding %.*s environment variable with %s is not permitted", (int)klen,
			key, source);
		return;
	}
	size_t tlen = target ? strlen(target) : klen;
	const char *tkey = target ? target : key;
	const char *old = rt_env_getn(inject, tkey, tlen);
	if (old != NULL) {
		if (strcmp(old, value) != 0)
			lt_verbose("Skipping environment variable [%s=%s], %.*s is already "
				   "overridden with different value [%s]",
				   source, value, (int)tlen, tkey, old);
		return;
	}
	rt_env_setn(inject, tkey, tlen, value, strlen(value));
}

static void add_prefixed(rt_env *inject, char *const *host, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (char *const *e = host; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, prefix, pl) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		char *source = lt_xstrndup(*e, (size_t)(eq - *e));
		add_override(inject, source, *e + pl, (size_t)(eq - *e) - pl, eq + 1);
		free(source);
	}
}

static const char *const skipped_prefixes[] = {
    "APPTAINER_", "SINGULARITY_", "LITHO_", "APPTAINERENV_", "SINGULARITYENV_",
};

static void set_twins(rt_env *env, const char *name, const char *value)
{
	char *a = lt_strdup_printf("APPTAINER_%s", name);
	char *s = lt_strdup_printf("SINGULARITY_%s", name);
	rt_env_set(env, a, value);
	rt_env_set(env, s, value);
	free(a);
	free(s);
}

int rt_env_build(const rt_ctx *c, const char *command, rt_env *env, rt_env *inject, lt_error **err)
{
	const rt_options *o = c->o;
	bool clean = o->cleanenv || o->containall;
	rt_env_init(env);
	rt_env_init(inject);

	/* --env: later ones replace earlier ones (a map in Apptainer) */
	rt_env cli;
	rt_env_init(&cli);
	for (size_t i = 0; i < o->n_env; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (eq == NULL) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_set(err, 0, "--env %s: expected NAME=VALUE", o->env[i]);
		}
		if (eq == o->env[i]) {
			lt_warn("Ignore environment variable %s: variable name missing", o->env[i]);
			continue;
		}
		rt_env_setn(&cli, o->env[i], (size_t)(eq - o->env[i]), eq + 1, strlen(eq + 1));
	}
	for (size_t i = 0; i < cli.n; i++) {
		const char *eq = strchr(cli.v[i], '=');
		char *source = lt_strdup_printf("--env %.*s", (int)(eq - cli.v[i]), cli.v[i]);
		add_override(inject, source, cli.v[i], (size_t)(eq - cli.v[i]), eq + 1);
		free(source);
	}
	/* --env-file, evaluated with the host environment */
	if (o->env_file != NULL) {
		if (c->env_file_data == NULL) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_set(err, 0,
					    "--env-file %s was not read before entering the "
					    "container",
					    o->env_file);
		}
		/* $1... are the container process arguments, which start with the action's path */
		rt_env file;
		char **args = lt_xcalloc(o->n_args + 2, sizeof(*args));
		args[0] = lt_strdup_printf("/.singularity.d/actions/%s", command);
		for (size_t i = 0; i < o->n_args; i++)
			args[i + 1] = lt_xstrdup(o->args[i]);
		int rc = rt_env_file_eval(c->env_file_data, o->env_file, c->host_env, c->image_path,
					  args, o->n_args + 1, &file, err);
		rt_strv_free(args);
		if (rc < 0) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_wrap(err, "--env-file");
		}
		for (size_t i = 0; i < file.n; i++) {
			const char *eq = strchr(file.v[i], '=');
			size_t kl = (size_t)(eq - file.v[i]);
			if (rt_env_getn(&cli, file.v[i], kl) != NULL) {
				lt_warn(
				    "Ignore environment variable %.*s from %s: override from --env",
				    (int)kl, file.v[i], o->env_file);
				continue;
			}
			char *source =
			    lt_strdup_printf("%s: %.*s", o->env_file, (int)kl, file.v[i]);
			add_override(inject, source, file.v[i], kl, eq + 1);
			free(source);
		}
		rt_env_free(&file);
	}
	rt_env_free(&cli);
	/* the host's prefixed variables */
	add_prefixed(inject, c->host_env, "LITHO_ENV_");
	add_prefixed(inject, c->host_env, "APPTAINERENV_");
	add_prefixed(inject, c->host_env, "SINGULARITYENV_");
	for (char *const *e = c->host_env; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "SINGULARITYENV_", 15) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL || eq == *e + 15)
			continue;
		char *newer = lt_strdup_printf("APPTAINERENV_%.*s", (int)(eq - *e - 15), *e + 15);
		size_t nl = strlen(newer);
		const char *other = NULL;
		for (char *const *f = c->host_env; *f != NULL && other == NULL; f++)
			if (strncmp(*f, newer, nl) == 0 && (*f)[nl] == '=')
				other = *f + nl + 1;
		if (other == NULL)
			lt_info("Environment variable %.*s is set, but %s is preferred",
				(int)(eq - *e), *e, newer);
		else if (strcmp(other, eq + 1) != 0)
			lt_warn("%.*s and %s have different values, using the latter",
				(int)(eq - *e), *e, newer);
		free(newer);
	}

	/* the process environment */
	if (clean && rt_env_get(inject, "LANG") == NULL)
		rt_env_set(env, "LANG", "C");
	for (char *const *e = c->host_env; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		size_t kl = (size_t)(eq - *e);
		bool skip = false;
		for (size_t i = 0; i < LT_ARRAY_SIZE(skipped_prefixes) && !skip; i++)
			skip = strncmp(*e, skipped_prefixes[i], strlen(skipped_prefixes[i])) == 0;
		if (skip || !must_forward(*e, kl, clean))
			continue;
		if (rt_env_getn(inject, *e, kl) != NULL)
			continue;
		rt_env_setn(env, *e, kl, eq + 1, strlen(eq + 1));
	}
	rt_env_set(env, "HOME", c->home_dst ? c->home_dst : "/");
	rt_env_set(env, "PATH", RT_DEFAULT_PATH);
	if (o->no_eval)
		set_twins(env, "NO_EVAL", "1");
	set_twins(env, "CONTAINER", c->image_path ? c->image_path : "");
	set_twins(env, "NAME", c->image_name ? c->image_name : "");
	set_twins(env, "BIND", c->bind_list ? c->bind_list : "");
	if (o->shell != NULL && o->shell[0] != '\0')
		set_twins(env, "SHELL", o->shell);
	set_twins(env, "APPNAME", o->app ? o->app : "");
	rt_env_set(env, "APPTAINER_COMMAND", command);
	return 0;
}

char *rt_env_inject_snippet(const rt_env *inject, bool no_eval)
{
	sbuf b = {0};
	for (size_t i = 0; i < inject->n; i++) {
		const char *e = inject->v[i];
		const char *eq = strchr(e, '=');
		size_t kl = (size_t)(eq - e);
		if ((kl == 3 && (memcmp(e, "UID", 3) == 0 || memcmp(e, "GID", 3) == 0)))
			continue;
		if (!lt_env_name_valid(e, kl)) {
			lt_warn("Ignoring environment variable %.*s: not a valid name", (int)kl, e);
			continue;
		}
		char *value = lt_xstrdup(eq + 1);
		if (kl == 15 && memcmp(e, "LD_LIBRARY_PATH", 15) == 0 && value[0] != '\0') {
			char *v = lt_strdup_printf("%s:/.singularity.d/libs", value);
			free(value);
			value = v;
		}
		sb_add(&b, "export ");
		sb_addn(&b, e, kl);
		sb_addc(&b, '=');
		char q = no_eval ? '\'' : '"';
		sb_addc(&b, q);
		for (const char *p = value; *p != '\0'; p++) {
			if (no_eval && *p == '\'')
				sb_add(&b, "'\"'\"'");
			else if (!no_eval && *p == '"')
				sb_add(&b, "\\\"");
			else
				sb_addc(&b, *p);
		}
		sb_addc(&b, q);
		sb_addc(&b, '\n');
		free(value);
	}
	return sb_steal(&b);
}

/* ---------------------------------------------------------------------------------------------
 * rt_env_emulate: the action script's environment phase without a shell
 */
typedef struct emu {
	const rt_ctx *c;
	rt_env *cur;   /* exported */
	rt_env locals; /* shell variables */
	bool injected;
	bool rtvars;
	const rt_env *inject;
	lt_error **err;
} emu;

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void emu_set(emu *m, const char *key, const char *value)
{
	rt_env_set(m->cur, key, value);
	rt_env_unset(&m->locals, key);
}

static const char *emu_get(emu *m, const char *key)
{
	const char *v = rt_env_get(m->cur, key);
	return v ? v : rt_env_get(&m->locals, key);
}

static void emu_fixpath(emu *m)
{
	const char *path = emu_get(m, "PATH");
	sbuf b = {0};
	sb_add(&b, path ? path : "");
	char *cur = lt_strdup_printf(":%s:", path ? path : "");
	const char *def = RT_DEFAULT_PATH;
	while (*def != '\0') {
		const char *colon = strchr(def, ':');
		size_t len = colon ? (size_t)(colon - def) : strlen(def);
		char *needle = lt_strdup_printf(":%.*s:", (int)len, def);
		if (strstr(cur, needle) == NULL) {
			if (b.len > 0)
				sb_addc(&b, ':');
			sb_addn(&b, def, len);
		}
		free(needle);
		def += len + (colon ? 1 : 0);
	}
	free(cur);
	char *v = sb_steal(&b);
	emu_set(m, "PATH", v);
	free(v);
}

/* Sources a file with the evaluator, on copies: a file it cannot handle is skipped whole. */
static void emu_source(emu *m, const char *path, char *const *args, size_t n_args)
{
	char *text = NULL;
	size_t len = 0;
	lt_error *e = NULL;
	if (lt_read_file(path, &text, &len, &e) < 0) {
		lt_warn("Could not source %s: %s", path, e->message);
		lt_error_free(&e);
		return;
	}
	rt_env cur, locals;
	rt_env_copy(&cur, m->cur);
	rt_env_copy(&locals, &m->locals);
	rt_sh sh = {
	    .exported = &cur, .locals = &locals, .args = args, .n_args = n_args, .name = path};
	if (rt_sh_source(&sh, text, &e) < 0) {
		lt_warn("Skipped %s, the image has no /bin/sh to run it: %s", path, e->message);
		lt_error_free(&e);
		rt_env_free(&cur);
		rt_env_free(&locals);
	} else {
		rt_env_free(m->cur);
		rt_env_free(&m->locals);
		*m->cur = cur;
		m->locals = locals;
	}
	free(text);
}

static int emu_inject(emu *m, char *const *args, size_t n_args)
{
	if (m->injected)
		return 0;
	m->injected = true;
	if (emu_get(m, "PATH") == NULL)
		emu_set(m, "PATH", RT_DEFAULT_PATH);
	bool no_eval = m->c->o->no_eval;
	for (size_t i = 0; i < m->inject->n; i++) {
		const char *e = m->inject->v[i];
		const char *eq = strchr(e, '=');
		size_t kl = (size_t)(eq - e);
		if (kl == 3 && (memcmp(e, "UID", 3) == 0 || memcmp(e, "GID", 3) == 0))
			continue;
		if (!lt_env_name_valid(e, kl))
			continue;
		char *key = lt_xstrndup(e, kl);
		char *value = lt_xstrdup(eq + 1);
		if (strcmp(key, "LD_LIBRARY_PATH") == 0 && value[0] != '\0') {
			char *v = lt_strdup_printf("%s:/.singularity.d/libs", value);
			free(value);
			value = v;
		}
		if (!no_eval) {
			/* export KEY="<value, only its double quotes escaped>" */
			sbuf b = {0};
			sb_addc(&b, '"');
			for (const char *p = value; *p != '\0'; p++) {
				if (*p == '"')
					sb_addc(&b, '\\');
				sb_addc(&b, *p);
			}
			sb_addc(&b, '"');
			char *quoted = sb_steal(&b);
			char *source = lt_strdup_printf("the value of %s", key);
			rt_sh sh = {.exported = m->cur,
				    .locals = &m->locals,
				    .args = args,
				    .n_args = n_args,
				    .name = source};
			char **w = NULL;
			size_t nw = 0;
			int rc = rt_sh_words(&sh, quoted, &w, &nw, m->err);
			free(quoted);
			free(source);
			if (rc < 0) {
				free(key);
				free(value);
				return lt_error_wrap(m->err, "the image has no /bin/sh to evaluate "
							     "environment variables (--no-eval "
							     "passes them literally)");
			}
			free(value);
			value = lt_xstrdup(nw > 0 ? w[0] : "");
			rt_strv_free(w);
		}
		emu_set(m, key, value);
		free(key);
		free(value);
	}
	return 0;
}

static void emu_runtimevars(emu *m)
{
	if (m->rtvars)
		return;
	m->rtvars = true;
	const char *path = emu_get(m, "PATH");
	char *p = lt_xstrdup(path ? path : "");
	const char *v = emu_get(m, "SING_USER_DEFINED_PREPEND_PATH");
	if (v != NULL && v[0] != '\0') {
		char *n = lt_strdup_printf("%s:%s", v, p);
		free(p);
		p = n;
		rt_env_unset(m->cur, "SING_USER_DEFINED_PREPEND_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_PREPEND_PATH");
	}
	v = emu_get(m, "SING_USER_DEFINED_APPEND_PATH");
	if (v != NULL && v[0] != '\0') {
		char *n = lt_strdup_printf("%s:%s", p, v);
		free(p);
		p = n;
		rt_env_unset(m->cur, "SING_USER_DEFINED_APPEND_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_APPEND_PATH");
	}
	v = emu_get(m, "SING_USER_DEFINED_PATH");
	if (v != NULL && v[0] != '\0') {
		free(p);
		p = lt_xstrdup(v);
		rt_env_unset(m->cur, "SING_USER_DEFINED_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_PATH");
	}
	emu_set(m, "PATH", p);
	free(p);
}

/* Apptainer's 99-base.sh. */
static void emu_base(emu *m)
{
	const char *ld = emu_get(m, "LD_LIBRARY_PATH");
	char *v = (ld == NULL || ld[0] == '\0') ? lt_xstrdup("/.singularity.d/libs")
						: lt_strdup_printf("%s:/.singularity.d/libs", ld);
	emu_set(m, "LD_LIBRARY_PATH", v);
	free(v);
	const char *ps1 = emu_get(m, "PS1");
	char *p = lt_xstrdup(ps1 == NULL || ps1[0] == '\0' ? "Apptainer> " : ps1);
	emu_set(m, "PS1", p);
	free(p);
}

/* Apptainer's 95-apps.sh (the app directory was checked before). */
static void emu_apps(emu *m, char *const *args, size_t n_args)
{
	const char *app = emu_get(m, "SINGULARITY_APPNAME");
	if (app == NULL || app[0] == '\0')
		return;
	char *name = lt_xstrdup(app);
	emu_set(m, "SINGULARITY_APPNAME", name);
	char *root = lt_strdup_printf("/scif/apps/%s", name);
	if (!is_dir(root)) {
		free(root);
		free(name);
		return;
	}
	emu_set(m, "SCIF_APPS", "/scif/apps");
	emu_set(m, "SCIF_APPROOT", root);
	const char *path = emu_get(m, "PATH");
	char *p = lt_strdup_printf("%s:/scif/apps/singularity:%s", root, path ? path : "");
	char *bin = lt_strdup_printf("%s/bin", root);
	if (is_dir(bin)) {
		char *n = lt_strdup_printf("%s:%s", bin, p);
		free(p);
		p = n;
	} else if (is_dir("/scif/apps/singularity/bin")) {
		char *n = lt_strdup_printf("/scif/apps/singularity/bin:%s", p);
		free(p);
		p = n;
	}
	emu_set(m, "PATH", p);
	free(p);
	free(bin);
	char *lib = lt_strdup_printf("%s/lib", root);
	const char *libdir = is_dir(lib)			    ? lib
			     : is_dir("/scif/apps/singularity/lib") ? "/scif/apps/singularity/lib"
								    : NULL;
	if (libdir != NULL) {
		const char *ld = emu_get(m, "LD_LIBRARY_PATH");
		char *n = lt_strdup_printf("%s:%s", libdir, ld ? ld : "");
		emu_set(m, "LD_LIBRARY_PATH", n);
		free(n);
	}
	free(lib);
	static const char *const files[] = {"01-base.sh", "90-environment.sh"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(files); i++) {
		char *f = lt_strdup_printf("%s/scif/env/%s", root, files[i]);
		char *fallback = lt_strdup_printf("/scif/apps/singularity/scif/env/%s", files[i]);
		if (is_file(f))
			emu_source(m, f, args, n_args);
		else if (is_file(fallback))
			emu_source(m, fallback, args, n_args);
		free(f);
		free(fallback);
	}
	free(root);
	free(name);
}

static bool kept_name(const char *k, size_t len)
{
	static const char *const kept[] = {
	    "PWD",
	    "HOME",
	    "OPTIND",
	    "UID",
	    "GID",
	    "SINGULARITY_APPNAME",
	    "SINGULARITY_SHELL",
	    "APPTAINER_NAME",
	    "APPTAINER_CONTAINER",
	    "APPTAINER_INSTANCE",
	};
	return in_list(k, len, kept, LT_ARRAY_SIZE(kept));
}

/* The generated files the emulation plays from memory (95-apps.sh, 99-base.sh,
 * 99-runtimevars.sh) must be the ones it knows when a shell could run them instead: an image
 * may have changed them. Other names are not played from memory. */
static bool standard_script(const char *path, const char *base)
{
	if (strcmp(base, "99-base.sh") != 0 && strcmp(base, "99-runtimevars.sh") != 0 &&
	    strcmp(base, "95-apps.sh") != 0)
		return true;
	char *data = NULL;
	lt_error *ignored = NULL;
	if (lt_read_file(path, &data, NULL, &ignored) < 0) {
		lt_error_free(&ignored);
		return false;
	}
	bool same = meta_env_script_is_standard(base, data);
	free(data);
	return same;
}

int rt_env_emulate(const rt_ctx *c, const rt_env *env, const rt_env *inject, bool strict,
		   rt_env *out, lt_error **err)
{
	const rt_options *o = c->o;
	char *const *args = o->args;
	size_t n_args = o->n_args;
	emu m = {.c = c, .cur = out, .inject = inject, .err = err};
	rt_env_init(out);
	rt_env_init(&m.locals);

	/* clear_env */
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (kept_name(env->v[i], (size_t)(eq - env->v[i])))
			env_push(out, lt_xstrdup(env->v[i]));
	}
	char *cwd = getcwd(NULL, 0);
	if (cwd != NULL) {
		rt_env_set(out, "PWD", cwd);
		free(cwd);
	}

	/* the image's environment scripts */
	if (is_dir("/.singularity.d/env")) {
		DIR *d = opendir("/.singularity.d/env");
		strv names = {0};
		struct dirent *de;
		while (d != NULL && (de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			if (de->d_name[0] != '.' && len > 3 &&
			    strcmp(de->d_name + len - 3, ".sh") == 0)
				sv_push(&names,
					lt_strdup_printf("/.singularity.d/env/%s", de->d_name));
		}
		if (d != NULL)
			closedir(d);
		if (names.n > 0)
			qsort(names.v, names.n, sizeof(*names.v), cmp_str);
		for (size_t i = 0; i < names.n; i++) {
			const char *s = names.v[i];
			const char *base = s + strlen("/.singularity.d/env/");
			if (!is_file(s))
				continue;
			if (strcmp(base, "90-environment.sh") == 0) {
				if (emu_get(&m, "PATH") == NULL)
					emu_fixpath(&m);
				emu_source(&m, s, args, n_args);
			} else if (strcmp(base, "10-docker2singularity.sh") == 0 ||
				   strcmp(base, "10-docker.sh") == 0) {
				emu_source(&m, s, args, n_args);
				emu_fixpath(&m);
			} else if (strict && !standard_script(s, base)) {
				lt_error_set(err, 0, "%s is not Apptainer's: it needs a shell", s);
				sv_free(&names);
				goto fail;
			} else if (strcmp(base, "99-base.sh") == 0) {
				emu_base(&m);
				if (emu_inject(&m, args, n_args) < 0) {
					sv_free(&names);
					goto fail;
				}
			} else if (strcmp(base, "99-runtimevars.sh") == 0) {
				emu_runtimevars(&m);
			} else if (strcmp(base, "95-apps.sh") == 0) {
				emu_apps(&m, args, n_args);
			} else {
				emu_source(&m, s, args, n_args);
			}
		}
		sv_free(&names);
	} else {
		if (is_file("/environment")) {
			emu_source(&m, "/environment", args, n_args);
			emu_fixpath(&m);
		}
		if (emu_inject(&m, args, n_args) < 0)
			goto fail;
	}
	if (!is_file("/.singularity.d/env/99-runtimevars.sh"))
		emu_runtimevars(&m);

	/* restore_env */
	static const char *const readonly[] = {"APPTAINER_NAME", "APPTAINER_CONTAINER",
					       "APPTAINER_INSTANCE"};
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		size_t kl = (size_t)(eq - env->v[i]);
		if (!lt_env_name_valid(env->v[i], kl))
			continue;
		char *key = lt_xstrndup(env->v[i], kl);
		if (in_list(key, kl, readonly, LT_ARRAY_SIZE(readonly)))
			emu_set(&m, key, eq + 1);
		const char *now = emu_get(&m, key);
		if (now == NULL) {
			emu_set(&m, key, eq + 1);
		} else if (now[0] == '\0') {
			rt_env_unset(out, key);
			rt_env_unset(&m.locals, key);
		}
		free(key);
	}
	const char *ps1 = emu_get(&m, "PS1");
	if (ps1 == NULL || ps1[0] == '\0')
		emu_set(&m, "PS1", "Apptainer> ");
	ps1 = emu_get(&m, "PS1");
	const char *pc = emu_get(&m, "PROMPT_COMMAND");
	char *prompt = (pc == NULL || pc[0] == '\0')
			   ? lt_strdup_printf("PS1=\"%s\"; unset PROMPT_COMMAND", ps1)
			   : lt_strdup_printf("%s; PROMPT_COMMAND=\"${PROMPT_COMMAND%%%%; "
					      "PROMPT_COMMAND=*}\"; PS1=\"%s\"",
					      pc, ps1);
	emu_set(&m, "PROMPT_COMMAND", prompt);
	free(prompt);
	const char *ae = emu_get(&m, "APPTAINER_ENVIRONMENT");
	char *aenv =
	    lt_xstrdup(ae != NULL && ae[0] != '\0' ? ae : "/.singularity.d/env/91-environment.sh");
	emu_set(&m, "APPTAINER_ENVIRONMENT", aenv);
	emu_set(&m, "SINGULARITY_ENVIRONMENT", aenv);
	free(aenv);
	rt_env_free(&m.locals);
	rt_env_sort(out);
	return 0;
fail:
	rt_env_free(&m.locals);
	rt_env_free(out);
	return -1;
}

/* ---------------------------------------------------------------------------------------------
 * PATH lookup
 */
static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0;
}

int rt_lookpath(const rt_env *env, const char *file, char **path)
{
	*path = NULL;
	if (file[0] == '\0')
		return 1;
	if (strchr(file, '/') != NULL) {
		if (!is_executable(file))
			return 1;
		*path = lt_xstrdup(file);
		return 0;
	}
	const char *p = rt_env_get(env, "PATH");
	if (p == NULL)
		p = "";
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = len == 0 ? lt_strdup_printf("./%s", file)
				      : lt_strdup_printf("%.*s/%s", (int)len, p, file);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
			*path = cand;
			return 0;
		}
		free(cand);
		if (colon == NULL)
			return 1;
		p = colon + 1;
	}
}
