/* meta: the Apptainer metadata inside an image and beside it in the SIF: the /.singularity.d
 * tree (action scripts, environment scripts, runscript generated from an OCI ENTRYPOINT/CMD,
 * 10-docker2singularity.sh from the OCI Env, labels.json, the definition file), the top-level
 * symlinks and placeholder directories, and the JSON objects Apptainer stores in the SIF
 * (inspect-metadata.json, oci-config.json) plus the Def.FILE text.
 *
 * Everything is produced as data (paths with contents); meta knows nothing about how the
 * tree is stored, mounted or run.
 */
#ifndef LITHO_META_H
#define LITHO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum meta_kind { META_DIR, META_FILE, META_SYMLINK };

/* One object to put into the image's root file system. */
typedef struct meta_entry {
	enum meta_kind kind;
	char *path;    /* relative to the root, no leading '/', e.g. ".singularity.d/env" */
	uint32_t mode; /* permission bits */
	char *data;    /* META_FILE contents (NUL terminated for convenience) */
	size_t len;
	char *target; /* META_SYMLINK target */
	/* true: replace whatever the image has at this path (e.g. /etc/resolv.conf is truncated
	 * for OCI sources); false: only create it when the image has nothing there (placeholder
	 * directories such as /proc). */
	bool replace;
} meta_entry;

typedef struct meta_image {
	meta_entry *entries; /* in the order they should be applied (parents before children) */
	size_t n_entries;
	char *deffile;	       /* Def.FILE object text */
	char *inspect_json;    /* JSON.Generic "inspect-metadata.json" */
	char *oci_config_json; /* JSON.Generic "oci-config.json"; NULL without OCI config */
} meta_image;

/* How oci-config.json is serialised: the Go struct the config is decoded into decides the field
 * order and which fields survive. */
enum meta_config_style {
	/* go-containerregistry v1.Config (Cmd, Healthcheck, ..., Entrypoint, Env, ..., Shell):
	 * Apptainer >= 1.4, whose OCI builds go through go-containerregistry. */
	META_CONFIG_APPTAINER = 0,
	/* image-spec v1.1 ImageConfig (User, ExposedPorts, Env, Entrypoint, Cmd, Volumes,
	 * WorkingDir, Labels, StopSignal, ArgsEscaped): Apptainer <= 1.3 and Singularity 3.x. */
	META_CONFIG_IMAGE_SPEC = 1,
};

/* What is known about the image being built. */
typedef struct meta_source {
	const char *bootstrap;	 /* def agent: "docker", "oci", "oci-archive", "docker-archive",
				    "localimage", "scratch" ... */
	const char *from;	 /* the From value (the reference without its transport) */
	const json_t *config;	 /* whole OCI image config document, or NULL */
	const char *base_name;	 /* for org.opencontainers.image.base.name, or NULL */
	const char *base_digest; /* manifest digest for org.opencontainers.image.base.digest */
	const char *arch;	 /* GOARCH of the image */
	const char *variant;	 /* arch variant or NULL */
	int64_t build_time;	 /* Unix seconds used for the build-date labels */
	const char *def_text;	 /* full definition text; NULL = synthesized from bootstrap/from */
	enum meta_config_style config_style; /* oci-config.json layout; 0 = current Apptainer */
	/* litho extension, off by default (Apptainer writes none of these): also label
	 * org.opencontainers.image.{created,base.name,base.digest,architecture,variant} */
	bool oci_labels;
} meta_source;

/* Builds the metadata for an image made from an OCI/Docker image (or scratch when config is
 * NULL), exactly as `apptainer build x.sif <transport>:<ref>` writes it, with these choices:
 * org.label-schema.build-date is formatted in UTC (Apptainer: the builder's local zone);
 * org.label-schema.build-arch is `arch` (Apptainer: the builder's GOARCH; the host's GOARCH
 * here too when arch is NULL); org.label-schema.usage.apptainer.version holds LITHO_VERSION.
 * Apptainer writes the replace=true files through a symlink it finds at their path (e.g. an
 * image's etc/resolv.conf -> ../run/...), and creates a symlink only when stat() of its path
 * fails. */
int meta_for_image(const meta_source *src, meta_image *out, lt_error **err);
void meta_image_free(meta_image *m);

/* inspect-metadata.json from the files actually in an image (sandbox builds, def builds):
 * env lists the environment files Apptainer shows (/.singularity.d/env/10-docker*.sh and
 * 9*-environment.sh) in glob order; NULL or empty strings are left out. */
typedef struct meta_inspect_env {
	const char *path; /* "/.singularity.d/env/90-environment.sh" */
	const char *content;
} meta_inspect_env;

/* A SCIF app's entry (data.attributes.apps.<name>): its labels.json, scripts and
 * env/9*-environment.sh files, from /scif/apps/<name>/scif. */
typedef struct meta_inspect_app {
	const char *name;
	const meta_inspect_env *env;
	size_t n_env;
	const json_t *labels;
	const char *runscript, *startscript, *test, *helpfile;
} meta_inspect_app;

