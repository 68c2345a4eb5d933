/* `litho run|exec|shell|test [OPTIONS] IMAGE [ARGS]` and `run-singularity IMAGE [ARGS]`. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/runtime.h"

static const char run_usage[] =
    "Usage: litho run|exec|shell|test [OPTIONS] IMAGE [COMMAND] [ARGS...]\n"
    "\n"
    "IMAGE is a SIF file, a sandbox directory or an image reference (docker://, oras://, oci:,\n"
    "oci-archive:, docker-archive:), converted once and kept in the cache.\n"
    "\n"
    "Options (most also as APPTAINER_<NAME> variables, e.g. APPTAINER_CONTAINALL=1):\n"
    "  -B, --bind SRC[:DST[:ro|rw]][,...]  bind host paths (also APPTAINER_BIND, LITHO_BIND);\n"
    "                           \\, and \\: are a comma and a colon of a path\n"
    "      --mount type=bind,src=S,dst=D[,ro]\n"
    "  -H, --home SRC[:DST]     home directory to bind (default: $HOME)\n"
    "      --no-home            do not bind the home directory\n"
    "  -c, --contain            minimal /dev, private /tmp, /var/tmp and home\n"
    "  -C, --containall         --contain, --cleanenv, --pid and --ipc\n"
    "  -e, --cleanenv           start from a clean environment\n"
    "      --env K=V            set a variable inside (repeatable)\n"
    "      --env-file FILE      variables inside from a file\n"
    "      --no-env VAR[,VAR]   do not pass these host variables (also APPTAINER_NOENV)\n"
    "      --pwd DIR            working directory inside\n"
    "      --no-mount ITEM[,ITEM]  proc, sys, dev, devpts, home, tmp, hostfs, cwd,\n"
    "                           bind-paths or the path of a default bind\n"
    "  -w, --writable           a sandbox directory read-write (also APPTAINER_WRITABLE)\n"
    "      --writable-tmpfs     writable image, changes kept in memory only\n"
    "      --tmpfs-size SIZE    size of the writable tmpfs (default 1G; K/M/G allowed)\n"
    "  -W, --workdir DIR        where --contain's /tmp, /var/tmp and home and --scratch live\n"
    "  -S, --scratch DIR[,DIR]  empty directories inside (tmpfs, or below --workdir)\n"
    "      --underlay           make missing mount points in an underlay (always done)\n"
    "      --compat             --containall --no-init --no-umask --no-eval --writable-tmpfs\n"
    "  -f, --fakeroot           uid and gid 0 inside: a user namespace with the caller's\n"
    "                           /etc/subuid range, or else a seccomp filter that fakes chown\n"
    "                           and setuid (also APPTAINER_FAKEROOT)\n"
    "  -p, --pid                a PID namespace, with an init as PID 1\n"
    "      --no-pid             no PID namespace, even with --containall or --compat\n"
    "      --no-init            with a PID namespace, the payload is PID 1\n"
    "  -i, --ipc                an IPC namespace\n"
    "      --uts                a UTS namespace\n"
    "      --hostname NAME      the host name inside (a UTS namespace)\n"
    "  -n, --net                a network namespace (needs --network none)\n"
    "      --network none       a network namespace with only the loopback interface\n"
    "  -u, --userns             a user namespace even as root\n"
    "      --allow-setuid       root: setuid programs of the image work (no nosuid)\n"
    "      --keep-privs         root: all capabilities (the default for root)\n"
    "      --no-privs           no capabilities at all\n"
    "      --add-caps CAPS      add capabilities (CAP_NET_RAW,chown ...)\n"
    "      --drop-caps CAPS     drop capabilities\n"
    "      --security uid:N,gid:N[:N...]  run as these ids\n"
    "      --no-umask           umask 0022 instead of the caller's\n"
    "      --no-eval            no shell evaluation of arguments and APPTAINERENV_ values\n"
    "      --runscript-timeout D  (run) time the environment scripts may take (default 1m)\n"
    "      --unsquash           extract the image to a temporary sandbox instead of mounting\n"
    "      --app NAME           run a SCIF app\n"
    "  -s, --shell PATH         shell for `shell`\n"
    "\n"
    "For image references:\n" CLI_REGISTRY_USAGE;

/* Apptainer's usage line of `exec`, with its argument error. */
static const char exec_usage[] =
    "Usage:\n  litho [global options...] exec [exec options...] <container> <command>\n\n";

