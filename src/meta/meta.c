/* meta_for_image: everything `apptainer build x.sif <transport>:<ref>` puts into and beside the
 * image, as data. What Apptainer does, step by step (internal/pkg/build):
 *   sources/base_environment.go makeBaseEnv(): makeDirs(), makeSymlinks(), makeFiles();
 *   sources/conveyorPacker_oci.go Pack(): insertRunScript(), insertEnv(), insertOCIConfig(),
 *     insertOCILabels() (labels.json = the image's Labels);
 *   apps/apps.go createAllApps(): env/94-appsbase.sh (empty without SCIF apps);
 *   metadata.go insertMetadata(): insertLabelsJSON() (existing labels + build labels),
 *     insertDefinition() (/.singularity.d/Singularity), insertJSONInspectMetadata() (the JSON
 *     of `apptainer inspect --all <rootfs>`, re-marshalled compactly);
 *   assemblers/sif.go createSIF(): Def.FILE = the definition text, then the JSON objects. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meta_internal.h"

#define ENV_DOCKER  "/.singularity.d/env/10-docker2singularity.sh"
#define ENV_ENVIRON "/.singularity.d/env/90-environment.sh"

char *meta_labels_json(const json_t *labels)
{
	lt_buf b;
	lt_buf_init(&b);
	if (labels == NULL)
		lt_buf_add(&b, "null");
	else
		meta_add_json_string_map(&b, labels, true);
	return lt_buf_steal(&b, NULL);
}

/* org.label-schema.build-date as addBuildLabels() formats it: Weekday_D_Month_YYYY_H:M:S_ZONE,
 * nothing zero padded. Apptainer uses the builder's local time zone; litho uses UTC so that
 * the same build_time gives the same bytes everywhere. */
static char *build_date(int64_t t)
{
	static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					   "Thursday", "Friday", "Saturday"};
	static const char *const months[] = {"January",	  "February", "March",	  "April",
					     "May",	  "June",     "July",	  "August",
					     "September", "October",  "November", "December"};
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	return lt_strdup_printf("%s_%d_%s_%lld_%d:%d:%d_UTC", days[tm.tm_wday], tm.tm_mday,
				months[tm.tm_mon], (long long)tm.tm_year + 1900, tm.tm_hour,
				tm.tm_min, tm.tm_sec);
}

