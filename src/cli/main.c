/* litho: container images for users without root. Global options, then one command. */
#include <getopt.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_sign.h"

static int cmd_version(int argc, char **argv, lt_error **err)
{
	printf("litho version %s\n", LITHO_VERSION);
	return CLI_OK;
}

static int cmd_help(int argc, char **argv, lt_error **err);

static const cli_command commands[] = {
    {"build", cli_cmd_build, "build a SIF image from an image reference or a directory"},
    {"pull", cli_cmd_pull, "download an image (docker://, oras://) as a SIF file"},
    {"push", cli_cmd_push, "store a SIF file in a registry (oras://)"},
    {"run", cli_cmd_action, "run the image's runscript"},
    {"exec", cli_cmd_action, "run a command in the image"},
    {"shell", cli_cmd_action, "start a shell in the image"},
    {"test", cli_cmd_action, "run the image's test script"},
    {"inspect", cli_cmd_inspect, "show the metadata of an image (labels, runscript ...)"},
    {"run-help", cli_cmd_run_help, "show the help of an image"},
    {"registry", cli_cmd_registry, "log in to and out of registries"},
    {"cache", cli_cmd_cache, "list and clean the image cache"},
    {"sign", cli_cmd_sign, "add signatures to a SIF image (PEM key or OpenPGP keyring)"},
    {"verify", cli_cmd_verify, "check the signatures of a SIF image"},
    {"key", cli_cmd_key, "manage the OpenPGP keyring (newpair, list, import, export, remove)"},
    {"sif", cli_cmd_sif, "create, inspect and edit SIF files (like siftool)"},
    {"capability", cli_cmd_capability, "the Linux capabilities --add-caps and --drop-caps take"},
    {"oci", cli_cmd_oci, "Apptainer's OCI runtime commands (not supported)"},
    {"plugin", cli_cmd_plugin, "Apptainer plugins (not supported)"},
    {"remote", cli_cmd_remote, "manage library endpoints (remote.yaml)"},
    {"search", cli_cmd_search, "search a container library"},
    {"version", cmd_version, "show the version"},
    {"help", cmd_help, "show this help"},
};

static void print_usage(FILE *out)
{
	fprintf(out, "Usage: litho [-q|-v|-d] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < LT_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nGlobal options:\n"
		     "  -q, --quiet     only print errors\n"
		     "  -s, --silent    print nothing, not even errors\n"
		     "  -v, --verbose   print more about what happens\n"
		     "  -d, --debug     print debugging information\n"
		     "      --version   show the version\n");
}

static const cli_command *find_command(const char *name)
{
	/* Apptainer's aliases */
	static const char *const aliases[][2] = {{"caps", "capability"}, {"plugins", "plugin"}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(aliases); i++)
		if (strcmp(name, aliases[i][0]) == 0)
			name = aliases[i][1];
	for (size_t i = 0; i < LT_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* `help` alone, or `help COMMAND [SUBCOMMAND]` as `COMMAND [SUBCOMMAND] --help`. */
static int cmd_help(int argc, char **argv, lt_error **err)
{
	const cli_command *cmd = argc > 1 ? find_command(argv[1]) : NULL;
	if (cmd == NULL || cmd->run == cmd_help) {
		print_usage(stdout);
		return CLI_OK;
	}
	char *v[] = {argv[1], argc > 2 ? argv[2] : "--help", "--help", NULL};
	return cmd->run(argc > 2 ? 3 : 2, v, err);
}

/* The exit status for what a command returned: its own (or its container's) status unless it
 * failed with an error, which is printed here, once. Apptainer's statuses: 255 for a fatal
 * error (sylog.Fatalf), 1 for a usage error (cobra). */
static int finish(const cli_command *cmd, int rc, lt_error **err)
{
	/* Apptainer's sif (siftool) commands return their errors to cobra: status 1 */
	static const char *const cobra_errors[] = {"sif"};
	if (*err == NULL)
		return rc;
	int status = rc == CLI_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FATAL;
	for (size_t i = 0; cmd != NULL && i < LT_ARRAY_SIZE(cobra_errors); i++)
		if (strcmp(cmd->name, cobra_errors[i]) == 0)
			status = CLI_EXIT_USAGE;
	if (lt_log_get_level() != LT_LOG_SILENT) {
		if (status == CLI_EXIT_FATAL)
			fprintf(stderr, "FATAL:   %s\n", (*err)->message);
		else
			lt_error_report(*err);
	}
	lt_error_free(err);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"silent", no_argument, NULL, 's'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"debug", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	/* Names in layers are UTF-8 (PAX) or raw bytes; a UTF-8 locale makes libarchive hand
	 * both over unchanged instead of failing to convert them to ASCII. */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "");
	lt_umask();
	lt_cleanup_install_signal_handlers();

	/* The SIF launch line "#!/usr/bin/env run-singularity" runs images as
	 * `run-singularity IMAGE ARGS`: the same as `litho run IMAGE ARGS`. */
	if (strcmp(lt_path_basename(argv[0]), "run-singularity") == 0) {
		argv[0] = "run";
		lt_error *err = NULL;
		int rc = cli_cmd_action(argc, argv, &err);
		return finish(NULL, rc, &err);
	}
	int c;
	while ((c = getopt_long(argc, argv, "+qsvdh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			lt_log_set_level(LT_LOG_ERROR);
			break;
		case 's':
			lt_log_set_level(LT_LOG_SILENT);
			break;
		case 'v':
			lt_log_set_level(LT_LOG_VERBOSE);
			break;
		case 'd':
			lt_log_set_level(LT_LOG_DEBUG);
			break;
		case 'h':
			print_usage(stdout);
			return CLI_OK;
		case 'V':
			return cmd_version(0, NULL, NULL);
		default:
			print_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[optind];
	const cli_command *cmd = find_command(name);
	if (cmd == NULL) {
		fprintf(stderr, "litho: error: unknown command '%s'\n", name);
		print_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	lt_error *err = NULL;
	/* A command's status can also be a container's, so only an error object means that
	 * litho itself failed. */
	int rc = cmd->run(argc - optind, argv + optind, &err);
	return finish(cmd, rc, &err);
}
