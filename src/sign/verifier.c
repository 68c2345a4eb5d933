/* Checking signatures, task by task as the reference's Verifier: a group (all of its objects,
 * exactly the signed set), an object (the signatures of its group, the object among the signed
 * ones), or with legacy signatures an object or a group's concatenated data. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

typedef struct task {
	uint32_t group;		    /* group tasks, and object tasks (the object's group) */
	const sif_descriptor *only; /* object task */
	bool legacy;
} task;

typedef struct verifier {
	const sif_image *img;
	const sign_verify_opts *o;
	sign_pgp *pgp; /* opened on the first OpenPGP signature */
	bool pgp_failed;
} verifier;

static int add_unique(uint32_t **v, size_t *n, uint32_t x)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i] == x)
			return 0;
	*v = lt_xrealloc(*v, (*n + 1) * sizeof(**v));
	size_t at = (*n)++;
	while (at > 0 && (*v)[at - 1] > x) {
		(*v)[at] = (*v)[at - 1];
		at--;
	}
	(*v)[at] = x;
	return 0;
}

/* The signatures of a task: linked to its group (non-legacy, or legacy group tasks) or to its
 * object (legacy object tasks). */
static const sif_descriptor **signatures(verifier *v, const task *t, size_t *n, lt_error **err)
{
	const sif_descriptor **sigs = lt_xcalloc((size_t)sif_slot_count(v->img) + 1, sizeof(*sigs));
	*n = 0;
	for (int64_t s = 0; s < sif_slot_count(v->img); s++) {
		const sif_descriptor *d = sif_slot(v->img, s);
		bool is_group = false;
		if (!d->used || d->datatype != SIF_DATA_SIGNATURE)
			continue;
		uint32_t link = sif_link_of(d, &is_group);
		if (t->legacy && t->only != NULL) {
			if (!is_group && link == t->only->id)
				sigs[(*n)++] = d;
			continue;
		}
		if (!is_group || link != t->group)
			continue;
		sign_buf data = {0};
		if (sign_read_signature(v->img, d, &data, err) < 0) {
			free(sigs);
			return NULL;
		}
		if (sign_is_legacy(data.data, data.len) == t->legacy)
			sigs[(*n)++] = d;
		sign_buf_free(&data);
	}
	if (*n == 0) {
		if (t->legacy && t->only != NULL)
			lt_error_set(err, 0, "signature not found for object %" PRIu32,
				     t->only->id);
		else
			lt_error_set(err, 0, "signature not found for object group %" PRIu32,
				     t->group);
		free(sigs);
		return NULL;
	}
	return sigs;
}

static int pgp_ready(verifier *v, lt_error **err)
{
	if (v->pgp != NULL)
		return 0;
	char *dir = v->o->keyring_dir ? lt_xstrdup(v->o->keyring_dir) : sign_keyring_dir();
	char *path = sign_keyring_path(dir, false);
	int rc = sign_pgp_open(&v->pgp, err);
	if (rc == 0)
		rc = sign_pgp_import_file(v->pgp, path, err);
	free(path);
	free(dir);
	return rc;
}

