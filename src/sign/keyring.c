/* Apptainer's local OpenPGP keyring: pgp-public and pgp-secret, plain sequences of OpenPGP
 * packets (one transferable key after the other) in the keys folder. The files stay the
 * authority: keys are cut out of them and appended to them as byte blocks, and GPGME is only
 * asked what a block holds, to make keys and to sign. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sign_internal.h"

char *sign_keyring_dir(void)
{
	const char *v;
	if ((v = lt_env_nonempty("LITHO_KEYSDIR")) || (v = lt_env_nonempty("APPTAINER_KEYSDIR")) ||
	    (v = lt_env_nonempty("SINGULARITY_SYPGPDIR")))
		return lt_xstrdup(v);
	if ((v = lt_env_nonempty("APPTAINER_CONFIGDIR")))
		return lt_path_join(v, "keys");
	const char *home = lt_env_nonempty("HOME");
	char *dot = lt_path_join(home ? home : "/", ".apptainer");
	char *dir = lt_path_join(dot, "keys");
	free(dot);
	return dir;
}

char *sign_keyring_path(const char *dir, bool secret)
{
	return lt_path_join(dir, secret ? "pgp-secret" : "pgp-public");
}

/* One packet header at data[*pos]: its tag and the end of the packet; -1 when malformed.
 * Keys never use partial or indeterminate lengths. */
static int packet(const uint8_t *d, size_t len, size_t pos, int *tag, size_t *next)
{
	if (pos >= len || !(d[pos] & 0x80))
		return -1;
	size_t body, hl;
	if (d[pos] & 0x40) {
		*tag = d[pos] & 0x3f;
		if (pos + 1 >= len)
			return -1;
		uint8_t a = d[pos + 1];
		if (a < 192) {
			body = a, hl = 2;
		} else if (a < 224) {
			if (pos + 2 >= len)
				return -1;
			body = ((size_t)(a - 192) << 8) + d[pos + 2] + 192, hl = 3;
		} else if (a == 255) {
			if (pos + 5 >= len)
				return -1;
			body = (size_t)d[pos + 2] << 24 | (size_t)d[pos + 3] << 16 |
			       (size_t)d[pos + 4] << 8 | d[pos + 5];
			hl = 6;
		} else {
			return -1;
		}
	} else {
		*tag = (d[pos] >> 2) & 0x0f;
		int lt = d[pos] & 3;
		if (lt == 3)
			return -1;
		size_t n = lt == 0 ? 1 : lt == 1 ? 2 : 4;
		if (pos + n >= len)
			return -1;
		body = 0;
		for (size_t i = 0; i < n; i++)
			body = body << 8 | d[pos + 1 + i];
		hl = 1 + n;
	}
	if (body > len - pos - hl)
		return -1;
	*next = pos + hl + body;
	return 0;
}

int sign_split_keyring(const uint8_t *data, size_t len, sign_key_block **blocks, size_t *n,
		       const char *name, lt_error **err)
{
	*blocks = NULL;
	*n = 0;
	for (size_t pos = 0; pos < len;) {
		int tag;
		size_t next;
		if (packet(data, len, pos, &tag, &next) < 0) {
			free(*blocks);
			*blocks = NULL;
			return lt_error_set(
			    err, 0, "%s: not an OpenPGP keyring (bad packet at %zu)", name, pos);
		}
		if (tag == 5 || tag == 6) {
			*blocks = lt_xrealloc(*blocks, (*n + 1) * sizeof(**blocks));
			(*blocks)[(*n)++] = (sign_key_block){data + pos, 0};
		} else if (*n == 0) {
			free(*blocks);
			*blocks = NULL;
			return lt_error_set(err, 0, "%s: not an OpenPGP keyring (no key first)",
					    name);
		}
		(*blocks)[*n - 1].len = next - (size_t)((*blocks)[*n - 1].data - data);
		pos = next;
	}
	return 0;
}

typedef struct ring {
	char *path;
	char *data;
	size_t len;
	sign_key_block *blocks;
	size_t n;
	sign_pgp_list keys; /* one per block */
} ring;

static void ring_free(ring *r)
{
	free(r->path);
	free(r->data);
	free(r->blocks);
	sign_pgp_list_free(&r->keys);
	memset(r, 0, sizeof(*r));
}

