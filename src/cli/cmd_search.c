/* `litho search [--library URI] [--arch ARCH] [--signed] QUERY`: Apptainer's library search
 * (cmd/internal/cli/search.go) against the default remote's library. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "cli/cli.h"
#include "remote/remote.h"

static const char search_usage[] =
    "Search a Container Library for images\n"
    "\n"
    "Usage: litho search [--library URI] [--arch ARCH] [--signed] QUERY\n"
    "\n"
    "The library is the default remote's (`litho remote list`), or --library's.\n"
    "\n"
    "Options:\n"
    "      --library URI   the library to search (also APPTAINER_LIBRARY)\n"
    "      --arch ARCH     images of this architecture (default: this machine's; also\n"
    "                      APPTAINER_SEARCH_ARCH)\n"
    "      --signed        signed images only (also APPTAINER_SEARCH_SIGNED)\n";

static const char *host_arch(void)
{
	static struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	static const char *const map[][2] = {{"x86_64", "amd64"}, {"aarch64", "arm64"},
					     {"i686", "386"},	  {"ppc64le", "ppc64le"},
					     {"s390x", "s390x"},  {"riscv64", "riscv64"},
					     {"armv7l", "arm"},	  {"loongarch64", "loong64"}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(map); i++)
		if (strcmp(u.machine, map[i][0]) == 0)
			return map[i][1];
	return u.machine;
}

/* Apptainer's getLibraryClientConfig: the library of the default remote (user and system
 * configuration merged). */
static int default_library(char **library, char **token, lt_error **err)
{
	rmt_config user, sys;
	char *path = rmt_user_path();
	struct stat st;
	bool has_user = stat(path, &st) == 0;
	int rc = rmt_read(path, &user, err);
	free(path);
	if (rc < 0)
		return -1;
	if (rmt_read_system(&sys, err) < 0) {
		rmt_free(&user);
		return -1;
	}
	if (!has_user) {
		/* Apptainer's getRemote: the system configuration alone */
		rmt_free(&user);
		user = sys;
	} else if (rmt_sync_system(&user, &sys, err) < 0) {
		rmt_free(&user);
		rmt_free(&sys);
		return -1;
	} else {
		rmt_free(&sys);
	}
	rc = -1;
	rmt_endpoint *e = user.active ? rmt_find(&user, user.active) : NULL;
	if (e == NULL && user.n > 0) {
		char *list = lt_xstrdup("");
		for (size_t i = 0; i < user.n; i++) {
			char *next =
			    lt_strdup_printf("%s%s%s", list, i ? ", " : "", user.remotes[i].name);
			free(list);
			list = next;
		}
		lt_error_set(
		    err, 0,
		    "no default endpoint set: use 'litho remote use <endpoint>', available "
		    "endpoints are: %s",
		    list);
		free(list);
	} else if (e == NULL) {
		lt_error_set(
		    err, 0,
		    "no default remote with library client in use (see "
		    "https://apptainer.org/docs/user/latest/endpoint.html#no-default-remote)");
	} else if (rmt_service_uri(e, "library", library, err) < 0) {
		lt_error_wrap(err, "unable to get library service URI");
	} else if ((*library)[0] == '\0') {
		free(*library);
		*library = NULL;
		lt_error_set(
		    err, 0,
		    "remote has no library client (see "
		    "https://apptainer.org/docs/user/latest/endpoint.html#no-default-remote)");
	} else {
		*token = e->token ? lt_xstrdup(e->token) : NULL;
		rc = 0;
	}
	rmt_free(&user);
	return rc;
}

int cli_cmd_search(int argc, char **argv, lt_error **err)
{
	enum { OPT_LIBRARY = 0x200, OPT_ARCH, OPT_SIGNED, OPT_IGNORED };
	static const struct option opts[] = {
	    {"library", required_argument, NULL, OPT_LIBRARY},
	    {"arch", required_argument, NULL, OPT_ARCH},
	    {"signed", no_argument, NULL, OPT_SIGNED},
	    {"docker-username", required_argument, NULL, OPT_IGNORED},
	    {"docker-password", required_argument, NULL, OPT_IGNORED},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *library = lt_env_nonempty("APPTAINER_LIBRARY");
	const char *arch = lt_env_nonempty("APPTAINER_SEARCH_ARCH");
	bool signed_only = cli_env_flag("APPTAINER_SEARCH_SIGNED", "LITHO_SEARCH_SIGNED");
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LIBRARY:
			library = optarg;
			break;
		case OPT_ARCH:
			arch = optarg;
			break;
		case OPT_SIGNED:
			signed_only = true;
			break;
		case OPT_IGNORED:
			break;
		case 'h':
			fputs(search_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(err, search_usage, "search: unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(err, search_usage, "search: accepts 1 arg(s), received %d",
				       argc - optind);
	const char *query = argv[optind];
	if (strstr(query, "://") != NULL)
		return lt_error_set(err, 0, "URI protocols not supported in search query"),
		       CLI_FAILED;
	char *lib = NULL, *token = NULL;
	if (library != NULL) {
		lib = lt_xstrdup(library);
	} else if (default_library(&lib, &token, err) < 0) {
		lt_error_wrap(err, "Error while getting library client config");
		return CLI_FAILED;
	}
	int rc = rmt_search(stdout, lib, token, query, arch ? arch : host_arch(), signed_only, err);
	free(lib);
	free(token);
	return rc < 0 ? CLI_FAILED : CLI_OK;
}
