/* The action script and the environment helpers that env.c, action.c and the unit test share.
 *
 * rt_exec_prepare() (action.c) builds the container process environment the way Apptainer's
 * launcher does (rt_env_build), then either hands everything to the image's /bin/sh running
 * rt_action_script -- the POSIX sh counterpart of the script Apptainer interprets with its
 * embedded Go shell -- or, for images without /bin/sh, plays the same steps in C
 * (rt_env_emulate) with a small evaluator for the shell subset Apptainer's generated files use
 * (rt_sh_*).
 *
 * Private to the runtime module (and tests/unit/test_runtime_env.c).
 */
#ifndef LITHO_ACTION_SCRIPT_H
#define LITHO_ACTION_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime_internal.h"

/* Apptainer's default PATH (internal/pkg/util/env DefaultPath). */
#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---------------------------------------------------------------------------------------------
 * Environment lists: "KEY=VALUE" strings in insertion order (set replaces in place).
 */
typedef lt_strv rt_env; /* v is NULL terminated (and not NULL after rt_env_init) */

void rt_env_init(rt_env *e);
void rt_env_free(rt_env *e);
void rt_env_copy(rt_env *dst, const rt_env *src);
/* Appends a "KEY=VALUE" entry (taken over) without looking for an earlier one of that key. */
void rt_env_push(rt_env *e, char *entry);
/* Appends the "KEY=VALUE" entries of a NULL-terminated vector (entries without '=' skipped;
 * a later duplicate replaces the earlier value). */
void rt_env_add_strv(rt_env *e, char *const *v);
/* The value of key, or NULL when unset. */
const char *rt_env_get(const rt_env *e, const char *key);
const char *rt_env_getn(const rt_env *e, const char *key, size_t klen);
void rt_env_set(rt_env *e, const char *key, const char *value);
void rt_env_setn(rt_env *e, const char *key, size_t klen, const char *value, size_t vlen);
bool rt_env_unset(rt_env *e, const char *key);
/* Sorts the entries bytewise (Go's sort.Strings over "KEY=VALUE"). */
void rt_env_sort(rt_env *e);
/* Hands the NULL-terminated vector over (free with lt_strv_free) and empties e. */
char **rt_env_steal(rt_env *e);

/* ---------------------------------------------------------------------------------------------
 * A shell subset evaluator, for files that Apptainer or litho generate and for --env-file:
 * assignments, export, unset, readonly, ':', set -a/+a; quoting ('...', "...", \); parameter
 * expansion ($X, ${X}, ${X:-w}, ${X-w}, ${X:+w}, ${X+w}, ${X:=w}, ${X=w}, ${X:?w}, ${#X},
 * $1..$9, ${10}, $#, $@, $*, $?, $$); a leading ~. Command substitution, arithmetic,
 * redirections, pipelines, control structures and commands other than those builtins are
 * refused with an error (they need a real shell).
 */
typedef struct rt_sh {
	rt_env *exported;  /* exported variables (what an exec would pass on) */
	rt_env *locals;	   /* shell variables that are not exported; may be NULL */
	char *const *args; /* positional parameters $1...; may be NULL */
	size_t n_args;
	bool allexport;	  /* set -a: every assignment is exported */
	const char *name; /* file name for messages, also $0 */
} rt_sh;

/* Runs a script. On error nothing is undone: run on copies when that matters. */
int rt_sh_source(rt_sh *sh, const char *text, lt_error **err);
/* Splits text into words the way `eval "set TEXT"` would (expansions read sh's variables,
 * unquoted results are field-split on blanks; no globbing). */
int rt_sh_words(rt_sh *sh, const char *text, char ***words, size_t *n, lt_error **err);

/* Evaluates a --env-file the way Apptainer does (internal/pkg/util/shell/interpreter
 * EvaluateEnv): with `set -a`, the host environment (plus APPTAINER_IMAGE) readable but not
 * exported, args as $1..., no command execution. out receives the exported variables, in the
 * order they were first set; UID and GID are dropped. */
