/* `litho registry login|logout|list` and `litho cache list|clean`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static const char registry_usage[] =
    "Usage: litho registry login [OPTIONS] [docker://|oras://]HOST[:PORT]\n"
    "       litho registry logout [docker://|oras://]HOST[:PORT]\n"
    "       litho registry list\n"
    "\n"
    "Credentials are kept in ~/.litho/registry-auth.json (mode 0600; $LITHO_CONFIGDIR moves it).\n"
    "Docker's config.json and Apptainer's docker-config.json are read as well.\n"
    "\n"
    "Login options:\n"
    "  -u, --username USER        user name (asked for when missing)\n"
    "  -p, --password PASS        password (asked for, without echo, when missing)\n"
    "      --password-stdin       read the password from standard input\n"
    "      --no-verify            store the credentials without checking them\n"
    "      --no-https, --insecure, --ca-file FILE   how to reach the registry\n";

static int registry_login(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'p'},
	    {"password-stdin", no_argument, NULL, 'P'},
	    {"no-verify", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	img_registry_opts ro;
	cli_registry_defaults(&ro);
	const char *user = NULL, *pass = NULL;
	bool from_stdin = false, verify = true;
	char *asked_user = NULL, *asked_pass = NULL;
	int c, rc = CLI_USAGE;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "u:p:h", opts, NULL)) != -1) {
		int r = cli_common_option(c, optarg, NULL, &ro, err);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'p':
			pass = optarg;
			break;
		case 'P':
			from_stdin = true;
			break;
		case 'n':
			verify = false;
			break;
		case 'h':
			fputs(registry_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, registry_usage, "registry login: unknown option");
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage_error(err, registry_usage, "registry login: expected one registry");
		goto out;
	}
	if (from_stdin && pass != NULL) {
		rc = cli_usage_error(err, NULL,
				     "registry login: --password and --password-stdin "
				     "exclude each other");
		goto out;
	}
	rc = CLI_FAILED;
	if (user == NULL && from_stdin) {
		lt_error_set(err, 0, "registry login: --password-stdin needs --username");
		goto out;
	}
	if (user == NULL && (user = asked_user = cli_read_line("Username: ", false, err)) == NULL)
		goto out;
	if (pass == NULL && (pass = asked_pass = cli_read_line("Password: ", true, err)) == NULL)
		goto out;
	if (*user == '\0') {
		lt_error_set(err, 0, "registry login: the user name is empty");
		goto out;
	}
	const char *registry = argv[optind];
	if (img_registry_login(registry, user, pass, &ro, verify, err) < 0)
		goto out;
	lt_info("Logged in to %s as %s", registry, user);
	rc = CLI_OK;
out:
	free(asked_user);
	if (asked_pass != NULL) {
		explicit_bzero(asked_pass, strlen(asked_pass));
		free(asked_pass);
	}
	return rc;
}

int cli_cmd_registry(int argc, char **argv, lt_error **err)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL)
		return cli_usage_error(err, registry_usage, "registry: expected a subcommand");
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		fputs(registry_usage, stdout);
		return CLI_OK;
	}
	if (strcmp(sub, "login") == 0)
		return registry_login(argc - 1, argv + 1, err);
	if (strcmp(sub, "logout") == 0) {
		if (argc != 3)
			return cli_usage_error(err, registry_usage,
					       "registry logout: expected one registry");
		if (img_registry_logout(argv[2], err) < 0)
			return CLI_FAILED;
		lt_info("Logged out of %s", argv[2]);
		return CLI_OK;
	}
	if (strcmp(sub, "list") == 0) {
		if (argc != 2)
			return cli_usage_error(err, registry_usage, "registry list: no arguments");
		img_registry_login_entry *e;
		size_t n;
		if (img_registry_list(&e, &n, err) < 0)
			return CLI_FAILED;
		if (n > 0)
			printf("%-40s %s\n", "REGISTRY", "USER");
		for (size_t i = 0; i < n; i++)
			printf("%-40s %s\n", e[i].registry, e[i].username);
		img_registry_list_free(e, n);
		return CLI_OK;
	}
	return cli_usage_error(err, registry_usage, "registry: unknown subcommand '%s'", sub);
}

static const char cache_usage[] =
    "Usage: litho cache list [-T TYPE] [-v]\n"
    "       litho cache clean [-T TYPE] [-D DAYS] [-n] [-f]\n"
    "\n"
    "The cache is $LITHO_CACHEDIR, else $APPTAINER_CACHEDIR/litho, else ~/.cache/litho.\n"
    "\n"
    "Options:\n"
    "  -T, --type TYPE            blob (layers, configs, manifests), sif (converted images;\n"
    "                             also \"oci\"), oras (pulled SIFs) or all (default); repeatable\n"
    "                             or comma separated\n"
    "  -v, --verbose              list every entry, not only the totals\n"
    "  -D, --days N               clean only entries not used for N days\n"
    "  -n, --dry-run              show what would be removed\n"
    "  -f, --force                do not ask (clean asks on a terminal)\n";

static int parse_kinds(const char *arg, unsigned *kinds, lt_error **err)
{
	char *copy = lt_xstrdup(arg), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		unsigned k = img_cache_kind_parse(t);
		if (k == 0) {
			rc = lt_error_set(err, 0,
					  "--type '%s': expected blob, sif (oci), oras or all", t);
			break;
		}
		*kinds |= k;
	}
	free(copy);
	return rc;
}

static void print_size(uint64_t bytes)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < LT_ARRAY_SIZE(units))
		v /= 1024, u++;
	printf(u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* One line per kind with the count and size, then the total; verb ("Removed ") first. */
