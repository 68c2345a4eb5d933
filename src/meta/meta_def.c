/* Definition-file builds: the SCIF app skeleton made before %files/%post, the %appinstall text
 * queued after %post, and the metadata inserted after %post. Everything follows Apptainer's
 * internal/pkg/build/apps/apps.go (createAllApps, HandlePost) and internal/pkg/build/metadata.go
 * (insertMetadata: insertHelpScript, insertLabelsJSON, insertDefinition, insertEnvScript,
 * insertStartScript, insertRunScript, insertTestScript), in that order.
 *
 * Apptainer answers "does the image have X" with os.Stat; here the image is only known through
 * d->read, so "exists" means "read returns a string". */
#include <stdlib.h>
#include <string.h>

#include "meta_internal.h"

#define ENV_ENVIRON  ".singularity.d/env/90-environment.sh"
#define ENV_APPSBASE ".singularity.d/env/94-appsbase.sh"
#define LABELS_JSON  ".singularity.d/labels.json"
#define BUILD_LABELS ".build.labels"
#define HELP_FILE    ".singularity.d/runscript.help"
#define DEF_FILE     ".singularity.d/Singularity"
#define HISTORY_DIR  ".singularity.d/bootstrap_history"
#define HELP_LABEL   "/.singularity.d/runscript.help"

/* Apptainer tests every script section with `Script != ""`: an empty body is no section. */
static bool present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool exists(const meta_def *d, const char *path)
{
	char *s = d->read(d->read_ctx, path);
	bool found = s != NULL;
	free(s);
	return found;
}

/* ---------------------------------------------------------------------------------------------
 * Go's strings.TrimSpace (unicode.IsSpace on UTF-8 runes; invalid bytes are never space)
 */
static bool go_is_space(int32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	default:
		return r >= 0x2000 && r <= 0x200A;
	}
}

/* Narrows [*s, *s + *len) to strings.TrimSpace of it. */
static void go_trim_space(const char **s, size_t *len)
{
	const unsigned char *p = (const unsigned char *)*s;
	size_t start = 0, end = 0, i = 0;
	bool seen = false;
	while (i < *len) {
		size_t w;
		if (!go_is_space(lt_utf8_decode(p + i, *len - i, &w))) {
			if (!seen)
				start = i;
			seen = true;
			end = i + w;
		}
		i += w;
	}
	*s += start;
	*len = seen ? end - start : 0;
}

/* parser.GetLabels (pkg/build/types/parser/deffile.go), used for /.build.labels: the text
 * trimmed, split at "\n"; each line trimmed, blank and '#' lines skipped, split at its first
 * ' ', key and value trimmed; a later line wins. */
static void parse_build_labels(const char *text, json_t *labels)
{
	const char *s = text;
	size_t len = strlen(text);
	go_trim_space(&s, &len);
	const char *end = s + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *line_end = nl != NULL ? nl : end;
		const char *line = s;
		size_t n = (size_t)(line_end - s);
		s = nl != NULL ? nl + 1 : end;

		go_trim_space(&line, &n);
		if (n == 0 || line[0] == '#')
			continue;
		const char *sp = memchr(line, ' ', n);
		const char *key = line, *val = "";
		size_t klen = n, vlen = 0;
		if (sp != NULL) {
			klen = (size_t)(sp - line);
			val = sp + 1;
			vlen = n - klen - 1;
		}
		go_trim_space(&key, &klen);
		go_trim_space(&val, &vlen);
		/* unchecked: the encoder writes invalid UTF-8 as Go does (\ufffd) */
		char *k = lt_xstrndup(key, klen);
		json_object_set_new_nocheck(labels, k, json_stringn_nocheck(val, vlen));
		free(k);
	}
}

/* ---------------------------------------------------------------------------------------------
 * SCIF apps (internal/pkg/build/apps/apps.go)
 */

/* The app name is a path component under /scif/apps and /scif/data; Apptainer passes it to
 * filepath.Join unchecked, so "a/b" or ".." would land elsewhere. Those are refused. */
static int check_app_names(const meta_def *d, lt_error **err)
{
	for (size_t i = 0; i < d->n_apps; i++) {
		const char *name = d->apps[i].name;
		if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return lt_error_set(err, 0, "invalid SCIF app name \"%s\"",
					    name != NULL ? name : "");
		for (size_t j = 0; j < i; j++) {
			if (strcmp(d->apps[j].name, name) == 0)
				return lt_error_set(err, 0, "SCIF app \"%s\" given twice", name);
		}
	}
	return 0;
}

/* reg.ReplaceAllString(name, "_") with reg = [^a-zA-Z0-9_]: Go's regexp matches runes, so a
 * multi-byte character becomes one '_' (an invalid byte one '_' too). */
