/* inspect: an image's metadata (labels, definition file, runscript, startscript, test,
 * environment scripts, help, SCIF apps) as `apptainer inspect` and `apptainer run-help` print
 * it, read without mounting anything: from the SIF (its inspect-metadata.json and Def.FILE
 * objects, else the files in the SquashFS partition), from a bare SquashFS file, or from a
 * sandbox directory.
 */
#ifndef LITHO_INSPECT_H
#define LITHO_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "util.h"

typedef struct rt_inspect_opts {
	bool labels;	  /* -l (also the default when nothing else is asked for) */
	bool deffile;	  /* -d */
	bool runscript;	  /* -r */
	bool startscript; /* -s */
	bool test;	  /* -t */
	bool environment; /* -e */
	bool helpfile;	  /* -H */
	bool json;	  /* -j */
	bool all;	  /* --all: everything, as JSON (--app is ignored) */
	bool list_apps;	  /* --list-apps */
	const char *app;  /* --app NAME, or NULL */
} rt_inspect_opts;

/* Prints what `apptainer inspect` prints for these options. Errors (no such image, not an
 * image, no partition to read from) come back as -1; problems Apptainer only warns about
 * (unreadable labels, a missing Def.FILE) are warnings. */
int rt_inspect(FILE *out, const char *image, const rt_inspect_opts *o, lt_error **err);

/* `apptainer run-help`: the help text of the image (or app), else "No help sections were
 * defined for this image". */
int rt_run_help(FILE *out, const char *image, const char *app, lt_error **err);

#endif