static void print_entries(const img_cache_entry *e, size_t n, bool verbose, const char *verb)
{
	if (verbose) {
		printf("%-6s %-73s %10s  %s\n", "TYPE", "NAME", "SIZE", "LAST USED");
		for (size_t i = 0; i < n; i++) {
			char when[32];
			time_t t = (time_t)e[i].mtime;
			struct tm tm;
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
			printf("%-6s %-73s %10lld  %s\n", img_cache_kind_name(e[i].kind), e[i].name,
			       (long long)e[i].size, when);
		}
	}
	const enum img_cache_kind kinds[] = {IMG_CACHE_BLOB, IMG_CACHE_SIF, IMG_CACHE_ORAS};
	uint64_t total = 0;
	size_t count = 0;
	for (size_t k = 0; k < LT_ARRAY_SIZE(kinds); k++) {
		uint64_t bytes = 0;
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (e[i].kind == kinds[k])
				bytes += (uint64_t)e[i].size, m++;
		if (m == 0)
			continue;
		printf("%s%zu %s entr%s, ", verb, m, img_cache_kind_name(kinds[k]),
		       m == 1 ? "y" : "ies");
		print_size(bytes);
		putchar('\n');
		total += bytes;
		count += m;
	}
	printf("%s%zu entr%s in all, ", verb, count, count == 1 ? "y" : "ies");
	print_size(total);
	putchar('\n');
}

static bool confirm(const char *dir)
{
	if (!isatty(STDIN_FILENO))
		return true;
	fprintf(stderr, "This removes entries from the cache %s. Continue? [y/N] ", dir);
	fflush(stderr);
	char buf[16];
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return false;
	return buf[0] == 'y' || buf[0] == 'Y';
}

int cli_cmd_cache(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"type", required_argument, NULL, 'T'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"days", required_argument, NULL, 'D'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub != NULL && (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)) {
		fputs(cache_usage, stdout);
		return CLI_OK;
	}
	bool list = sub != NULL && strcmp(sub, "list") == 0;
	if (sub == NULL || (!list && strcmp(sub, "clean") != 0))
		return cli_usage_error(err, cache_usage, "cache: expected list or clean");
	unsigned kinds = 0;
	bool verbose = false, force = false;
	img_cache_clean_opts co = {0};
	int c;
	cli_getopt_reset();
	argc--, argv++;
	while ((c = getopt_long(argc, argv, list ? "T:vh" : "T:D:nfh", opts, NULL)) != -1) {
		int64_t v = 0;
		switch (c) {
		case 'T':
			if (parse_kinds(optarg, &kinds, err) < 0)
				return CLI_USAGE;
			break;
		case 'v':
			verbose = true;
			break;
		case 'D':
			if (lt_parse_int64(optarg, 0, 100000, "--days", &v, err) < 0)
				return CLI_USAGE;
			co.days = (int)v;
			break;
		case 'n':
			co.dry_run = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(cache_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(err, cache_usage, "cache %s: unknown option", sub);
		}
	}
	if (optind != argc)
		return cli_usage_error(err, cache_usage, "cache %s: unexpected argument '%s'", sub,
				       argv[optind]);
	img_cache_entry *e = NULL;
	size_t n = 0;
	if (list) {
		if (img_cache_list(NULL, kinds ? kinds : IMG_CACHE_ALL, &e, &n, err) < 0)
			return CLI_FAILED;
		print_entries(e, n, verbose, "");
		img_cache_entries_free(e, n);
		return CLI_OK;
	}
	char *dir = img_cache_dir();
	bool go = force || co.dry_run || confirm(dir);
	free(dir);
	if (!go) {
		lt_info("Nothing removed");
		return CLI_OK;
	}
	co.kinds = kinds;
	if (img_cache_clean(NULL, &co, &e, &n, err) < 0)
		return CLI_FAILED;
	print_entries(e, n, co.dry_run, co.dry_run ? "Would remove " : "Removed ");
	img_cache_entries_free(e, n);
	return CLI_OK;
}
