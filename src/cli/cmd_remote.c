/* `litho remote add|remove|use|list|login|logout|status|get-login-password`: Apptainer's library
 * endpoints (cmd/internal/cli/remote.go), in litho's remote.yaml. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "remote/remote.h"

static const char remote_usage[] =
    "Manage apptainer remote endpoints\n"
    "\n"
    "Usage: litho remote [-c FILE] COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands:\n"
    "  add [-i|--insecure] [-n|--no-default] [--no-login] [--tokenfile FILE] [-g|--global]\n"
    "      NAME URI            add a library endpoint (it becomes the default unless -n)\n"
    "  remove [-g] NAME        remove one\n"
    "  use [-e|--exclusive] [-g] NAME   make one the default\n"
    "  list                    list them\n"
    "  login [--tokenfile FILE] [NAME]  store an access token (for a registry such as\n"
    "                          docker://HOST: `litho registry login`)\n"
    "  logout [NAME]           forget it\n"
    "  status [NAME]           the services of an endpoint and the token's state\n"
    "  get-login-password      the password of the endpoint's registry\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE       the configuration file (default $LITHO_CONFIGDIR/remote.yaml,\n"
    "                          ~/.litho/remote.yaml); -g: the system one\n"
    "                          ($LITHO_SYSCONFDIR/litho/remote.yaml, /etc/litho/remote.yaml)\n";

typedef struct remote_cli {
	char *path;  /* the file to change */
	bool global; /* it is the system file */
} remote_cli;

/* -g/--global: the system file, root only (Apptainer's setGlobalRemoteConfig). */
static int use_global(remote_cli *r, lt_error **err)
{
	if (getuid() != 0)
		return lt_error_set(err, 0,
				    "Unable to modify global endpoint configuration file: not root "
				    "user");
	free(r->path);
	r->path = rmt_system_path();
	r->global = true;
	return 0;
}

/* Reads the file to change and, for the user's, merges the system remotes in. */
static int load(const remote_cli *r, bool sync, rmt_config *c, lt_error **err)
{
	if (rmt_read(r->path, c, err) < 0)
		return -1;
	if (r->global) {
		for (size_t i = 0; i < c->n; i++)
			c->remotes[i].system = true;
		return 0;
	}
	if (!sync)
		return 0;
	rmt_config sys;
	if (rmt_read_system(&sys, err) < 0) {
		rmt_free(c);
		return -1;
	}
	int rc = rmt_sync_system(c, &sys, err);
	rmt_free(&sys);
	if (rc < 0)
		rmt_free(c);
	return rc;
}

/* Apptainer's Config.SetDefault. */
static int set_default(rmt_config *c, const char *name, bool exclusive, bool system, lt_error **err)
{
	rmt_endpoint *e = rmt_find(c, name);
	if (e == NULL)
		return lt_error_set(err, 0, "%s is not a remote", name);
	if (!system && exclusive)
		return lt_error_set(err, 0, "exclusive can't be set by user");
	if (c->active == NULL || strcmp(name, c->active) != 0) {
		for (size_t i = 0; i < c->n && !system; i++)
			if (c->remotes[i].exclusive)
				return lt_error_set(err, 0,
						    "could not use %s: remote %s has been set "
						    "exclusive by the system administrator",
						    name, c->remotes[i].name);
	}
	if (exclusive)
		for (size_t i = 0; i < c->n; i++)
			c->remotes[i].exclusive = false;
	e->exclusive = exclusive;
	free(c->active);
	c->active = lt_xstrdup(name);
	return 0;
}

