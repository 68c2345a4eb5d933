/* meta internals shared by the module's files: Go-compatible encoders appending to lt_buf
 * (encoding/json strings, strconv.Quote), the fixed texts Apptainer puts into every image, and
 * the decoded OCI image config. */
#ifndef LITHO_META_INTERNAL_H
#define LITHO_META_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/meta.h"

/* ---------------------------------------------------------------------------------------------
 * Go encoders
 */
/* Appends s as a JSON string the way Go's encoding/json writes it (HTML-safe: <, >, & as
 * \u003c..., U+2028/U+2029 escaped, invalid UTF-8 as \ufffd, \b and \f short forms as in
 * Go >= 1.22). */
void meta_add_json_string(lt_buf *b, const char *s, size_t len);
/* shell.Escape: backslash before \ " ` $ (Apptainer internal/pkg/util/shell). */
void meta_add_shell_escape(lt_buf *b, const char *s, size_t len);
/* shell.EscapeSingleQuotes: ' becomes '"'"'. */
void meta_add_escape_single(lt_buf *b, const char *s, size_t len);

/* A string value's bytes and length (a JSON string may hold NUL); "" for anything else. */
const char *meta_jstr(const json_t *v, size_t *len);

/* Appends Go's json.Marshal of a string->string object (keys sorted bytewise); with indent,
 * MarshalIndent(v, "", "\t") at top level. */
void meta_add_json_string_map(lt_buf *b, const json_t *obj, bool indent);

/* ---------------------------------------------------------------------------------------------
 * Entry lists (meta_image.entries under construction) and build labels, shared by
 * meta_for_image and the definition-file builds
 */
typedef struct meta_list {
	meta_entry *v;
	size_t n;
	size_t cap;
} meta_list;

meta_entry *meta_list_add(meta_list *l, enum meta_kind kind, const char *path, uint32_t mode,
			  bool replace);
/* A directory made with os.MkdirAll(path, 0o755): 0755, replace=false. */
void meta_list_dir(meta_list *l, const char *path);
/* A replace=true file holding a copy of data / taking ownership of data. */
void meta_list_file(meta_list *l, const char *path, uint32_t mode, const char *data);
void meta_list_file_owned(meta_list *l, const char *path, uint32_t mode, char *data);
void meta_entries_free(meta_entry *v, size_t n);

/* arch, or the GOARCH litho was built for when arch is NULL or empty. */
const char *meta_build_arch(const char *arch);
/* The labels addBuildLabels() sets on every build: schema-version, build-date,
 * usage.apptainer.version and build-arch (see meta_for_image in meta.h for the choices). */
void meta_set_build_labels(json_t *labels, int64_t build_time, const char *arch);

/* ---------------------------------------------------------------------------------------------
 * Fixed texts (Apptainer the internal/pkg/build/sources scripts, embedded by base_environment.go)
 */
extern const char meta_text_action_exec[];
extern const char meta_text_action_run[];
extern const char meta_text_action_shell[];
extern const char meta_text_action_start[];
extern const char meta_text_action_test[];
extern const char meta_text_env_01_base[];
extern const char meta_text_env_90_environment[];
extern const char meta_text_env_95_apps[];
extern const char meta_text_env_99_base[];
extern const char meta_text_env_99_runtimevars[];
extern const char meta_text_runscript[];
extern const char meta_text_startscript[];

/* ---------------------------------------------------------------------------------------------
 * The image config's "config" object, decoded like Go's json.Unmarshal into a struct
 */
#define META_CONF_MAX_FIELDS 24

typedef struct meta_conf {
	enum meta_config_style style;
	/* one value per field of the style's struct, in struct order; NULL is the zero value */
	json_t *v[META_CONF_MAX_FIELDS];
} meta_conf;

/* doc is the whole image config document (or NULL: all zero). */
int meta_conf_decode(const json_t *doc, enum meta_config_style style, meta_conf *out,
		     lt_error **err);
/* The value of the field named exactly `name`, NULL when zero or not in the style's struct. */
const json_t *meta_conf_get(const meta_conf *c, const char *name);
/* Appends json.Marshal of the struct (omitempty on every field). */
void meta_conf_encode(const meta_conf *c, lt_buf *b);
void meta_conf_free(meta_conf *c);

#endif
