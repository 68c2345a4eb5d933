/* `litho sif header|list|info` output, laid out exactly like the reference siftool so that
 * scripts can switch tools. siftool aligns with Go's text/tabwriter; the small table below
 * does the same for the two-column layouts it uses. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sif_internal.h"

#define TABLE_ROWS 24

typedef struct table {
	char *label[TABLE_ROWS];
	char *value[TABLE_ROWS];
	int rows;
} table;

static void table_add(table *t, const char *label, const char *fmt, ...) LT_PRINTF(3, 4);

static void table_add(table *t, const char *label, const char *fmt, ...)
{
	if (t->rows >= TABLE_ROWS)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *v = NULL;
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	t->label[t->rows] = lt_xstrdup(label);
	t->value[t->rows] = v ? v : lt_xstrdup("");
	t->rows++;
}

/* Prints rows as "<indent><label padded to the widest + padding><value>". */
static void table_print(FILE *out, table *t, const char *indent, int padding)
{
	size_t width = 0;
	for (int i = 0; i < t->rows; i++)
		if (strlen(t->label[i]) > width)
			width = strlen(t->label[i]);
	for (int i = 0; i < t->rows; i++) {
		fprintf(out, "%s%-*s%s\n", indent, (int)(width + (size_t)padding), t->label[i],
			t->value[i]);
		free(t->label[i]);
		free(t->value[i]);
	}
	t->rows = 0;
}

static bool is_zero_id(const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		if (id[i])
			return false;
	return true;
}

void sif_print_header(FILE *out, const sif_image *img)
{
	const sif_header *h = &img->header;
	table t = {0};
	char buf[64];

	char launch[SIF_LAUNCH_SCRIPT_LEN + 1];
	memcpy(launch, h->launch_script, SIF_LAUNCH_SCRIPT_LEN);
	launch[SIF_LAUNCH_SCRIPT_LEN] = '\0';
	size_t n = strlen(launch);
	bool has_launch = n > 0;
	if (n > 0 && launch[n - 1] == '\n')
		launch[--n] = '\0';
	if (has_launch)
		table_add(&t, "Launch Script:", "%s", launch);
	char version[4];
	memcpy(version, h->version, 3);
	version[3] = '\0';
	table_add(&t, "Version:", "%s", version);
	const char *arch = sif_arch_to_go(h->arch);
	if (strcmp(arch, "unknown") != 0)
		table_add(&t, "Primary Architecture:", "%s", arch);
	if (!is_zero_id(h->id)) {
		char uuid[37];
		sif_format_uuid(h->id, uuid);
		table_add(&t, "ID:", "%s", uuid);
	}
	if (h->created_at != SIF_ZERO_TIME) {
		sif_format_time(h->created_at, buf, sizeof(buf));
		table_add(&t, "Created At:", "%s", buf);
	}
	if (h->modified_at != SIF_ZERO_TIME) {
		sif_format_time(h->modified_at, buf, sizeof(buf));
		table_add(&t, "Modified At:", "%s", buf);
	}
	table_add(&t, "Descriptors Free:", "%" PRId64, h->descriptors_free);
	table_add(&t, "Descriptors Total:", "%" PRId64, h->descriptors_total);
	table_add(&t, "Descriptors Offset:", "%" PRId64, h->descriptors_offset);
	lt_format_size(h->descriptors_size, buf, sizeof(buf));
	table_add(&t, "Descriptors Size:", "%s", buf);
	table_add(&t, "Data Offset:", "%" PRId64, h->data_offset);
	lt_format_size(h->data_size, buf, sizeof(buf));
	table_add(&t, "Data Size:", "%s", buf);
	table_print(out, &t, "", 1);
}

static void print_type_details(FILE *out, const sif_descriptor *d)
{
	const char *dt = sif_datatype_name(d->datatype);
	switch (d->datatype) {
	case SIF_DATA_PARTITION: {
		sif_partition_info p;
		sif_partition_of(d, &p);
		fprintf(out, "|%s (%s/%s/%s)\n", dt, sif_fstype_name(p.fstype),
			sif_parttype_name(p.parttype), sif_arch_to_go(p.arch));
		break;
	}
	case SIF_DATA_SIGNATURE: {
		sif_signature_info s;
		sif_signature_of(d, &s);
		fprintf(out, "|%s (%s)\n", dt, sif_hashtype_name(s.hashtype));
		break;
	}
	case SIF_DATA_CRYPTO_MESSAGE: {
		int32_t f, m;
		sif_crypto_of(d, &f, &m);
		fprintf(out, "|%s (%s/%s)\n", dt, sif_formattype_name(f), sif_messagetype_name(m));
		break;
	}
	case SIF_DATA_SBOM:
		fprintf(out, "|%s (%s)\n", dt, sif_sbom_format_name(sif_sbom_format_of(d)));
		break;
	default:
		fprintf(out, "|%s\n", dt);
	}
}

