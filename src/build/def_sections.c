/* What the build makes of a parsed definition file's sections: %files entries, %labels, script
 * files (%runscript & co.) and the command lines of build scripts (%setup, %post, %pre). */
#include <stdlib.h>
#include <string.h>

#include "deffile.h"

/* The next line of a body: [*line, *line + *len); false at the end. *pos moves past it. */
static bool next_line(const char *body, size_t *pos, const char **line, size_t *len)
{
	if (body[*pos] == '\0')
		return false;
	const char *s = body + *pos;
	const char *nl = strchr(s, '\n');
	*len = nl ? (size_t)(nl - s) : strlen(s);
	*line = s;
	*pos += *len + (nl ? 1 : 0);
	return true;
}

/* Section args up to a '#' comment, as Apptainer cuts them, without surrounding blanks. */
static const char *args_without_comment(const char *args, size_t *len)
{
	const char *hash = strchr(args, '#');
	return lt_str_trim(args, hash ? (size_t)(hash - args) : strlen(args), len);
}

const char *build_def_stage_header(const def_stage *s, const char *key)
{
	/* The last one wins, as in Apptainer's header map. */
	for (size_t i = s->n_headers; i-- > 0;)
		if (strcmp(s->headers[i].key, key) == 0)
			return s->headers[i].value;
	return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * %files
 */

/* One word of a %files line: blanks separate words, quotes ("a b" or 'a b') keep blanks inside
 * a word and are removed. *pos moves past the word; 0 at the end, -1 for an unterminated quote. */
static int files_word(const char *s, size_t len, size_t *pos, char **word)
{
	size_t i = *pos;
	while (i < len && lt_is_blank(s[i]))
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	lt_buf b;
	lt_buf_init(&b);
	while (i < len && !lt_is_blank(s[i])) {
		char q = s[i];
		if (q != '"' && q != '\'') {
			lt_buf_addn(&b, &s[i++], 1);
			continue;
		}
		const char *close = memchr(s + i + 1, q, len - i - 1);
		if (!close) {
			free(b.data);
			return -1;
		}
		lt_buf_addn(&b, s + i + 1, (size_t)(close - (s + i + 1)));
		i = (size_t)(close - s) + 1;
	}
	*pos = i;
	*word = b.data;
	return 1;
}

void build_def_files_entries_free(def_files_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].src);
		free(e[i].dst);
	}
	free(e);
}

int build_def_files_entries(const def_file *d, const def_section *s, def_files_entry **out,
			    size_t *n, lt_error **err)
{
	const char *path = d ? d->path : "definition file";
	def_files_entry *entries = NULL;
	size_t count = 0;
	size_t pos = 0, lineno = s->line;
	const char *raw;
	size_t raw_len;
	while (next_line(s->body, &pos, &raw, &raw_len)) {
		lineno++;
		size_t len;
		const char *line = lt_str_trim(raw, raw_len, &len);
		if (len == 0 || line[0] == '#')
			continue;
		char *words[2] = {NULL, NULL};
		size_t at = 0;
		int got = 0;
		for (int w = 0; w < 2 && got >= 0; w++) {
			got = files_word(line, len, &at, &words[w]);
			if (got == 0)
				break;
		}
		char *extra = NULL;
		if (got > 0)
			got = files_word(line, len, &at, &extra);
		if (got < 0) {
			free(words[0]);
			free(words[1]);
			build_def_files_entries_free(entries, count);
			return lt_error_set(err, 0,
					    "%s:%zu: unterminated quote in %%files line '%.*s'",
					    path, lineno, (int)len, line);
		}
		/* Apptainer ignores anything after the destination, which lets a trailing
		 * comment through; anything else there is probably a mistake worth a word. */
		if (extra && extra[0] != '#')
			lt_warn(
			    "%s:%zu: ignoring what follows the destination in %%files line '%.*s'",
			    path, lineno, (int)len, line);
		free(extra);
		/* An empty destination ("") means the default too, as in Apptainer. */
		if (!words[1] || !words[1][0]) {
			free(words[1]);
			words[1] = lt_xstrdup(words[0]);
		}
		entries = lt_xreallocarray(entries, count + 1, sizeof(*entries));
		entries[count++] = (def_files_entry){
		    .src = words[0],
		    .dst = words[1],
		    .line = lineno,
		};
	}
	*out = entries;
	*n = count;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * %labels
 */

/* A JSON string must be UTF-8: bytes that are not become U+FFFD, as Go's encoder writes them
 * into Apptainer's labels.json. */
static char *valid_utf8(const char *s, size_t len)
{
	lt_buf b;
	lt_buf_init(&b);
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n;
		if (lt_utf8_decode(u + i, len - i, &n) < 0)
			lt_buf_add(&b, "\xef\xbf\xbd");
		else
			lt_buf_addn(&b, s + i, n);
		i += n;
	}
	return b.data;
}

