/* What `verify` prints: Apptainer's per-signature text, or its JSON document. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

void sign_print_result(FILE *out, const sif_image *img, const sign_result *r)
{
	if (r->pgp) {
		fprintf(out, "%-18s Signing entity: %s\n", "[LOCAL]", r->signer ? r->signer : "");
		fprintf(out, "%-18s Fingerprint: %s\n", "[LOCAL]", r->fingerprint);
	}
	for (size_t i = 0; i < r->n_key_ids; i++)
		fprintf(out, "%-18s Key ID: %s\n", "[KEY]", r->key_ids[i]);
	if (r->n_verified > 0) {
		fprintf(out, "Objects verified:\n");
		fprintf(out, "%-4s|%-8s|%-8s|%s\n", "ID", "GROUP", "LINK", "TYPE");
		fprintf(out, "------------------------------------------------\n");
	}
	for (size_t i = 0; i < r->n_verified; i++) {
		const sif_descriptor *d = r->verified[i];
		char group[16] = "NONE", link[24] = "NONE";
		bool is_group = false;
		uint32_t l = sif_link_of(d, &is_group);
		if (sif_group_of(d) != 0)
			snprintf(group, sizeof(group), "%" PRIu32, sif_group_of(d));
		if (l != 0)
			snprintf(link, sizeof(link), is_group ? "%" PRIu32 " (G)" : "%" PRIu32, l);
		fprintf(out, "%-4" PRIu32 "|%-8s|%-8s|%s\n", d->id, group, link,
			sif_datatype_name(d->datatype));
	}
	if (r->error != NULL)
		fprintf(out, "\nError encountered during signature verification: %s\n", r->error);
}

struct sign_json {
	int signatures;
	json_t *keys; /* array, or NULL while empty (Go writes null) */
};

sign_json *sign_json_new(void)
{
	return lt_xcalloc(1, sizeof(sign_json));
}

static void add_entry(sign_json *j, const sif_descriptor *d, const sign_result *r, bool data_ok)
{
	json_t *e = json_object();
	json_object_set_new(e, "Partition", json_string(sif_datatype_name(d->datatype)));
	json_object_set_new(e, "Name", json_string(r->pgp ? r->signer : "unknown"));
	json_object_set_new(e, "Fingerprint", json_string(r->pgp ? r->fingerprint : ""));
	json_object_set_new(e, "KeyLocal", json_boolean(r->pgp));
	json_object_set_new(e, "KeyCheck", json_boolean(r->pgp));
	json_object_set_new(e, "DataCheck", json_boolean(data_ok));
	json_t *k = json_object();
	json_object_set_new(k, "Signer", e);
	if (j->keys == NULL)
		j->keys = json_array();
	json_array_append_new(j->keys, k);
}

void sign_json_add(sign_json *j, const sif_image *img, const sign_result *r)
{
	j->signatures++;
	for (size_t i = 0; i < r->n_verified; i++)
		add_entry(j, r->verified[i], r, true);
	const sif_descriptor *bad = r->bad_object ? sif_find_id(img, r->bad_object) : NULL;
	if (bad != NULL)
		add_entry(j, bad, r, false);
}

void sign_json_print(FILE *out, const sign_json *j)
{
	json_t *root = json_object();
	json_object_set_new(root, "Signatures", json_integer(j->signatures));
	json_object_set(root, "SignerKeys", j->keys ? j->keys : json_null());
	/* Go's encoder with two-space indent, fields in struct order */
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fprintf(out, "%s\n", s ? s : "{}");
	free(s);
	json_decref(root);
}

void sign_json_free(sign_json *j)
{
	if (j == NULL)
		return;
	json_decref(j->keys);
	free(j);
}
