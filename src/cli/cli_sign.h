/* cli: what the sign, verify and key commands share (prompts). */
#ifndef LITHO_CLI_SIGN_H
#define LITHO_CLI_SIGN_H

#include "cli/cli.h"
#include "sign/sign.h"

/* Apptainer's status for fatal errors of these commands. */
#define CLI_FATAL 255

char *cli_ask(const char *question, bool no_echo, lt_error **err);
int cli_ask_passphrase(const char *prompt, char **out, void *ctx, lt_error **err);
int cli_ask_key(const sign_pgp_list *keys, void *ctx, lt_error **err);

int cli_cmd_sign(int argc, char **argv, lt_error **err);
int cli_cmd_verify(int argc, char **argv, lt_error **err);
int cli_cmd_key(int argc, char **argv, lt_error **err);

#endif