typedef struct meta_inspect {
	const meta_inspect_env *env;
	size_t n_env;
	const json_t *labels; /* object of strings, or NULL */
	const char *runscript, *test, *helpfile, *deffile, *startscript;
	const meta_inspect_app *apps; /* in name order */
	size_t n_apps;
} meta_inspect;

char *meta_inspect_json(const meta_inspect *in);

/* ---------------------------------------------------------------------------------------------
 * Definition-file builds (Apptainer's internal/pkg/build/metadata.go and build/apps/apps.go)
 */

/* Reads a file of the image being built (path relative to the root, e.g.
 * ".singularity.d/labels.json"): a new NUL-terminated string, or NULL when it is missing. */
typedef char *(*meta_read_fn)(void *ctx, const char *path);

/* A SCIF app: the bodies of its sections (NULL when the def has none). */
typedef struct meta_def_app {
	const char *name;
	const char *install;  /* %appinstall */
	const char *env;      /* %appenv */
	const char *test;     /* %apptest */
	const char *help;     /* %apphelp */
	const char *run;      /* %apprun */
	const char *start;    /* %appstart */
	const json_t *labels; /* %applabels as an object of strings, or NULL */
} meta_def_app;

/* What one stage of a definition file contributes. Bodies are section texts as parsed;
 * runscript/startscript/test are the finished file texts (shebang line, blank line, body). */
typedef struct meta_def {
	const char *def_text;		  /* the whole file after templating */
	const char *const *header_keys;	  /* the stage's header, lower case, in file order */
	const char *const *header_values; /* ... and their values */
	size_t n_headers;
	const char *help;	  /* %help body, or NULL */
	const char *environment;  /* %environment body, or NULL */
	const char *runscript;	  /* or NULL */
	const char *startscript;  /* or NULL */
	const char *test;	  /* or NULL */
	const json_t *labels;	  /* %labels as an object of strings (file order), or NULL */
	const meta_def_app *apps; /* in first-seen order */
	size_t n_apps;
	int64_t build_time; /* build-date labels */
	const char *arch;   /* GOARCH for org.label-schema.build-arch; NULL = the host's */
	bool force;	    /* --force: %labels replace labels the image already has */
	meta_read_fn read;  /* the image as it is after %post */
	void *read_ctx;
} meta_def;

/* The SCIF app skeleton Apptainer makes before %files and %post: /scif/apps/<app>/{bin,lib,
 * scif/env} and /scif/data/<app>/{input,output} directories, scif/env/01-base.sh,
 * scif/env/90-environment.sh (%appenv), scif/runscript, scif/startscript, scif/test,
 * scif/runscript.help, scif/labels.json, and /.singularity.d/env/94-appsbase.sh. */
int meta_def_apps(const meta_def *d, meta_image *out, lt_error **err);
/* The text appended to %post for the apps' %appinstall sections, in order ("" for none). */
char *meta_def_appinstall_script(const meta_def *d);

/* The metadata Apptainer inserts after %post: runscript.help (%help), labels.json (the image's
 * labels, then those %post wrote to /.build.labels, the build labels with one
 * org.label-schema.usage.singularity.deffile.<key> per header key, then %labels; keys the image
 * has are kept unless force), /.singularity.d/Singularity (an older one moves to
 * bootstrap_history/Apptainer<N>), %environment appended to env/90-environment.sh, the
 * startscript, runscript and test files. Entries replace what is there; out->deffile is the
 * def text; out->inspect_json is left NULL (the builder derives it from the finished tree). */
int meta_for_def(const meta_def *d, meta_image *out, lt_error **err);

/* Whether `content` is exactly the file Apptainer generates under that name in
 * /.singularity.d/env ("95-apps.sh", "99-base.sh", "99-runtimevars.sh"). */
bool meta_env_script_is_standard(const char *name, const char *content);

/* The pieces, exposed for tests and for the definition-file builder. */
/* /.singularity.d/runscript for an OCI config's Entrypoint and Cmd (either may be NULL). */
char *meta_oci_runscript(const json_t *entrypoint, const json_t *cmd);
/* /.singularity.d/env/10-docker2singularity.sh for an OCI config's Env array (may be NULL). */
char *meta_oci_env_script(const json_t *env);
/* oci-config.json for a whole image config document: its "config" object decoded the way Go's
 * encoding/json decodes it into the struct of `style`, then re-encoded like json.Marshal. Fails
 * (like Apptainer's build) when a known field has the wrong JSON type. */
int meta_oci_config_json(const json_t *config, enum meta_config_style style, char **out,
			 lt_error **err);
/* labels.json text for a string->string object: Go's json.MarshalIndent(map, "", "\t"). */
char *meta_labels_json(const json_t *labels);
/* Shell quoting helpers following Apptainer's rules. */
char *meta_quote_single(const char *s);	 /* 'a'"'"'b' style */
char *meta_escape_double(const char *s); /* backslash before \ " $ ` */

#endif