static void hex_upper(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Checks one signature; fills r. The message is the verified payload. */
static int check_signature(verifier *v, const task *t, const sif_descriptor *sig,
			   const sif_descriptor *const *ods, size_t n, sign_result *r,
			   char **signer, lt_error **err)
{
	sif_signature_info si;
	sif_signature_of(sig, &si);
	static const uint8_t zero[20];
	bool has_fp = memcmp(si.entity, zero, 20) != 0;
	if (sign_md_by_hashtype(si.hashtype, NULL) == NULL && si.hashtype != SIF_HASH_BLAKE2S &&
	    si.hashtype != SIF_HASH_BLAKE2B)
		return lt_error_set(err, 0, "invalid hash type %" PRId32 " in the descriptor",
				    si.hashtype);
	sign_buf data = {0};
	if (sign_read_signature(v->img, sig, &data, err) < 0)
		return -1;
	int rc = -1;
	sign_buf message = {0};
	if (sign_is_envelope(data.data, data.len)) {
		if (v->o->n_keys == 0) {
			lt_error_set(err, 0,
				     "key material not provided for DSSE envelope signature (use "
				     "--key or --certificate)");
			goto out;
		}
		sign_envelope e;
		if (sign_envelope_decode(data.data, data.len, &e, err) < 0 ||
		    sign_dsse_verify(&e, v->o->keys, v->o->n_keys, &r->key_ids, &r->n_key_ids,
				     err) < 0) {
			if (e.payload_type != NULL)
				sign_envelope_free(&e);
			lt_error_wrap(err, "signature object %" PRIu32 " not valid", sig->id);
			goto out;
		}
		message = e.payload;
		e.payload = (sign_buf){0};
		sign_envelope_free(&e);
	} else {
		sign_clearsigned c;
		if (sign_clearsign_decode(data.data, data.len, &c) < 0) {
			lt_error_set(
			    err, 0,
			    "signature object %" PRIu32
			    ": signature format not recognized (neither a DSSE envelope nor "
			    "a clear-signed message; truncated?)",
			    sig->id);
			goto out;
		}
		if (!v->o->pgp) {
			sign_clearsigned_free(&c);
			lt_error_set(err, 0,
				     "key material not provided for PGP clear-sign signature "
				     "(verify without --key/--certificate to use the keyring)");
			goto out;
		}
		if (pgp_ready(v, err) < 0 ||
		    sign_pgp_verify(v->pgp, &c, r->fingerprint, signer, err) < 0) {
			sign_clearsigned_free(&c);
			lt_error_wrap(err, "signature object %" PRIu32 " not valid", sig->id);
			goto out;
		}
		r->pgp = true;
		r->signer = *signer;
		message = c.plain;
		c.plain = (sign_buf){0};
		sign_clearsigned_free(&c);
		char want[SIGN_FPR_LEN + 1];
		hex_upper(si.entity, 20, want);
		if (!has_fp || strcmp(want, r->fingerprint) != 0) {
			lt_error_set(err, 0,
				     "fingerprint in descriptor does not correspond to signing "
				     "entity (descriptor %s, signer %s)",
				     want, r->fingerprint);
			goto out;
		}
	}
	if (t->legacy) {
		uint8_t want[64];
		sign_digest got;
		int len = sign_legacy_digest(message.data, message.len, si.hashtype, want);
		if (len < 0) {
			lt_error_set(err, 0, "signature object %" PRIu32 ": digest malformed",
				     sig->id);
			goto out;
		}
		if (sign_digest_objects(v->img, ods, n, sign_md_by_hashtype(si.hashtype, NULL),
					&got, err) < 0)
			goto out;
		if ((size_t)len != got.len || memcmp(want, got.value, got.len) != 0) {
			r->bad_object = t->only ? t->only->id : 0;
			if (t->only)
				lt_error_set(err, 0, "data object integrity compromised: %" PRIu32,
					     t->only->id);
			else
				lt_error_set(err, 0, "data object integrity compromised");
			goto out;
		}
	} else {
		sign_metadata *m = NULL;
		if (sign_metadata_parse(message.data, message.len, &m, err) < 0) {
			lt_error_wrap(err, "signature object %" PRIu32 " not valid", sig->id);
			goto out;
		}
		rc = sign_metadata_match(m, v->img, t->group, ods, n, t->only != NULL,
					 &r->bad_object, err);
		sign_metadata_free(m);
		if (rc < 0)
			goto out;
	}
	r->verified = (const sif_descriptor **)ods;
	r->n_verified = n;
	rc = 0;
out:
	sign_buf_free(&message);
	sign_buf_free(&data);
	return rc;
}

static int run_task(verifier *v, const task *t, lt_error **err)
{
	size_t n_sigs = 0, n = 0;
	const sif_descriptor **ods;
	if (t->only != NULL) {
		ods = lt_xcalloc(2, sizeof(*ods));
		ods[0] = t->only;
		n = 1;
	} else {
		ods = sign_group_objects(v->img, t->group, &n);
		if (n == 0) {
			free(ods);
			return lt_error_set(err, 0, "group not found (group %" PRIu32 ")",
					    t->group);
		}
	}
	const sif_descriptor **sigs = signatures(v, t, &n_sigs, err);
	int rc = sigs ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n_sigs; i++) {
		sign_result r = {.signature = sigs[i]};
		char *signer = NULL;
		lt_error *e = NULL;
		rc = check_signature(v, t, sigs[i], ods, n, &r, &signer, &e);
		if (rc < 0)
			r.error = e->message;
		if (v->o->on_result)
			v->o->on_result(v->img, &r, v->o->ctx);
		if (rc < 0)
			lt_error_move(err, &e);
		free(r.key_ids);
		free(signer);
	}
	free(sigs);
	free(ods);
	return rc;
}

