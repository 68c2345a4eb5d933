/* `litho sif ...`: the SIF editing commands of `apptainer sif` / `siftool`, with the same
 * arguments (ID before the file) and the same output. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sif/sif.h"

static const char sif_usage[] =
    "Usage: litho sif COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands (as in siftool / apptainer sif):\n"
    "  new [OPTIONS] FILE            create an empty SIF image\n"
    "  add [OPTIONS] FILE OBJECT     add the contents of OBJECT ('-' = stdin) as a data object\n"
    "  del [--zero] [--compact] ID FILE   delete a data object\n"
    "  dump ID FILE                  write a data object to standard output\n"
    "  header FILE                   show the global header\n"
    "  info ID FILE                  show one data object descriptor\n"
    "  list FILE                     list the data object descriptors\n"
    "  setprim ID FILE               make a system partition the primary one\n"
    "\n"
    "new options:\n"
    "  --descriptors N        descriptor table capacity (default 48)\n"
    "  --launch-script TEXT   launch line (e.g. '#!/usr/bin/env run-singularity')\n"
    "  --deterministic        all-zero ID and fixed times (also when SOURCE_DATE_EPOCH is set)\n"
    "  --legacy               SIF v1 layout: data at 32768, every object aligned to 4096\n"
    "\n"
    "add options:\n"
    "  --datatype N           1 Deffile, 2 EnvVar, 3 Labels, 4 Partition, 5 Signature,\n"
    "                         6 GenericJSON, 7 Generic, 8 CryptoMessage, 9 SBOM,\n"
    "                         10 OCI.RootIndex, 11 OCI.Blob (required)\n"
    "  --partfs N             1 Squash, 2 Ext3, 3 ImmuObj, 4 Raw, 5 Encrypted squashfs\n"
    "  --parttype N           1 System, 2 PrimSys, 3 Data, 4 Overlay\n"
    "  --partarch A           1-386 2-amd64 3-arm 4-arm64 5-ppc64 6-ppc64le 7-mips 8-mipsle\n"
    "                         9-mips64 10-mips64le 11-s390x 12-riscv64 13-loong64 (or a name)\n"
    "  --signhash N           1 SHA256, 2 SHA384, 3 SHA512, 4 BLAKE2s_256, 5 BLAKE2b_256\n"
    "  --signentity HEX       signing entity fingerprint\n"
    "  --cryptformat N        1 OpenPGP, 2 PEM (crypto messages)\n"
    "  --cryptmessage N       256 Clear Signature, 512 RSA-OAEP (crypto messages)\n"
    "  --sbomformat NAME      cyclonedx-json, cyclonedx-xml, github-json, spdx-json, spdx-rdf,\n"
    "                         spdx-tag-value, spdx-yaml, syft-json\n"
    "  --groupid N            object group (default: none)\n"
    "  --link N               link to object N\n"
    "  --linkgroup N          link to group N\n"
    "  --alignment N          data alignment (default 4096 for partitions, none otherwise)\n"
    "  --filename NAME        object name (default: none)\n";

/* Opens `path`, runs `fn` and, for writers, commits the metadata. */
static int with_image(const char *path, bool writable, int (*fn)(sif_image *, void *, lt_error **),
		      void *arg, lt_error **err)
{
	sif_image *img = NULL;
	if (sif_open(path, writable, &img, err) < 0)
		return CLI_FAILED;
	int rc = fn(img, arg, err);
	if (rc == 0 && writable)
		rc = sif_commit(img, err);
	sif_close(img);
	return rc < 0 ? CLI_FAILED : CLI_OK;
}

static bool image_is_deterministic(const sif_image *img)
{
	static const uint8_t zero[16];
	const sif_header *h = sif_get_header(img);
	return h->created_at == SIF_ZERO_TIME && memcmp(h->id, zero, 16) == 0;
}

/* Keeps deterministic images deterministic when they are edited. */
static int64_t edit_time(const sif_image *img)
{
	return image_is_deterministic(img) ? SIF_ZERO_TIME : cli_sif_time();
}

/* ------------------------------------------------------------------------------------------ */

