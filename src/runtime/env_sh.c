/* The shell subset that Apptainer's generated files and env files use, evaluated in C: variable
 * assignments and exports, ${...} expansions with defaults, quoting, `set`, `unset`, `export`,
 * and the OCI runscript that turns ENTRYPOINT and CMD into a command line. See env.c for how
 * the environment is put together. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action_script.h"
#include "meta/meta.h"
#include "env_text.h"

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
	lt_buf cur;
	bool have; /* cur is a field even when empty (quotes were seen) */
	bool split;
	lt_strv *out;
} fields;

static void fl_add(fields *f, const char *s, size_t n)
{
	lt_buf_addn(&f->cur, s, n);
	f->have = true;
}

static void fl_end(fields *f)
{
	if (f->have && f->out != NULL)
		lt_strv_push(f->out, lt_buf_steal(&f->cur, NULL));
	f->have = false;
	lt_buf_truncate(&f->cur, 0);
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
	lt_strv none = {0};
	fields f = {.split = false, .out = &none};
	int rc = parse_word(p, &f, CTX_BRACE, in_dq);
	*out = lt_buf_steal(&f.cur, NULL);
	lt_strv_clear(&none);
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
		lt_buf b = {0};
		for (size_t i = 0; i < sh->n_args; i++) {
			if (i > 0)
				lt_buf_addc(&b, ' ');
			lt_buf_add(&b, sh->args[i]);
		}
		*set = sh->n_args > 0;
		return lt_buf_steal(&b, NULL);
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
	lt_strv none = {0};
	fields f = {.split = false, .out = &none};
	int rc = parse_word(p, &f, CTX_WORD, false);
	*out = lt_buf_steal(&f.cur, NULL);
	lt_strv_clear(&none);
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

static int run_builtin(sh_parser *p, lt_strv *words)
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
	lt_buf b = {0};
	for (size_t i = 0; i < words->n; i++) {
		if (i > 0)
			lt_buf_addc(&b, ' ');
		lt_buf_add(&b, words->v[i]);
	}
	char *line = lt_buf_steal(&b, NULL);
	int rc = sh_fail(p, "could not execute \"%s\": execution is disabled", line);
	free(line);
	return rc;
}

/* One simple command (up to a newline, ';' or comment). */
static int run_command(sh_parser *p)
{
	lt_strv words = {0};
	LT_ARRAY(assign) assigns = {0};
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
			*lt_array_push(&assigns) = a;
			continue;
		}
		if (declaration && an > 0) {
			assign a;
			if (parse_assignment(p, an, &a) < 0)
				goto out;
			lt_strv_push(&words, lt_strdup_printf("%s=%s", a.name, a.value));
			free(a.name);
			free(a.value);
			continue;
		}
		fields f = {.split = true, .out = &words};
		size_t before = words.n;
		if (parse_word(p, &f, CTX_WORD, false) < 0) {
			lt_buf_free(&f.cur);
			goto out;
		}
		fl_end(&f);
		lt_buf_free(&f.cur);
		if (before == 0 && words.n > 0) {
			if (is_reserved(words.v[0])) {
				sh_fail(p, "unsupported shell construct '%s'", words.v[0]);
				goto out;
			}
			declaration = is_declaration(words.v[0]);
		}
	}
	if (words.n == 0) {
		for (size_t i = 0; i < assigns.n; i++)
			sh_assign(p->sh, assigns.v[i].name, strlen(assigns.v[i].name),
				  assigns.v[i].value, strlen(assigns.v[i].value));
		rc = 0;
	} else {
		rc = run_builtin(p, &words);
	}
out:
	for (size_t i = 0; i < assigns.n; i++) {
		free(assigns.v[i].name);
		free(assigns.v[i].value);
	}
	lt_array_free(&assigns);
	lt_strv_clear(&words);
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
	lt_strv out = {0};
	lt_strv_push(&out, NULL);
	out.n = 0;
	for (;;) {
		skip_blanks(&p, true);
		if (p.i >= p.len)
			break;
		fields f = {.split = true, .out = &out};
		if (parse_word(&p, &f, CTX_WORD, false) < 0) {
			lt_buf_free(&f.cur);
			lt_strv_clear(&out);
			return -1;
		}
		fl_end(&f);
		lt_buf_free(&f.cur);
	}
	*words = out.v;
	*n = out.n;
	return 0;
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

static void push_all(lt_strv *dst, char **src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lt_strv_push(dst, lt_xstrdup(src[i]));
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
	lt_strv out = {0};
	lt_strv_push(&out, NULL);
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
		lt_buf run = {0};
		lt_buf_add(&run, entrypoint);
		lt_buf_addc(&run, ' ');
		if (n_args > 0) {
			lt_buf cl = {0};
			for (size_t i = 0; i < n_args; i++) {
				lt_buf_add(&cl, " \"");
				lt_buf_add(&cl, args[i]);
				lt_buf_addc(&cl, '"');
			}
			char *cmdline = lt_buf_steal(&cl, NULL);
			rt_env_set(&vars, "CMDLINE_ARGS", cmdline);
			lt_buf_add(&run, cmdline);
			free(cmdline);
		} else {
			lt_buf_add(&run, cmd);
		}
		char *oci_run = lt_buf_steal(&run, NULL);
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
			lt_strv_push(&out, w[i]);
		free(w);
	}
	rc = 0;
	*argv = out.v;
	*argc = out.n;
	out.v = NULL;
out:
	lt_strv_free(ep);
	lt_strv_free(cm);
	if (out.v != NULL)
		lt_strv_clear(&out);
	rt_env_free(&vars);
	return rc;
}