/* RFC 3339 in UTC, as Go's time.Format(time.RFC3339) writes a UTC time. */
static char *rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	return lt_strdup_printf("%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)tm.tm_year + 1900,
				tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void set_label(json_t *labels, const char *key, const char *value)
{
	json_object_set_new(labels, key, json_string(value));
}

const char *meta_build_arch(const char *arch)
{
	return arch != NULL && arch[0] != '\0' ? arch : lt_host_goarch();
}

void meta_set_build_labels(json_t *labels, int64_t build_time, const char *arch)
{
	set_label(labels, "org.label-schema.schema-version", "1.0");
	char *date = build_date(build_time);
	set_label(labels, "org.label-schema.build-date", date);
	free(date);
	/* Apptainer writes its own version here; litho writes its version under the same key,
	 * which is where `apptainer inspect` users look for the building tool's version. */
	set_label(labels, "org.label-schema.usage.apptainer.version", LITHO_VERSION);
	set_label(labels, "org.label-schema.build-arch", meta_build_arch(arch));
}

/* labels.json: the image's Labels, then addBuildLabels() (which overwrites). */
static json_t *make_labels(const meta_source *src, const json_t *image_labels)
{
	json_t *labels = json_object();
	if (image_labels != NULL)
		json_object_update(labels, (json_t *)image_labels);

	meta_set_build_labels(labels, src->build_time, src->arch);
	/* one label per definition header key: bootstrap and from for a URI build */
	set_label(labels, "org.label-schema.usage.singularity.deffile.bootstrap", src->bootstrap);
	if (src->from != NULL)
		set_label(labels, "org.label-schema.usage.singularity.deffile.from", src->from);
	const char *arch = meta_build_arch(src->arch);

	if (src->oci_labels) {
		char *created = rfc3339(src->build_time);
		set_label(labels, "org.opencontainers.image.created", created);
		free(created);
		if (src->base_name != NULL)
			set_label(labels, "org.opencontainers.image.base.name", src->base_name);
		if (src->base_digest != NULL)
			set_label(labels, "org.opencontainers.image.base.digest", src->base_digest);
		set_label(labels, "org.opencontainers.image.architecture", arch);
		if (src->variant != NULL && src->variant[0] != '\0')
			set_label(labels, "org.opencontainers.image.variant", src->variant);
	}
	return labels;
}

/* NewDefinitionFromURI() + populateRaw(): "bootstrap: <agent>\nfrom: <ref>\n" and a blank
 * line (the header map holds only bootstrap and from). */
static char *make_deffile(const meta_source *src)
{
	if (src->def_text != NULL)
		return lt_xstrdup(src->def_text);
	if (src->from == NULL)
		return lt_strdup_printf("bootstrap: %s\n\n", src->bootstrap);
	return lt_strdup_printf("bootstrap: %s\nfrom: %s\n\n", src->bootstrap, src->from);
}

/* `apptainer inspect` reads each file through a shell loop and strings.TrimRight(v, "\n"). */
static size_t trimmed_len(const char *s)
{
	size_t len = strlen(s);
	while (len > 0 && s[len - 1] == '\n')
		len--;
	return len;
}

static void add_attr(lt_buf *b, const char *key, const char *value, bool *first)
{
	size_t len = trimmed_len(value);
	if (len == 0)
		return; /* omitempty */
	lt_buf_add(b, *first ? "\"" : ",\"");
	lt_buf_add(b, key);
	lt_buf_add(b, "\":");
	meta_add_json_string(b, value, len);
	*first = false;
}

/* inspect-metadata.json: json.Marshal of pkg/inspect Metadata {"data":{"attributes":{apps,
 * environment, labels, runscript, test, helpfile, deffile, startscript}},"type":"container"},
 * empty fields omitted. */
char *meta_inspect_json(const meta_inspect *in)
{
	lt_buf b;
	lt_buf_init(&b);
	lt_buf_add(&b, "{\"data\":{\"attributes\":{");
	if (in->n_apps > 0) {
		/* AppAttributes: environment, labels, runscript, startscript, test, helpfile;
		 * empty ones omitted */
		lt_buf_add(&b, "\"apps\":{");
		for (size_t i = 0; i < in->n_apps; i++) {
			const meta_inspect_app *a = &in->apps[i];
			lt_buf_add(&b, i > 0 ? "," : "");
			meta_add_json_string(&b, a->name, strlen(a->name));
			lt_buf_add(&b, ":{");
			bool first = true;
			if (a->n_env > 0) {
				lt_buf_add(&b, "\"environment\":{");
				for (size_t j = 0; j < a->n_env; j++) {
					if (j > 0)
						lt_buf_addc(&b, ',');
					meta_add_json_string(&b, a->env[j].path,
							     strlen(a->env[j].path));
					lt_buf_addc(&b, ':');
					meta_add_json_string(&b, a->env[j].content,
							     trimmed_len(a->env[j].content));
				}
				lt_buf_addc(&b, '}');
				first = false;
			}
			if (a->labels != NULL && json_object_size(a->labels) > 0) {
				lt_buf_add(&b, first ? "\"labels\":" : ",\"labels\":");
				meta_add_json_string_map(&b, a->labels, false);
				first = false;
			}
			add_attr(&b, "runscript", a->runscript ? a->runscript : "", &first);
			add_attr(&b, "startscript", a->startscript ? a->startscript : "", &first);
			add_attr(&b, "test", a->test ? a->test : "", &first);
			add_attr(&b, "helpfile", a->helpfile ? a->helpfile : "", &first);
			lt_buf_addc(&b, '}');
		}
		lt_buf_add(&b, "},");
	}
	lt_buf_add(&b, "\"environment\":{");
	for (size_t i = 0; i < in->n_env; i++) {
		if (i > 0)
			lt_buf_addc(&b, ',');
		meta_add_json_string(&b, in->env[i].path, strlen(in->env[i].path));
		lt_buf_addc(&b, ':');
		meta_add_json_string(&b, in->env[i].content, trimmed_len(in->env[i].content));
	}
	lt_buf_add(&b, "},\"labels\":");
	json_t *empty = json_object();
	meta_add_json_string_map(&b, in->labels ? in->labels : empty, false);
	json_decref(empty);
	bool first = false;
	add_attr(&b, "runscript", in->runscript ? in->runscript : "", &first);
	add_attr(&b, "test", in->test ? in->test : "", &first);
	add_attr(&b, "helpfile", in->helpfile ? in->helpfile : "", &first);
	add_attr(&b, "deffile", in->deffile ? in->deffile : "", &first);
	add_attr(&b, "startscript", in->startscript ? in->startscript : "", &first);
	lt_buf_add(&b, "}},\"type\":\"container\"}");
	return lt_buf_steal(&b, NULL);
}

/* The image build's own files: env/10-docker2singularity.sh (OCI sources) and
 * env/90-environment.sh. */
static char *make_inspect(const char *env_docker, const json_t *labels, const char *runscript,
			  const char *deffile)
{
	meta_inspect_env env[2];
	size_t n = 0;
	if (env_docker != NULL)
		env[n++] = (meta_inspect_env){ENV_DOCKER, env_docker};
	env[n++] = (meta_inspect_env){ENV_ENVIRON, meta_text_env_90_environment};
	meta_inspect in = {
	    .env = env,
	    .n_env = n,
	    .labels = labels,
	    .runscript = runscript,
	    .deffile = deffile,
	    .startscript = meta_text_startscript,
	};
	return meta_inspect_json(&in);
}

/* ---------------------------------------------------------------------------------------------
 * Entries
 */
meta_entry *meta_list_add(meta_list *l, enum meta_kind kind, const char *path, uint32_t mode,
			  bool replace)
{
	l->v = lt_array_grow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	meta_entry *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->path = lt_xstrdup(path);
	e->mode = mode;
	e->replace = replace;
	return e;
}

void meta_list_dir(meta_list *l, const char *path)
{
	/* os.MkdirAll(path, 0o755) under the build's umask 002 */
	meta_list_add(l, META_DIR, path, 0755, false);
}

static void add_symlink(meta_list *l, const char *path, const char *target)
{
	/* created only when os.Stat(path) fails */
	meta_entry *e = meta_list_add(l, META_SYMLINK, path, 0777, false);
	e->target = lt_xstrdup(target);
}

void meta_list_file_owned(meta_list *l, const char *path, uint32_t mode, char *data)
{
	meta_entry *e = meta_list_add(l, META_FILE, path, mode, true);
	e->data = data;
	e->len = strlen(data);
}

void meta_list_file(meta_list *l, const char *path, uint32_t mode, const char *data)
{
	meta_list_file_owned(l, path, mode, lt_xstrdup(data));
}

void meta_entries_free(meta_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].data);
		free(v[i].target);
	}
	free(v);
}

