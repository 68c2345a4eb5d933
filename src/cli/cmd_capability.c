/* `litho capability add|drop|list|avail` (alias caps), Apptainer's
 * cmd/internal/cli/capability_linux.go. Apptainer's add/drop/list manage a capability.json that
 * lets its setuid starter grant capabilities to users; litho has no setuid part and no such file,
 * so those report what Apptainer reports without one. `avail` lists the names that --add-caps and
 * --drop-caps take. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/runtime.h"

static const char capability_usage[] =
    "Manage Linux capabilities for users and groups\n"
    "\n"
    "Usage: litho capability add [-u USER] [-g GROUP] CAPS   (requires root)\n"
    "       litho capability drop [-u USER] [-g GROUP] CAPS  (requires root)\n"
    "       litho capability list [USER|GROUP]\n"
    "       litho capability avail [CAPS]\n"
    "\n"
    "litho keeps no capability file for users and groups: a container gets capabilities with\n"
    "`run`/`exec` --add-caps, --drop-caps, --keep-privs and --no-privs. `avail` lists the names\n"
    "(CAP_ prefix optional, any case, comma separated).\n";

static int manage(const char *verb, int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {NULL, 0, NULL, 0},
	};
	const char *user = lt_env_nonempty("APPTAINER_CAP_USER");
	const char *group = lt_env_nonempty("APPTAINER_CAP_GROUP");
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "u:g:", opts, NULL)) != -1) {
		if (c == 'u')
			user = optarg;
		else if (c == 'g')
			group = optarg;
		else
			return cli_usage_error(err, capability_usage,
					       "capability %s: unknown option", verb);
	}
	if (argc - optind != 1)
		return cli_usage_error(err, capability_usage,
				       "capability %s: accepts 1 arg(s), received %d", verb,
				       argc - optind);
	const char *what = strcmp(verb, "add") == 0 ? "add" : "drop";
	if (getuid() != 0)
		lt_error_set(err, 0,
			     "Unable to %s capabilities: while managing capability file: only root "
			     "user can manage capabilities",
			     what);
	else if (user == NULL && group == NULL)
		lt_error_set(err, 0, "Unable to %s capabilities: no user or group specified", what);
	else
		lt_error_set(
		    err, 0,
		    "Unable to %s capabilities: litho does not manage capabilities of users "
		    "and groups (it has no setuid part); give them to a container with "
		    "--add-caps/--drop-caps",
		    what);
	return CLI_FAILED;
}

static int avail(int argc, char **argv, lt_error **err)
{
	if (argc > 2)
		return cli_usage_error(err, capability_usage,
				       "capability avail: accepts at most 1 arg(s), received %d",
				       argc - 1);
	size_t n = rt_cap_count();
	bool *show = lt_xcalloc(n, sizeof(bool));
	if (argc == 2) {
		char *copy = lt_xstrdup(argv[1]), *save = NULL;
		char *unknown = NULL;
		for (char *item = strtok_r(copy, ",", &save); item != NULL;
		     item = strtok_r(NULL, ",", &save)) {
			char *name = rt_cap_normalize(item);
			int i = rt_cap_lookup(name);
			if (strcmp(name, "CAP_ALL") == 0) {
				for (size_t j = 0; j < n; j++)
					show[j] = true;
			} else if (i < 0) {
				char *next = lt_strdup_printf("%s%s%s", unknown ? unknown : "",
							      unknown ? "," : "", name);
				free(unknown);
				unknown = next;
			} else {
				show[i] = true;
			}
			free(name);
		}
		free(copy);
		if (unknown != NULL) {
			lt_error_set(err, 0,
				     "Unable to list available capabilities: unknown capabilities "
				     "found in: %s",
				     unknown);
			free(unknown);
			free(show);
			return CLI_FAILED;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (argc == 2 && !show[i])
			continue;
		char *label = lt_strdup_printf("%s:", rt_cap_name(i));
		printf("%-22s %s\n\t%s\n\n", label, rt_cap_name(i), rt_cap_description(i));
		free(label);
	}
	free(show);
	return CLI_OK;
}

int cli_cmd_capability(int argc, char **argv, lt_error **err)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return cli_usage_error(err, capability_usage, "capability: invalid command");
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(capability_usage, stdout);
			return CLI_OK;
		}
	if (strcmp(sub, "add") == 0 || strcmp(sub, "drop") == 0)
		return manage(sub, argc - 1, argv + 1, err);
	if (strcmp(sub, "avail") == 0)
		return avail(argc - 1, argv + 1, err);
	if (strcmp(sub, "list") == 0) {
		if (argc > 3)
			return cli_usage_error(
			    err, capability_usage,
			    "capability list: accepts at most 1 arg(s), received "
			    "%d",
			    argc - 2);
		lt_error_set(err, 0,
			     "Unable to list capabilities: no capability set for users or groups");
		return CLI_FAILED;
	}
	return cli_usage_error(err, capability_usage,
			       "unknown command \"%s\" for \"litho capability\"", sub);
}
