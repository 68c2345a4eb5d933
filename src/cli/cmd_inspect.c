/* `litho inspect [OPTIONS] IMAGE` and `litho run-help [--app NAME] IMAGE`. */
#include <getopt.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "runtime/runtime.h"

static const char inspect_usage[] =
    "Usage: litho inspect [OPTIONS] IMAGE\n"
    "\n"
    "Shows the metadata of a SIF image, SquashFS image or sandbox directory, as\n"
    "`apptainer inspect` does (the labels when nothing else is asked for).\n"
    "\n"
    "Options:\n"
    "  -l, --labels        the labels\n"
    "  -d, --deffile       the definition file the image was built from\n"
    "  -r, --runscript     the runscript\n"
    "  -s, --startscript   the startscript\n"
    "  -t, --test          the test script\n"
    "  -e, --environment   the environment scripts\n"
    "  -H, --helpfile      the runscript's help\n"
    "  -j, --json          JSON instead of text\n"
    "      --all           everything, as JSON (--app is ignored)\n"
    "      --list-apps     the SCIF apps\n"
    "      --app NAME      one SCIF app's metadata\n";

static const char run_help_usage[] = "Usage: litho run-help [--app NAME] IMAGE\n"
				     "\n"
				     "Shows the help of an image (or of one of its SCIF apps).\n";

int cli_cmd_inspect(int argc, char **argv, lt_error **err)
{
	enum { OPT_ALL = 256, OPT_LIST_APPS, OPT_APP };
	static const struct option opts[] = {
	    {"labels", no_argument, NULL, 'l'},
	    {"deffile", no_argument, NULL, 'd'},
	    {"runscript", no_argument, NULL, 'r'},
	    {"startscript", no_argument, NULL, 's'},
	    {"test", no_argument, NULL, 't'},
	    {"environment", no_argument, NULL, 'e'},
	    {"helpfile", no_argument, NULL, 'H'},
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, OPT_ALL},
	    {"list-apps", no_argument, NULL, OPT_LIST_APPS},
	    {"app", required_argument, NULL, OPT_APP},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	rt_inspect_opts o = {0};
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "ldrsteHjh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o.labels = true;
			break;
		case 'd':
			o.deffile = true;
			break;
		case 'r':
			o.runscript = true;
			break;
		case 's':
			o.startscript = true;
			break;
		case 't':
			o.test = true;
			break;
		case 'e':
			o.environment = true;
			break;
		case 'H':
			o.helpfile = true;
			break;
		case 'j':
			o.json = true;
			break;
		case OPT_ALL:
			o.all = true;
			break;
		case OPT_LIST_APPS:
			o.list_apps = true;
			break;
		case OPT_APP:
			o.app = optarg;
			break;
		case 'h':
			fputs(inspect_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(err, inspect_usage, "inspect: unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(err, inspect_usage, "inspect: expected one IMAGE");
	if (rt_inspect(stdout, argv[optind], &o, err) < 0)
		return CLI_FAILED;
	return CLI_OK;
}

int cli_cmd_run_help(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"app", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *app = NULL;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			app = optarg;
			break;
		case 'h':
			fputs(run_help_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(err, run_help_usage, "run-help: unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(err, run_help_usage, "run-help: expected one IMAGE");
	if (rt_run_help(stdout, argv[optind], app, err) < 0)
		return CLI_FAILED;
	return CLI_OK;
}
