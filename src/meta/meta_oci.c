/* The two scripts Apptainer generates from an OCI image config (internal/pkg/build/sources/
 * conveyorPacker_oci.go): /.singularity.d/runscript from Entrypoint/Cmd (insertRunScript() and
 * the ociRunscript text/template) and /.singularity.d/env/10-docker2singularity.sh from Env
 * (insertEnv()), plus the shell quoting helpers of internal/pkg/util/shell/escape.go. */
#include <stdlib.h>
#include <string.h>

#include "meta_internal.h"

/* The ociRunscript template of conveyorPacker_oci.go, cut at its actions. The text/template
 * trim markers ({{- ...) are already applied: the white space before them is gone. Rendering:
 *   S0 EP S1 [if CMD: S2 CMD S3] S4 [if EP: S5 EP S6 CMD S7 EP S8 | else if CMD: S9 CMD S10] S11
 * where EP / CMD are the "set -- 'arg' "$@"" line blocks. */
static const char tmpl_s0[] =
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        ";
static const char tmpl_s1[] = "\n"
			      "        exec \"$@\"\n"
			      "    fi\n"
			      "\n"
			      "    # CMD only - run CMD or override with args\n"
			      "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then";
static const char tmpl_s2[] = "\n"
			      "        if [ $# -eq 0 ]; then\n"
			      "            ";
static const char tmpl_s3[] = "\n"
			      "        fi";
static const char tmpl_s4[] = "\n"
			      "        exec \"$@\"\n"
			      "    fi\n"
			      "\n"
			      "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
			      "    # override with user provided args";
static const char tmpl_s5[] = "\n"
			      "    if [ $# -gt 0 ]; then\n"
			      "        ";
static const char tmpl_s6[] = "\n"
			      "\telse\n"
			      "        ";
static const char tmpl_s7[] = "\n"
			      "        ";
static const char tmpl_s8[] = "\n"
			      "    fi";
static const char tmpl_s9[] = "\n"
			      "    if [ $# -eq 0 ]; then\n"
			      "        ";
static const char tmpl_s10[] = "\n"
			       "    fi";
