/* Helpers shared by the meta module's unit tests (test_meta.c, test_meta_image.c,
 * test_meta_def.c): the expected runscript of busybox, test JSON, and the entries of a
 * generated image. */
#ifndef LITHO_TEST_META_FIXTURES_H
#define LITHO_TEST_META_FIXTURES_H

#include <stdlib.h>
#include <string.h>

#include "meta/meta.h"
#include "tap.h"

/* /.singularity.d/runscript generated for an OCI image: the part after the SINGULARITY_NO_EVAL
 * block is the same for every image. */
#define RS_TAIL                                                                                    \
	"\n"                                                                                       \
	"# Standard Apptainer behavior evaluates CMD / ENTRYPOINT / ARGS\n"                        \
	"# combination through shell before exec, and requires special quoting\n"                  \
	"# due to concatenation of CMDLINE_ARGS.\n"                                                \
	"CMDLINE_ARGS=\"\"\n"                                                                      \
	"# prepare command line arguments for evaluation\n"                                        \
	"for arg in \"$@\"; do\n"                                                                  \
	"        CMDLINE_ARGS=\"${CMDLINE_ARGS} \\\"$arg\\\"\"\n"                                  \
	"done\n"                                                                                   \
	"\n"                                                                                       \
	"# ENTRYPOINT only - run entrypoint plus args\n"                                           \
	"if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"                             \
	"    if [ $# -gt 0 ]; then\n"                                                              \
	"        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"                      \
	"    else\n"                                                                               \
	"        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT}\"\n"                                      \
	"    fi\n"                                                                                 \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# CMD only - run CMD or override with args\n"                                             \
	"if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"                             \
	"    if [ $# -gt 0 ]; then\n"                                                              \
	"        SINGULARITY_OCI_RUN=\"${CMDLINE_ARGS}\"\n"                                        \
	"    else\n"                                                                               \
	"        SINGULARITY_OCI_RUN=\"${OCI_CMD}\"\n"                                             \
	"    fi\n"                                                                                 \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"                         \
	"# override with user provided args\n"                                                     \
	"if [ $# -gt 0 ]; then\n"                                                                  \
	"    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"                          \
	"else\n"                                                                                   \
	"    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${OCI_CMD}\"\n"                               \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# Evaluate shell expressions first and set arguments accordingly,\n"                      \
	"# then execute final command as first container process\n"                                \
	"eval \"set ${SINGULARITY_OCI_RUN}\"\n"                                                    \
	"exec \"$@\"\n"

/* For an image whose config has Cmd ["sh"] and no Entrypoint (busybox): test_meta.c checks
 * meta_oci_runscript against it, test_meta_image.c the runscript of the generated image. */
static const char rs_cmd_only[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT=''\n"
    "OCI_CMD='\"sh\"'\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        \n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        if [ $# -eq 0 ]; then\n"
    "            set -- 'sh' \"$@\"\n"
    "\n"
    "        fi\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    if [ $# -eq 0 ]; then\n"
    "        set -- 'sh' \"$@\"\n"
    "\n"
    "    fi\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static inline json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);
	if (v == NULL)
		printf("# bad test JSON: %s\n", jerr.text);
	return v;
}

static inline const meta_entry *find_entry(const meta_image *m, const char *path)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		if (strcmp(m->entries[i].path, path) == 0)
			return &m->entries[i];
	}
	return NULL;
}

static inline void check_entry(const meta_image *m, const char *path, enum meta_kind kind,
			       uint32_t mode, bool replace)
{
	const meta_entry *e = find_entry(m, path);
	if (e == NULL) {
		printf("# missing entry %s\n", path);
		tap_current_failed = true;
		return;
	}
	CHECK_INT(e->kind, kind);
	CHECK_INT(e->mode, mode);
	CHECK_INT(e->replace, replace);
}

#endif