static int parse_size(const char *s, uint64_t *out, lt_error **err)
{
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return lt_error_set(err, 0, "--tmpfs-size: '%s' is not a size", s);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10, end++;
		break;
	case 'm':
	case 'M':
		v <<= 20, end++;
		break;
	case 'g':
	case 'G':
		v <<= 30, end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end != '\0' || v == 0)
		return lt_error_set(err, 0, "--tmpfs-size: '%s' is not a size", s);
	*out = v;
	return 0;
}

static char **push(char **v, size_t *n, const char *s)
{
	v = lt_xreallocarray(v, *n + 1, sizeof(char *));
	v[(*n)++] = (char *)s;
	return v;
}

/* Long options without a short one. */
enum {
	OPT_MOUNT = 0x200,
	OPT_NO_HOME,
	OPT_ENV,
	OPT_ENV_FILE,
	OPT_NO_ENV,
	OPT_PWD,
	OPT_NO_MOUNT,
	OPT_WRITABLE_TMPFS,
	OPT_BUILD_CONFIG,
	OPT_TMPFS_SIZE,
	OPT_NO_UMASK,
	OPT_NO_EVAL,
	OPT_UNSQUASH,
	OPT_APP,
	OPT_NO_PID,
	OPT_NO_INIT,
	OPT_UTS,
	OPT_HOSTNAME,
	OPT_NETWORK,
	OPT_NETWORK_ARGS,
	OPT_ALLOW_SETUID,
	OPT_KEEP_PRIVS,
	OPT_NO_PRIVS,
	OPT_ADD_CAPS,
	OPT_DROP_CAPS,
	OPT_SECURITY,
	OPT_UNDERLAY,
	OPT_COMPAT,
	OPT_RUNSCRIPT_TIMEOUT,
};

/* APPTAINER_<KEY> (SINGULARITY_<KEY>, LITHO_<KEY>) as a yes/no flag. */
static bool env_flag(const char *key)
{
	char a[64], l[64];
	snprintf(a, sizeof(a), "APPTAINER_%s", key);
	snprintf(l, sizeof(l), "LITHO_%s", key);
	return cli_env_flag(a, l);
}

/* The value of LITHO_<KEY>, APPTAINER_<KEY> or SINGULARITY_<KEY>, NULL when unset or empty. */
static const char *env_value(const char *key)
{
	static const char *const prefixes[] = {"LITHO_", "APPTAINER_", "SINGULARITY_"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(prefixes); i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s%s", prefixes[i], key);
		const char *v = lt_env_nonempty(name);
		if (v != NULL)
			return v;
	}
	return NULL;
}

/* A comma-list option: items appended to *list (strings kept in *keep for freeing). A list
 * from the environment is replaced by the first one on the command line. */
typedef struct list_opt {
	const char **v;
	size_t n;
	bool from_env;
} list_opt;

static void list_add(list_opt *l, char ***keep, size_t *n_keep, const char *value, bool env)
{
	if (!env && l->from_env) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
		l->from_env = false;
	}
	if (env)
		l->from_env = true;
	char *copy = lt_xstrdup(value), *save = NULL;
	*keep = push(*keep, n_keep, copy);
	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		size_t len = strlen(item);
		while (len > 0 && item[len - 1] == ' ')
			item[--len] = '\0';
		if (*item != '\0')
			cli_push_arg(&l->v, &l->n, item);
	}
}

