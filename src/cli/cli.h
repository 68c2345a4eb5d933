/* cli: argument parsing and one file per command. Commands parse their arguments, call the
 * modules and turn the result into an exit status; nothing else lives here. */
#ifndef LITHO_CLI_H
#define LITHO_CLI_H

#include <stdint.h>

#include "util.h"

/* Exit statuses of litho itself (a container's own status is passed through unchanged). */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1, /* *err says why */
	CLI_USAGE = 2,	/* bad arguments; *err says why */
};

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv, lt_error **err);
	const char *summary;
} cli_command;

/* Prints the usage text of a command family and returns CLI_USAGE with err set. */
int cli_usage_error(lt_error **err, const char *usage, const char *fmt, ...) LT_PRINTF(3, 4);
/* Parses an unsigned 32-bit number named `what`. */
int cli_parse_u32(const char *s, const char *what, uint32_t *out, lt_error **err);
int cli_parse_i32(const char *s, const char *what, int32_t min, int32_t max, int32_t *out,
		  lt_error **err);
/* The time to stamp new SIF metadata with: the Go zero time when SOURCE_DATE_EPOCH is set
 * (reproducible output), otherwise now. */
int64_t cli_sif_time(void);
bool cli_reproducible(void);
/* SOURCE_DATE_EPOCH when set (and valid), otherwise now. */
int64_t cli_build_time(void);

int cmd_sif(int argc, char **argv, lt_error **err);
int cmd_build(int argc, char **argv, lt_error **err);
int cmd_action(int argc, char **argv, lt_error **err);
int cmd_inspect(int argc, char **argv, lt_error **err);
int cmd_run_help(int argc, char **argv, lt_error **err);

#endif