/* The token of `login`: from --tokenfile, else asked for. NULL with no error: none entered. */
static char *get_token(const rmt_endpoint *e, const char *tokenfile, lt_error **err)
{
	char *token = NULL;
	if (tokenfile != NULL) {
		char *data = NULL;
		if (lt_read_file(tokenfile, &data, NULL, err) < 0) {
			lt_error_wrap(err, "while reading tokenfile");
			return NULL;
		}
		token = lt_xstrndup(data, strcspn(data, "\r\n"));
		free(data);
		if (token[0] == '\0')
			lt_error_set(err, 0, "while reading tokenfile: token file is empty");
		else if (strlen(token) < 200)
			lt_error_set(err, 0,
				     "while reading tokenfile: token is too short to be valid");
		else if (strlen(token) > 4096)
			lt_error_set(err, 0,
				     "while reading tokenfile: token is too large to be valid");
		else
			return token;
		free(token);
		return NULL;
	}
	char *url = rmt_endpoint_url(e);
	if (isatty(STDIN_FILENO)) {
		printf("Generate an access token at %s/auth/tokens, and paste it here.\n", url);
		printf("Token entered will be hidden for security.\n");
		fflush(stdout);
	}
	free(url);
	token = cli_read_line("Access Token: ", true, err);
	if (token != NULL && token[0] == '\0') {
		free(token);
		return NULL;
	}
	return token;
}

/* Hands `remote login/logout X` for something that is not a remote to `registry`, as
 * Apptainer does (with its deprecation warning). */
static int to_registry(const char *what, int argc, char **argv, lt_error **err)
{
	lt_warn("'remote %s' is deprecated for registries or keyservers and will be removed in a "
		"future release; running 'registry %s'",
		what, what);
	char **v = lt_xcalloc((size_t)argc + 2, sizeof(char *));
	v[0] = "registry";
	for (int i = 0; i < argc; i++)
		v[i + 1] = argv[i];
	int rc = cli_cmd_registry(argc + 1, v, err);
	free(v);
	return rc;
}

static int remote_login(remote_cli *r, int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},	 {"password", required_argument, NULL, 'p'},
	    {"password-stdin", no_argument, NULL, 'P'},	 {"insecure", no_argument, NULL, 'i'},
	    {"tokenfile", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
	};
	const char *tokenfile = NULL;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "u:p:i", opts, NULL)) != -1) {
		if (c == 't')
			tokenfile = optarg;
		else if (c == '?')
			return cli_usage_error(err, remote_usage, "remote login: unknown option");
	}
	if (argc - optind > 1)
		return cli_usage_error(err, remote_usage,
				       "remote login: accepts at most 1 arg(s), received %d",
				       argc - optind);
	const char *name = optind < argc ? argv[optind] : NULL;
	rmt_config cfg;
	if (load(r, true, &cfg, err) < 0)
		return CLI_FAILED;
	const char *target = name ? name : cfg.active;
	rmt_endpoint *e = target ? rmt_find(&cfg, target) : NULL;
	if (e == NULL) {
		rmt_free(&cfg);
		if (tokenfile != NULL) {
			lt_error_set(
			    err, 0,
			    "--tokenfile is only supported for login to a remote endpoint, "
			    "not OCI (docker/oras) or keyservers");
			return CLI_FAILED;
		}
		return to_registry("login", argc, argv, err);
	}
	char *token = get_token(e, tokenfile, err);
	int rc = CLI_OK;
	if (token != NULL) {
		if (rmt_verify_token(e, token, err) < 0) {
			rc = CLI_FAILED;
		} else {
			free(e->token);
			e->token = token;
			token = NULL;
			if (rmt_write(r->path, &cfg, r->global, err) < 0)
				rc = CLI_FAILED;
			else
				lt_info("Token stored in %s", r->path);
		}
	} else if (*err != NULL) {
		rc = CLI_FAILED;
	}
	free(token);
	rmt_free(&cfg);
	return rc;
}