/* Reads a keyring file and what each of its keys is (through p). */
static int ring_load(sign_pgp *p, const char *dir, bool secret, ring *r, lt_error **err)
{
	memset(r, 0, sizeof(*r));
	r->path = sign_keyring_path(dir, secret);
	if (access(r->path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (lt_read_file(r->path, &r->data, &r->len, err) < 0 ||
	    sign_split_keyring((uint8_t *)r->data, r->len, &r->blocks, &r->n, r->path, err) < 0)
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		sign_pgp_list one;
		if (sign_pgp_keys_of(p, r->blocks[i].data, r->blocks[i].len, &one, err) < 0) {
			lt_error_wrap(err, "%s: key %zu", r->path, i);
			goto fail;
		}
		if (one.n != 1) {
			sign_pgp_list_free(&one);
			lt_error_set(err, 0, "%s: key %zu is not readable", r->path, i);
			goto fail;
		}
		one.keys[0].secret = secret;
		r->keys.keys = lt_xrealloc(r->keys.keys, (r->keys.n + 1) * sizeof(sign_pgp_key));
		r->keys.keys[r->keys.n++] = one.keys[0];
		free(one.keys);
	}
	return 0;
fail:
	ring_free(r);
	return -1;
}

static int ring_find(const ring *r, const char *fpr)
{
	if (strncasecmp(fpr, "0x", 2) == 0)
		fpr += 2;
	for (size_t i = 0; i < r->keys.n; i++)
		if (strcasecmp(r->keys.keys[i].fingerprint, fpr) == 0)
			return (int)i;
	return -1;
}

static int ensure_dir(const char *dir, lt_error **err)
{
	char *copy = lt_xstrdup(dir);
	for (char *s = copy + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			lt_error_set(err, errno, "%s", copy);
			free(copy);
			return -1;
		}
		*s = '/';
	}
	free(copy);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return lt_error_set(err, errno, "%s", dir);
	return 0;
}

