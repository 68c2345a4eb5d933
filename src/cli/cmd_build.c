/* `litho build OUT.sif SOURCE`: a SIF from a layered image on disk. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build/build.h"
#include "cli/cli.h"
#include "sif/sif.h"

static const char build_usage[] =
    "Usage: litho build [OPTIONS] OUT.sif|OUT-DIR SOURCE\n"
    "\n"
    "SOURCE:\n"
    "  docker://[HOST/]NAME[:TAG|@DIGEST]  image in a registry (Docker Hub by default)\n"
    "  oras://HOST/NAME[:TAG]           SIF stored in a registry (copied as it is)\n"
    "  oci:DIR[:TAG|@DIGEST]            OCI image layout\n"
    "  oci-archive:FILE[:TAG]           OCI image layout in a tar file\n"
    "  docker-archive:FILE[:NAME:TAG]   `docker save` output (plain or compressed)\n"
    "  FILE.def                         a definition file (Apptainer's format)\n"
    "  DIR                              a sandbox (root file system) directory\n"
    "  FILE.sif                         a SIF image (with --sandbox)\n"
    "\n"
    "Options:\n"
    "  -F, --force                overwrite OUT.sif if it exists\n"
    "  -s, --sandbox              write a directory (a sandbox) instead of a SIF\n"
    "\n"
    "Definition files:\n"
    "      --build-arg K=V        value for {{ K }} (repeatable)\n"
    "      --build-arg-file FILE  K=V lines\n"
    "      --warn-unused-build-args  warn instead of failing on unused build args\n"
    "  -T, --notest               skip %test\n"
    "      --writable-tmpfs       run %test with a writable tmpfs overlay (changes are lost)\n"
    "      --section A[,B]        run only these sections (setup, files, post, environment,\n"
    "                             runscript, startscript, test, labels, help; none)\n"
    "  -u, --update               build into an existing sandbox (skips the bootstrap)\n"
    "      --fix-perms            give the owner rwX on everything in the output\n"
    "  -B, --bind SRC[:DST[:ro]]  bind a host path for %post and %test (repeatable)\n"
    "\n"
    "Image options:\n" CLI_CONVERT_USAGE CLI_REGISTRY_USAGE;

double cli_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void cli_report_build(const build_opts *o, const build_report *rep, bool from_cache, double t0)
{
	double secs = cli_now() - t0;
	if (img_is_oras_reference(o->source))
		lt_info("Downloaded %s from %s, %.2f s", o->output, o->source, secs);
	else if (from_cache)
		lt_info("Copied %s from the cache (%s unchanged), %.2f s", o->output, o->source,
			secs);
	else if (o->sandbox)
		lt_info("Created the sandbox %s from %s, %.2f s", o->output, o->source, secs);
	else if (rep->stages > 0)
		lt_info(
		    "Created %s from %s: %zu stage(s), %.1f MiB of files, SquashFS %.1f MiB "
		    "(%s), %.2f s",
		    o->output, o->source, rep->stages, (double)rep->file_bytes / 1048576.0,
		    (double)rep->image_bytes / 1048576.0,
		    sq_compressor_name(o->squash.compressor ? o->squash.compressor : SQ_COMP_ZSTD),
		    secs);
	else
		lt_info(
		    "Created %s from %s: %zu layer(s), %.1f MiB of files, SquashFS %.1f MiB "
		    "(%s), %.2f s",
		    o->output, o->source, rep->layers, (double)rep->file_bytes / 1048576.0,
		    (double)rep->image_bytes / 1048576.0,
		    sq_compressor_name(o->squash.compressor ? o->squash.compressor : SQ_COMP_ZSTD),
		    secs);
}

int cli_cmd_build(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'F'},
	    {"sandbox", no_argument, NULL, 's'},
	    {"build-arg", required_argument, NULL, 'A'},
	    {"build-arg-file", required_argument, NULL, 'a'},
	    {"warn-unused-build-args", no_argument, NULL, 'W'},
	    {"notest", no_argument, NULL, 'T'},
	    {"writable-tmpfs", no_argument, NULL, 'w'},
	    {"section", required_argument, NULL, 'S'},
	    {"update", no_argument, NULL, 'u'},
	    {"fix-perms", no_argument, NULL, 'P'},
	    {"bind", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    CLI_CONVERT_OPTIONS,
	    CLI_REGISTRY_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	build_opts o = {.deterministic = cli_reproducible(),
			.writable_tmpfs =
			    cli_env_flag("APPTAINER_WRITABLE_TMPFS", "LITHO_WRITABLE_TMPFS")};
	cli_registry_defaults(&o.registry);
	const char **build_args = NULL, **binds = NULL;
	size_t n_args = 0, n_binds = 0;
	int c, rc = CLI_USAGE;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "FsTuB:j:h", opts, NULL)) != -1) {
		int r = cli_common_option(c, optarg, &o, &o.registry, err);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case 'F':
			o.force = true;
			break;
		case 's':
			o.sandbox = true;
			break;
		case 'A':
			if (strchr(optarg, '=') == NULL) {
				rc = cli_usage_error(err, NULL, "--build-arg '%s': expected K=V",
						     optarg);
				goto out;
			}
			cli_push_arg(&build_args, &n_args, optarg);
			break;
		case 'a':
			o.build_arg_file = optarg;
			break;
		case 'W':
			o.warn_unused_build_args = true;
			break;
		case 'T':
			o.notest = true;
			break;
		case 'w':
			o.writable_tmpfs = true;
			break;
		case 'S':
			o.sections = optarg;
			break;
		case 'u':
			o.update = true;
			break;
		case 'P':
			o.fix_perms = true;
			break;
		case 'B':
			cli_push_arg(&binds, &n_binds, optarg);
			break;
		case 'h':
			fputs(build_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, build_usage, "build: unknown option");
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = cli_usage_error(err, build_usage, "build: expected OUT.sif and SOURCE");
		goto out;
	}
	o.output = argv[optind];
	o.source = argv[optind + 1];
	o.build_args = build_args;
	o.n_build_args = n_args;
	o.binds = binds;
	o.n_binds = n_binds;
	o.build_time = cli_convert_time(&o);

	double t0 = cli_now();
	build_report rep;
	if (build_sif(&o, &rep, err) < 0) {
		rc = CLI_FAILED;
		goto out;
	}
	cli_report_build(&o, &rep, rep.from_cache, t0);
	rc = CLI_OK;
out:
	free(build_args);
	free(binds);
	return rc;
}
