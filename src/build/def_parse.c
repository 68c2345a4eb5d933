/* Definition file parsing (shared/docs/compat.md §3): stages, headers and sections.
 *
 * The work follows Apptainer's order. The file is first cut into stages at each line that starts
 * with "Bootstrap:" (any case, in the first column), before templating, so that a template value
 * can never start a stage. Each stage's lines are then templated with that stage's own
 * %arguments defaults, and the templated lines are parsed: header lines up to the first line
 * whose first word starts with '%', then sections, each running to the next such line.
 *
 * Apptainer is lenient in places where a mistake would only show later, or never: a file that
 * has no Bootstrap, or sections before it, gives a stage without an agent; a Stage name can be
 * used twice; %files can name any stage. Those are errors here, reported at parse time with the
 * line they concern.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deffile.h"

typedef struct def_line {
	const char *raw;  /* into the original text */
	size_t raw_len;	  /* without the '\n' */
	bool has_newline; /* the line ends with '\n' (the last one may not) */
	char *text;	  /* templated, without a trailing '\r' */
	size_t len;
} def_line;

typedef struct parser {
	const char *path;
	def_line *lines;
	size_t n_lines;
	def_file *file;
} parser;

static const struct {
	const char *name;
	enum def_section_kind kind;
	bool app;
} section_names[] = {
    {"arguments", DEF_ARGUMENTS, false},
    {"setup", DEF_SETUP, false},
    {"files", DEF_FILES, false},
    {"environment", DEF_ENVIRONMENT, false},
    {"pre", DEF_PRE, false},
    {"post", DEF_POST, false},
    {"runscript", DEF_RUNSCRIPT, false},
    {"startscript", DEF_STARTSCRIPT, false},
    {"test", DEF_TEST, false},
    {"labels", DEF_LABELS, false},
    {"help", DEF_HELP, false},
    {"appinstall", DEF_APPINSTALL, true},
    {"appfiles", DEF_APPFILES, true},
    {"appenv", DEF_APPENV, true},
    {"apptest", DEF_APPTEST, true},
    {"apphelp", DEF_APPHELP, true},
    {"apprun", DEF_APPRUN, true},
    {"appstart", DEF_APPSTART, true},
    {"applabels", DEF_APPLABELS, true},
};

/* Apptainer's header keywords; "otherurl" takes a number (OtherURL0, OtherURL1...). */
static const char *const header_keys[] = {
    "bootstrap", "from",    "includecmd", "mirrorurl",	 "updateurl", "osversion",
    "include",	 "library", "registry",	  "namespace",	 "stage",     "product",
    "user",	 "regcode", "productpgp", "registerurl", "modules",   "fingerprints",
    "confurl",	 "setopt",  "target",	  "frontend",	 "filename",  "buildargs",
};

static const char *const agents[] = {
    "docker", "docker-archive", "docker-daemon", "oci",		"oci-archive", "library", "oras",
    "shub",   "localimage",	"busybox",	 "debootstrap", "arch",	       "yum",	  "dnf",
    "zypper", "scratch",	"buildkit",	 "dockerfile",
};

static char *trimmed_dup(const char *s, size_t len)
{
	size_t n;
	const char *t = lt_str_trim(s, len, &n);
	return lt_xstrndup(t, n);
}