/* Rewrites a keyring with `keep` blocks (except `skip`, -1 none) and an added block. */
static int ring_store(const ring *r, int skip, const uint8_t *add, size_t add_len, lt_error **err)
{
	char *dir = lt_path_dirname(r->path);
	int rc = ensure_dir(dir, err);
	free(dir);
	if (rc < 0)
		return -1;
	lt_atomic_file af;
	if (lt_atomic_open(&af, r->path, 0600, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if ((int)i != skip &&
		    lt_write_all(af.fd, r->blocks[i].data, r->blocks[i].len, r->path, err) < 0)
			goto fail;
	if (add_len > 0 && lt_write_all(af.fd, add, add_len, r->path, err) < 0)
		goto fail;
	return lt_atomic_commit(&af, err);
fail:
	lt_atomic_abort(&af);
	return -1;
}

int sign_keyring_list(const char *dir, bool secret, sign_pgp_list *out, lt_error **err)
{
	sign_pgp *p;
	ring r;
	memset(out, 0, sizeof(*out));
	if (sign_pgp_open(&p, err) < 0)
		return -1;
	int rc = ring_load(p, dir, secret, &r, err);
	sign_pgp_close(p);
	if (rc < 0)
		return -1;
	*out = r.keys;
	r.keys = (sign_pgp_list){0};
	ring_free(&r);
	return 0;
}

void sign_pgp_list_free(sign_pgp_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		lt_strv_free(l->keys[i].uids);
		free(l->keys[i].name);
	}
	free(l->keys);
	l->keys = NULL;
	l->n = 0;
}

void sign_print_keys(FILE *out, const char *path, bool secret, const sign_pgp_list *l)
{
	fprintf(out, "%s key listing (%s):\n\n", secret ? "Private" : "Public", path);
	for (size_t i = 0; i < l->n; i++) {
		const sign_pgp_key *k = &l->keys[i];
		char when[64];
		time_t t = (time_t)k->created;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z %Z", localtime_r(&t, &tm));
		char idx[24];
		snprintf(idx, sizeof(idx), "%zu)", i);
		for (size_t u = 0; k->uids[u]; u++)
			fprintf(out, "%-3s User:              %s\n", u ? "" : idx, k->uids[u]);
		if (k->uids[0] == NULL)
			fprintf(out, "%-3s\n", idx);
		fprintf(out, "    Creation time:     %s\n", when);
		fprintf(out, "    Fingerprint:       %s\n", k->fingerprint);
		fprintf(out, "    Length (in bits):  %u\n\n", k->bits);
	}
}

/* The binary key blocks of a file: itself, or the bodies of its armored blocks. */
static int key_material(const char *path, char **data, size_t *len, lt_error **err)
{
	if (lt_read_file(path, data, len, err) < 0)
		return -1;
	if (*len > 0 && ((uint8_t)(*data)[0] & 0x80))
		return 0;
	sign_buf all = {0};
	const char *p = *data, *end = *data + *len;
	while ((p = memmem(p, (size_t)(end - p), "-----BEGIN PGP ", 15)) != NULL) {
		sign_buf b = {0};
		if (sign_armor_decode((const uint8_t *)p, (size_t)(end - p), &b) < 0) {
			free(all.data);
			free(*data);
			return lt_error_set(err, 0, "%s: bad ASCII armor", path);
		}
		all.data = lt_xrealloc(all.data, all.len + b.len + 1);
		memcpy(all.data + all.len, b.data, b.len);
		all.len += b.len;
		sign_buf_free(&b);
		const char *e = memmem(p, (size_t)(end - p), "-----END ", 9);
		p = e ? e + 9 : end;
	}
	free(*data);
	if (all.len == 0)
		return lt_error_set(err, 0, "%s: no OpenPGP key in it", path);
	*data = (char *)all.data;
	*len = all.len;
	return 0;
}

int sign_keyring_import(const char *dir, const char *file, FILE *report, lt_error **err)
{
	char *data = NULL;
	size_t len = 0;
	sign_key_block *blocks = NULL;
	size_t n = 0;
	sign_pgp *p = NULL;
	ring pub = {0}, sec = {0};
	int rc = -1;
	if (key_material(file, &data, &len, err) < 0)
		return -1;
	if (sign_split_keyring((uint8_t *)data, len, &blocks, &n, file, err) < 0 ||
	    sign_pgp_open(&p, err) < 0 || ring_load(p, dir, false, &pub, err) < 0 ||
	    ring_load(p, dir, true, &sec, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool secret = (blocks[i].data[0] & 0x40) ? (blocks[i].data[0] & 0x3f) == 5
							 : ((blocks[i].data[0] >> 2) & 0x0f) == 5;
		sign_pgp_list one;
		if (sign_pgp_keys_of(p, blocks[i].data, blocks[i].len, &one, err) < 0)
			goto out;
		if (one.n != 1) {
			sign_pgp_list_free(&one);
			lt_error_set(err, 0, "%s: key %zu is not readable", file, i);
			goto out;
		}
		char fpr[SIGN_FPR_LEN + 1];
		memcpy(fpr, one.keys[0].fingerprint, sizeof(fpr));
		sign_pgp_list_free(&one);
		ring *own = secret ? &sec : &pub;
		if (ring_find(own, fpr) >= 0) {
			lt_error_set(err, 0,
				     "the key with fingerprint %s already belongs to the keyring",
				     fpr);
			goto out;
		}
		if (ring_store(own, -1, blocks[i].data, blocks[i].len, err) < 0)
			goto out;
		fprintf(report, "Key with fingerprint %s successfully added to the %s keyring\n",
			fpr, secret ? "private" : "public");
		if (secret && ring_find(&pub, fpr) < 0) {
			sign_buf pb = {0};
			if (sign_pgp_import(p, blocks[i].data, blocks[i].len, err) < 0 ||
			    sign_pgp_export(p, fpr, false, NULL, NULL, &pb, err) < 0)
				goto out;
			int r2 = ring_store(&pub, -1, pb.data, pb.len, err);
			sign_buf_free(&pb);
			if (r2 < 0)
				goto out;
			fprintf(
			    report,
			    "Key with fingerprint %s successfully added to the public keyring\n",
			    fpr);
		}
		/* reload: the next key is checked against what was just added */
		ring_free(&pub);
		ring_free(&sec);
		if (ring_load(p, dir, false, &pub, err) < 0 ||
		    ring_load(p, dir, true, &sec, err) < 0)
			goto out;
	}
	rc = 0;
out:
	ring_free(&pub);
	ring_free(&sec);
	sign_pgp_close(p);
	free(blocks);
	free(data);
	return rc;
}

static int select_key(const ring *r, const char *which, lt_error **err)
{
	if (r->n == 0)
		return lt_error_set(err, 0, "%s: keyring is empty", r->path);
	if (which == NULL) {
		if (r->n == 1)
			return 0;
		return lt_error_set(err, 0,
				    "%s holds %zu keys: name one by fingerprint or index (see "
				    "`litho key list`)",
				    r->path, r->n);
	}
	int i = ring_find(r, which);
	if (i >= 0)
		return i;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(which, &end, 10);
	if (*which && end && *end == '\0' && errno == 0 && v < r->n && strlen(which) < 8)
		return (int)v;
	return lt_error_set(err, 0, "%s: no key matching '%s' found", r->path, which);
}

int sign_keyring_export(const char *dir, bool secret, bool armor, const char *which,
			const char *path, FILE *report, lt_error **err)
{
	sign_pgp *p;
	ring r;
	if (sign_pgp_open(&p, err) < 0)
		return -1;
	int rc = ring_load(p, dir, secret, &r, err);
	sign_pgp_close(p);
	if (rc < 0)
		return -1;
	int i = select_key(&r, which, err);
	if (i < 0) {
		ring_free(&r);
		return -1;
	}
	lt_atomic_file af;
	if (lt_atomic_open(&af, path, 0600, err) < 0) {
		ring_free(&r);
		return -1;
	}
	const sign_key_block *b = &r.blocks[i];
	if (armor) {
		char *text = sign_armor_encode(
		    secret ? "PGP PRIVATE KEY BLOCK" : "PGP PUBLIC KEY BLOCK", b->data, b->len);
		rc = lt_write_all(af.fd, text, strlen(text), path, err);
		free(text);
	} else {
		rc = lt_write_all(af.fd, b->data, b->len, path, err);
	}
	if (rc < 0 || lt_atomic_commit(&af, err) < 0) {
		if (rc < 0)
			lt_atomic_abort(&af);
		ring_free(&r);
		return -1;
	}
	fprintf(report, "%s key with fingerprint %s correctly exported to file: %s\n",
		secret ? "Private" : "Public", r.keys.keys[i].fingerprint, path);
	ring_free(&r);
	return 0;
}

int sign_keyring_remove(const char *dir, const char *fingerprint, bool pub, bool sec, FILE *report,
			lt_error **err)
{
	sign_pgp *p;
	if (sign_pgp_open(&p, err) < 0)
		return -1;
	int rc = 0, removed = 0;
	lt_error *first = NULL;
	for (int s = 0; s < 2; s++) {
		if (!(s ? sec : pub))
			continue;
		ring r;
		lt_error *e = NULL;
		if (ring_load(p, dir, s == 1, &r, &e) == 0) {
			int i = ring_find(&r, fingerprint);
			if (i < 0)
				lt_error_set(&e, 0, "%s: no key matching given fingerprint found",
					     r.path);
			else if (ring_store(&r, i, NULL, 0, &e) == 0) {
				removed++;
				fprintf(report, "Removed key %s from the %s keyring\n",
					r.keys.keys[i].fingerprint, s ? "private" : "public");
			}
			ring_free(&r);
		}
		if (e != NULL && first == NULL)
			first = e;
		else
			lt_error_free(&e);
	}
	sign_pgp_close(p);
	/* with both keyrings, finding the key in one of them is enough (as Apptainer) */
	if (removed == 0 || (first != NULL && !(pub && sec)))
		rc = lt_error_move(err, &first);
	lt_error_free(&first);
	return rc;
}

int sign_keyring_newpair(const char *dir, const sign_newpair_opts *o, char fpr[SIGN_FPR_LEN + 1],
			 lt_error **err)
{
	sign_pgp *p;
	ring pub = {0}, sec = {0};
	sign_buf pb = {0}, sb = {0};
	int rc = -1;
	if (o->name == NULL || *o->name == '\0')
		return lt_error_set(err, 0, "a key needs a name");
	if (o->bits < 1024 || o->bits > 4096)
		return lt_error_set(err, 0, "bit length %u: RSA keys of 1024 to 4096 bits",
				    o->bits);
	if (sign_pgp_open(&p, err) < 0)
		return -1;
	sign_passphrase_fn give = NULL;
	if (sign_pgp_generate(p, o, fpr, err) < 0 ||
	    sign_pgp_export(p, fpr, false, NULL, NULL, &pb, err) < 0)
		goto out;
	/* the secret key leaves the agent protected with the same passphrase */
	if (o->passphrase && *o->passphrase)
		give = sign_fixed_passphrase;
	if (sign_pgp_export(p, fpr, true, give, (void *)o->passphrase, &sb, err) < 0 ||
	    ring_load(p, dir, false, &pub, err) < 0 || ring_load(p, dir, true, &sec, err) < 0 ||
	    ring_store(&sec, -1, sb.data, sb.len, err) < 0 ||
	    ring_store(&pub, -1, pb.data, pb.len, err) < 0)
		goto out;
	rc = 0;
out:
	if (sb.data)
		explicit_bzero(sb.data, sb.len);
	sign_buf_free(&sb);
	sign_buf_free(&pb);
	ring_free(&pub);
	ring_free(&sec);
	sign_pgp_close(p);
	return rc;
}