int cli_cmd_action(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"bind", required_argument, NULL, 'B'},
	    {"mount", required_argument, NULL, OPT_MOUNT},
	    {"home", required_argument, NULL, 'H'},
	    {"no-home", no_argument, NULL, OPT_NO_HOME},
	    {"contain", no_argument, NULL, 'c'},
	    {"containall", no_argument, NULL, 'C'},
	    {"cleanenv", no_argument, NULL, 'e'},
	    {"env", required_argument, NULL, OPT_ENV},
	    {"env-file", required_argument, NULL, OPT_ENV_FILE},
	    {"no-env", required_argument, NULL, OPT_NO_ENV},
	    {"pwd", required_argument, NULL, OPT_PWD},
	    {"cwd", required_argument, NULL, OPT_PWD},
	    {"no-mount", required_argument, NULL, OPT_NO_MOUNT},
	    {"writable", no_argument, NULL, 'w'},
	    {"writable-tmpfs", no_argument, NULL, OPT_WRITABLE_TMPFS},
	    {"fakeroot", no_argument, NULL, 'f'},
	    /* Apptainer's hidden global option: what `build` runs %post and %test with */
	    {"build-config", no_argument, NULL, OPT_BUILD_CONFIG},
	    {"tmpfs-size", required_argument, NULL, OPT_TMPFS_SIZE},
	    {"no-umask", no_argument, NULL, OPT_NO_UMASK},
	    {"no-eval", no_argument, NULL, OPT_NO_EVAL},
	    {"unsquash", no_argument, NULL, OPT_UNSQUASH},
	    {"app", required_argument, NULL, OPT_APP},
	    {"shell", required_argument, NULL, 's'},
	    {"workdir", required_argument, NULL, 'W'},
	    {"scratch", required_argument, NULL, 'S'},
	    {"underlay", no_argument, NULL, OPT_UNDERLAY},
	    {"compat", no_argument, NULL, OPT_COMPAT},
	    {"pid", no_argument, NULL, 'p'},
	    {"no-pid", no_argument, NULL, OPT_NO_PID},
	    {"no-init", no_argument, NULL, OPT_NO_INIT},
	    {"ipc", no_argument, NULL, 'i'},
	    {"uts", no_argument, NULL, OPT_UTS},
	    {"hostname", required_argument, NULL, OPT_HOSTNAME},
	    {"net", no_argument, NULL, 'n'},
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"network-args", required_argument, NULL, OPT_NETWORK_ARGS},
	    {"userns", no_argument, NULL, 'u'},
	    {"allow-setuid", no_argument, NULL, OPT_ALLOW_SETUID},
	    {"keep-privs", no_argument, NULL, OPT_KEEP_PRIVS},
	    {"no-privs", no_argument, NULL, OPT_NO_PRIVS},
	    {"add-caps", required_argument, NULL, OPT_ADD_CAPS},
	    {"drop-caps", required_argument, NULL, OPT_DROP_CAPS},
	    {"security", required_argument, NULL, OPT_SECURITY},
	    {"runscript-timeout", required_argument, NULL, OPT_RUNSCRIPT_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    CLI_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	const char *name = argv[0];
	build_opts image_build = {0};
	cli_registry_defaults(&image_build.registry);
	char *converted = NULL;
	bool temporary = false;
	rt_options o = {.action = RT_RUN};
	if (strcmp(name, "exec") == 0)
		o.action = RT_EXEC;
	else if (strcmp(name, "shell") == 0)
		o.action = RT_SHELL;
	else if (strcmp(name, "test") == 0)
		o.action = RT_TEST;
	/* bad values are fatal errors (255), as in Apptainer; unknown options usage errors */
	int rc = CLI_FAILED, c;
	char **keep = NULL;
	size_t n_keep = 0;
	list_opt no_mount = {0}, no_env = {0}, scratch = {0}, security = {0};

	/* binds from the environment come after the command line ones */
	const char *env_binds[] = {getenv("LITHO_BIND"), getenv("APPTAINER_BIND"),
				   getenv("APPTAINER_BINDPATH"), getenv("SINGULARITY_BIND"),
				   getenv("SINGULARITY_BINDPATH")};
	const struct {
		const char *key;
		bool *field;
	} flags[] = {
	    {"CONTAIN", &o.contain},
	    {"CONTAINALL", &o.containall},
	    {"CLEANENV", &o.cleanenv},
	    {"NO_HOME", &o.no_home},
	    {"WRITABLE_TMPFS", &o.writable_tmpfs},
	    {"WRITABLE", &o.writable},
	    {"FAKEROOT", &o.fakeroot},
	    {"NO_UMASK", &o.no_umask},
	    {"NO_EVAL", &o.no_eval},
	    {"UNSQUASH", &o.unsquash},
	    {"UNDERLAY", &o.underlay},
	    {"PID", &o.pid},
	    {"UNSHARE_PID", &o.pid},
	    {"NO_PID", &o.no_pid},
	    {"NOSHIMINIT", &o.no_init},
	    {"IPC", &o.ipc},
	    {"UNSHARE_IPC", &o.ipc},
	    {"UTS", &o.uts},
	    {"UNSHARE_UTS", &o.uts},
	    {"NET", &o.net},
	    {"UNSHARE_NET", &o.net},
	    {"USERNS", &o.userns},
	    {"UNSHARE_USERNS", &o.userns},
	    {"ALLOW_SETUID", &o.allow_setuid},
	    {"KEEP_PRIVS", &o.keep_privs},
	    {"NO_PRIVS", &o.no_privs},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(flags); i++)
		*flags[i].field |= env_flag(flags[i].key);
	bool compat = env_flag("COMPAT");
	o.hostname = env_value("HOSTNAME");
	o.network = env_value("NETWORK");
	o.add_caps = env_value("ADD_CAPS");
	o.drop_caps = env_value("DROP_CAPS");
	o.workdir = env_value("WORKDIR");
	o.runscript_timeout = o.action == RT_RUN ? env_value("RUNSCRIPT_TIMEOUT") : NULL;
	static const struct {
		const char *key;
		size_t list;
	} lists[] = {
	    {"NO_MOUNT", 0}, {"NOENV", 1}, {"SCRATCH", 2}, {"SCRATCHDIR", 2}, {"SECURITY", 3}};
	list_opt *all_lists[] = {&no_mount, &no_env, &scratch, &security};
	for (size_t i = 0; i < LT_ARRAY_SIZE(lists); i++) {
		const char *v = env_value(lists[i].key);
		if (v != NULL)
			list_add(all_lists[lists[i].list], &keep, &n_keep, v, true);
	}
	const char *size_env = getenv("LITHO_TMPFS_SIZE");
	if (size_env && parse_size(size_env, &o.tmpfs_size, err) < 0)
		goto out;

	cli_getopt_reset();
	/* '+': options end at the image (its arguments belong to the payload) */
	while ((c = getopt_long(argc, argv, "+B:H:cCes:wfpinuW:S:h", opts, NULL)) != -1) {
		int r = cli_common_option(c, optarg, NULL, &image_build.registry, err);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case 'B':
			if (rt_parse_binds(optarg, &o.binds, &o.n_binds, err) < 0)
				goto out;
			break;
		case OPT_MOUNT:
			if (rt_parse_mount(optarg, &o.binds, &o.n_binds, err) < 0)
				goto out;
			break;
		case 'H':
			o.home = optarg;
			break;
		case OPT_NO_HOME:
			o.no_home = true;
			break;
		case 'c':
			o.contain = true;
			break;
		case 'C':
			o.containall = true;
			break;
		case 'e':
			o.cleanenv = true;
			break;
		case OPT_ENV:
			if (strchr(optarg, '=') == NULL) {
				lt_error_set(err, 0, "--env '%s': expected NAME=VALUE", optarg);
				goto out;
			}
			o.env = push(o.env, &o.n_env, optarg);
			break;
		case OPT_ENV_FILE:
			o.env_file = optarg;
			break;
		case OPT_NO_ENV:
			list_add(&no_env, &keep, &n_keep, optarg, false);
			break;
		case OPT_PWD:
			o.pwd = optarg;
			break;
		case OPT_NO_MOUNT:
			list_add(&no_mount, &keep, &n_keep, optarg, false);
			break;
		case 'w':
			o.writable = true;
			break;
		case OPT_WRITABLE_TMPFS:
			o.writable_tmpfs = true;
			break;
		case 'f':
			o.fakeroot = true;
			break;
		case OPT_BUILD_CONFIG:
			o.build_config = true;
			break;
		case OPT_TMPFS_SIZE:
			if (parse_size(optarg, &o.tmpfs_size, err) < 0)
				goto out;
			break;
		case OPT_NO_UMASK:
			o.no_umask = true;
			break;
		case OPT_NO_EVAL:
			o.no_eval = true;
			break;
		case OPT_UNSQUASH:
			o.unsquash = true;
			break;
		case OPT_APP:
			o.app = optarg;
			break;
		case 's':
			o.shell = optarg;
			break;
		case 'W':
			o.workdir = optarg;
			break;
		case 'S':
			list_add(&scratch, &keep, &n_keep, optarg, false);
			break;
		case OPT_UNDERLAY:
			o.underlay = true;
			break;
		case OPT_COMPAT:
			compat = true;
			break;
		case 'p':
			o.pid = true;
			break;
		case OPT_NO_PID:
			o.no_pid = true;
			break;
		case OPT_NO_INIT:
			o.no_init = true;
			break;
		case 'i':
			o.ipc = true;
			break;
		case OPT_UTS:
			o.uts = true;
			break;
		case OPT_HOSTNAME:
			o.hostname = optarg;
			break;
		case 'n':
			o.net = true;
			break;
		case OPT_NETWORK:
			o.network = optarg;
			break;
		case OPT_NETWORK_ARGS:
			/* arguments of CNI plugins, which --network none has none of */
			if (!o.net && o.network == NULL)
				lt_info("Setting --net (required by --network-args)");
			o.net = true;
			break;
		case 'u':
			o.userns = true;
			break;
		case OPT_ALLOW_SETUID:
			o.allow_setuid = true;
			break;
		case OPT_KEEP_PRIVS:
			o.keep_privs = true;
			break;
		case OPT_NO_PRIVS:
			o.no_privs = true;
			break;
		case OPT_ADD_CAPS:
			o.add_caps = optarg;
			break;
		case OPT_DROP_CAPS:
			o.drop_caps = optarg;
			break;
		case OPT_SECURITY:
			list_add(&security, &keep, &n_keep, optarg, false);
			break;
		case OPT_RUNSCRIPT_TIMEOUT:
			if (o.action != RT_RUN) {
				rc = cli_usage_error(err, run_usage,
						     "%s: unknown option --runscript-timeout (run "
						     "only)",
						     name);
				goto out;
			}
			o.runscript_timeout = optarg;
			break;
		case 'h':
			fputs(run_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, run_usage, "%s: unknown option", name);
			goto out;
		}
	}
	if (compat) {
		/* Apptainer's --compat (actions.go actionPreRun) */
		o.containall = o.no_init = o.no_umask = o.no_eval = o.writable_tmpfs = true;
	}
	o.no_mount = (char **)no_mount.v;
	o.n_no_mount = no_mount.n;
	o.no_env = (char **)no_env.v;
	o.n_no_env = no_env.n;
	o.scratch = scratch.v;
	o.n_scratch = scratch.n;
	o.security = security.v;
	o.n_security = security.n;
	for (size_t i = 0; i < LT_ARRAY_SIZE(env_binds); i++)
		if (env_binds[i] && *env_binds[i] &&
		    rt_parse_binds(env_binds[i], &o.binds, &o.n_binds, err) < 0)
			goto out;
	if (optind >= argc) {
		rc = cli_usage_error(err, run_usage,
				     "%s: requires at least %d arg(s), only received 0", name,
				     o.action == RT_EXEC ? 2 : 1);
		goto out;
	}
	o.image = argv[optind++];
	o.args = argv + optind;
	o.n_args = (size_t)(argc - optind);
	if (o.action == RT_EXEC && o.n_args == 0) {
		rc = cli_usage_error(err, exec_usage,
				     "exec: requires at least 2 arg(s), only received 1");
		goto out;
	}
	if (img_is_reference(o.image)) {
		image_build.source = o.image;
		image_build.build_time = cli_build_time();
		if (build_image_for_run(&image_build, &converted, &temporary, err) < 0) {
			rc = CLI_FAILED;
			goto out;
		}
		o.image = converted;
	}
	int status = 0;
	if (rt_launch(&o, &status, err) < 0) {
		rc = CLI_FAILED;
		goto out;
	}
	rc = status;
out:
	if (temporary)
		unlink(converted);
	free(converted);
	rt_binds_free(o.binds, o.n_binds);
	free(o.env);
	free(no_mount.v);
	free(no_env.v);
	free(scratch.v);
	free(security.v);
	for (size_t i = 0; i < n_keep; i++)
		free(keep[i]);
	free(keep);
	return rc;
}