static int remote_add(remote_cli *r, int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"insecure", no_argument, NULL, 'i'}, {"no-default", no_argument, NULL, 'n'},
	    {"no-login", no_argument, NULL, 'L'}, {"tokenfile", required_argument, NULL, 't'},
	    {"global", no_argument, NULL, 'g'},	  {NULL, 0, NULL, 0},
	};
	bool insecure = cli_env_flag("APPTAINER_ADD_INSECURE", "LITHO_ADD_INSECURE");
	bool no_default = false, no_login = false, global = false;
	const char *tokenfile = NULL;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "ing", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			insecure = true;
			break;
		case 'n':
			no_default = true;
			break;
		case 'L':
			no_login = true;
			break;
		case 't':
			tokenfile = optarg;
			break;
		case 'g':
			global = true;
			break;
		default:
			return cli_usage_error(err, remote_usage, "remote add: unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(err, remote_usage,
				       "remote add: accepts 2 arg(s), received %d", argc - optind);
	if (global && use_global(r, err) < 0)
		return CLI_FAILED;
	const char *name = argv[optind], *uri = argv[optind + 1];
	if (lt_str_has_prefix(uri, "https://") && insecure) {
		lt_info("--insecure ignored for https remote");
		insecure = false;
	}
	if (lt_str_has_prefix(uri, "http://") && !insecure)
		return lt_error_set(err, 0,
				    "http URI requires --insecure or "
				    "APPTAINER_ADD_INSECURE=true"),
		       CLI_FAILED;
	if (strspn(name, " \t") == strlen(name))
		return lt_error_set(err, 0, "invalid name: cannot have empty name"), CLI_FAILED;
	if (strspn(uri, " \t") == strlen(uri))
		return lt_error_set(err, 0, "invalid URI: cannot have empty URI"), CLI_FAILED;
	/* host + path without the scheme, cleaned like Go's path.Join */
	const char *sep = strstr(uri, "://");
	char *clean = lt_path_clean(sep ? sep + 3 : uri);
	rmt_config cfg;
	if (load(r, false, &cfg, err) < 0) {
		free(clean);
		return CLI_FAILED;
	}
	rmt_endpoint *e = rmt_add(&cfg, name, clean[0] == '/' ? clean + 1 : clean, err);
	free(clean);
	int rc = e == NULL ? -1 : 0;
	if (rc == 0) {
		e->system = r->global;
		e->insecure = insecure;
		if (!no_default)
			rc = set_default(&cfg, name, false, r->global, err);
	}
	if (rc == 0)
		rc = rmt_write(r->path, &cfg, r->global, err);
	rmt_free(&cfg);
	if (rc < 0)
		return CLI_FAILED;
	lt_info("Remote \"%s\" added.", name);
	if (r->global && !no_login) {
		lt_info("Global option detected. Will not automatically log into remote.");
	} else if (!no_login) {
		char *v[] = {"login", NULL, NULL, NULL};
		int n = 1;
		if (tokenfile != NULL) {
			v[n++] = lt_strdup_printf("--tokenfile=%s", tokenfile);
		}
		v[n++] = (char *)name;
		rc = remote_login(r, n, v, err);
		if (tokenfile != NULL)
			free(v[1]);
		return rc;
	}
	return CLI_OK;
}

static int remote_use(remote_cli *r, int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"exclusive", no_argument, NULL, 'e'},
	    {"global", no_argument, NULL, 'g'},
	    {NULL, 0, NULL, 0},
	};
	bool exclusive = false, global = false;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "eg", opts, NULL)) != -1) {
		if (c == 'e')
			exclusive = true;
		else if (c == 'g')
			global = true;
		else
			return cli_usage_error(err, remote_usage, "remote use: unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(err, remote_usage,
				       "remote use: accepts 1 arg(s), received %d", argc - optind);
	if (exclusive && getuid() != 0)
		return lt_error_set(err, 0, "unable to set endpoint as exclusive: not root user"),
		       CLI_FAILED;
	if ((global || exclusive) && use_global(r, err) < 0)
		return CLI_FAILED;
	const char *name = argv[optind];
	rmt_config cfg;
	if (load(r, true, &cfg, err) < 0)
		return CLI_FAILED;
	int rc = set_default(&cfg, name, exclusive, r->global, err);
	if (rc == 0)
		rc = rmt_write(r->path, &cfg, r->global, err);
	rmt_free(&cfg);
	if (rc < 0)
		return CLI_FAILED;
	lt_info("Remote \"%s\" now in use.", name);
	return CLI_OK;
}