static void base_env_entries(meta_list *l)
{
	/* makeDirs() */
	meta_list_dir(l, ".singularity.d");
	meta_list_dir(l, ".singularity.d/libs");
	meta_list_dir(l, ".singularity.d/actions");
	meta_list_dir(l, ".singularity.d/env");
	meta_list_dir(l, "dev");
	meta_list_dir(l, "proc");
	meta_list_dir(l, "root");
	meta_list_dir(l, "var");
	meta_list_dir(l, "var/tmp");
	meta_list_dir(l, "tmp");
	meta_list_dir(l, "etc");
	meta_list_dir(l, "sys");
	meta_list_dir(l, "home");
	/* makeSymlinks(): relative targets */
	add_symlink(l, "singularity", ".singularity.d/runscript");
	add_symlink(l, ".run", ".singularity.d/actions/run");
	add_symlink(l, ".exec", ".singularity.d/actions/exec");
	add_symlink(l, ".test", ".singularity.d/actions/test");
	add_symlink(l, ".shell", ".singularity.d/actions/shell");
	add_symlink(l, "environment", ".singularity.d/env/90-environment.sh");
	/* makeFiles(): created, or chmod'ed and truncated when present */
	meta_list_file(l, "etc/hosts", 0644, "");
	meta_list_file(l, "etc/resolv.conf", 0644, "");
	meta_list_file(l, ".singularity.d/actions/exec", 0755, meta_text_action_exec);
	meta_list_file(l, ".singularity.d/actions/run", 0755, meta_text_action_run);
	meta_list_file(l, ".singularity.d/actions/shell", 0755, meta_text_action_shell);
	meta_list_file(l, ".singularity.d/actions/start", 0755, meta_text_action_start);
	meta_list_file(l, ".singularity.d/actions/test", 0755, meta_text_action_test);
	meta_list_file(l, ".singularity.d/env/01-base.sh", 0755, meta_text_env_01_base);
	meta_list_file(l, ".singularity.d/env/90-environment.sh", 0755,
		       meta_text_env_90_environment);
	meta_list_file(l, ".singularity.d/env/95-apps.sh", 0755, meta_text_env_95_apps);
	meta_list_file(l, ".singularity.d/env/99-base.sh", 0755, meta_text_env_99_base);
	meta_list_file(l, ".singularity.d/env/99-runtimevars.sh", 0755,
		       meta_text_env_99_runtimevars);
}