static const char tmpl_s11[] =
    "\n"
    "    exec \"$@\"\n"
    "fi\n"
    "\n"
    "# Standard Apptainer behavior evaluates CMD / ENTRYPOINT / ARGS\n"
    "# combination through shell before exec, and requires special quoting\n"
    "# due to concatenation of CMDLINE_ARGS.\n"
    "CMDLINE_ARGS=\"\"\n"
    "# prepare command line arguments for evaluation\n"
    "for arg in \"$@\"; do\n"
    "        CMDLINE_ARGS=\"${CMDLINE_ARGS} \\\"$arg\\\"\"\n"
    "done\n"
    "\n"
    "# ENTRYPOINT only - run entrypoint plus args\n"
    "if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "    if [ $# -gt 0 ]; then\n"
    "        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"
    "    else\n"
    "        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT}\"\n"
    "    fi\n"
    "fi\n"
    "\n"
    "# CMD only - run CMD or override with args\n"
    "if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "    if [ $# -gt 0 ]; then\n"
    "        SINGULARITY_OCI_RUN=\"${CMDLINE_ARGS}\"\n"
    "    else\n"
    "        SINGULARITY_OCI_RUN=\"${OCI_CMD}\"\n"
    "    fi\n"
    "fi\n"
    "\n"
    "# ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "# override with user provided args\n"
    "if [ $# -gt 0 ]; then\n"
    "    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"
    "else\n"
    "    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${OCI_CMD}\"\n"
    "fi\n"
    "\n"
    "# Evaluate shell expressions first and set arguments accordingly,\n"
    "# then execute final command as first container process\n"
    "eval \"set ${SINGULARITY_OCI_RUN}\"\n"
    "exec \"$@\"\n";

/* A JSON array's length; 0 for anything else (NULL, null, not an array). */
static size_t list_len(const json_t *list)
{
	return json_is_array(list) ? json_array_size(list) : 0;
}

/* NAME='<EscapeSingleQuotes(ArgsQuoted(list))>' or NAME='' for an empty list. ArgsQuoted
 * renders each element as "<shell.Escape(elem)>", joined by single spaces. */
static void add_list_assignment(lt_buf *b, const char *name, const json_t *list)
{
	lt_buf_add(b, name);
	lt_buf_add(b, "='");
	size_t n = list_len(list);
	if (n > 0) {
		lt_buf quoted;
		lt_buf_init(&quoted);
		for (size_t i = 0; i < n; i++) {
			size_t len;
			const char *s = meta_jstr(json_array_get(list, i), &len);
			if (i > 0)
				lt_buf_addc(&quoted, ' ');
			lt_buf_addc(&quoted, '"');
			meta_add_shell_escape(&quoted, s, len);
			lt_buf_addc(&quoted, '"');
		}
		meta_add_escape_single(b, quoted.data, quoted.len);
		lt_buf_free(&quoted);
	}
	lt_buf_add(b, "'\n");
}

/* One `set -- '<elem>' "$@"` line per element, last element first, so that running them leaves
 * the list in front of "$@". */
static char *prepend_lines(const json_t *list, size_t *len)
{
	lt_buf b;
	lt_buf_init(&b);
	for (size_t i = list_len(list); i > 0; i--) {
		size_t slen;
		const char *s = meta_jstr(json_array_get(list, i - 1), &slen);
		lt_buf_add(&b, "set -- '");
		meta_add_escape_single(&b, s, slen);
		lt_buf_add(&b, "' \"$@\"\n");
	}
	return lt_buf_steal(&b, len);
}

char *meta_oci_runscript(const json_t *entrypoint, const json_t *cmd)
{
	lt_buf b;
	lt_buf_init(&b);
	lt_buf_add(&b, "#!/bin/sh\n");
	add_list_assignment(&b, "OCI_ENTRYPOINT", entrypoint);
	add_list_assignment(&b, "OCI_CMD", cmd);

	size_t ep_len, cmd_len;
	char *ep = prepend_lines(entrypoint, &ep_len);
	char *pc = prepend_lines(cmd, &cmd_len);

	lt_buf_add(&b, tmpl_s0);
	lt_buf_addn(&b, ep, ep_len);
	lt_buf_add(&b, tmpl_s1);
	if (cmd_len > 0) {
		lt_buf_add(&b, tmpl_s2);
		lt_buf_addn(&b, pc, cmd_len);
		lt_buf_add(&b, tmpl_s3);
	}
	lt_buf_add(&b, tmpl_s4);
	if (ep_len > 0) {
		lt_buf_add(&b, tmpl_s5);
		lt_buf_addn(&b, ep, ep_len);
		lt_buf_add(&b, tmpl_s6);
		lt_buf_addn(&b, pc, cmd_len);
		lt_buf_add(&b, tmpl_s7);
		lt_buf_addn(&b, ep, ep_len);
		lt_buf_add(&b, tmpl_s8);
	} else if (cmd_len > 0) {
		lt_buf_add(&b, tmpl_s9);
		lt_buf_addn(&b, pc, cmd_len);
		lt_buf_add(&b, tmpl_s10);
	}
	lt_buf_add(&b, tmpl_s11);
	free(ep);
	free(pc);
	return lt_buf_steal(&b, NULL);
}

char *meta_oci_env_script(const json_t *env)
{
	lt_buf b;
	lt_buf_init(&b);
	lt_buf_add(&b, "#!/bin/sh\n");
	for (size_t i = 0; i < list_len(env); i++) {
		size_t len;
		const char *s = meta_jstr(json_array_get(env, i), &len);
		const char *eq = memchr(s, '=', len);
		size_t name_len = eq != NULL ? (size_t)(eq - s) : len;
		/* variableRegex of conveyorPacker_oci.go */
		if (!lt_env_name_valid(s, name_len))
			continue; /* Apptainer: "env %s has invalid format, skip insertion" */
		if (eq == NULL) {
			/* export K="${K:-}" */
			lt_buf_add(&b, "export ");
			lt_buf_addn(&b, s, name_len);
			lt_buf_add(&b, "=\"${");
			lt_buf_addn(&b, s, name_len);
			lt_buf_add(&b, ":-}\"\n");
			continue;
		}
		/* Apptainer passes the value through shell.Escape and then Go's %q, which escapes
		 * shell.Escape's backslashes a second time (and writes control characters as Go
		 * escapes): values with " $ ` or \ come out wrong, and a backquote runs a command.
		 * litho escapes once, so that sourcing the file (by litho or Apptainer) gives the
		 * value of the image config, as under Docker. */
		lt_buf escaped;
		lt_buf_init(&escaped);
		meta_add_shell_escape(&escaped, eq + 1, len - name_len - 1);
		lt_buf_add(&b, "export ");
		lt_buf_addn(&b, s, name_len);
		if (name_len == 4 && memcmp(s, "PATH", 4) == 0) {
			/* export PATH="v" */
			lt_buf_add(&b, "=\"");
			lt_buf_addn(&b, escaped.data, escaped.len);
			lt_buf_add(&b, "\"\n");
		} else {
			/* export K="${K:-"v"}" */
			lt_buf_add(&b, "=\"${");
			lt_buf_addn(&b, s, name_len);
			lt_buf_add(&b, ":-\"");
			lt_buf_addn(&b, escaped.data, escaped.len);
			lt_buf_add(&b, "\"}\"\n");
		}
		lt_buf_free(&escaped);
	}
	return lt_buf_steal(&b, NULL);
}

char *meta_quote_single(const char *s)
{
	lt_buf b;
	lt_buf_init(&b);
	lt_buf_addc(&b, '\'');
	meta_add_escape_single(&b, s, strlen(s));
	lt_buf_addc(&b, '\'');
	return lt_buf_steal(&b, NULL);
}

char *meta_escape_double(const char *s)
{
	lt_buf b;
	lt_buf_init(&b);
	meta_add_shell_escape(&b, s, strlen(s));
	return lt_buf_steal(&b, NULL);
}