void sif_print_list(FILE *out, const sif_image *img)
{
	static const char rule[] =
	    "------------------------------------------------------------------------------";
	fprintf(out, "%s\n", rule);
	fprintf(out, "%-4s %-8s %-8s %-26s %s\n", "ID", "|GROUP", "|LINK",
		"|SIF POSITION (start-end)", "|TYPE");
	fprintf(out, "%s\n", rule);
	for (int64_t i = 0; i < img->header.descriptors_total; i++) {
		const sif_descriptor *d = &img->slots[i];
		if (!d->used)
			continue;
		fprintf(out, "%-4" PRIu32 " ", d->id);
		uint32_t group = sif_group_of(d);
		if (group == 0)
			fprintf(out, "|%-7s ", "NONE");
		else
			fprintf(out, "|%-7" PRIu32 " ", group);
		bool is_group = false;
		uint32_t link = sif_link_of(d, &is_group);
		if (link == 0)
			fprintf(out, "|%-7s ", "NONE");
		else if (is_group)
			fprintf(out, "|%-3" PRIu32 " (G) ", link);
		else
			fprintf(out, "|%-7" PRIu32 " ", link);
		char pos[64];
		snprintf(pos, sizeof(pos), "|%" PRId64 "-%" PRId64 " ", d->offset,
			 d->offset + d->size);
		fprintf(out, "%-26s ", pos);
		print_type_details(out, d);
	}
}

int sif_print_info(FILE *out, const sif_image *img, uint32_t id, lt_error **err)
{
	const sif_descriptor *d = NULL;
	if (sif_lookup_id(img, id, &d, err) < 0)
		return -1;
	table t = {0};
	char buf[SIF_EXTRA_LEN + 1];

	table_add(&t, "Data Type:", "%s", sif_datatype_name(d->datatype));
	table_add(&t, "ID:", "%" PRIu32, d->id);
	uint32_t group = sif_group_of(d);
	if (group == 0)
		table_add(&t, "Group ID:", "NONE");
	else
		table_add(&t, "Group ID:", "%" PRIu32, group);
	bool is_group = false;
	uint32_t link = sif_link_of(d, &is_group);
	if (link == 0)
		table_add(&t, "Linked ID:", "NONE");
	else
		table_add(&t, "Linked ID:", "%" PRIu32 "%s", link, is_group ? " (G)" : "");
	table_add(&t, "Offset:", "%" PRId64, d->offset);
	table_add(&t, "Size:", "%" PRId64, d->size);
	if (d->created_at != SIF_ZERO_TIME) {
		sif_format_time(d->created_at, buf, sizeof(buf));
		table_add(&t, "Created At:", "%s", buf);
	}
	if (d->modified_at != SIF_ZERO_TIME) {
		sif_format_time(d->modified_at, buf, sizeof(buf));
		table_add(&t, "Modified At:", "%s", buf);
	}
	sif_name_of(d, buf);
	if (buf[0] != '\0')
		table_add(&t, "Name:", "%s", buf);

	switch (d->datatype) {
	case SIF_DATA_PARTITION: {
		sif_partition_info p;
		sif_partition_of(d, &p);
		table_add(&t, "Filesystem Type:", "%s", sif_fstype_name(p.fstype));
		table_add(&t, "Partition Type:", "%s", sif_parttype_name(p.parttype));
		table_add(&t, "Architecture:", "%s", sif_arch_to_go(p.arch));
		break;
	}
	case SIF_DATA_SIGNATURE: {
		sif_signature_info s;
		sif_signature_of(d, &s);
		table_add(&t, "Hash Type:", "%s", sif_hashtype_name(s.hashtype));
		static const uint8_t zero[20];
		if (memcmp(s.entity, zero, 20) != 0) {
			char hex[41];
			lt_hex_encode(s.entity, 20, hex);
			for (char *c = hex; *c; c++)
				if (*c >= 'a' && *c <= 'f')
					*c = (char)(*c - 'a' + 'A');
			table_add(&t, "Entity:", "%s", hex);
		}
		break;
	}
	case SIF_DATA_CRYPTO_MESSAGE: {
		int32_t f, m;
		sif_crypto_of(d, &f, &m);
		table_add(&t, "Format Type:", "%s", sif_formattype_name(f));
		table_add(&t, "Message Type:", "%s", sif_messagetype_name(m));
		break;
	}
	case SIF_DATA_SBOM:
		table_add(&t, "Format:", "%s", sif_sbom_format_name(sif_sbom_format_of(d)));
		break;
	case SIF_DATA_OCI_ROOT_INDEX:
	case SIF_DATA_OCI_BLOB:
		sif_oci_digest_of(d, buf);
		table_add(&t, "Digest:", "%s", buf);
		break;
	}
	table_print(out, &t, "  ", 2);
	return 0;
}