int sign_verify(const sif_image *img, const sign_verify_opts *o, lt_error **err)
{
	verifier v = {img, o, NULL, false};
	uint32_t *groups = NULL, *objects = NULL;
	size_t ng = 0, no = 0;
	task *tasks = NULL;
	size_t nt = 0;
	int rc = -1;
	for (size_t i = 0; i < o->n_groups; i++) {
		if (o->groups[i] == 0) {
			lt_error_set(err, 0, "integrity: invalid group ID");
			goto out;
		}
		add_unique(&groups, &ng, o->groups[i]);
	}
	for (size_t i = 0; i < o->n_objects; i++) {
		if (o->objects[i] == 0) {
			lt_error_set(err, 0, "integrity: invalid object ID");
			goto out;
		}
		add_unique(&objects, &no, o->objects[i]);
	}
	if (o->legacy && o->all) {
		for (int64_t s = 0; s < sif_slot_count(img); s++) {
			const sif_descriptor *d = sif_slot(img, s);
			if (d->used && d->datatype != SIF_DATA_SIGNATURE && sif_group_of(d) != 0)
				add_unique(&objects, &no, d->id);
		}
	} else if (o->legacy && ng == 0 && no == 0) {
		const sif_descriptor *p = sif_find_primary(img);
		if (p == NULL) {
			lt_error_set(err, 0,
				     "no primary partition to verify the legacy signature of "
				     "(choose objects with --sif-id or --group-id)");
			goto out;
		}
		add_unique(&objects, &no, p->id);
	}
	if (ng == 0 && no == 0) {
		for (int64_t s = 0; s < sif_slot_count(img); s++) {
			const sif_descriptor *d = sif_slot(img, s);
			if (d->used && sif_group_of(d) != 0)
				add_unique(&groups, &ng, sif_group_of(d));
		}
		if (ng == 0) {
			lt_error_set(err, 0,
				     "integrity: no groups found (the image is not signed)");
			goto out;
		}
	}
	tasks = lt_xcalloc(ng + no + 1, sizeof(*tasks));
	for (size_t i = 0; i < ng; i++)
		tasks[nt++] = (task){groups[i], NULL, o->legacy};
	for (size_t i = 0; i < no; i++) {
		const sif_descriptor *d = sif_find_id(img, objects[i]);
		if (d == NULL) {
			lt_error_set(err, 0, "integrity: object not found (object %" PRIu32 ")",
				     objects[i]);
			goto out;
		}
		if (!o->legacy && sif_group_of(d) == 0) {
			lt_error_set(err, 0,
				     "integrity: invalid group ID (object %" PRIu32
				     " is in no group)",
				     d->id);
			goto out;
		}
		tasks[nt++] = (task){sif_group_of(d), d, o->legacy};
	}
	/* every non-signature object must be in a group, or it would escape every signature */
	for (int64_t s = 0; s < sif_slot_count(img); s++) {
		const sif_descriptor *d = sif_slot(img, s);
		if (d->used && d->datatype != SIF_DATA_SIGNATURE && sif_group_of(d) == 0) {
			lt_error_set(err, 0,
				     "integrity: non-signature object %" PRIu32
				     " not associated with object group",
				     d->id);
			goto out;
		}
	}
	for (size_t i = 0; i < nt; i++)
		if (run_task(&v, &tasks[i], err) < 0) {
			lt_error_wrap(err, "integrity");
			goto out;
		}
	rc = 0;
out:
	if (rc < 0)
		lt_error_wrap(err, "%s", sif_name(img));
	sign_pgp_close(v.pgp);
	free(tasks);
	free(groups);
	free(objects);
	return rc;
}