static int remote_remove(remote_cli *r, int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {{"global", no_argument, NULL, 'g'},
					     {NULL, 0, NULL, 0}};
	bool global = false;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "g", opts, NULL)) != -1) {
		if (c == 'g')
			global = true;
		else
			return cli_usage_error(err, remote_usage, "remote remove: unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(err, remote_usage,
				       "remote remove: accepts 1 arg(s), received %d",
				       argc - optind);
	if (global && use_global(r, err) < 0)
		return CLI_FAILED;
	const char *name = argv[optind];
	rmt_config cfg;
	if (load(r, false, &cfg, err) < 0)
		return CLI_FAILED;
	if (r->global)
		for (size_t i = 0; i < cfg.n; i++)
			cfg.remotes[i].system = false; /* the system file's own remotes go */
	int rc = rmt_remove(&cfg, name, err);
	if (rc == 0 && r->global)
		for (size_t i = 0; i < cfg.n; i++)
			cfg.remotes[i].system = true;
	if (rc == 0)
		rc = rmt_write(r->path, &cfg, r->global, err);
	rmt_free(&cfg);
	if (rc < 0)
		return CLI_FAILED;
	lt_info("Remote \"%s\" removed.", name);
	return CLI_OK;
}

/* Go's text/tabwriter with padding 2: every cell but the last of a row padded to its column's
 * width (in characters, a check mark is one). */
static size_t width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void print_table(const char *const *cells, size_t rows, size_t cols)
{
	size_t w[8] = {0};
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c + 1 < cols; c++)
			if (width(cells[r * cols + c]) > w[c])
				w[c] = width(cells[r * cols + c]);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			const char *s = cells[r * cols + c];
			fputs(s, stdout);
			if (c + 1 < cols)
				printf("%*s", (int)(w[c] - width(s) + 2), "");
		}
		fputc('\n', stdout);
	}
}

static int remote_list(remote_cli *r, int argc, char **argv, lt_error **err)
{
	if (argc != 1)
		return cli_usage_error(err, remote_usage,
				       "remote list: accepts 0 arg(s), received %d", argc - 1);
	rmt_config cfg;
	if (load(r, true, &cfg, err) < 0)
		return CLI_FAILED;
	const char **cells = lt_xcalloc((cfg.n + 1) * 6, sizeof(char *));
	static const char *const head[] = {"NAME",    "URI",	    "DEFAULT?",
					   "GLOBAL?", "EXCLUSIVE?", "SECURE?"};
	memcpy(cells, head, sizeof(head));
	for (size_t i = 0; i < cfg.n; i++) {
		const rmt_endpoint *e = &cfg.remotes[i];
		const char **row = cells + (i + 1) * 6;
		bool is_default = cfg.active != NULL && strcmp(cfg.active, e->name) == 0;
		row[0] = e->name;
		row[1] = e->uri;
		row[2] = is_default ? "\xe2\x9c\x93" : "";
		row[3] = e->system ? "\xe2\x9c\x93" : "";
		row[4] = e->exclusive ? "\xe2\x9c\x93" : "";
		row[5] = e->insecure ? "\xe2\x9c\x97!" : "\xe2\x9c\x93";
	}
	putchar('\n');
	print_table(cells, cfg.n + 1, 6);
	free(cells);
	rmt_free(&cfg);
	return CLI_OK;
}

static int remote_logout(remote_cli *r, int argc, char **argv, lt_error **err)
{
	if (argc > 2)
		return cli_usage_error(err, remote_usage,
				       "remote logout: accepts at most 1 arg(s), received %d",
				       argc - 1);
	rmt_config cfg;
	if (load(r, true, &cfg, err) < 0)
		return CLI_FAILED;
	const char *target = argc == 2 ? argv[1] : cfg.active;
	rmt_endpoint *e = target ? rmt_find(&cfg, target) : NULL;
	if (e == NULL) {
		rmt_free(&cfg);
		return to_registry("logout", argc, argv, err);
	}
	free(e->token);
	e->token = NULL;
	int rc = rmt_write(r->path, &cfg, r->global, err);
	rmt_free(&cfg);
	if (rc < 0)
		return CLI_FAILED;
	lt_info("Logout succeeded");
	return CLI_OK;
}

