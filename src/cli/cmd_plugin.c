/* `litho plugin ...` (alias plugins): Apptainer's plugins are Go plugins built against its own
 * source (cmd/internal/cli/plugin*_linux.go); litho cannot load them, so it has none. */
#include <string.h>

#include "cli/cli.h"

static const char plugin_usage[] =
    "Manage Apptainer plugins\n"
    "\n"
    "Usage: litho plugin list\n"
    "       litho plugin compile|create|disable|enable|inspect|install|uninstall ...\n"
    "\n"
    "Apptainer plugins are Go plugins built for Apptainer itself; litho does not load them.\n";

int cli_cmd_plugin(int argc, char **argv, lt_error **err)
{
	static const char *const subs[] = {"compile", "create",	 "disable",  "enable",
					   "inspect", "install", "uninstall"};
	if (argc < 2)
		return cli_usage_error(err, plugin_usage, "plugin: invalid command");
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(plugin_usage, stdout);
			return CLI_OK;
		}
	if (strcmp(argv[1], "list") == 0) {
		if (argc != 2)
			return cli_usage_error(err, plugin_usage,
					       "plugin list: accepts 0 arg(s), received %d",
					       argc - 2);
		printf("There are no plugins installed.\n");
		return CLI_OK;
	}
	for (size_t i = 0; i < LT_ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i]) == 0) {
			lt_error_set(err, 0, "litho does not support Apptainer plugins");
			return CLI_FAILED;
		}
	return cli_usage_error(err, plugin_usage, "unknown command \"%s\" for \"litho plugin\"",
			       argv[1]);
}