static char *env_name(const char *name)
{
	lt_buf b;
	lt_buf_init(&b);
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), i = 0;
	while (i < len) {
		unsigned char c = p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_') {
			lt_buf_addc(&b, (char)c);
			i++;
			continue;
		}
		size_t w;
		lt_utf8_decode(p + i, len - i, &w);
		i += w;
		lt_buf_addc(&b, '_');
	}
	return lt_buf_steal(&b, NULL);
}

/* globalEnv94Base and the optional globalEnv94App* lines of apps.go. */
static void add_appsbase(lt_buf *b, const char *n, bool env, bool run, bool start)
{
	lt_buf_printf(
	    b,
	    "## App Global Exports For: %1$s\n"
	    "\n"
	    "SCIF_APPDATA_%1$s=/scif/data/%1$s\n"
	    "SCIF_APPMETA_%1$s=/scif/apps/%1$s/scif\n"
	    "SCIF_APPROOT_%1$s=/scif/apps/%1$s\n"
	    "SCIF_APPBIN_%1$s=/scif/apps/%1$s/bin\n"
	    "SCIF_APPLIB_%1$s=/scif/apps/%1$s/lib\n"
	    "\n"
	    "export SCIF_APPDATA_%1$s SCIF_APPMETA_%1$s SCIF_APPROOT_%1$s SCIF_APPBIN_%1$s "
	    "SCIF_APPLIB_%1$s\n",
	    n);
	if (env)
		lt_buf_printf(
		    b, "export SCIF_APPENV_%1$s=\"/scif/apps/%1$s/scif/env/90-environment.sh\"\n",
		    n);
	/* writeLabels() runs for every app, so its labels.json always exists */
	lt_buf_printf(b, "export SCIF_APPLABELS_%1$s=\"/scif/apps/%1$s/scif/labels.json\"\n", n);
	if (run)
		lt_buf_printf(b, "export SCIF_APPRUN_%1$s=\"/scif/apps/%1$s/scif/runscript\"\n", n);
	if (start)
		lt_buf_printf(b, "export SCIF_APPSTART_%1$s=\"/scif/apps/%1$s/scif/startscript\"\n",
			      n);
}

/* scifEnv01Base: uses the name as written, unlike 94-appsbase.sh. */
static char *app_env_base(const char *name)
{
	return lt_strdup_printf("#!/bin/sh\n"
				"\n"
				"SCIF_APPNAME=%1$s\n"
				"SCIF_APPROOT=\"/scif/apps/%1$s\"\n"
				"SCIF_APPMETA=\"/scif/apps/%1$s/scif\"\n"
				"SCIF_DATA=\"/scif/data\"\n"
				"SCIF_APPDATA=\"/scif/data/%1$s\"\n"
				"SCIF_APPINPUT=\"/scif/data/%1$s/input\"\n"
				"SCIF_APPOUTPUT=\"/scif/data/%1$s/output\"\n"
				"export SCIF_APPDATA SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA "
				"SCIF_APPINPUT SCIF_APPOUTPUT SCIF_DATA\n",
				name);
}

static void add_app_file(meta_list *l, const char *name, const char *rel, uint32_t mode, char *data)
{
	char *path = lt_strdup_printf("scif/apps/%s/scif/%s", name, rel);
	meta_list_file_owned(l, path, mode, data);
	free(path);
}

/* scif/<top>/<name><sub>, top being "apps" or "data" */
static void add_app_dir(meta_list *l, const char *top, const char *name, const char *sub)
{
	char *path = lt_strdup_printf("scif/%s/%s%s", top, name, sub);
	meta_list_dir(l, path);
	free(path);
}

/* Whether scif/<rel> of the app will exist once its files are written: the section was
 * given, or the image already had the file (Apptainer stats the file, not the section). */
static bool app_has(const meta_def *d, const char *name, const char *rel, const char *section)
{
	if (present(section))
		return true;
	char *path = lt_strdup_printf("scif/apps/%s/scif/%s", name, rel);
	bool found = exists(d, path);
	free(path);
	return found;
}

/* createAppRoot, writeEnvFile, writeRunscriptFile, writeStartscriptFile, writeTestFile,
 * writeHelpFile, writeLabels, then its 94-appsbase.sh block. */
