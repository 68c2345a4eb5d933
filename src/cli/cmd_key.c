/* `litho key newpair|list|import|export|remove`: Apptainer's local OpenPGP keyring. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_sign.h"

static const char key_usage[] =
    "Usage: litho key COMMAND [OPTIONS]\n"
    "\n"
    "The OpenPGP keyring of `sign` and `verify`: pgp-public and pgp-secret in the keys folder\n"
    "($LITHO_KEYSDIR, $APPTAINER_KEYSDIR, else ~/.apptainer/keys; -d/--keysdir DIR), shared\n"
    "with Apptainer.\n"
    "\n"
    "Commands:\n"
    "  newpair [-N NAME] [-E EMAIL] [-C COMMENT] [-P PASSPHRASE] [-b BITS]\n"
    "                       make an RSA key pair (default 4096 bits); asks what is missing\n"
    "  list [-s|--secret]   list the public (or secret) keys\n"
    "  import FILE          add the keys of FILE (binary or ASCII armored)\n"
    "  export [-s] [-a|--armor] [FINGERPRINT|INDEX] FILE\n"
    "                       write one key to FILE\n"
    "  remove [-p|--public] [-s|--secret] [-b|--both] FINGERPRINT\n"
    "                       remove a key (default: the public one)\n";

static char *ask_default(const char *flag, const char *question, lt_error **err)
{
	return flag ? lt_xstrdup(flag) : cli_ask(question, false, err);
}

static int newpair(int argc, char **argv, const char *dir, lt_error **err)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'N'},
	    {"email", required_argument, NULL, 'E'},
	    {"comment", required_argument, NULL, 'C'},
	    {"password", required_argument, NULL, 'P'},
	    {"bit-length", required_argument, NULL, 'b'},
	    {"keysdir", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *email = NULL, *comment = NULL, *pass = NULL;
	int32_t bits = 4096;
	char *n = NULL, *e = NULL, *c = NULL, *p = NULL;
	int rc = CLI_USAGE, opt;
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "N:E:C:P:b:d:", opts, NULL)) != -1) {
		switch (opt) {
		case 'N':
			name = optarg;
			break;
		case 'E':
			email = optarg;
			break;
		case 'C':
			comment = optarg;
			break;
		case 'P':
			pass = optarg;
			break;
		case 'b':
			if (cli_parse_i32(optarg, "--bit-length", 1024, 4096, &bits, err) < 0)
				return CLI_USAGE;
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			return cli_usage_error(err, key_usage, "key newpair: unknown option");
		}
	}
	rc = CLI_FATAL;
	if (!(n = ask_default(name, "Enter your name (e.g., John Doe) : ", err)) ||
	    !(e = ask_default(email,
			      "Enter your email address (e.g., john.doe@example.com) : ", err)) ||
	    !(c = ask_default(comment, "Enter optional comment (e.g., development keys) : ", err)))
		goto out;
	if (pass != NULL)
		p = lt_xstrdup(pass);
	else if (!(p = cli_ask("Enter a passphrase : ", true, err)))
		goto out;
	sign_newpair_opts o = {n, e, c, p, (unsigned)bits};
	char fpr[SIGN_FPR_LEN + 1];
	char *d = dir ? lt_xstrdup(dir) : sign_keyring_dir();
	printf("Generating Entity and OpenPGP Key Pair... ");
	fflush(stdout);
	int r = sign_keyring_newpair(d, &o, fpr, err);
	free(d);
	if (r < 0) {
		printf("\n");
		lt_error_wrap(err, "creating newpair failed");
		goto out;
	}
	printf("done\nKey fingerprint: %s\n", fpr);
	rc = CLI_OK;
out:
	free(n);
	free(e);
	free(c);
	if (p)
		explicit_bzero(p, strlen(p));
	free(p);
	return rc;
}

int cli_cmd_key(int argc, char **argv, lt_error **err)
{
	static const struct option opts[] = {
	    {"secret", no_argument, NULL, 's'},
	    {"public", no_argument, NULL, 'p'},
	    {"both", no_argument, NULL, 'b'},
	    {"armor", no_argument, NULL, 'a'},
	    {"keysdir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(key_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? cli_usage_error(err, NULL, "key: expected a command") : CLI_OK;
	}
	const char *sub = argv[1];
	const char *dir_opt = NULL;
	if (strcmp(sub, "newpair") == 0)
		return newpair(argc - 1, argv + 1, NULL, err);
	bool secret = false, pub = false, both = false, armor = false;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc - 1, argv + 1, "spbad:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			secret = true;
			break;
		case 'p':
			pub = true;
			break;
		case 'b':
			both = true;
			break;
		case 'a':
			armor = true;
			break;
		case 'd':
			dir_opt = optarg;
			break;
		case 'h':
			fputs(key_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(err, key_usage, "key %s: unknown option", sub);
		}
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	char *dir = dir_opt ? lt_xstrdup(dir_opt) : sign_keyring_dir();
	int rc = CLI_FATAL;
	if (strcmp(sub, "list") == 0 && nargs == 0) {
		sign_pgp_list l;
		if (sign_keyring_list(dir, secret, &l, err) == 0) {
			char *path = lt_path_join(dir, secret ? "pgp-secret" : "pgp-public");
			sign_print_keys(stdout, path, secret, &l);
			free(path);
			sign_pgp_list_free(&l);
			rc = CLI_OK;
		} else {
			lt_error_wrap(err, "While listing keys");
		}
	} else if (strcmp(sub, "import") == 0 && nargs == 1) {
		if (sign_keyring_import(dir, args[0], stdout, err) == 0)
			rc = CLI_OK;
		else
			lt_error_wrap(err, "key import command failed");
	} else if (strcmp(sub, "export") == 0 && (nargs == 1 || nargs == 2)) {
		if (sign_keyring_export(dir, secret, armor, nargs == 2 ? args[0] : NULL,
					args[nargs - 1], stdout, err) == 0)
			rc = CLI_OK;
		else
			lt_error_wrap(err, "key export command failed");
	} else if (strcmp(sub, "remove") == 0 && nargs == 1) {
		bool p = both || pub || !secret, s = both || secret;
		if (sign_keyring_remove(dir, args[0], p, s, stdout, err) == 0)
			rc = CLI_OK;
		else
			lt_error_wrap(err, "Unable to remove key");
	} else {
		rc = cli_usage_error(err, key_usage, "key %s: unknown command or wrong arguments",
				     sub);
	}
	free(dir);
	return rc;
}
