/* Definition files (.def): parsing Apptainer's format (shared/docs/compat.md §3) into stages
 * and sections, with {{ var }} templating. Private to the build module (and its unit tests);
 * the build driver (def_build.c) turns the result into images.
 *
 * Line numbers are 1-based lines of the file as given (before templating; templating never
 * adds or removes lines). Every error names "FILE:LINE: what is wrong".
 */
#ifndef LITHO_DEFFILE_H
#define LITHO_DEFFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"

enum def_section_kind {
	DEF_ARGUMENTS,
	DEF_SETUP,
	DEF_FILES,
	DEF_ENVIRONMENT,
	DEF_PRE,
	DEF_POST,
	DEF_RUNSCRIPT,
	DEF_STARTSCRIPT,
	DEF_TEST,
	DEF_LABELS,
	DEF_HELP,
	/* SCIF apps: the section's app name is in def_section.app */
	DEF_APPINSTALL,
	DEF_APPFILES,
	DEF_APPENV,
	DEF_APPTEST,
	DEF_APPHELP,
	DEF_APPRUN,
	DEF_APPSTART,
	DEF_APPLABELS,
};

typedef struct def_section {
	enum def_section_kind kind;
	char *args;  /* text after the section name (and app name) on the % line, trimmed; "" if
			none. For %files: "from STAGE" or "". */
	char *app;   /* app sections: the app name; NULL otherwise */
	char *body;  /* the lines after the % line up to the next section or stage, templated,
			with their newlines; trailing blank lines removed */
	size_t line; /* line of the % line */
} def_section;

typedef struct def_header {
	char *key;   /* lower case: "bootstrap", "from", "stage", "osversion", ... */
	char *value; /* trimmed, continuation lines joined, comments removed */
	size_t line;
} def_header;

typedef struct def_stage {
	char *name;	     /* the Stage: header, or NULL */
	char *bootstrap;     /* lower case agent name: docker, localimage, debootstrap, ... */
	def_header *headers; /* in file order, Bootstrap included */
	size_t n_headers;
	def_section *sections; /* in file order */
	size_t n_sections;
	size_t line; /* line of its Bootstrap: header */
} def_stage;

typedef struct def_file {
	char *path;	   /* as given */
	char *text;	   /* the whole file after templating: what Def.FILE and
			      /.singularity.d/Singularity store */
	def_stage *stages; /* at least one */
	size_t n_stages;
} def_file;

/* Build arguments: --build-arg K=V (in order; later wins), --build-arg-file FILE (K=V lines,
 * '#' comments and blank lines skipped), then each stage's %arguments defaults. */
typedef struct def_args {
	const char *const *values; /* "K=V" strings from --build-arg */
	size_t n_values;
	const char *file; /* --build-arg-file, or NULL */
	/* Apptainer refuses --build-arg names the file never uses; with this they are warned
	 * about instead (--warn-unused-build-args). */
	bool warn_unused;
} def_args;

/* Parses `text` (the contents of `path`). Checks what Apptainer checks at parse time: a
 * header before the first section, Bootstrap first in each stage, known header keys, known
 * agents, known section names, app sections with an app name, undefined {{ vars }}, unused
 * build args, duplicate stage names, %files from an unknown or later stage. */
int build_def_parse(const char *path, const char *text, const def_args *args, def_file **out,
		    lt_error **err);
/* Reads and parses the file at path. */
int build_def_parse_file(const char *path, const def_args *args, def_file **out, lt_error **err);
void build_def_file_free(def_file *d);

/* The value of a header key (lower case) in a stage, or NULL. */
const char *build_def_stage_header(const def_stage *s, const char *key);

/* One line of a %files section: source on the host (or in the `from` stage) and destination
 * in the image (defaults to the source). Quotes ("a b" or 'a b') are removed. Globs are not
 * expanded here. */
typedef struct def_files_entry {
	char *src;
	char *dst;
	size_t line;
} def_files_entry;
int build_def_files_entries(const def_file *d, const def_section *s, def_files_entry **out,
			    size_t *n, lt_error **err);
void build_def_files_entries_free(def_files_entry *e, size_t n);

/* %labels / %applabels: "KEY value" lines (split at the first run of blanks; a key alone has an
 * empty value); comments and blank lines skipped. Returns a JSON object (new reference) with the
 * labels in file order. */
json_t *build_def_labels(const def_section *s);

/* The file Apptainer writes for %runscript, %startscript, %test, %apprun, %appstart and
 * %apptest: the section's own "#!" first line if it has one, else "#!/bin/sh"; the section's
 * args (comment-stripped) appended to that line; then a blank line and the body. */
char *build_def_script_file(const def_section *s);

/* The command Apptainer runs a build script section (%setup, %post, %pre) with: /bin/sh -ex
 * plus the section args, then script_path; with "-c CMD..." in the args: /bin/sh -ex -c
 * "CMD... script_path". %post ignores a "#!" first line in the body (it is a comment to sh).
 * Returns a NULL-terminated argv (free each string, then the array). */
char **build_def_script_argv(const def_section *s, const char *script_path);

/* ---------------------------------------------------------------------------------------------
 * Internal to the parser: build_def_parse.c templates each stage's lines through def_template.c.
 */
/* The build-argument values of one parse: --build-arg and --build-arg-file values (checked for
 * use at the end), plus the %arguments defaults of the stage being templated. `path` (the
 * definition file, for messages) must outlive the set. */
typedef struct def_vars def_vars;
int build_def_vars_new(const char *path, const def_args *args, def_vars **out, lt_error **err);
void build_def_vars_free(def_vars *v);
/* Forgets the previous stage's %arguments defaults: each stage has its own. */
void build_def_vars_begin_stage(def_vars *v);
/* One line of a %arguments body (line `lineno`, without its newline): "KEY=VALUE"; blank and
 * '#' lines are skipped, other lines are warned about and skipped. */
void build_def_vars_add_default(def_vars *v, const char *line, size_t len, size_t lineno);
/* Replaces the {{ var }} placeholders of one line (without its newline) that are not in a
 * comment; *out is a new string. */
int build_def_template_line(def_vars *v, const char *line, size_t len, size_t lineno, char **out,
			    lt_error **err);
/* Fails when a --build-arg / --build-arg-file value was never used (only warns with
 * warn_unused). */
int build_def_vars_check_unused(const def_vars *v, lt_error **err);

#endif
