/* `litho pull [OUT.sif] REF` and `litho push IMG.sif oras://REF`. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char pull_usage[] =
    "Usage: litho pull [OPTIONS] [OUT.sif] REF\n"
    "\n"
    "REF:\n"
    "  docker://[HOST/]NAME[:TAG|@DIGEST]  image in a registry, converted to SIF\n"
    "  oras://HOST/NAME[:TAG]           SIF stored in a registry\n"
    "  oci:DIR, oci-archive:FILE, docker-archive:FILE  local images, converted to SIF\n"
    "OUT.sif defaults to <last path part>_<tag>.sif (e.g. alpine_3.20.sif).\n"
    "\n"
    "Options:\n"
    "  -F, --force                overwrite OUT.sif if it exists\n"
    "      --name NAME            the output file name (instead of OUT.sif)\n"
    "      --dir DIR              folder for the output (also "
    "APPTAINER_PULLDIR)\n" CLI_CONVERT_USAGE CLI_REGISTRY_USAGE;

int cli_cmd_pull(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'F'},
	    {"name", required_argument, NULL, 'n'},
	    {"dir", required_argument, NULL, 'D'},
	    {"sandbox", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_CONVERT_OPTIONS,
	    CLI_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	build_opts o = {.deterministic = cli_reproducible()};
	cli_registry_defaults(&o.registry);
	const char *name = NULL;
	const char *dir = getenv("LITHO_PULLDIR");
	if (dir == NULL)
		dir = getenv("APPTAINER_PULLDIR");
	if (dir == NULL)
		dir = getenv("SINGULARITY_PULLDIR");
	char *output = NULL;
	int c, rc = CLI_USAGE;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "Fj:h", opts, NULL)) != -1) {
		int r = cli_common_option(c, optarg, &o, &o.registry, err);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case 'F':
			o.force = true;
			break;
		case 'n':
			name = optarg;
			break;
		case 'D':
			dir = optarg;
			break;
		case 's':
			lt_error_set(err, 0,
				     "pull: --sandbox is not supported; pull a SIF and run it (or "
				     "`litho build --sandbox` once available)");
			goto out;
		case 'h':
			fputs(pull_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, pull_usage, "pull: unknown option");
			goto out;
		}
	}
	int n = argc - optind;
	if (n < 1 || n > 2 || (n == 2 && name != NULL)) {
		rc = cli_usage_error(err, pull_usage, "pull: expected [OUT.sif] REF (or --name)");
		goto out;
	}
	o.source = argv[argc - 1];
	if (!img_is_reference(o.source)) {
		rc = CLI_FAILED;
		lt_error_set(err, 0,
			     "pull: %s: not an image reference (expected docker://, oras://, oci:, "
			     "oci-archive: or docker-archive:)",
			     o.source);
		goto out;
	}
	const char *file = n == 2 ? argv[optind] : name;
	char *default_name = file ? NULL : build_default_pull_name(o.source);
	if (file == NULL)
		file = default_name;
	/* --dir applies to relative names, as Apptainer's does */
	output = dir && *dir && file[0] != '/' ? lt_path_join(dir, file) : lt_xstrdup(file);
	free(default_name);
	o.output = output;
	o.build_time = cli_convert_time(&o);

	double t0 = cli_now();
	build_report rep;
	bool from_cache = false;
	if (build_pull(&o, &rep, &from_cache, err) < 0) {
		rc = CLI_FAILED;
		goto out;
	}
	cli_report_build(&o, &rep, from_cache, t0);
	rc = CLI_OK;
out:
	free(output);
	return rc;
}

static const char push_usage[] =
    "Usage: litho push [OPTIONS] IMAGE.sif oras://HOST/NAME[:TAG]\n"
    "\n"
    "Stores the SIF in an OCI registry the way Apptainer does (pull it with `litho pull` or\n"
    "`apptainer pull`).\n"
    "\n"
    "Options:\n"
    "      --annotation KEY=VALUE add an annotation to the manifest "
    "(repeatable)\n" CLI_REGISTRY_USAGE;

int cli_cmd_push(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"annotation", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	img_oras_opts o;
	memset(&o, 0, sizeof(o));
	cli_registry_defaults(&o.registry);
	const char **annotations = NULL;
	size_t n_annotations = 0;
	int c, rc = CLI_USAGE;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = cli_common_option(c, optarg, NULL, &o.registry, err);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case 'a':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
				lt_error_set(err, 0, "--annotation '%s': expected KEY=VALUE",
					     optarg);
				goto out;
			}
			cli_push_arg(&annotations, &n_annotations, optarg);
			break;
		case 'h':
			fputs(push_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, push_usage, "push: unknown option");
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = cli_usage_error(err, push_usage, "push: expected IMAGE.sif and a reference");
		goto out;
	}
	const char *sif = argv[optind], *ref = argv[optind + 1];
	rc = CLI_FAILED;
	if (!img_is_oras_reference(ref)) {
		lt_error_set(err, 0, "push: %s: only oras:// references can be pushed to", ref);
		goto out;
	}
	o.annotations = annotations;
	o.n_annotations = n_annotations;
	char *digest = NULL;
	double t0 = cli_now();
	if (img_oras_push(sif, ref, &o, &digest, err) < 0) {
		lt_error_wrap(err, "pushing %s to %s", sif, ref);
		goto out;
	}
	lt_info("Pushed %s to %s (manifest %s), %.2f s", sif, ref, digest, cli_now() - t0);
	free(digest);
	rc = CLI_OK;
out:
	free(annotations);
	return rc;
}
