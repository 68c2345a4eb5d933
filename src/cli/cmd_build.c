/* `litho build OUT.sif SOURCE`: a SIF from a layered image on disk. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build.h"
#include "cli.h"
#include "sif.h"

static const char build_usage[] =
    "Usage: litho build [OPTIONS] OUT.sif SOURCE\n"
    "\n"
    "SOURCE:\n"
    "  oci:DIR[:TAG|@DIGEST]            OCI image layout\n"
    "  oci-archive:FILE[:TAG]           OCI image layout in a tar file\n"
    "  docker-archive:FILE[:NAME:TAG]   `docker save` output (plain or compressed)\n"
    "\n"
    "Options:\n"
    "  -F, --force                overwrite OUT.sif if it exists\n"
    "      --compression NAME     zstd (default), gzip (most portable), xz, lz4, lzo\n"
    "      --compression-level N  compressor level (zstd default 3, gzip 9, xz 6)\n"
    "      --block-size N         SquashFS block size in bytes (default 131072; K/M allowed)\n"
    "  -j, --jobs N               compression threads (default: all CPUs)\n"
    "      --arch ARCH            platform for multi-arch images (default: this machine's)\n"
    "      --platform OS/ARCH[/VARIANT]\n"
    "      --reproducible         all-zero image ID and fixed times (also when\n"
    "                             SOURCE_DATE_EPOCH is set, which also dates the files)\n";

static int parse_size(const char *s, uint32_t *out, lt_error **err)
{
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return lt_error_set(err, 0, "--block-size: '%s' is not a size", s);
	if (*end == 'K' || *end == 'k')
		v *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		v *= 1024 * 1024, end++;
	if (*end != '\0' || v > UINT32_MAX)
		return lt_error_set(err, 0, "--block-size: '%s' is not a size", s);
	*out = (uint32_t)v;
	return 0;
}

/* "linux/arm64/v8" -> os, arch, variant (pointers into a copy kept by the caller). */
static int parse_platform(char *s, img_platform *p, lt_error **err)
{
	char *arch = strchr(s, '/');
	if (arch == NULL)
		return lt_error_set(err, 0, "--platform: '%s' is not OS/ARCH[/VARIANT]", s);
	*arch++ = '\0';
	char *variant = strchr(arch, '/');
	if (variant)
		*variant++ = '\0';
	p->os = s;
	p->arch = arch;
	p->variant = variant;
	return 0;
}

int cmd_build(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'F'},
	    {"compression", required_argument, NULL, 'c'},
	    {"compression-level", required_argument, NULL, 'l'},
	    {"block-size", required_argument, NULL, 'b'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"arch", required_argument, NULL, 'a'},
	    {"platform", required_argument, NULL, 'p'},
	    {"reproducible", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	build_opts o = {.deterministic = cli_reproducible()};
	char *platform = NULL;
	int c, rc = CLI_USAGE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "Fj:h", opts, NULL)) != -1) {
		int64_t v = 0;
		switch (c) {
		case 'F':
			o.force = true;
			break;
		case 'c':
			if (sq_parse_compressor(optarg, &o.squash.compressor, err) < 0)
				goto out;
			break;
		case 'l':
			if (lt_parse_int64(optarg, 0, 22, "--compression-level", &v, err) < 0)
				goto out;
			o.squash.level = (int)v;
			break;
		case 'b':
			if (parse_size(optarg, &o.squash.block_size, err) < 0)
				goto out;
			break;
		case 'j':
			if (lt_parse_int64(optarg, 1, 1024, "--jobs", &v, err) < 0)
				goto out;
			o.squash.jobs = (unsigned)v;
			break;
		case 'a':
			o.platform.arch = optarg;
			break;
		case 'p':
			free(platform);
			platform = lt_xstrdup(optarg);
			if (parse_platform(platform, &o.platform, err) < 0)
				goto out;
			break;
		case 'r':
			o.deterministic = true;
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
	o.build_time = cli_build_time();
	if (o.deterministic && !cli_reproducible())
		o.build_time = -1; /* derived from the image by the build */

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	build_report rep;
	if (build_sif(&o, &rep, err) < 0) {
		rc = CLI_FAILED;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	lt_info("Created %s from %s: %zu layer(s), %.1f MiB of files, SquashFS %.1f MiB (%s), "
		"%.2f s",
		o.output, o.source, rep.layers, (double)rep.file_bytes / 1048576.0,
		(double)rep.image_bytes / 1048576.0,
		sq_compressor_name(o.squash.compressor ? o.squash.compressor : SQ_COMP_ZSTD), secs);
	rc = CLI_OK;
out:
	free(platform);
	return rc;
}