static char *lower_dup(const char *s, size_t len)
{
	char *out = lt_xstrndup(s, len);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

/* Blank, or a comment: nothing a header or the split into stages looks at. */
static bool is_empty_line(const char *s, size_t len)
{
	size_t n;
	const char *t = lt_str_trim(s, len, &n);
	return n == 0 || t[0] == '#';
}

/* A section line is one whose first word starts with '%'; the word is returned. */
static bool section_word(const char *s, size_t len, const char **word, size_t *word_len)
{
	size_t i = 0;
	while (i < len && lt_is_blank(s[i]))
		i++;
	if (i == len || s[i] != '%')
		return false;
	size_t start = i;
	while (i < len && !lt_is_blank(s[i]))
		i++;
	*word = s + start;
	*word_len = i - start;
	return true;
}

static bool is_section_line(const def_line *l)
{
	const char *w;
	size_t n;
	return section_word(l->text, l->len, &w, &n);
}

static bool starts_stage(const def_line *l)
{
	return l->raw_len >= 10 && strncasecmp(l->raw, "bootstrap:", 10) == 0;
}

static bool known_header_key(const char *key)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(header_keys); i++)
		if (strcmp(key, header_keys[i]) == 0)
			return true;
	if (strncmp(key, "otherurl", 8) != 0 || key[8] == '\0')
		return false;
	for (const char *p = key + 8; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static bool known_agent(const char *agent)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(agents); i++)
		if (strcmp(agent, agents[i]) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------------------------------------
 * Lines and templating
 */

static void split_lines(parser *p, const char *text)
{
	size_t cap = 0;
	for (const char *s = text; *s;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		p->lines = lt_array_grow(p->lines, sizeof(*p->lines), p->n_lines + 1, &cap);
		p->lines[p->n_lines++] = (def_line){.raw = s, .raw_len = len, .has_newline = !!nl};
		s += len + (nl ? 1 : 0);
	}
}

/* Templates lines [begin, end) (one stage) with the defaults of that stage's %arguments sections,
 * read from the lines as written. */
static int template_stage(parser *p, def_vars *vars, size_t begin, size_t end, lt_error **err)
{
	build_def_vars_begin_stage(vars);
	bool in_arguments = false;
	for (size_t i = begin; i < end; i++) {
		const def_line *l = &p->lines[i];
		const char *word;
		size_t word_len;
		if (section_word(l->raw, l->raw_len, &word, &word_len)) {
			while (word_len > 0 && *word == '%') {
				word++;
				word_len--;
			}
			in_arguments = word_len == 9 && strncasecmp(word, "arguments", 9) == 0;
		} else if (in_arguments) {
			build_def_vars_add_default(vars, l->raw, l->raw_len, i + 1);
		}
	}
	for (size_t i = begin; i < end; i++) {
		def_line *l = &p->lines[i];
		if (build_def_template_line(vars, l->raw, l->raw_len, i + 1, &l->text, err) < 0)
			return -1;
		l->len = strlen(l->text);
	}
	return 0;
}

/* The whole file after templating, with the line ends it was written with. */
static char *joined_text(const parser *p)
{
	size_t total = 1;
	for (size_t i = 0; i < p->n_lines; i++)
		total += p->lines[i].len + 1;
	char *out = lt_xmalloc(total), *o = out;
	for (size_t i = 0; i < p->n_lines; i++) {
		memcpy(o, p->lines[i].text, p->lines[i].len);
		o += p->lines[i].len;
		if (p->lines[i].has_newline)
			*o++ = '\n';
	}
	*o = '\0';
	return out;
}

/* ---------------------------------------------------------------------------------------------
 * Headers
 */

static def_stage *add_stage(def_file *d)
{
	d->stages = lt_xreallocarray(d->stages, d->n_stages + 1, sizeof(*d->stages));
	def_stage *s = &d->stages[d->n_stages++];
	memset(s, 0, sizeof(*s));
	return s;
}

/* The key of a "Key: value" line, lower case, or NULL when the line has no ':'. */
static char *header_key(const def_line *l)
{
	const char *colon = memchr(l->text, ':', l->len);
	const char *hash = memchr(l->text, '#', l->len);
	if (!colon || (hash && hash < colon))
		return NULL;
	size_t n;
	const char *k = lt_str_trim(l->text, (size_t)(colon - l->text), &n);
	return lower_dup(k, n);
}

static int add_header(parser *p, def_stage *s, char *key, char *value, size_t line, lt_error **err)
{
	if (!known_header_key(key)) {
		lt_error_set(err, 0, "%s:%zu: unknown header key '%s'", p->path, line, key);
		free(key);
		free(value);
		return -1;
	}
	s->headers = lt_xreallocarray(s->headers, s->n_headers + 1, sizeof(*s->headers));
	s->headers[s->n_headers++] = (def_header){.key = key, .value = value, .line = line};
	if (strcmp(key, "bootstrap") != 0)
		return 0;
	/* The split into stages only sees "Bootstrap:" in the first column; an indented one would
	 * silently replace this stage's agent. */
	if (s->bootstrap)
		return lt_error_set(err, 0,
				    "%s:%zu: a second Bootstrap in one stage (a new stage's "
				    "Bootstrap: starts at the beginning of a line)",
				    p->path, line);
	if (value[0] == '\0')
		return lt_error_set(err, 0, "%s:%zu: Bootstrap: names no agent", p->path, line);
	s->bootstrap = lower_dup(value, strlen(value));
	s->line = line;
	if (!known_agent(s->bootstrap))
		return lt_error_set(err, 0, "%s:%zu: unknown bootstrap agent '%s'", p->path, line,
				    value);
	return 0;
}

/* Parses the header lines from `*i` up to the first section line. As in Apptainer, '#' starts a
 * comment anywhere on a header line, and a value ending in '\' goes on with the next line
 * (trimmed, joined without a separator; a value ending in "\n\" gets a real newline there). A
 * blank or comment line ends a continued value. */
static int parse_header(parser *p, def_stage *s, size_t *i, size_t end, lt_error **err)
{
	char *key = NULL, *value = NULL;
	size_t key_line = 0;
	bool continued = false;
	for (; *i < end; (*i)++) {
		const def_line *l = &p->lines[*i];
		if (is_section_line(l))
			break;
		if (is_empty_line(l->text, l->len)) {
			if (key && add_header(p, s, key, value, key_line, err) < 0)
				return -1;
			key = value = NULL;
			continued = false;
			continue;
		}
		const char *hash = memchr(l->text, '#', l->len);
		size_t len = hash ? (size_t)(hash - l->text) : l->len;
		char *part;
		if (continued) {
			char *tail = trimmed_dup(l->text, len);
			part = lt_strdup_printf("%s%s", value, tail);
			free(tail);
			free(value);
		} else {
			const char *colon = memchr(l->text, ':', len);
			if (!colon) {
				size_t n;
				const char *t = lt_str_trim(l->text, l->len, &n);
				return lt_error_set(err, 0,
						    "%s:%zu: invalid header line '%.*s' (expected "
						    "'Key: value')",
						    p->path, *i + 1, (int)n, t);
			}
			size_t n;
			const char *k = lt_str_trim(l->text, (size_t)(colon - l->text), &n);
			key = lower_dup(k, n);
			key_line = *i + 1;
			part = trimmed_dup(colon + 1, len - (size_t)(colon + 1 - l->text));
		}
		value = part;
		size_t vlen = strlen(value);
		continued = vlen > 0 && value[vlen - 1] == '\\';
		if (continued) {
			value[--vlen] = '\0';
			if (vlen >= 2 && value[vlen - 2] == '\\' && value[vlen - 1] == 'n') {
				value[vlen - 2] = '\n';
				value[vlen - 1] = '\0';
			}
			continue;
		}
		if (add_header(p, s, key, value, key_line, err) < 0)
			return -1;
		key = value = NULL;
	}
	if (key && add_header(p, s, key, value, key_line, err) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Sections
 */

static size_t word_len_at(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && !lt_is_blank(s[i]))
		i++;
	return i;
}

/* %files args: nothing, or "from STAGE" (a trailing comment is allowed). Normalised so the build
 * can compare them: "" or "from STAGE". */
static int files_args(parser *p, size_t line, const char *args, char **out, lt_error **err)
{
	const char *hash = strchr(args, '#');
	size_t len = hash ? (size_t)(hash - args) : strlen(args);
	const char *t = lt_str_trim(args, len, &len);
	if (len == 0) {
		*out = lt_xstrdup("");
		return 0;
	}
	size_t w1 = word_len_at(t, len);
	size_t rest_len;
	const char *rest = lt_str_trim(t + w1, len - w1, &rest_len);
	if (w1 == 4 && strncasecmp(t, "from", 4) == 0 && rest_len > 0 &&
	    word_len_at(rest, rest_len) == rest_len) {
		*out = lt_strdup_printf("from %.*s", (int)rest_len, rest);
		return 0;
	}
	return lt_error_set(err, 0, "%s:%zu: %%files takes 'from STAGE' or nothing, not '%s'",
			    p->path, line, args);
}

/* Apptainer refuses "-c" without a command only when it runs the script; the build would then
 * stop after earlier sections ran, so it is refused here instead. */
static int check_script_args(parser *p, size_t line, const char *name, const char *args,
			     lt_error **err)
{
	const char *hash = strchr(args, '#');
	size_t len = hash ? (size_t)(hash - args) : strlen(args);
	const char *s = args;
	while (len > 0) {
		while (len > 0 && lt_is_blank(*s)) {
			s++;
			len--;
		}
		size_t w = word_len_at(s, len);
		if (w == 2 && s[0] == '-' && s[1] == 'c') {
			size_t rest;
			lt_str_trim(s + w, len - w, &rest);
			if (rest == 0)
				return lt_error_set(err, 0,
						    "%s:%zu: %%%s -c needs a command (e.g. "
						    "%%%s -c /bin/bash)",
						    p->path, line, name, name);
			return 0;
		}
		s += w;
		len -= w;
	}
	return 0;
}

/* The body lines [begin, end) with their newlines, trailing blank lines removed. */
static char *section_body(const parser *p, size_t begin, size_t end)
{
	while (end > begin) {
		size_t n;
		lt_str_trim(p->lines[end - 1].text, p->lines[end - 1].len, &n);
		if (n > 0)
			break;
		end--;
	}
	size_t total = 1;
	for (size_t i = begin; i < end; i++)
		total += p->lines[i].len + 1;
	char *out = lt_xmalloc(total), *o = out;
	for (size_t i = begin; i < end; i++) {
		memcpy(o, p->lines[i].text, p->lines[i].len);
		o += p->lines[i].len;
		*o++ = '\n';
	}
	*o = '\0';
	return out;
}

static int parse_section(parser *p, def_stage *s, size_t at, size_t body_end, lt_error **err)
{
	const def_line *l = &p->lines[at];
	const char *word;
	size_t word_len;
	section_word(l->text, l->len, &word, &word_len);
	const char *name = word;
	size_t name_len = word_len;
	while (name_len > 0 && *name == '%') {
		name++;
		name_len--;
	}
	char *lname = lower_dup(name, name_len);
	size_t k = 0;
	while (k < LT_ARRAY_SIZE(section_names) && strcmp(section_names[k].name, lname) != 0)
		k++;
	free(lname);
	if (k == LT_ARRAY_SIZE(section_names))
		return lt_error_set(err, 0, "%s:%zu: unknown section '%.*s'", p->path, at + 1,
				    (int)word_len, word);

	size_t rest_len;
	const char *after = word + word_len;
	const char *rest = lt_str_trim(after, l->len - (size_t)(after - l->text), &rest_len);
	char *app = NULL;
	if (section_names[k].app) {
		/* a comment is not a name */
		size_t app_len = rest_len > 0 && rest[0] == '#' ? 0 : word_len_at(rest, rest_len);
		if (app_len == 0)
			return lt_error_set(err, 0, "%s:%zu: %%%s needs an app name (%%%s NAME)",
					    p->path, at + 1, section_names[k].name,
					    section_names[k].name);
		app = lt_xstrndup(rest, app_len);
		rest = lt_str_trim(rest + app_len, rest_len - app_len, &rest_len);
	}
	char *args = lt_xstrndup(rest, rest_len);

	int rc = 0;
	enum def_section_kind kind = section_names[k].kind;
	if (kind == DEF_FILES) {
		char *normalised = NULL;
		rc = files_args(p, at + 1, args, &normalised, err);
		if (rc == 0) {
			free(args);
			args = normalised;
		}
	} else if (kind == DEF_SETUP || kind == DEF_POST || kind == DEF_PRE) {
		rc = check_script_args(p, at + 1, section_names[k].name, args, err);
	}
	if (rc < 0) {
		free(app);
		free(args);
		return -1;
	}
	s->sections = lt_xreallocarray(s->sections, s->n_sections + 1, sizeof(*s->sections));
	s->sections[s->n_sections++] = (def_section){
	    .kind = kind,
	    .args = args,
	    .app = app,
	    .body = section_body(p, at + 1, body_end),
	    .line = at + 1,
	};
	return 0;
}

/* One stage: its Bootstrap header is at `first` (checked by the caller), lines run to `end`. */
static int parse_stage(parser *p, size_t first, size_t end, lt_error **err)
{
	def_stage *s = add_stage(p->file);
	size_t i = first;
	if (parse_header(p, s, &i, end, err) < 0)
		return -1;
	for (size_t j = s->n_headers; j-- > 0;)
		if (strcmp(s->headers[j].key, "stage") == 0) {
			if (s->headers[j].value[0])
				s->name = lt_xstrdup(s->headers[j].value);
			break;
		}
	while (i < end) {
		size_t next = i + 1;
		while (next < end && !is_section_line(&p->lines[next]))
			next++;
		if (parse_section(p, s, i, next, err) < 0)
			return -1;
		i = next;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The part before the first "Bootstrap:" line
 */

/* Lines before the first stage split are a stage of their own when they hold anything (as in
 * Apptainer, where "Bootstrap : x" or an indented Bootstrap there still works), but then the
 * first thing in them must be the Bootstrap header. */
static int check_leading_part(parser *p, size_t end, bool more_stages, size_t *first,
			      lt_error **err)
{
	size_t f = 0;
	while (f < end && is_empty_line(p->lines[f].text, p->lines[f].len))
		f++;
	*first = f;
	if (f == end)
		return 0;
	const def_line *l = &p->lines[f];
	const char *word;
	size_t word_len;
	if (section_word(l->text, l->len, &word, &word_len)) {
		if (more_stages)
			return lt_error_set(err, 0,
					    "%s:%zu: header after sections: the Bootstrap header "
					    "must come before %.*s (line %zu)",
					    p->path, end + 1, (int)word_len, word, f + 1);
		return lt_error_set(err, 0,
				    "%s:%zu: missing Bootstrap header before %.*s (a definition "
				    "file starts with 'Bootstrap: AGENT')",
				    p->path, f + 1, (int)word_len, word);
	}
	char *key = header_key(l);
	if (!key) {
		size_t n;
		const char *t = lt_str_trim(l->text, l->len, &n);
		return lt_error_set(err, 0,
				    "%s:%zu: invalid header line '%.*s' (expected 'Key: value')",
				    p->path, f + 1, (int)n, t);
	}
	if (strcmp(key, "bootstrap") == 0) {
		free(key);
		return 0;
	}
	bool bootstrap_later = more_stages;
	for (size_t i = f + 1; i < end && !bootstrap_later; i++) {
		if (is_section_line(&p->lines[i]))
			break;
		char *k = header_key(&p->lines[i]);
		bootstrap_later = k && strcmp(k, "bootstrap") == 0;
		free(k);
	}
	if (bootstrap_later)
		lt_error_set(err, 0,
			     "%s:%zu: Bootstrap must be the first header (found '%s' before it)",
			     p->path, f + 1, key);
	else
		lt_error_set(err, 0,
			     "%s:%zu: missing Bootstrap header (a definition file starts with "
			     "'Bootstrap: AGENT')",
			     p->path, f + 1);
	free(key);
	return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Checks across stages
 */

static int check_stages(parser *p, lt_error **err)
{
	const def_file *d = p->file;
	for (size_t i = 0; i < d->n_stages; i++) {
		const def_stage *s = &d->stages[i];
		for (size_t j = 0; s->name && j < i; j++)
			if (d->stages[j].name && strcmp(d->stages[j].name, s->name) == 0)
				return lt_error_set(err, 0,
						    "%s:%zu: duplicate stage name '%s' (first at "
						    "line %zu)",
						    p->path, s->line, s->name, d->stages[j].line);
		for (size_t k = 0; k < s->n_sections; k++) {
			const def_section *sec = &s->sections[k];
			if (sec->kind != DEF_FILES || sec->args[0] == '\0')
				continue;
			const char *from = sec->args + 5;
			size_t j = 0;
			while (j < d->n_stages &&
			       !(d->stages[j].name && strcmp(d->stages[j].name, from) == 0))
				j++;
			if (j == d->n_stages)
				return lt_error_set(err, 0,
						    "%s:%zu: %%files from unknown stage '%s'",
						    p->path, sec->line, from);
			if (j >= i)
				return lt_error_set(
				    err, 0,
				    "%s:%zu: %%files from stage '%s' (line %zu): only "
				    "an earlier stage can be copied from",
				    p->path, sec->line, from, d->stages[j].line);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 */

static int parse_all(parser *p, const char *text, const def_args *args, lt_error **err)
{
	split_lines(p, text);
	size_t n_starts = 0;
	size_t *starts = lt_xmalloc((p->n_lines + 1) * sizeof(*starts));
	for (size_t i = 0; i < p->n_lines; i++)
		if (starts_stage(&p->lines[i]))
			starts[n_starts++] = i;
	starts[n_starts] = p->n_lines;
	size_t leading_end = n_starts ? starts[0] : p->n_lines;

	int rc = -1;
	def_vars *vars = NULL;
	if (build_def_vars_new(p->path, args, &vars, err) < 0)
		goto out;
	if (leading_end > 0 && template_stage(p, vars, 0, leading_end, err) < 0)
		goto out;
	for (size_t k = 0; k < n_starts; k++)
		if (template_stage(p, vars, starts[k], starts[k + 1], err) < 0)
			goto out;
	p->file->text = joined_text(p);
	for (size_t i = 0; i < p->n_lines; i++)
		if (p->lines[i].len > 0 && p->lines[i].text[p->lines[i].len - 1] == '\r')
			p->lines[i].text[--p->lines[i].len] = '\0';

	size_t first;
	if (check_leading_part(p, leading_end, n_starts > 0, &first, err) < 0)
		goto out;
	if (first < leading_end && parse_stage(p, first, leading_end, err) < 0)
		goto out;
	for (size_t k = 0; k < n_starts; k++)
		if (parse_stage(p, starts[k], starts[k + 1], err) < 0)
			goto out;
	if (p->file->n_stages == 0) {
		lt_error_set(err, 0, "%s:1: empty definition file", p->path);
		goto out;
	}
	if (check_stages(p, err) < 0)
		goto out;
	rc = build_def_vars_check_unused(vars, err);
out:
	build_def_vars_free(vars);
	free(starts);
	return rc;
}

int build_def_parse(const char *path, const char *text, const def_args *args, def_file **out,
		    lt_error **err)
{
	def_file *d = lt_xcalloc(1, sizeof(*d));
	d->path = lt_xstrdup(path);
	parser p = {.path = d->path, .file = d};
	int rc = parse_all(&p, text, args, err);
	for (size_t i = 0; i < p.n_lines; i++)
		free(p.lines[i].text);
	free(p.lines);
	if (rc < 0) {
		build_def_file_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

int build_def_parse_file(const char *path, const def_args *args, def_file **out, lt_error **err)
{
	char *text;
	size_t len;
	if (lt_read_file(path, &text, &len, err) < 0)
		return lt_error_wrap(err, "reading the definition file");
	if (strlen(text) != len) {
		free(text);
		return lt_error_set(err, 0, "%s: not a definition file (it holds NUL bytes)", path);
	}
	int rc = build_def_parse(path, text, args, out, err);
	free(text);
	return rc;
}

void build_def_file_free(def_file *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_stages; i++) {
		def_stage *s = &d->stages[i];
		for (size_t j = 0; j < s->n_headers; j++) {
			free(s->headers[j].key);
			free(s->headers[j].value);
		}
		for (size_t j = 0; j < s->n_sections; j++) {
			free(s->sections[j].args);
			free(s->sections[j].app);
			free(s->sections[j].body);
		}
		free(s->headers);
		free(s->sections);
		free(s->name);
		free(s->bootstrap);
	}
	free(d->stages);
	free(d->path);
	free(d->text);
	free(d);
}