int meta_for_image(const meta_source *src, meta_image *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	if (src == NULL || src->bootstrap == NULL || src->bootstrap[0] == '\0')
		return lt_error_set(err, 0, "image metadata: no bootstrap agent given");

	meta_conf conf;
	if (meta_conf_decode(src->config, src->config_style, &conf, err) < 0)
		return -1;
	const json_t *entrypoint = meta_conf_get(&conf, "Entrypoint");
	const json_t *cmd = meta_conf_get(&conf, "Cmd");
	const json_t *env = meta_conf_get(&conf, "Env");
	const json_t *image_labels = meta_conf_get(&conf, "Labels");

	char *runscript = src->config != NULL ? meta_oci_runscript(entrypoint, cmd)
					      : lt_xstrdup(meta_text_runscript);
	char *env_docker = src->config != NULL ? meta_oci_env_script(env) : NULL;
	json_t *labels = make_labels(src, image_labels);
	char *deffile = make_deffile(src);

	meta_list l = {0};
	base_env_entries(&l);
	meta_list_file_owned(&l, ".singularity.d/runscript", 0755, lt_xstrdup(runscript));
	meta_list_file(&l, ".singularity.d/startscript", 0755, meta_text_startscript);
	if (env_docker != NULL)
		meta_list_file(&l, ".singularity.d/env/10-docker2singularity.sh", 0755, env_docker);
	meta_list_file(&l, ".singularity.d/env/94-appsbase.sh", 0755, "");
	meta_list_file_owned(&l, ".singularity.d/labels.json", 0644, meta_labels_json(labels));
	meta_list_file(&l, ".singularity.d/Singularity", 0644, deffile);

	out->entries = l.v;
	out->n_entries = l.n;
	out->inspect_json = make_inspect(env_docker, labels, runscript, deffile);
	out->deffile = deffile;
	if (src->config != NULL) {
		lt_buf b;
		lt_buf_init(&b);
		meta_conf_encode(&conf, &b);
		out->oci_config_json = lt_buf_steal(&b, NULL);
	}

	meta_conf_free(&conf);
	json_decref(labels);
	free(runscript);
	free(env_docker);
	return 0;
}

void meta_image_free(meta_image *m)
{
	if (m == NULL)
		return;
	meta_entries_free(m->entries, m->n_entries);
	free(m->deffile);
	free(m->inspect_json);
	free(m->oci_config_json);
	memset(m, 0, sizeof(*m));
}