static int remote_status(remote_cli *r, int argc, char **argv, lt_error **err)
{
	if (argc > 2)
		return cli_usage_error(err, remote_usage,
				       "remote status: accepts at most 1 arg(s), received %d",
				       argc - 1);
	if (argc == 2)
		lt_info("Checking status of remote: %s", argv[1]);
	else
		lt_info("Checking status of default remote.");
	rmt_config cfg;
	if (load(r, true, &cfg, err) < 0)
		return CLI_FAILED;
	const char *target = argc == 2 ? argv[1] : cfg.active;
	rmt_endpoint *e = target ? rmt_find(&cfg, target) : NULL;
	char **names = NULL, **uris = NULL;
	int rc = CLI_FAILED;
	if (e == NULL)
		lt_error_set(err, 0, target ? "%s is not a remote" : "no default remote",
			     target ? target : "");
	else if (rmt_services(e, &names, &uris, err) == 0)
		rc = CLI_OK;
	if (rc == CLI_OK) {
		size_t n = 0;
		while (names[n] != NULL)
			n++;
		const char **cells = lt_xcalloc((n + 1) * 4, sizeof(char *));
		char **versions = lt_xcalloc(n + 1, sizeof(char *));
		cells[0] = "SERVICE", cells[1] = "STATUS", cells[2] = "VERSION", cells[3] = "URI";
		for (size_t i = 0; i < n; i++) {
			lt_error *ve = NULL;
			bool ok = rmt_service_version(uris[i], e->insecure, &versions[i], &ve) == 0;
			lt_error_free(&ve);
			if (names[i][0] >= 'a' && names[i][0] <= 'z')
				names[i][0] = (char)(names[i][0] - 'a' + 'A');
			cells[(i + 1) * 4] = names[i];
			cells[(i + 1) * 4 + 1] = ok ? "OK" : "N/A";
			cells[(i + 1) * 4 + 2] = versions[i] ? versions[i] : "";
			cells[(i + 1) * 4 + 3] = uris[i];
		}
		print_table(cells, n + 1, 4);
		free(cells);
		lt_strv_free(versions);
		if (e->token == NULL || e->token[0] == '\0') {
			printf("\nNo authentication token set (logged out).\n");
		} else {
			lt_error *te = NULL;
			bool valid = rmt_verify_token(e, e->token, &te) == 0;
			lt_error_free(&te);
			printf(valid ? "\nValid authentication token set (logged in).\n"
				     : "\nAuthentication token is invalid (please login again).\n");
		}
	}
	lt_strv_free(names);
	lt_strv_free(uris);
	rmt_free(&cfg);
	return rc;
}

int cli_cmd_remote(int argc, char **argv, lt_error **err)
{
	remote_cli r = {.path = rmt_user_path()};
	int i = 1, rc = CLI_OK;
	/* the persistent -c/--config FILE before the subcommand */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(remote_usage, stdout);
			goto out;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			free(r.path);
			r.path = lt_xstrdup(argv[++i]);
		} else if (strncmp(a, "--config=", 9) == 0) {
			free(r.path);
			r.path = lt_xstrdup(a + 9);
		} else {
			rc = cli_usage_error(err, remote_usage, "remote: unknown flag: %s", a);
			goto out;
		}
		i++;
	}
	if (i >= argc) {
		/* Apptainer prints the help of a command group without a subcommand */
		fputs(remote_usage, stdout);
		goto out;
	}
	static const struct {
		const char *name;
		int (*run)(remote_cli *, int, char **, lt_error **);
	} subs[] = {{"add", remote_add},      {"remove", remote_remove}, {"use", remote_use},
		    {"list", remote_list},    {"login", remote_login},	 {"logout", remote_logout},
		    {"status", remote_status}};
	const char *sub = argv[i];
	for (int j = i + 1; j < argc; j++)
		if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
			fputs(remote_usage, stdout);
			goto out;
		}
	for (size_t k = 0; k < LT_ARRAY_SIZE(subs); k++)
		if (strcmp(sub, subs[k].name) == 0) {
			rc = subs[k].run(&r, argc - i, argv + i, err);
			goto out;
		}
	if (strcmp(sub, "get-login-password") == 0) {
		/* Apptainer reports its failures here as errors, with status 0 */
		fprintf(stderr, "ERROR:   Error initializing config: litho does not read the OCI "
				"registry tokens of library endpoints\n");
		goto out;
	}
	rc = cli_usage_error(err, remote_usage, "unknown command \"%s\" for \"litho remote\"", sub);
out:
	free(r.path);
	return rc;
}
