/* OpenPGP through GPGME. GPGME drives GnuPG, which wants a home directory with its own keyring
 * and agent; Apptainer's keyring is two plain OpenPGP files. So every operation runs in a
 * temporary GnuPG home (mode 0700 under $TMPDIR) holding only what the operation imported;
 * sign_pgp_close() stops its agent and removes it. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sign_internal.h"

extern char **environ;

struct sign_pgp {
	char *home;
	int cleanup_slot;
	gpgme_ctx_t ctx;
	/* the passphrase callback's user function and its failure */
	sign_passphrase_fn pass;
	void *pass_ctx;
	lt_error *pass_err;
};

static int gpg_error_set(lt_error **err, gpgme_error_t e, const char *what)
{
	return lt_error_set(err, 0, "%s: %s", what, gpgme_strerror(e));
}

static int write_file(const char *dir, const char *name, const char *text, lt_error **err)
{
	char *path = lt_path_join(dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = fd < 0 ? lt_error_set(err, errno, "%s", path)
			: lt_write_all(fd, text, strlen(text), path, err);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int sign_pgp_open(sign_pgp **out, lt_error **err)
{
	const char *why = NULL;
	if (dlib_gpgme_try(&why) == NULL)
		return lt_error_set(err, 0, "OpenPGP signatures need GPGME: %s", why);
	gpgme_check_version_internal(NULL, offsetof(struct _gpgme_signature, validity));
	gpgme_error_t e = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (e != 0)
		return lt_error_set(err, 0, "OpenPGP signatures need GnuPG 2 (package gnupg): %s",
				    gpgme_strerror(e));
	const char *tmp = lt_env_nonempty("TMPDIR");
	sign_pgp *p = lt_xcalloc(1, sizeof(*p));
	/* short: gpg-agent's socket path must fit a sockaddr_un */
	p->home = lt_strdup_printf("%s/litho-gpg.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (mkdtemp(p->home) == NULL) {
		lt_error_set(err, errno, "cannot make a temporary GnuPG home %s", p->home);
		free(p->home);
		free(p);
		return -1;
	}
	p->cleanup_slot = lt_cleanup_register(p->home);
	/* keys are trusted because the user's keyring holds them, as Apptainer trusts it */
	if (write_file(p->home, "gpg.conf",
		       "trust-model always\nno-greeting\nno-auto-key-locate\n"
		       "personal-digest-preferences SHA256\ndigest-algo SHA256\n"
		       "cert-digest-algo SHA256\n",
		       err) < 0 ||
	    write_file(p->home, "gpg-agent.conf", "allow-loopback-pinentry\n", err) < 0)
		goto fail;
	if ((e = gpgme_new(&p->ctx)) != 0 ||
	    (e = gpgme_ctx_set_engine_info(p->ctx, GPGME_PROTOCOL_OpenPGP, NULL, p->home)) != 0) {
		gpg_error_set(err, e, "cannot start GPGME");
		goto fail;
	}
	gpgme_set_armor(p->ctx, 0);
	*out = p;
	return 0;
fail:
	sign_pgp_close(p);
	return -1;
}

/* Stops the agent GnuPG may have started for the temporary home. */
static void kill_agent(const char *home)
{
	char *gpgconf = lt_which("gpgconf");
	if (gpgconf == NULL)
		return;
	char *argv[] = {gpgconf, "--homedir", (char *)home, "--kill", "gpg-agent", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	if (posix_spawn(&pid, gpgconf, &fa, NULL, argv, environ) == 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	posix_spawn_file_actions_destroy(&fa);
	free(gpgconf);
}

void sign_pgp_close(sign_pgp *p)
{
	if (p == NULL)
		return;
	if (p->ctx != NULL)
		gpgme_release(p->ctx);
	struct stat st;
	char *agent = lt_path_join(p->home, "private-keys-v1.d");
	if (stat(agent, &st) == 0)
		kill_agent(p->home);
	free(agent);
	lt_remove_tree(p->home);
	lt_cleanup_unregister(p->cleanup_slot);
	lt_error_free(&p->pass_err);
	free(p->home);
	free(p);
}

static gpgme_error_t passphrase_cb(void *hook, const char *uid_hint, const char *info,
				   int prev_was_bad, int fd)
{
	sign_pgp *p = hook;
	char *pw = NULL;
	if (prev_was_bad) {
		lt_error_set(&p->pass_err, 0, "wrong passphrase for the key");
		return gpg_error(GPG_ERR_BAD_PASSPHRASE);
	}
	if (p->pass == NULL) {
		lt_error_set(&p->pass_err, 0, "the key is protected and no passphrase was given");
		return gpg_error(GPG_ERR_CANCELED);
	}
	if (p->pass("Enter key passphrase : ", &pw, p->pass_ctx, &p->pass_err) < 0)
		return gpg_error(GPG_ERR_CANCELED);
	size_t n = strlen(pw);
	bool ok = gpgme_io_writen(fd, pw, n) == 0 && gpgme_io_writen(fd, "\n", 1) == 0;
	explicit_bzero(pw, n);
	free(pw);
	return ok ? 0 : gpg_error(GPG_ERR_CANCELED);
}

static void use_passphrase(sign_pgp *p, sign_passphrase_fn pass, void *ctx)
{
	p->pass = pass;
	p->pass_ctx = ctx;
	gpgme_set_pinentry_mode(p->ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	gpgme_set_passphrase_cb(p->ctx, passphrase_cb, p);
}

/* The error of a failed operation: the passphrase callback's own, else GPGME's. */
static int op_error(sign_pgp *p, gpgme_error_t e, const char *what, lt_error **err)
{
	if (p->pass_err != NULL) {
		lt_error_move(err, &p->pass_err);
		return lt_error_wrap(err, "%s", what);
	}
	return gpg_error_set(err, e, what);
}

int sign_pgp_import(sign_pgp *p, const uint8_t *data, size_t len, lt_error **err)
{
	gpgme_data_t d;
	gpgme_error_t e = gpgme_data_new_from_mem(&d, (const char *)data, len, 0);
	if (e == 0) {
		e = gpgme_op_import(p->ctx, d);
		gpgme_data_release(d);
	}
	return e ? gpg_error_set(err, e, "cannot read the keys") : 0;
}

int sign_pgp_import_file(sign_pgp *p, const char *path, lt_error **err)
{
	char *data = NULL;
	size_t len = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (lt_read_file(path, &data, &len, err) < 0)
		return -1;
	int rc = len ? sign_pgp_import(p, (uint8_t *)data, len, err) : 0;
	free(data);
	return rc < 0 ? lt_error_wrap(err, "%s", path) : 0;
}

static int take_data(gpgme_data_t d, sign_buf *out)
{
	size_t n = 0;
	char *mem = gpgme_data_release_and_get_mem(d, &n);
	out->data = lt_xmalloc(n + 1);
	memcpy(out->data, mem, n);
	out->data[n] = 0;
	out->len = n;
	gpgme_free(mem);
	return 0;
}

int sign_pgp_clearsign(sign_pgp *p, const char *fpr, sign_passphrase_fn pass, void *pass_ctx,
		       const char *text, size_t len, sign_buf *out, lt_error **err)
{
	gpgme_key_t key = NULL;
	gpgme_data_t in = NULL, sig = NULL;
	gpgme_error_t e = gpgme_get_key(p->ctx, fpr, &key, 1);
	if (e != 0)
		return gpg_error_set(err, e, "cannot use the secret key");
	use_passphrase(p, pass, pass_ctx);
	gpgme_signers_clear(p->ctx);
	if ((e = gpgme_signers_add(p->ctx, key)) == 0 &&
	    (e = gpgme_data_new_from_mem(&in, text, len, 0)) == 0 &&
	    (e = gpgme_data_new(&sig)) == 0)
		e = gpgme_op_sign(p->ctx, in, sig, GPGME_SIG_MODE_CLEAR);
	gpgme_key_unref(key);
	if (in != NULL)
		gpgme_data_release(in);
	if (e != 0) {
		if (sig != NULL)
			gpgme_data_release(sig);
		return op_error(p, e, "cannot sign", err);
	}
	take_data(sig, out);
	/* the reference ends the message with the END line, without a line break */
	while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
		out->data[--out->len] = 0;
	return 0;
}

static bool accepted_hash(gpgme_hash_algo_t h)
{
	/* the reference accepts SHA-224/256/384/512 (RFC 4880's, without the weak ones) */
	return h == GPGME_MD_SHA224 || h == GPGME_MD_SHA256 || h == GPGME_MD_SHA384 ||
	       h == GPGME_MD_SHA512;
}

int sign_pgp_verify(sign_pgp *p, const sign_clearsigned *c, char fpr[SIGN_FPR_LEN + 1], char **name,
		    lt_error **err)
{
	gpgme_data_t sig = NULL, text = NULL;
	/* The signed text as LF-separated lines (GnuPG's text mode makes them CRLF), from the
	 * decoded message, so that what is checked is what the caller parses. */
	size_t len = c->plain.len > 0 ? c->plain.len - 1 : 0;
	gpgme_error_t e = gpgme_data_new_from_mem(&sig, c->armor, c->armor_len, 0);
	if (e == 0)
		e = gpgme_data_new_from_mem(&text, (const char *)c->plain.data, len, 0);
	if (e == 0)
		e = gpgme_op_verify(p->ctx, sig, text, NULL);
	if (sig != NULL)
		gpgme_data_release(sig);
	if (text != NULL)
		gpgme_data_release(text);
	if (e != 0)
		return gpg_error_set(err, e, "openpgp: cannot check the signature");
	gpgme_verify_result_t r = gpgme_op_verify_result(p->ctx);
	gpgme_signature_t s = r ? r->signatures : NULL;
	while (s != NULL && gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY)
		s = s->next;
	if (s == NULL)
		return lt_error_set(
		    err, 0,
		    "openpgp: signature made by unknown entity (no key in the keyring "
		    "made it)");
	if (gpgme_err_code(s->status) != GPG_ERR_NO_ERROR)
		return lt_error_set(err, 0, "openpgp: invalid signature: %s",
				    gpgme_strerror(s->status));
	if (!accepted_hash(s->hash_algo))
		return lt_error_set(err, 0, "openpgp: hash algorithm %d not accepted",
				    (int)s->hash_algo);
	gpgme_key_t key = NULL;
	if ((e = gpgme_get_key(p->ctx, s->fpr, &key, 0)) != 0 || key->subkeys == NULL ||
	    key->subkeys->fpr == NULL || strlen(key->subkeys->fpr) != SIGN_FPR_LEN) {
		if (key != NULL)
			gpgme_key_unref(key);
		return lt_error_set(err, 0, "openpgp: cannot find the key of signer %s", s->fpr);
	}
	memcpy(fpr, key->subkeys->fpr, SIGN_FPR_LEN + 1);
	*name = lt_xstrdup(key->uids && key->uids->name ? key->uids->name : "");
	gpgme_key_unref(key);
	return 0;
}

static void add_key(sign_pgp_list *l, gpgme_key_t k)
{
	if (k->subkeys == NULL || k->subkeys->fpr == NULL)
		return;
	l->keys = lt_xrealloc(l->keys, (l->n + 1) * sizeof(*l->keys));
	sign_pgp_key *o = &l->keys[l->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s", k->subkeys->fpr);
	o->created = k->subkeys->timestamp;
	o->bits = k->subkeys->length;
	o->secret = k->secret;
	size_t n = 0;
	for (gpgme_user_id_t u = k->uids; u; u = u->next)
		n++;
	o->uids = lt_xcalloc(n + 1, sizeof(char *));
	n = 0;
	for (gpgme_user_id_t u = k->uids; u; u = u->next)
		o->uids[n++] =
		    lt_strdup_printf("%s (%s) <%s>", u->name ? u->name : "",
				     u->comment ? u->comment : "", u->email ? u->email : "");
	o->name = lt_xstrdup(k->uids && k->uids->name ? k->uids->name : "");
}

int sign_pgp_keys_of(sign_pgp *p, const uint8_t *data, size_t len, sign_pgp_list *out,
		     lt_error **err)
{
	gpgme_data_t d;
	gpgme_key_t k;
	memset(out, 0, sizeof(*out));
	gpgme_error_t e = gpgme_data_new_from_mem(&d, (const char *)data, len, 0);
	if (e != 0)
		return gpg_error_set(err, e, "cannot read the keys");
	e = gpgme_op_keylist_from_data_start(p->ctx, d, 0);
	while (e == 0 && (e = gpgme_op_keylist_next(p->ctx, &k)) == 0) {
		add_key(out, k);
		gpgme_key_unref(k);
	}
	gpgme_op_keylist_end(p->ctx);
	gpgme_data_release(d);
	if (gpgme_err_code(e) != GPG_ERR_EOF) {
		sign_pgp_list_free(out);
		return gpg_error_set(err, e, "cannot read the keys");
	}
	return 0;
}

int sign_pgp_export(sign_pgp *p, const char *fpr, bool secret, sign_passphrase_fn pass,
		    void *pass_ctx, sign_buf *out, lt_error **err)
{
	gpgme_data_t d;
	gpgme_error_t e = gpgme_data_new(&d);
	if (e != 0)
		return gpg_error_set(err, e, "cannot export the key");
	if (secret)
		use_passphrase(p, pass, pass_ctx);
	e = gpgme_op_export(p->ctx, fpr, secret ? GPGME_EXPORT_MODE_SECRET : 0, d);
	if (e != 0) {
		gpgme_data_release(d);
		return op_error(p, e, "cannot export the key", err);
	}
	take_data(d, out);
	if (out->len == 0) {
		sign_buf_free(out);
		return lt_error_set(err, 0, "cannot export the key %s: GnuPG returned nothing",
				    fpr);
	}
	return 0;
}

int sign_fixed_passphrase(const char *prompt, char **out, void *ctx, lt_error **err)
{
	*out = lt_xstrdup(ctx);
	return 0;
}

int sign_pgp_generate(sign_pgp *p, const sign_newpair_opts *o, char fpr[SIGN_FPR_LEN + 1],
		      lt_error **err)
{
	/* the user ID the reference builds: "Name (Comment) <email>", empty parts left out */
	char *uid = lt_strdup_printf(
	    "%s%s%s%s%s%s", o->name, o->comment && *o->comment ? " (" : "",
	    o->comment && *o->comment ? o->comment : "", o->comment && *o->comment ? ")" : "",
	    o->email && *o->email ? " <" : "", o->email && *o->email ? o->email : "");
	char *full = lt_strdup_printf("%s%s", uid, o->email && *o->email ? ">" : "");
	free(uid);
	char algo[32];
	snprintf(algo, sizeof(algo), "rsa%u", o->bits);
	unsigned flags = GPGME_CREATE_SIGN | GPGME_CREATE_CERT | GPGME_CREATE_NOEXPIRE;
	bool protect = o->passphrase != NULL && *o->passphrase != '\0';
	if (protect)
		use_passphrase(p, sign_fixed_passphrase, (void *)o->passphrase);
	else
		flags |= GPGME_CREATE_NOPASSWD;
	gpgme_error_t e = gpgme_op_createkey(p->ctx, full, algo, 0, 0, NULL, flags);
	free(full);
	if (e != 0)
		return op_error(p, e, "cannot generate the key pair", err);
	gpgme_genkey_result_t r = gpgme_op_genkey_result(p->ctx);
	if (r == NULL || r->fpr == NULL || strlen(r->fpr) != SIGN_FPR_LEN)
		return lt_error_set(err, 0, "cannot generate the key pair: no fingerprint");
	memcpy(fpr, r->fpr, SIGN_FPR_LEN + 1);
	return 0;
}