static int sif_new(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"descriptors", required_argument, NULL, 'n'},
	    {"launch-script", required_argument, NULL, 'l'},
	    {"deterministic", no_argument, NULL, 'D'},
	    {"legacy", no_argument, NULL, 'L'},
	    {NULL, 0, NULL, 0},
	};
	sif_create_opts co = {.time = cli_sif_time(), .deterministic = cli_reproducible()};
	int c;
	cli_getopt_reset();
	while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (lt_parse_int64(optarg, 1, SIF_MAX_DESCRIPTORS, "--descriptors",
					   &co.descriptors, err) < 0)
				return CLI_USAGE;
			break;
		case 'l':
			co.launch_script = optarg;
			break;
		case 'D':
			co.deterministic = true;
			break;
		case 'L':
			co.legacy = true;
			break;
		default:
			return cli_usage_error(err, sif_usage, "sif new: unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(err, sif_usage, "sif new: expected one FILE argument");
	const char *path = argv[optind];
	char *script = NULL;
	if (co.launch_script != NULL && !lt_str_has_suffix(co.launch_script, "\n"))
		co.launch_script = script = lt_strdup_printf("%s\n", co.launch_script);

	lt_atomic_file af;
	int rc = CLI_FAILED;
	if (lt_atomic_open(&af, path, 0755, err) == 0) {
		sif_image *img = NULL;
		if (sif_create_fd(af.fd, path, &co, &img, err) == 0) {
			sif_close(img);
			if (lt_atomic_commit(&af, err) == 0)
				rc = CLI_OK;
		} else {
			lt_atomic_abort(&af);
		}
	}
	free(script);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */

struct add_args {
	sif_object_spec spec;
	int src_fd;
};

static int do_add(sif_image *img, void *arg, lt_error **err)
{
	struct add_args *a = arg;
	a->spec.time = edit_time(img);
	return sif_add_from_fd(img, &a->spec, a->src_fd, err);
}

static int parse_entity(const char *hex, uint8_t *entity, lt_error **err)
{
	/* a 20-byte OpenPGP fingerprint, as siftool requires */
	size_t n = strlen(hex);
	if (n != 40)
		return lt_error_set(err, 0, "--signentity: '%s' is not a 40-digit hex fingerprint",
				    hex);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return lt_error_set(err, 0, "--signentity: '%s' is not a hex fingerprint",
					    hex);
		entity[i] = (uint8_t)v;
	}
	return 0;
}

static int sif_add(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"datatype", required_argument, NULL, 't'},
	    {"parttype", required_argument, NULL, 'p'},
	    {"partfs", required_argument, NULL, 'f'},
	    {"partarch", required_argument, NULL, 'a'},
	    {"signhash", required_argument, NULL, 'h'},
	    {"signentity", required_argument, NULL, 'e'},
	    {"cryptformat", required_argument, NULL, 'F'},
	    {"cryptmessage", required_argument, NULL, 'M'},
	    {"sbomformat", required_argument, NULL, 's'},
	    {"groupid", required_argument, NULL, 'g'},
	    {"link", required_argument, NULL, 'k'},
	    {"linkid", required_argument, NULL, 'k'},
	    {"linkgroup", required_argument, NULL, 'K'},
	    {"alignment", required_argument, NULL, 'A'},
	    {"filename", required_argument, NULL, 'n'},
	    {"name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct add_args a = {.spec = {.alignment = -1}};
	sif_object_spec *s = &a.spec;
	int32_t datatype = 0;
	bool have_fs = false, have_pt = false, have_hash = false;
	const char *arch = NULL;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case 't':
			r = cli_parse_i32(optarg, "--datatype", 1, 11, &datatype, err);
			break;
		case 'p':
			r = cli_parse_i32(optarg, "--parttype", 1, 4, &s->parttype, err);
			have_pt = true;
			break;
		case 'f':
			r = cli_parse_i32(optarg, "--partfs", 1, 6, &s->fstype, err);
			have_fs = true;
			break;
		case 'a':
			arch = sif_arch_from_go(optarg);
			if (arch == NULL)
				r = lt_error_set(err, 0, "--partarch: unknown architecture '%s'",
						 optarg);
			break;
		case 'h':
			r = cli_parse_i32(optarg, "--signhash", 1, 5, &s->hashtype, err);
			have_hash = true;
			break;
		case 'e':
			r = parse_entity(optarg, s->entity, err);
			break;
		case 'F':
			r = cli_parse_i32(optarg, "--cryptformat", 1, 2, &s->crypto_format, err);
			break;
		case 'M':
			r = cli_parse_i32(optarg, "--cryptmessage", 0, INT32_MAX,
					  &s->crypto_message, err);
			break;
		case 's':
			s->sbom_format = sif_sbom_format_from_name(optarg);
			if (s->sbom_format == 0)
				r = lt_error_set(err, 0, "--sbomformat: unknown SBOM format '%s'",
						 optarg);
			break;
		case 'g':
			r = cli_parse_u32(optarg, "--groupid", &s->group, err);
			break;
		case 'k':
		case 'K':
			r = cli_parse_u32(optarg, c == 'k' ? "--link" : "--linkgroup", &s->link,
					  err);
			s->link_is_group = c == 'K';
			break;
		case 'A':
			r = lt_parse_int64(optarg, 0, 1 << 30, "--alignment", &s->alignment, err);
			break;
		case 'n':
			s->name = optarg;
			break;
		default:
			return cli_usage_error(err, sif_usage, "sif add: unknown option");
		}
		if (r < 0)
			return CLI_USAGE;
	}
	if (argc - optind != 2)
		return cli_usage_error(err, sif_usage,
				       "sif add: expected FILE and OBJECT arguments");
	if (datatype == 0)
		return cli_usage_error(err, NULL, "sif add: --datatype is required (1-11)");
	s->datatype = 0x4000 + datatype;
	if (s->datatype == SIF_DATA_PARTITION) {
		if (!have_fs || !have_pt || arch == NULL)
			return cli_usage_error(
			    err, NULL,
			    "sif add: a partition needs --partfs, --parttype and "
			    "--partarch");
		s->arch = arch;
	} else if (have_fs || have_pt || arch != NULL) {
		return cli_usage_error(
		    err, NULL,
		    "sif add: --partfs/--parttype/--partarch apply to partitions "
		    "(--datatype 4) only");
	}
	if (s->datatype == SIF_DATA_SIGNATURE && !have_hash)
		return cli_usage_error(err, NULL, "sif add: a signature needs --signhash");
	if (s->datatype == SIF_DATA_SBOM && s->sbom_format == 0)
		return cli_usage_error(err, NULL, "sif add: an SBOM needs --sbomformat");

	const char *path = argv[optind], *object = argv[optind + 1];
	if (strcmp(object, "-") == 0) {
		a.src_fd = STDIN_FILENO;
	} else {
		a.src_fd = open(object, O_RDONLY | O_CLOEXEC);
		if (a.src_fd < 0) {
			lt_error_set(err, errno, "opening %s", object);
			return CLI_FAILED;
		}
	}
	int rc = with_image(path, true, do_add, &a, err);
	if (a.src_fd != STDIN_FILENO)
		close(a.src_fd);
	if (rc != CLI_OK)
		lt_error_wrap(err, "adding %s to %s", object, path);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */

struct id_args {
	uint32_t id;
	unsigned flags;
};

static int do_del(sif_image *img, void *arg, lt_error **err)
{
	struct id_args *a = arg;
	return sif_delete_object(img, a->id, a->flags, edit_time(img), err);
}

static int do_setprim(sif_image *img, void *arg, lt_error **err)
{
	struct id_args *a = arg;
	return sif_set_primary(img, a->id, edit_time(img), err);
}

static int do_dump(sif_image *img, void *arg, lt_error **err)
{
	struct id_args *a = arg;
	const sif_descriptor *d = NULL;
	if (sif_lookup_id(img, a->id, &d, err) < 0)
		return -1;
	fflush(stdout);
	return sif_dump_object(img, d, STDOUT_FILENO, err);
}

static int do_info(sif_image *img, void *arg, lt_error **err)
{
	struct id_args *a = arg;
	return sif_print_info(stdout, img, a->id, err);
}

static int do_header(sif_image *img, void *arg, lt_error **err)
{
	sif_print_header(stdout, img);
	return 0;
}

static int do_list(sif_image *img, void *arg, lt_error **err)
{
	sif_print_list(stdout, img);
	return 0;
}

/* The commands that take "[ID] FILE" and nothing else (del also takes two flags). */
static int sif_simple(const char *name, int argc, char **argv, bool takes_id, bool writable,
		      int (*fn)(sif_image *, void *, lt_error **), lt_error **err)
{
	static const struct option del_opts[] = {
	    {"zero", no_argument, NULL, 'z'},
	    {"compact", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	static const struct option no_opts[] = {{NULL, 0, NULL, 0}};
	struct id_args a = {0};
	bool is_del = strcmp(name, "del") == 0;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long_only(argc, argv, "", is_del ? del_opts : no_opts, NULL)) != -1) {
		if (c == 'z')
			a.flags |= SIF_DELETE_ZERO;
		else if (c == 'c')
			a.flags |= SIF_DELETE_COMPACT;
		else
			return cli_usage_error(err, sif_usage, "sif %s: unknown option", name);
	}
	int want = takes_id ? 2 : 1;
	if (argc - optind != want)
		return cli_usage_error(err, sif_usage, "sif %s: expected %s", name,
				       takes_id ? "ID and FILE arguments" : "one FILE argument");
	if (takes_id && cli_parse_u32(argv[optind], "object ID", &a.id, err) < 0)
		return CLI_USAGE;
	int rc = with_image(argv[optind + want - 1], writable, fn, &a, err);
	if (fflush(stdout) != 0 && rc == CLI_OK) {
		lt_error_set(err, errno, "writing standard output");
		rc = CLI_FAILED;
	}
	return rc;
}

int cli_cmd_sif(int argc, char **argv, lt_error **err)
{
	if (argc < 2)
		return cli_usage_error(err, sif_usage, "sif: missing command");
	const char *sub = argv[1];
	argc--;
	argv++;
	if (strcmp(sub, "new") == 0)
		return sif_new(argc, argv, err);
	if (strcmp(sub, "add") == 0)
		return sif_add(argc, argv, err);
	if (strcmp(sub, "del") == 0)
		return sif_simple(sub, argc, argv, true, true, do_del, err);
	if (strcmp(sub, "dump") == 0)
		return sif_simple(sub, argc, argv, true, false, do_dump, err);
	if (strcmp(sub, "header") == 0)
		return sif_simple(sub, argc, argv, false, false, do_header, err);
	if (strcmp(sub, "info") == 0)
		return sif_simple(sub, argc, argv, true, false, do_info, err);
	if (strcmp(sub, "list") == 0)
		return sif_simple(sub, argc, argv, false, false, do_list, err);
	if (strcmp(sub, "setprim") == 0)
		return sif_simple(sub, argc, argv, true, true, do_setprim, err);
	if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(sif_usage, stdout);
		return CLI_OK;
	}
	return cli_usage_error(err, sif_usage, "sif: unknown command '%s'", sub);
}