static void app_entries(const meta_def *d, const meta_def_app *a, meta_list *l, lt_buf *env94)
{
	const char *name = a->name;
	add_app_dir(l, "apps", name, "");
	add_app_dir(l, "apps", name, "/scif");
	add_app_dir(l, "apps", name, "/bin");
	add_app_dir(l, "apps", name, "/lib");
	add_app_dir(l, "apps", name, "/scif/env");
	add_app_dir(l, "data", name, "");
	add_app_dir(l, "data", name, "/input");
	add_app_dir(l, "data", name, "/output");

	add_app_file(l, name, "env/01-base.sh", 0755, app_env_base(name));
	/* the bodies go in as written: no shebang for %appenv, no newline added to %apphelp */
	if (present(a->env))
		add_app_file(l, name, "env/90-environment.sh", 0755, lt_xstrdup(a->env));
	/* scifRunscriptBase, scifStartscriptBase, scifTestBase: no shebang or args handling */
	if (present(a->run))
		add_app_file(l, name, "runscript", 0755,
			     lt_strdup_printf("#!/bin/sh\n\n%s\n", a->run));
	if (present(a->start))
		add_app_file(l, name, "startscript", 0755,
			     lt_strdup_printf("#!/bin/sh\n\n%s\n", a->start));
	if (present(a->test))
		add_app_file(l, name, "test", 0755, lt_strdup_printf("#!/bin/sh\n\n%s\n", a->test));
	if (present(a->help))
		add_app_file(l, name, "runscript.help", 0644, lt_xstrdup(a->help));

	/* SCIF_APP_NAME first, so that an %applabels key of that name replaces it */
	json_t *labels = json_object();
	json_object_set_new(labels, "SCIF_APP_NAME", json_string_nocheck(name));
	if (json_is_object(a->labels))
		json_object_update(labels, (json_t *)a->labels);
	add_app_file(l, name, "labels.json", 0644, meta_labels_json(labels));
	json_decref(labels);

	char *n = env_name(name);
	add_appsbase(env94, n, app_has(d, name, "env/90-environment.sh", a->env),
		     app_has(d, name, "runscript", a->run),
		     app_has(d, name, "startscript", a->start));
	free(n);
}

int meta_def_apps(const meta_def *d, meta_image *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	if (d == NULL || d->read == NULL)
		return lt_error_set(err, 0, "SCIF apps: no image to read");
	if (check_app_names(d, err) < 0)
		return -1;

	meta_list l = {0};
	lt_buf env94;
	lt_buf_init(&env94);
	if (d->n_apps > 0) {
		/* the parents os.MkdirAll makes on the way to the first app's directories */
		meta_list_dir(&l, "scif");
		meta_list_dir(&l, "scif/apps");
		meta_list_dir(&l, "scif/data");
	}
	for (size_t i = 0; i < d->n_apps; i++)
		app_entries(d, &d->apps[i], &l, &env94);
	/* written even without apps: an empty file */
	meta_list_file_owned(&l, ENV_APPSBASE, 0755, lt_buf_steal(&env94, NULL));

	out->entries = l.v;
	out->n_entries = l.n;
	return 0;
}

/* scifInstallBase, once per app in order, with or without an %appinstall section. */
char *meta_def_appinstall_script(const meta_def *d)
{
	lt_buf b;
	lt_buf_init(&b);
	for (size_t i = 0; d != NULL && i < d->n_apps; i++) {
		const meta_def_app *a = &d->apps[i];
		lt_buf_printf(&b,
			      "\n"
			      "cd /\n"
			      ". /scif/apps/%1$s/scif/env/01-base.sh\n"
			      "\n"
			      "cd /scif/apps/%1$s\n"
			      "%2$s\n"
			      "\n"
			      "cd /\n",
			      a->name != NULL ? a->name : "", a->install != NULL ? a->install : "");
	}
	return lt_buf_steal(&b, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Metadata after %post (internal/pkg/build/metadata.go)
 */

/* getExistingLabels: json.Unmarshal of labels.json into a map[string]string. Go accepts
 * `null` (no labels) and a null value (""), and fails on anything else that is not a string. */
static int existing_labels(const meta_def *d, json_t *labels, lt_error **err)
{
	char *text = d->read(d->read_ctx, LABELS_JSON);
	if (text == NULL)
		return 0;
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	free(text);
	if (v == NULL)
		return lt_error_set(err, 0, "/%s: %s", LABELS_JSON, jerr.text);
	int rc = 0;
	if (json_is_object(v)) {
		const char *key;
		json_t *val;
		json_object_foreach(v, key, val)
		{
			if (json_is_null(val)) {
				json_object_set_new(labels, key, json_string(""));
			} else if (json_is_string(val)) {
				json_object_set(labels, key, val);
			} else {
				rc = lt_error_set(err, 0, "/%s: label \"%s\" is not a string",
						  LABELS_JSON, key);
				break;
			}
		}
	} else if (!json_is_null(v)) {
		rc = lt_error_set(err, 0, "/%s: not a JSON object", LABELS_JSON);
	}
	json_decref(v);
	return rc;
}

/* insertLabelsJSON: the image's labels, /.build.labels (written by %post through
 * $APPTAINER_LABELS), addBuildLabels(), then %labels, which replace a key already there only
 * with --force. */
static int make_def_labels(const meta_def *d, char **out, lt_error **err)
{
	json_t *labels = json_object();
	if (existing_labels(d, labels, err) < 0) {
		json_decref(labels);
		return -1;
	}
	char *build = d->read(d->read_ctx, BUILD_LABELS);
	if (build != NULL) {
		parse_build_labels(build, labels);
		free(build);
	}

	meta_set_build_labels(labels, d->build_time, d->arch);
	if (present(d->help)) {
		json_object_set_new(labels, "org.label-schema.usage", json_string(HELP_LABEL));
		json_object_set_new(labels, "org.label-schema.usage.apptainer.runscript.help",
				    json_string(HELP_LABEL));
	}
	for (size_t i = 0; i < d->n_headers; i++) {
		if (d->header_keys[i] == NULL)
			continue;
		char *key = lt_strdup_printf("org.label-schema.usage.singularity.deffile.%s",
					     d->header_keys[i]);
		const char *v = d->header_values[i] != NULL ? d->header_values[i] : "";
		json_object_set_new_nocheck(labels, key, json_string_nocheck(v));
		free(key);
	}

	if (json_is_object(d->labels)) {
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)d->labels, key, val)
		{
			if (d->force || json_object_get(labels, key) == NULL)
				json_object_set(labels, key, val);
		}
	}
	*out = meta_labels_json(labels);
	json_decref(labels);
	return 0;
}

