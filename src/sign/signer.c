/* Adding signatures: one Signature object per signed group, as the reference's Signer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

typedef struct group_job {
	uint32_t group;
	const sif_descriptor **ods; /* sorted by ID */
	size_t n;
} group_job;

static void job_add(group_job **jobs, size_t *n, uint32_t group, const sif_descriptor *d)
{
	group_job *j = NULL;
	for (size_t i = 0; i < *n; i++)
		if ((*jobs)[i].group == group)
			j = &(*jobs)[i];
	if (j == NULL) {
		*jobs = lt_xrealloc(*jobs, (*n + 1) * sizeof(**jobs));
		j = &(*jobs)[(*n)++];
		*j = (group_job){group, NULL, 0};
	}
	for (size_t i = 0; i < j->n; i++)
		if (j->ods[i] == d)
			return;
	j->ods = lt_xrealloc(j->ods, (j->n + 1) * sizeof(*j->ods));
	size_t at = j->n;
	while (at > 0 && j->ods[at - 1]->id > d->id) {
		j->ods[at] = j->ods[at - 1];
		at--;
	}
	j->ods[at] = d;
	j->n++;
}

static void jobs_free(group_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(jobs[i].ods);
	free(jobs);
}

/* The groups and objects to sign, with the reference's errors. */
static int plan(const sif_image *img, const sign_opts *o, group_job **jobs, size_t *n,
		lt_error **err)
{
	*jobs = NULL;
	*n = 0;
	for (size_t g = 0; g < o->n_groups; g++) {
		if (o->groups[g] == 0)
			return lt_error_set(err, 0, "integrity: invalid group ID");
		size_t k = 0;
		const sif_descriptor **ods = sign_group_objects(img, o->groups[g], &k);
		if (k == 0) {
			free(ods);
			return lt_error_set(
			    err, 0, "integrity: group not found (group %" PRIu32 ")", o->groups[g]);
		}
		for (size_t i = 0; i < k; i++)
			job_add(jobs, n, o->groups[g], ods[i]);
		free(ods);
	}
	for (size_t i = 0; i < o->n_objects; i++) {
		const sif_descriptor *d = o->objects[i] ? sif_find_id(img, o->objects[i]) : NULL;
		if (d == NULL)
			return lt_error_set(err, 0,
					    "integrity: object not found (object %" PRIu32 ")",
					    o->objects[i]);
		if (sif_group_of(d) == 0)
			return lt_error_set(err, 0,
					    "integrity: invalid group ID (object %" PRIu32
					    " is in no group)",
					    d->id);
		job_add(jobs, n, sif_group_of(d), d);
	}
	if (*n == 0) {
		for (int64_t s = 0; s < sif_slot_count(img); s++) {
			const sif_descriptor *d = sif_slot(img, s);
			if (d->used && sif_group_of(d) != 0)
				job_add(jobs, n, sif_group_of(d), d);
		}
		if (*n == 0)
			return lt_error_set(err, 0, "integrity: no groups found");
	}
	/* one signature per group, in group order */
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 0 && (*jobs)[j - 1].group > (*jobs)[j].group; j--) {
			group_job t = (*jobs)[j];
			(*jobs)[j] = (*jobs)[j - 1];
			(*jobs)[j - 1] = t;
		}
	return 0;
}

/* The metadata an existing signature carries, read without checking who signed it. */
static int signed_metadata(const sif_image *img, const sif_descriptor *sig, sign_metadata **m,
			   lt_error **err)
{
	sign_buf data = {0};
	*m = NULL;
	if (sign_read_signature(img, sig, &data, err) < 0)
		return -1;
	int rc = -1;
	if (sign_is_envelope(data.data, data.len)) {
		sign_envelope e;
		if (sign_envelope_decode(data.data, data.len, &e, err) == 0) {
			rc = sign_metadata_parse(e.payload.data, e.payload.len, m, err);
			sign_envelope_free(&e);
		}
	} else {
		sign_clearsigned c;
		if (sign_clearsign_decode(data.data, data.len, &c) == 0) {
			rc = sign_metadata_parse(c.plain.data, c.plain.len, m, err);
			sign_clearsigned_free(&c);
		} else {
			lt_error_set(err, 0, "signature format not recognized");
		}
	}
	sign_buf_free(&data);
	return rc;
}

/* Refuses to sign a group whose earlier (non-legacy) signatures no longer match it: the new
 * signature would verify, the old one would not, and `verify` checks all of them. */
static int check_earlier(const sif_image *img, const group_job *j, lt_error **err)
{
	for (int64_t s = 0; s < sif_slot_count(img); s++) {
		const sif_descriptor *sig = sif_slot(img, s);
		bool is_group = false;
		if (!sig->used || sig->datatype != SIF_DATA_SIGNATURE ||
		    sif_link_of(sig, &is_group) != j->group || !is_group)
			continue;
		sign_buf data = {0};
		if (sign_read_signature(img, sig, &data, err) < 0)
			return -1;
		bool legacy = sign_is_legacy(data.data, data.len);
		sign_buf_free(&data);
		if (legacy)
			continue;
		sign_metadata *m = NULL;
		lt_error *why = NULL;
		size_t n = 0;
		const sif_descriptor **all = sign_group_objects(img, j->group, &n);
		uint32_t bad = 0;
		int rc = signed_metadata(img, sig, &m, &why);
		if (rc == 0)
			rc = sign_metadata_match(m, img, j->group, all, n, false, &bad, &why);
		free(all);
		sign_metadata_free(m);
		if (rc < 0) {
			lt_error_set(err, 0,
				     "signature object %" PRIu32 " of group %" PRIu32
				     " no longer matches the image (%s), so verifying would fail; "
				     "use --all to sign anyway",
				     sig->id, j->group, why ? why->message : "unreadable");
			lt_error_free(&why);
			return -1;
		}
	}
	return 0;
}

