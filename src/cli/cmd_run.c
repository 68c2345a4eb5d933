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
    "Options:\n"
    "  -B, --bind SRC[:DST[:ro|rw]][,...]  bind host paths (also APPTAINER_BIND, LITHO_BIND)\n"
    "      --mount type=bind,src=S,dst=D[,ro]\n"
    "  -H, --home SRC[:DST]     home directory to bind (default: $HOME)\n"
    "      --no-home            do not bind the home directory\n"
    "  -c, --contain            minimal /dev, private /tmp, /var/tmp and home\n"
    "  -C, --containall         --contain and --cleanenv\n"
    "  -e, --cleanenv           start from a clean environment\n"
    "      --env K=V            set a variable inside (repeatable)\n"
    "      --env-file FILE      variables inside from a file\n"
    "      --pwd DIR            working directory inside\n"
    "      --no-mount ITEM      proc, sys, dev, home, tmp, cwd, bind-paths or a path\n"
    "  -w, --writable           a sandbox directory read-write (also APPTAINER_WRITABLE)\n"
    "      --writable-tmpfs     writable image, changes kept in memory only\n"
    "      --tmpfs-size SIZE    size of the writable tmpfs (default 1G; K/M/G allowed)\n"
    "  -f, --fakeroot           uid and gid 0 inside: a user namespace with the caller's\n"
    "                           /etc/subuid range, or else a seccomp filter that fakes chown\n"
    "                           and setuid (also APPTAINER_FAKEROOT)\n"
    "      --no-umask           umask 0022 instead of the caller's\n"
    "      --no-eval            no shell evaluation of arguments and APPTAINERENV_ values\n"
    "      --unsquash           extract the image to a temporary sandbox instead of mounting\n"
    "      --app NAME           run a SCIF app\n"
    "  -s, --shell PATH         shell for `shell`\n"
    "\n"
    "For image references:\n" CLI_REGISTRY_USAGE;

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

int cli_cmd_action(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"bind", required_argument, NULL, 'B'},
	    {"mount", required_argument, NULL, 'M'},
	    {"home", required_argument, NULL, 'H'},
	    {"no-home", no_argument, NULL, 'N'},
	    {"contain", no_argument, NULL, 'c'},
	    {"containall", no_argument, NULL, 'C'},
	    {"cleanenv", no_argument, NULL, 'e'},
	    {"env", required_argument, NULL, 'E'},
	    {"env-file", required_argument, NULL, 'F'},
	    {"pwd", required_argument, NULL, 'P'},
	    {"cwd", required_argument, NULL, 'P'},
	    {"no-mount", required_argument, NULL, 'n'},
	    {"writable", no_argument, NULL, 'w'},
	    {"writable-tmpfs", no_argument, NULL, 'T'},
	    {"fakeroot", no_argument, NULL, 'f'},
	    /* Apptainer's hidden global option: what `build` runs %post and %test with */
	    {"build-config", no_argument, NULL, 'b'},
	    {"tmpfs-size", required_argument, NULL, 'z'},
	    {"no-umask", no_argument, NULL, 'u'},
	    {"no-eval", no_argument, NULL, 'v'},
	    {"unsquash", no_argument, NULL, 'U'},
	    {"app", required_argument, NULL, 'a'},
	    {"shell", required_argument, NULL, 's'},
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
	int rc = CLI_USAGE, c;

	/* binds from the environment come after the command line ones */
	const char *env_binds[] = {getenv("LITHO_BIND"), getenv("APPTAINER_BIND"),
				   getenv("APPTAINER_BINDPATH"), getenv("SINGULARITY_BIND"),
				   getenv("SINGULARITY_BINDPATH")};
	o.contain = cli_env_flag("APPTAINER_CONTAIN", "LITHO_CONTAIN");
	o.containall = cli_env_flag("APPTAINER_CONTAINALL", "LITHO_CONTAINALL");
	o.cleanenv = cli_env_flag("APPTAINER_CLEANENV", "LITHO_CLEANENV");
	o.no_home = cli_env_flag("APPTAINER_NO_HOME", "LITHO_NO_HOME");
	o.writable_tmpfs = cli_env_flag("APPTAINER_WRITABLE_TMPFS", "LITHO_WRITABLE_TMPFS");
	o.writable = cli_env_flag("APPTAINER_WRITABLE", "LITHO_WRITABLE");
	o.fakeroot = cli_env_flag("APPTAINER_FAKEROOT", "LITHO_FAKEROOT");
	const char *size_env = getenv("LITHO_TMPFS_SIZE");
	if (size_env && parse_size(size_env, &o.tmpfs_size, err) < 0)
		goto out;

	cli_getopt_reset();
	/* '+': options end at the image (its arguments belong to the payload) */
	while ((c = getopt_long(argc, argv, "+B:H:cCes:wfh", opts, NULL)) != -1) {
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
		case 'M':
			if (rt_parse_mount(optarg, &o.binds, &o.n_binds, err) < 0)
				goto out;
			break;
		case 'H':
			o.home = optarg;
			break;
		case 'N':
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
		case 'E':
			if (strchr(optarg, '=') == NULL) {
				lt_error_set(err, 0, "--env '%s': expected NAME=VALUE", optarg);
				goto out;
			}
			o.env = push(o.env, &o.n_env, optarg);
			break;
		case 'F':
			o.env_file = optarg;
			break;
		case 'P':
			o.pwd = optarg;
			break;
		case 'n':
			o.no_mount = push(o.no_mount, &o.n_no_mount, optarg);
			break;
		case 'w':
			o.writable = true;
			break;
		case 'T':
			o.writable_tmpfs = true;
			break;
		case 'f':
			o.fakeroot = true;
			break;
		case 'b':
			o.build_config = true;
			break;
		case 'z':
			if (parse_size(optarg, &o.tmpfs_size, err) < 0)
				goto out;
			break;
		case 'u':
			o.no_umask = true;
			break;
		case 'v':
			o.no_eval = true;
			break;
		case 'U':
			o.unsquash = true;
			break;
		case 'a':
			o.app = optarg;
			break;
		case 's':
			o.shell = optarg;
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
	for (size_t i = 0; i < LT_ARRAY_SIZE(env_binds); i++)
		if (env_binds[i] && *env_binds[i] &&
		    rt_parse_binds(env_binds[i], &o.binds, &o.n_binds, err) < 0)
			goto out;
	if (optind >= argc) {
		rc = cli_usage_error(err, run_usage, "%s: expected an IMAGE", name);
		goto out;
	}
	o.image = argv[optind++];
	o.args = argv + optind;
	o.n_args = (size_t)(argc - optind);
	if (o.action == RT_EXEC && o.n_args == 0) {
		rc = cli_usage_error(err, run_usage, "exec: expected a COMMAND after the image");
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
	free(o.no_mount);
	return rc;
}
