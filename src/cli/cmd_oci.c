/* `litho oci ...`: Apptainer's OCI runtime commands (cmd/internal/cli/oci_linux.go), all of
 * which need root there. litho has no OCI runtime: each one says so, with Apptainer's root check
 * first and its status 255. */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char oci_usage[] =
    "Manage OCI containers\n"
    "\n"
    "Usage: litho oci COMMAND ...\n"
    "\n"
    "Apptainer's OCI runtime commands (root only there): attach, create, delete, exec, kill,\n"
    "mount, pause, resume, run, start, state, umount, update. litho runs images itself\n"
    "(`litho run`, `litho exec`) and has no OCI runtime; each of these commands fails with a\n"
    "clear message.\n";

int cli_cmd_oci(int argc, char **argv, lt_error **err)
{
	static const char *const subs[] = {"attach", "create", "delete", "exec", "kill",
					   "mount",  "pause",  "resume", "run",	 "start",
					   "state",  "umount", "update"};
	if (argc < 2) {
		/* Apptainer prints the help of a command group without a subcommand */
		fputs(oci_usage, stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(oci_usage, stdout);
			return CLI_OK;
		}
	for (size_t i = 0; i < LT_ARRAY_SIZE(subs); i++) {
		if (strcmp(argv[1], subs[i]) != 0)
			continue;
		if (getuid() != 0)
			lt_error_set(err, 0, "\"litho oci %s\" command requires root privileges",
				     subs[i]);
		else
			lt_error_set(err, 0,
				     "litho oci %s: not supported: litho has no OCI runtime (run "
				     "images with `litho run` or `litho exec`)",
				     subs[i]);
		return CLI_FAILED;
	}
	return cli_usage_error(err, oci_usage, "unknown command \"%s\" for \"litho oci\"", argv[1]);
}