typedef struct pgp_signer {
	sign_pgp *pgp;
	char fpr[SIGN_FPR_LEN + 1];
	uint8_t entity[20];
} pgp_signer;

static int hexbyte(const char *s)
{
	int v = 0;
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static int pgp_setup(const sign_opts *o, pgp_signer *ps, lt_error **err)
{
	char *dir = o->keyring_dir ? lt_xstrdup(o->keyring_dir) : sign_keyring_dir();
	char *path = sign_keyring_path(dir, true);
	sign_pgp_list keys = {0};
	int rc = -1;
	if (sign_keyring_list(dir, true, &keys, err) < 0)
		goto out;
	if (keys.n == 0) {
		lt_error_set(err, 0,
			     "keyring is empty (%s): make a key with `litho key newpair` or "
			     "import one with `litho key import`",
			     path);
		goto out;
	}
	int idx = o->keyidx;
	if (idx < 0) {
		if (keys.n == 1)
			idx = 0;
		else if (o->select == NULL || (idx = o->select(&keys, o->select_ctx, err)) < 0) {
			if (o->select == NULL)
				lt_error_set(err, 0,
					     "%zu secret keys in %s: choose one with --keyidx",
					     keys.n, path);
			goto out;
		}
	}
	if ((size_t)idx >= keys.n) {
		lt_error_set(err, 0, "index out of range (%d; %s holds %zu keys)", idx, path,
			     keys.n);
		goto out;
	}
	memcpy(ps->fpr, keys.keys[idx].fingerprint, sizeof(ps->fpr));
	for (int i = 0; i < 20; i++)
		ps->entity[i] = (uint8_t)hexbyte(ps->fpr + 2 * i);
	lt_info("Signing with key %s (%s)", ps->fpr, keys.keys[idx].name);
	if (sign_pgp_open(&ps->pgp, err) < 0 || sign_pgp_import_file(ps->pgp, path, err) < 0)
		goto out;
	rc = 0;
out:
	sign_pgp_list_free(&keys);
	free(path);
	free(dir);
	return rc;
}

int sign_image(const char *path, const sign_opts *o, lt_error **err)
{
	sif_image *img = NULL;
	group_job *jobs = NULL;
	size_t n = 0;
	pgp_signer ps = {0};
	int rc = -1;
	if (sif_open(path, true, &img, err) < 0)
		return -1;
	if (plan(img, o, &jobs, &n, err) < 0)
		goto out;
	for (size_t i = 0; !o->all && i < n; i++)
		if (check_earlier(img, &jobs[i], err) < 0)
			goto out;
	if (o->key == NULL && pgp_setup(o, &ps, err) < 0)
		goto out;
	const sif_header *h = sif_get_header(img);
	static const uint8_t zero_id[16];
	bool deterministic = memcmp(h->id, zero_id, 16) == 0 && h->created_at == SIF_ZERO_TIME &&
			     h->modified_at == SIF_ZERO_TIME;
	int64_t t = deterministic ? SIF_ZERO_TIME : o->time;
	for (size_t i = 0; i < n; i++) {
		char *json = NULL;
		if (sign_metadata_build(img, jobs[i].group, jobs[i].ods, jobs[i].n, &json, err) < 0)
			goto out;
		sign_buf sig = {0};
		int r;
		if (o->key != NULL) {
			char *env = NULL;
			r = sign_dsse_sign(o->key, json, strlen(json), &env, err);
			sig.data = (uint8_t *)env;
			sig.len = env ? strlen(env) : 0;
		} else {
			r = sign_pgp_clearsign(ps.pgp, ps.fpr, o->passphrase, o->passphrase_ctx,
					       json, strlen(json), &sig, err);
		}
		free(json);
		if (r < 0)
			goto out;
		sif_object_spec spec = {
		    .datatype = SIF_DATA_SIGNATURE,
		    .group = 0,
		    .link = jobs[i].group,
		    .link_is_group = true,
		    .alignment = -1,
		    .time = t,
		    .hashtype = SIF_HASH_SHA256,
		};
		if (o->key == NULL)
			memcpy(spec.entity, ps.entity, 20);
		r = sif_add_from_buffer(img, &spec, sig.data, sig.len, err);
		sign_buf_free(&sig);
		if (r < 0)
			goto out;
	}
	sif_touch(img, t);
	rc = sif_commit(img, err);
out:
	if (rc < 0)
		lt_error_wrap(err, "cannot sign %s", path);
	sign_pgp_close(ps.pgp);
	jobs_free(jobs, n);
	sif_close(img);
	return rc;
}