json_t *build_def_labels(const def_section *s)
{
	json_t *labels = json_object();
	if (!labels)
		return NULL;
	size_t pos = 0;
	const char *raw;
	size_t raw_len;
	while (next_line(s->body, &pos, &raw, &raw_len)) {
		size_t len;
		const char *line = lt_str_trim(raw, raw_len, &len);
		if (len == 0 || line[0] == '#')
			continue;
		size_t key_len = 0;
		while (key_len < len && !lt_is_blank(line[key_len]))
			key_len++;
		size_t value_len;
		const char *value = lt_str_trim(line + key_len, len - key_len, &value_len);
		char *key = valid_utf8(line, key_len);
		char *val = valid_utf8(value, value_len);
		/* A key given again takes the later value, as in Apptainer's label map. */
		int rc = json_object_set_new(labels, key, json_string(val));
		free(key);
		free(val);
		if (rc < 0) {
			json_decref(labels);
			return NULL;
		}
	}
	return labels;
}

/* ---------------------------------------------------------------------------------------------
 * Scripts
 */

char *build_def_script_file(const def_section *s)
{
	const char *body = s->body;
	size_t pos = 0;
	const char *line;
	size_t len;
	lt_buf b;
	lt_buf_init(&b);
	/* The first line with anything on it decides; Apptainer looks at the same line (it
	 * trims the body first) but then takes its very first line as the shebang even when
	 * that one is blank. */
	bool shebang = false;
	while (next_line(body, &pos, &line, &len)) {
		size_t n;
		const char *t = lt_str_trim(line, len, &n);
		if (n == 0)
			continue;
		shebang = n >= 2 && t[0] == '#' && t[1] == '!';
		if (shebang) {
			lt_buf_addn(&b, t, n);
			body += pos;
		}
		break;
	}
	if (!shebang)
		lt_buf_add(&b, "#!/bin/sh");
	size_t args_len;
	const char *args = args_without_comment(s->args, &args_len);
	if (args_len > 0) {
		lt_buf_add(&b, " ");
		lt_buf_addn(&b, args, args_len);
	}
	lt_buf_add(&b, "\n\n");
	lt_buf_add(&b, body);
	/* Apptainer writes the section text (which ends with a newline) and one more. */
	lt_buf_add(&b, "\n");
	return b.data;
}

char **build_def_script_argv(const def_section *s, const char *script_path)
{
	size_t len;
	const char *args = args_without_comment(s->args, &len);
	/* At most /bin/sh, -ex, each word of the args, the script and NULL. */
	char **argv = lt_xcalloc(len + 5, sizeof(*argv));
	size_t n = 0;
	argv[n++] = lt_xstrdup("/bin/sh");
	argv[n++] = lt_xstrdup("-ex");
	bool command = false;
	size_t i = 0;
	while (i < len) {
		while (i < len && lt_is_blank(args[i]))
			i++;
		size_t start = i;
		while (i < len && !lt_is_blank(args[i]))
			i++;
		if (i == start)
			break;
		argv[n++] = lt_xstrndup(args + start, i - start);
		if (i - start == 2 && args[start] == '-' && args[start + 1] == 'c') {
			/* Everything after -c is one shell command, which gets the script as
			 * its last word. */
			size_t rest_len;
			const char *rest = lt_str_trim(args + i, len - i, &rest_len);
			if (rest_len > 0) {
				lt_buf cmd = {0};
				const char *p = rest;
				while (p < rest + rest_len) {
					const char *w = p;
					while (p < rest + rest_len && !lt_is_blank(*p))
						p++;
					if (cmd.len)
						lt_buf_add(&cmd, " ");
					lt_buf_addn(&cmd, w, (size_t)(p - w));
					while (p < rest + rest_len && lt_is_blank(*p))
						p++;
				}
				lt_buf_add(&cmd, " ");
				lt_buf_add(&cmd, script_path);
				argv[n++] = cmd.data;
				command = true;
			}
			break;
		}
	}
	if (!command)
		argv[n++] = lt_xstrdup(script_path);
	argv[n] = NULL;
	return argv;
}