int rt_env_file_eval(const char *data, const char *name, char *const *host_env, const char *image,
		     char *const *args, size_t n_args, rt_env *out, lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * OCI runscripts (conveyorPacker_oci.go's template, see compat.md 2.2)
 */
/* Finds OCI_ENTRYPOINT='...' and OCI_CMD='...' in a runscript that contains the line
 * `eval "set ${SINGULARITY_OCI_RUN}"` and returns their values (the quoted lists, "" when
 * missing). Returns 1 (nothing set) when the runscript is not an OCI-generated one. */
int rt_oci_runscript_parse(const char *text, char **entrypoint, char **cmd, lt_error **err);
/* The command the runscript would exec for args. no_eval: the SINGULARITY_NO_EVAL branch
 * (ENTRYPOINT/CMD elements and args literally); otherwise the historic branch, one level of
 * shell evaluation of "ENTRYPOINT CMD" or "ENTRYPOINT "arg"..." (expansions read env; command
 * substitution is refused). *argc may be 0 (nothing to run). */
int rt_oci_runscript_argv(const char *entrypoint, const char *cmd, char *const *args, size_t n_args,
			  bool no_eval, const rt_env *env, char ***argv, size_t *argc,
			  lt_error **err);

/* ---------------------------------------------------------------------------------------------
 * The container environment
 */
/* What Apptainer's launcher computes (SetContainerEnv + the runtime variables): env is the
 * process environment the action script starts with, inject the APPTAINERENV_ overrides
 * (KEY=VALUE; the special PATH keys already renamed to SING_USER_DEFINED_*), highest precedence
 * first. command is exec|run|shell|test. */
int rt_env_build(const rt_ctx *c, const char *command, rt_env *env, rt_env *inject, lt_error **err);
/* The text Apptainer's virtual /.inject-apptainer-env.sh holds, without its default-PATH
 * part: `export KEY="VALUE"` lines (single quotes with no_eval). */
char *rt_env_inject_snippet(const rt_env *inject, bool no_eval);
/* The environment phase of the action script done in C, for images without /bin/sh: clears
 * env, sources the /.singularity.d/env scripts (the generated ones evaluated, Apptainer's fixed
 * ones replayed), injects, restores. Works on the container's root, so it runs inside. */
int rt_env_emulate(const rt_ctx *c, const rt_env *env, const rt_env *inject, bool strict,
		   rt_env *out, lt_error **err);
/* Apptainer's LookPath: file itself when it has a '/', else the first executable regular file
 * of that name in env's PATH. 1 when there is none. */
int rt_lookpath(const rt_env *env, const char *file, char **path);

/* ---------------------------------------------------------------------------------------------
 * The action script: run as /bin/sh -c rt_action_script /.singularity.d/actions/<action> ARGS.
 * Its input comes in the environment: everything rt_env_build produced, LITHO_SH_KEYS (the
 * names of those variables), LITHO_SH_INJECT (rt_env_inject_snippet), LITHO_SH_INFO ("1" to
 * print information messages), LITHO_SH_SHLVL (SHLVL as passed, when set), LITHO_SH_IDS ("uid
 * gid" of the payload, for the UID, EUID and GID shell variables that Apptainer's interpreter
 * defines and dash does not), LITHO_SH_PHASE_FD (the descriptor to write a byte to when the
 * environment phase is over, see timeout.c). It removes them before anything from the image
 * runs.
 */
static const char rt_action_script[] LT_UNUSED =
    "# litho's action script (see src/runtime/action_script.h)\n"
    "__litho_cmd=${APPTAINER_COMMAND:-}\n"
    "__litho_keys=${LITHO_SH_KEYS:-}\n"
    "__litho_inject=${LITHO_SH_INJECT:-}\n"
    "__litho_info=${LITHO_SH_INFO:-}\n"
    "# SHLVL as litho passed it: shells adjust their own copy at start-up\n"
    "__litho_hasshlvl=${LITHO_SH_SHLVL+x}\n"
    "__litho_shlvl=${LITHO_SH_SHLVL:-}\n"
    "__litho_ids=${LITHO_SH_IDS:-}\n"
    "__litho_phase=${LITHO_SH_PHASE_FD:-}\n"
    "unset LITHO_SH_KEYS LITHO_SH_INJECT LITHO_SH_INFO LITHO_SH_SHLVL LITHO_SH_IDS "
    "LITHO_SH_PHASE_FD\n"
    "__litho_defpath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "__litho_injected=\n"
    "__litho_rtvars=\n"
    "\n"
    "__litho_error() {\n"
    "\tprintf 'ERROR:   %s\\n' \"$1\" >&2\n"
    "}\n"
    "\n"
    "__litho_fatal() {\n"
    "\tprintf 'FATAL:   %s\\n' \"$1\" >&2\n"
    "}\n"
    "\n"
    "__litho_note() {\n"
    "\tif [ -n \"$__litho_info\" ]; then\n"
    "\t\tprintf 'INFO:    %s\\n' \"$1\" >&2\n"
    "\tfi\n"
    "}\n"
    "\n"
    "# Names bash keeps read-only: never unset.\n"
    "__litho_fixed() {\n"
    "\tcase $1 in\n"
    "\tEUID | PPID | UID | BASHOPTS | BASH_VERSINFO | SHELLOPTS) return 0 ;;\n"
    "\tesac\n"
    "\treturn 1\n"
    "}\n"
    "\n"
    "# Appends the parts of the default PATH that PATH lacks (Apptainer's fixpath builtin).\n"
    "__litho_fixpath() {\n"
    "\t__litho_p=${PATH:-}\n"
    "\t__litho_rest=$__litho_defpath\n"
    "\twhile [ -n \"$__litho_rest\" ]; do\n"
    "\t\t__litho_d=${__litho_rest%%:*}\n"
    "\t\tcase $__litho_rest in\n"
    "\t\t*:*) __litho_rest=${__litho_rest#*:} ;;\n"
    "\t\t*) __litho_rest= ;;\n"
    "\t\tesac\n"
    "\t\tcase \":${PATH:-}:\" in\n"
    "\t\t*\":$__litho_d:\"*) ;;\n"
    "\t\t*) __litho_p=${__litho_p:+$__litho_p:}$__litho_d ;;\n"
    "\t\tesac\n"
    "\tdone\n"
    "\tPATH=$__litho_p\n"
    "\texport PATH\n"
    "}\n"
    "\n"
    "# Apptainer's runtime_vars.sh (the virtual /.singularity.d/env/99-runtimevars.sh), once.\n"
    "__litho_runtimevars() {\n"
    "\tif [ -n \"$__litho_rtvars\" ]; then\n"
    "\t\treturn 0\n"
    "\tfi\n"
    "\t__litho_rtvars=1\n"
    "\tif [ -n \"${SING_USER_DEFINED_PREPEND_PATH:-}\" ]; then\n"
    "\t\tPATH=\"${SING_USER_DEFINED_PREPEND_PATH}:${PATH}\"\n"
    "\t\tunset SING_USER_DEFINED_PREPEND_PATH\n"
    "\tfi\n"
    "\tif [ -n \"${SING_USER_DEFINED_APPEND_PATH:-}\" ]; then\n"
    "\t\tPATH=\"${PATH}:${SING_USER_DEFINED_APPEND_PATH}\"\n"
    "\t\tunset SING_USER_DEFINED_APPEND_PATH\n"
    "\tfi\n"
    "\tif [ -n \"${SING_USER_DEFINED_PATH:-}\" ]; then\n"
    "\t\tPATH=\"${SING_USER_DEFINED_PATH}\"\n"
    "\t\tunset SING_USER_DEFINED_PATH\n"
    "\tfi\n"
    "\texport PATH\n"
    "}\n"
    "\n"
    "# Apptainer's LookPath: PATH search for an executable regular file.\n"
    "__litho_lookpath() {\n"
    "\t__litho_rest=${PATH:-}\n"
    "\twhile :; do\n"
    "\t\t__litho_d=${__litho_rest%%:*}\n"
    "\t\tif [ -f \"${__litho_d:-.}/$1\" ] && [ -x \"${__litho_d:-.}/$1\" ]; then\n"
    "\t\t\treturn 0\n"
    "\t\tfi\n"
    "\t\tcase $__litho_rest in\n"
    "\t\t*:*) __litho_rest=${__litho_rest#*:} ;;\n"
    "\t\t*) return 1 ;;\n"
    "\t\tesac\n"
    "\tdone\n"
    "}\n"
    "\n"
    "# Save the environment litho passed and clear it, but for the variables Apptainer keeps.\n"
    "set -f\n"
    "for __litho_k in $__litho_keys; do\n"
    "\teval \"__litho_v_$__litho_k=\\${$__litho_k}\"\n"
    "\tcase $__litho_k in\n"
    "\tPWD | HOME | OPTIND | GID | SINGULARITY_APPNAME | SINGULARITY_SHELL) ;;\n"
    "\tAPPTAINER_NAME | APPTAINER_CONTAINER | APPTAINER_INSTANCE) ;;\n"
    "\t*) __litho_fixed \"$__litho_k\" || unset \"$__litho_k\" ;;\n"
    "\tesac\n"
    "done\n"
    "set +f\n"
    "if [ -n \"$__litho_hasshlvl\" ]; then\n"
    "\t# bash lowers SHLVL again when it execs\n"
    "\tcase $__litho_shlvl in\n"
    "\t'' | *[!0-9]*) ;;\n"
    "\t*) [ -z \"${BASH_VERSION:-}\" ] || __litho_shlvl=$((__litho_shlvl + 1)) ;;\n"
    "\tesac\n"
    "\t__litho_v_SHLVL=$__litho_shlvl\n"
    "else\n"
    "\tunset SHLVL\n"
    "fi\n"
    "# the shell's own prompt defaults are not the container's\n"
    "unset PS1 PS2 PS4\n"
    "export PWD\n"
    "# Apptainer's interpreter defines UID, EUID and GID (not exported) unless the environment\n"
    "# has them: APPTAINERENV_X='$UID' and the env scripts see them. bash has its own.\n"
    "if [ -n \"$__litho_ids\" ]; then\n"
    "\t[ -n \"${UID+x}\" ] || UID=${__litho_ids%% *}\n"
    "\t[ -n \"${EUID+x}\" ] || EUID=${__litho_ids%% *}\n"
    "\t[ -n \"${GID+x}\" ] || GID=${__litho_ids##* }\n"
    "fi\n"
    "\n"
    "# Source the image's environment scripts in glob order.\n"
    "if [ -d /.singularity.d/env ]; then\n"
    "\tfor __litho_s in /.singularity.d/env/*.sh; do\n"
    "\t\tif [ -f \"$__litho_s\" ]; then\n"
    "\t\t\tcase $__litho_s in\n"
    "\t\t\t/.singularity.d/env/90-environment.sh)\n"
    "\t\t\t\tif [ -z \"${PATH+x}\" ]; then\n"
    "\t\t\t\t\t__litho_fixpath\n"
    "\t\t\t\tfi\n"
    "\t\t\t\t. \"$__litho_s\"\n"
    "\t\t\t\t;;\n"
    "\t\t\t/.singularity.d/env/10-docker2singularity.sh | /.singularity.d/env/10-docker.sh)\n"
    "\t\t\t\t. \"$__litho_s\"\n"
    "\t\t\t\t__litho_fixpath\n"
    "\t\t\t\t;;\n"
    "\t\t\t/.singularity.d/env/99-base.sh)\n"
    "\t\t\t\t. \"$__litho_s\"\n"
    "\t\t\t\tif [ -z \"$__litho_injected\" ]; then\n"
    "\t\t\t\t\t__litho_injected=1\n"
    "\t\t\t\t\tif [ -z \"${PATH+x}\" ]; then\n"
    "\t\t\t\t\t\texport PATH=\"$__litho_defpath\"\n"
    "\t\t\t\t\tfi\n"
    "\t\t\t\t\teval \"$__litho_inject\"\n"
    "\t\t\t\tfi\n"
    "\t\t\t\t;;\n"
    "\t\t\t/.singularity.d/env/99-runtimevars.sh)\n"
    "\t\t\t\t__litho_runtimevars\n"
    "\t\t\t\t;;\n"
    "\t\t\t*)\n"
    "\t\t\t\t. \"$__litho_s\"\n"
    "\t\t\t\t;;\n"
    "\t\t\tesac\n"
    "\t\tfi\n"
    "\tdone\n"
    "else\n"
    "\t# images built before Singularity 2.3\n"
    "\tif [ -f /environment ]; then\n"
    "\t\t. /environment\n"
    "\t\t__litho_fixpath\n"
    "\tfi\n"
    "\tif [ -z \"$__litho_injected\" ]; then\n"
    "\t\t__litho_injected=1\n"
    "\t\tif [ -z \"${PATH+x}\" ]; then\n"
    "\t\t\texport PATH=\"$__litho_defpath\"\n"
    "\t\tfi\n"
    "\t\teval \"$__litho_inject\"\n"
    "\tfi\n"
    "fi\n"
    "if [ ! -f /.singularity.d/env/99-runtimevars.sh ]; then\n"
    "\t__litho_runtimevars\n"
    "fi\n"
    "\n"
    "# Restore what the image did not set; variables left empty are removed.\n"
    "set -f\n"
    "for __litho_k in $__litho_keys; do\n"
    "\tcase $__litho_k in\n"
    "\tAPPTAINER_NAME | APPTAINER_CONTAINER | APPTAINER_INSTANCE)\n"
    "\t\t# read-only in Apptainer\n"
    "\t\teval \"export $__litho_k=\\\"\\${__litho_v_$__litho_k}\\\"\"\n"
    "\t\t;;\n"
    "\tesac\n"
    "\tif eval \"[ -z \\\"\\${$__litho_k+x}\\\" ]\"; then\n"
    "\t\teval \"export $__litho_k=\\\"\\${__litho_v_$__litho_k}\\\"\"\n"
    "\telif eval \"[ -z \\\"\\${$__litho_k}\\\" ]\"; then\n"
    "\t\t__litho_fixed \"$__litho_k\" || unset \"$__litho_k\"\n"
    "\tfi\n"
    "\tunset \"__litho_v_$__litho_k\"\n"
    "done\n"
    "set +f\n"
    "\n"
    "if [ -z \"${PS1:-}\" ]; then\n"
    "\texport PS1=\"Apptainer> \"\n"
    "fi\n"
    "if [ -z \"${PROMPT_COMMAND:-}\" ]; then\n"
    "\texport PROMPT_COMMAND=\"PS1=\\\"${PS1}\\\"; unset PROMPT_COMMAND\"\n"
    "else\n"
    "\texport PROMPT_COMMAND=\"${PROMPT_COMMAND:-}; PROMPT_COMMAND=\\\"\\${PROMPT_COMMAND%%; "
    "PROMPT_COMMAND=*}\\\"; PS1=\\\"${PS1}\\\"\"\n"
    "fi\n"
    "export "
    "APPTAINER_ENVIRONMENT=\"${APPTAINER_ENVIRONMENT:-/.singularity.d/env/91-environment.sh}\"\n"
    "export SINGULARITY_ENVIRONMENT=\"${APPTAINER_ENVIRONMENT}\"\n"
    "\n"
    "unset __litho_keys __litho_inject __litho_injected __litho_rtvars __litho_k __litho_s \\\n"
    "\t__litho_p __litho_d __litho_rest __litho_defpath __litho_hasshlvl __litho_shlvl \\\n"
    "\t__litho_ids\n"
    "# the environment phase is over (--runscript-timeout)\n"
    "if [ -n \"$__litho_phase\" ]; then\n"
    "\teval \"printf . >&$__litho_phase; exec $__litho_phase>&-\"\n"
    "fi\n"
    "unset __litho_phase\n"
    "\n"
    "case $__litho_cmd in\n"
    "exec)\n"
    "\tcase ${1:-} in\n"
    "\t*/*) ;;\n"
    "\t*)\n"
    "\t\tif ! __litho_lookpath \"${1:-}\"; then\n"
    "\t\t\t__litho_fatal \"\\\"${1:-}\\\": executable file not found in \\$PATH\"\n"
    "\t\t\texit 255\n"
    "\t\tfi\n"
    "\t\t;;\n"
    "\tesac\n"
    "\texec \"$@\"\n"
    "\t;;\n"
    "shell)\n"
    "\tif [ -n \"${SINGULARITY_SHELL:-}\" ] && [ -x \"${SINGULARITY_SHELL:-}\" ]; then\n"
    "\t\texec \"${SINGULARITY_SHELL:-}\" \"$@\"\n"
    "\telif [ -x /bin/bash ]; then\n"
    "\t\texport SHELL=/bin/bash\n"
    "\t\texec /bin/bash --norc \"$@\"\n"
    "\telif [ -x /bin/sh ]; then\n"
    "\t\texport SHELL=/bin/sh\n"
    "\t\texec /bin/sh \"$@\"\n"
    "\tfi\n"
    "\t__litho_error \"/bin/sh does not exist in container\"\n"
    "\texit 1\n"
    "\t;;\n"
    "run)\n"
    "\tif [ -n \"${SINGULARITY_APPNAME:-}\" ]; then\n"
    "\t\tif [ -x \"/scif/apps/${SINGULARITY_APPNAME:-}/scif/runscript\" ]; then\n"
    "\t\t\texec \"/scif/apps/${SINGULARITY_APPNAME:-}/scif/runscript\" \"$@\"\n"
    "\t\tfi\n"
    "\t\t__litho_error \"no runscript for contained app: ${SINGULARITY_APPNAME:-}\"\n"
    "\t\texit 1\n"
    "\telif [ -x /.singularity.d/runscript ]; then\n"
    "\t\texec /.singularity.d/runscript \"$@\"\n"
    "\telif [ -x /apptainer ]; then\n"
    "\t\texec /apptainer \"$@\"\n"
    "\telif [ -x /singularity ]; then\n"
    "\t\texec /singularity \"$@\"\n"
    "\telif [ -x /bin/sh ]; then\n"
    "\t\t__litho_note \"No runscript found in container, executing /bin/sh\"\n"
    "\t\texec /bin/sh \"$@\"\n"
    "\tfi\n"
    "\t__litho_error \"No runscript and no /bin/sh executable found in container, aborting\"\n"
    "\texit 1\n"
    "\t;;\n"
    "test)\n"
    "\tif [ -n \"${SINGULARITY_APPNAME:-}\" ]; then\n"
    "\t\tif [ -x \"/scif/apps/${SINGULARITY_APPNAME:-}/scif/test\" ]; then\n"
    "\t\t\texec \"/scif/apps/${SINGULARITY_APPNAME:-}/scif/test\" \"$@\"\n"
    "\t\tfi\n"
    "\t\t__litho_error \"No tests for contained app: ${SINGULARITY_APPNAME:-}\"\n"
    "\t\texit 1\n"
    "\telif [ -x /.singularity.d/test ]; then\n"
    "\t\texec /.singularity.d/test \"$@\"\n"
    "\tfi\n"
    "\t__litho_note \"No test script found in container, exiting\"\n"
    "\texit 0\n"
    "\t;;\n"
    "esac\n"
    "__litho_error \"Unknown action $__litho_cmd\"\n"
    "exit 1\n";

#endif