/* insertDefinition moves an existing Singularity file to bootstrap_history/Apptainer<N>, N
 * being the number of files already in that directory. Without a directory listing, N is found
 * by probing index 0, 1, 2 ... until neither Apptainer<k> nor Singularity<k> (the name
 * Singularity 3.x gave them) exists: right for every history Apptainer and Singularity made,
 * blind to other files someone put there. */
static unsigned history_index(const meta_def *d)
{
	unsigned k = 0;
	for (;;) {
		char *a = lt_strdup_printf(HISTORY_DIR "/Apptainer%u", k);
		char *s = lt_strdup_printf(HISTORY_DIR "/Singularity%u", k);
		bool found = exists(d, a) || exists(d, s);
		free(a);
		free(s);
		if (!found)
			return k;
		k++;
	}
}

/* insertEnvScript: a new file gets a shebang; an existing one gets "\n<body>\n" appended. */
static char *environment_text(const meta_def *d)
{
	char *cur = d->read(d->read_ctx, ENV_ENVIRON);
	char *text = cur == NULL ? lt_strdup_printf("#!/bin/sh\n\n%s\n", d->environment)
				 : lt_strdup_printf("%s\n%s\n", cur, d->environment);
	free(cur);
	return text;
}

int meta_for_def(const meta_def *d, meta_image *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	if (d == NULL || d->read == NULL || d->def_text == NULL)
		return lt_error_set(err, 0, "definition metadata: no image or definition given");

	char *labels_json;
	if (make_def_labels(d, &labels_json, err) < 0)
		return -1;

	meta_list l = {0};
	/* insertHelpScript keeps a help file the image already has unless --force */
	if (present(d->help) && (d->force || !exists(d, HELP_FILE)))
		meta_list_file_owned(&l, HELP_FILE, 0644, lt_strdup_printf("%s\n", d->help));

	meta_list_file_owned(&l, ".singularity.d/labels.json", 0644, labels_json);

	char *old_def = d->read(d->read_ctx, DEF_FILE);
	if (old_def != NULL) {
		meta_list_dir(&l, HISTORY_DIR);
		char *hist = lt_strdup_printf(HISTORY_DIR "/Apptainer%u", history_index(d));
		/* a rename keeps the old file's mode; Apptainer writes that file 0644 */
		meta_list_file_owned(&l, hist, 0644, old_def);
		free(hist);
	}
	meta_list_file(&l, DEF_FILE, 0644, d->def_text);

	if (present(d->environment))
		meta_list_file_owned(&l, ENV_ENVIRON, 0755, environment_text(d));
	if (present(d->startscript))
		meta_list_file(&l, ".singularity.d/startscript", 0755, d->startscript);
	if (present(d->runscript))
		meta_list_file(&l, ".singularity.d/runscript", 0755, d->runscript);
	if (present(d->test))
		meta_list_file(&l, ".singularity.d/test", 0755, d->test);

	out->entries = l.v;
	out->n_entries = l.n;
	out->deffile = lt_xstrdup(d->def_text);
	return 0;
}
