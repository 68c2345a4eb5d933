/* `litho sign` and `litho verify`: Apptainer's flags and messages over the sign module. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_sign.h"

static const char sign_usage[] =
    "Usage: litho sign [OPTIONS] IMAGE.sif\n"
    "\n"
    "Adds signatures to a SIF image: one per object group, over its objects and descriptors.\n"
    "\n"
    "Options:\n"
    "      --key FILE       sign with this PEM private key (DSSE; also APPTAINER_SIGN_KEY)\n"
    "  -k, --keyidx N       OpenPGP key to use (index from `litho key list --secret`)\n"
    "      --keyring DIR    OpenPGP keyring folder (default: $APPTAINER_KEYSDIR or\n"
    "                       ~/.apptainer/keys)\n"
    "  -g, --group-id N     sign the objects of group N\n"
    "  -i, --sif-id N       sign object N\n"
    "  -a, --all            sign even where an earlier signature no longer matches\n";

static const char verify_usage[] =
    "Usage: litho verify [OPTIONS] IMAGE.sif\n"
    "\n"
    "Checks the signatures of a SIF image and shows what they cover and who made them.\n"
    "\n"
    "Options:\n"
    "      --key FILE       PEM public key for DSSE signatures (also APPTAINER_VERIFY_KEY)\n"
    "      --certificate FILE  PEM certificate whose key made DSSE signatures\n"
    "      --certificate-intermediates FILE, --certificate-roots FILE\n"
    "                       its chain (default roots: the system's)\n"
    "      --keyring DIR    OpenPGP keyring folder (default: $APPTAINER_KEYSDIR or\n"
    "                       ~/.apptainer/keys)\n"
    "  -g, --group-id N     verify the objects of group N\n"
    "  -i, --sif-id N       verify object N\n"
    "  -a, --all            with --legacy-insecure: every object of every group\n"
    "      --legacy-insecure  check legacy signatures (object data only)\n"
    "  -j, --json           print the result as JSON\n"
    "  -l, --local          only local keys (always the case)\n";

enum {
	OPT_KEY = 0x200,
	OPT_KEYRING,
	OPT_CERT,
	OPT_INTERMEDIATES,
	OPT_ROOTS,
	OPT_OCSP,
	OPT_LEGACY,
	OPT_URL,
};

static const char *env_either(const char *a, const char *b)
{
	const char *v = lt_env_nonempty(a);
	return v ? v : lt_env_nonempty(b);
}

static int ids_option(const char *arg, const char *what, uint32_t **v, size_t *n, lt_error **err)
{
	uint32_t id;
	if (cli_parse_u32(arg, what, &id, err) < 0)
		return -1;
	*v = lt_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = id;
	return 0;
}

int cli_cmd_sign(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, OPT_KEY},
	    {"keyidx", required_argument, NULL, 'k'},
	    {"keyring", required_argument, NULL, OPT_KEYRING},
	    {"group-id", required_argument, NULL, 'g'},
	    {"groupid", required_argument, NULL, 'g'},
	    {"sif-id", required_argument, NULL, 'i'},
	    {"id", required_argument, NULL, 'i'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	sign_opts o = {.keyidx = -1,
		       .select = cli_ask_key,
		       .passphrase = cli_ask_passphrase,
		       .time = cli_sif_time()};
	uint32_t *groups = NULL, *objects = NULL;
	const char *key_path = env_either("LITHO_SIGN_KEY", "APPTAINER_SIGN_KEY");
	sign_key *key = NULL;
	int rc = CLI_USAGE, c;
	int32_t idx;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "k:g:i:ah", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KEY:
			key_path = optarg;
			break;
		case 'k':
			if (cli_parse_i32(optarg, "--keyidx", 0, INT32_MAX, &idx, err) < 0)
				goto out;
			o.keyidx = idx;
			break;
		case OPT_KEYRING:
			o.keyring_dir = optarg;
			break;
		case 'g':
			if (ids_option(optarg, "--group-id", &groups, &o.n_groups, err) < 0)
				goto out;
			break;
		case 'i':
			if (ids_option(optarg, "--sif-id", &objects, &o.n_objects, err) < 0)
				goto out;
			break;
		case 'a':
			o.all = true;
			break;
		case 'h':
			fputs(sign_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, sign_usage, "sign: unknown option");
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = cli_usage_error(err, sign_usage, "sign: expected one IMAGE");
		goto out;
	}
	const char *image = argv[optind];
	o.groups = groups;
	o.objects = objects;
	rc = CLI_FATAL;
	if (key_path != NULL) {
		lt_info("Signing image with key material from '%s'", key_path);
		if (sign_key_load_private(key_path, cli_ask_passphrase, NULL, &key, err) < 0) {
			lt_error_wrap(err, "Failed to load key material");
			goto out;
		}
		o.key = key;
	} else {
		lt_info("Signing image with PGP key material");
	}
	if (sign_image(image, &o, err) < 0) {
		lt_error_wrap(err, "Failed to sign container");
		goto out;
	}
	lt_info("Signature created and applied to image '%s'", image);
	rc = CLI_OK;
out:
	sign_key_free(key);
	free(groups);
	free(objects);
	return rc;
}

typedef struct verify_out {
	sign_json *json;
} verify_out;

static void on_result(const sif_image *img, const sign_result *r, void *ctx)
{
	verify_out *vo = ctx;
	if (vo->json)
		sign_json_add(vo->json, img, r);
	else
		sign_print_result(stdout, img, r);
}

int cli_cmd_verify(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, OPT_KEY},
	    {"certificate", required_argument, NULL, OPT_CERT},
	    {"certificate-intermediates", required_argument, NULL, OPT_INTERMEDIATES},
	    {"certificate-roots", required_argument, NULL, OPT_ROOTS},
	    {"ocsp-verify", no_argument, NULL, OPT_OCSP},
	    {"keyring", required_argument, NULL, OPT_KEYRING},
	    {"group-id", required_argument, NULL, 'g'},
	    {"groupid", required_argument, NULL, 'g'},
	    {"sif-id", required_argument, NULL, 'i'},
	    {"id", required_argument, NULL, 'i'},
	    {"all", no_argument, NULL, 'a'},
	    {"legacy-insecure", no_argument, NULL, OPT_LEGACY},
	    {"json", no_argument, NULL, 'j'},
	    {"local", no_argument, NULL, 'l'},
	    {"url", required_argument, NULL, OPT_URL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	sign_verify_opts o = {0};
	uint32_t *groups = NULL, *objects = NULL;
	const char *key_path = env_either("LITHO_VERIFY_KEY", "APPTAINER_VERIFY_KEY");
	const char *cert = env_either("LITHO_VERIFY_CERTIFICATE", "APPTAINER_VERIFY_CERTIFICATE");
	const char *inter =
	    env_either("LITHO_VERIFY_INTERMEDIATES", "APPTAINER_VERIFY_INTERMEDIATES");
	const char *roots = env_either("LITHO_VERIFY_ROOTS", "APPTAINER_VERIFY_ROOTS");
	bool json = false;
	sign_key *key = NULL;
	verify_out vo = {0};
	sif_image *img = NULL;
	int rc = CLI_USAGE, c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "g:i:ajlu:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KEY:
			key_path = optarg;
			break;
		case OPT_CERT:
			cert = optarg;
			break;
		case OPT_INTERMEDIATES:
			inter = optarg;
			break;
		case OPT_ROOTS:
			roots = optarg;
			break;
		case OPT_OCSP:
			rc = cli_usage_error(err, NULL,
					     "verify: --ocsp-verify is not supported (litho checks "
					     "certificates offline only)");
			goto out;
		case OPT_KEYRING:
			o.keyring_dir = optarg;
			break;
		case 'g':
			if (ids_option(optarg, "--group-id", &groups, &o.n_groups, err) < 0)
				goto out;
			break;
		case 'i':
			if (ids_option(optarg, "--sif-id", &objects, &o.n_objects, err) < 0)
				goto out;
			break;
		case 'a':
			o.all = true;
			break;
		case OPT_LEGACY:
			o.legacy = true;
			break;
		case 'j':
			json = true;
			break;
		case 'l':
			break;
		case 'u':
		case OPT_URL:
			lt_warn("verify: key servers are not supported; only the local keyring is "
				"used");
			break;
		case 'h':
			fputs(verify_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error(err, verify_usage, "verify: unknown option");
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = cli_usage_error(err, verify_usage, "verify: expected one IMAGE");
		goto out;
	}
	const char *image = argv[optind];
	o.groups = groups;
	o.objects = objects;
	rc = CLI_FATAL;
	if (cert != NULL) {
		lt_info("Verifying image with key material from certificate '%s'", cert);
		if (sign_key_load_certificate(cert, inter, roots, &key, err) < 0) {
			lt_error_wrap(err, "Failed to load certificate");
			goto out;
		}
	} else if (key_path != NULL) {
		lt_info("Verifying image with key material from '%s'", key_path);
		if (sign_key_load_public(key_path, &key, err) < 0) {
			lt_error_wrap(err, "Failed to load key material");
			goto out;
		}
	} else {
		lt_info("Verifying image with PGP key material");
		o.pgp = true;
	}
	const sign_key *keys[1] = {key};
	o.keys = key ? keys : NULL;
	o.n_keys = key ? 1 : 0;
	if (json)
		vo.json = sign_json_new();
	o.on_result = on_result;
	o.ctx = &vo;
	if (sif_open(image, false, &img, err) < 0)
		goto out;
	int v = sign_verify(img, &o, err);
	if (json)
		sign_json_print(stdout, vo.json);
	if (v < 0) {
		lt_error_wrap(err, "Failed to verify container");
		goto out;
	}
	lt_info("Verified signature(s) from image '%s'", image);
	rc = CLI_OK;
out:
	sif_close(img);
	sign_json_free(vo.json);
	sign_key_free(key);
	free(groups);
	free(objects);
	return rc;
}
