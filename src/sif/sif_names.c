/* The names the reference implementation prints for codes, and small formatters. */
#include <inttypes.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "sif_internal.h"

const char *sif_datatype_name(int32_t datatype)
{
	switch (datatype) {
	case SIF_DATA_DEFFILE:
		return "Def.FILE";
	case SIF_DATA_ENVVAR:
		return "Env.Vars";
	case SIF_DATA_LABELS:
		return "JSON.Labels";
	case SIF_DATA_PARTITION:
		return "FS";
	case SIF_DATA_SIGNATURE:
		return "Signature";
	case SIF_DATA_GENERIC_JSON:
		return "JSON.Generic";
	case SIF_DATA_GENERIC:
		return "Generic/Raw";
	case SIF_DATA_CRYPTO_MESSAGE:
		return "Cryptographic Message";
	case SIF_DATA_SBOM:
		return "SBOM";
	case SIF_DATA_OCI_ROOT_INDEX:
		return "OCI.RootIndex";
	case SIF_DATA_OCI_BLOB:
		return "OCI.Blob";
	}
	return "Unknown";
}

const char *sif_fstype_name(int32_t fstype)
{
	static const char *const names[] = {
	    "Squashfs", "Ext3", "Archive", "Raw", "Encrypted squashfs", "Gocryptfs squashfs"};
	if (fstype >= 1 && fstype <= (int32_t)LT_ARRAY_SIZE(names))
		return names[fstype - 1];
	return "Unknown";
}

const char *sif_parttype_name(int32_t parttype)
{
	static const char *const names[] = {"System", "*System", "Data", "Overlay"};
	if (parttype >= 1 && parttype <= (int32_t)LT_ARRAY_SIZE(names))
		return names[parttype - 1];
	return "Unknown";
}

const char *sif_hashtype_name(int32_t hashtype)
{
	/* Go's crypto.Hash names, which siftool prints. */
	static const char *const names[] = {"SHA-256", "SHA-384", "SHA-512", "BLAKE2s-256",
					    "BLAKE2b-256"};
	if (hashtype >= 1 && hashtype <= (int32_t)LT_ARRAY_SIZE(names))
		return names[hashtype - 1];
	return "Unknown";
}

const char *sif_formattype_name(int32_t format)
{
	switch (format) {
	case SIF_FORMAT_OPENPGP:
		return "OpenPGP";
	case SIF_FORMAT_PEM:
		return "PEM";
	}
	return "Unknown";
}

const char *sif_messagetype_name(int32_t message)
{
	switch (message) {
	case SIF_MESSAGE_CLEAR_SIGNATURE:
		return "Clear Signature";
	case SIF_MESSAGE_RSA_OAEP:
		return "RSA-OAEP";
	}
	return "Unknown";
}

static const char *const sbom_names[] = {"cyclonedx-json", "cyclonedx-xml", "github-json",
					 "spdx-json",	   "spdx-rdf",	    "spdx-tag-value",
					 "spdx-yaml",	   "syft-json"};

const char *sif_sbom_format_name(int32_t format)
{
	if (format >= 1 && format <= (int32_t)LT_ARRAY_SIZE(sbom_names))
		return sbom_names[format - 1];
	return "unknown";
}

int32_t sif_sbom_format_from_name(const char *name)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(sbom_names); i++)
		if (strcmp(name, sbom_names[i]) == 0)
			return (int32_t)i + 1;
	return 0;
}

/* Index i holds the Go name of code i (two digits). */
static const char *const go_arches[] = {
    NULL,   "386",    "amd64",	"arm",	    "arm64", "ppc64",	"ppc64le",
    "mips", "mipsle", "mips64", "mips64le", "s390x", "riscv64", "loong64",
};

const char *sif_arch_to_go(const char *code)
{
	if (code[0] >= '0' && code[0] <= '9' && code[1] >= '0' && code[1] <= '9' &&
	    code[2] == '\0') {
		int n = (code[0] - '0') * 10 + (code[1] - '0');
		if (n >= 1 && n < (int)LT_ARRAY_SIZE(go_arches))
			return go_arches[n];
	}
	return "unknown";
}

const char *sif_arch_from_go(const char *goarch)
{
	static const char *const codes[] = {NULL, "01", "02", "03", "04", "05", "06",
					    "07", "08", "09", "10", "11", "12", "13"};
	for (size_t i = 1; i < LT_ARRAY_SIZE(go_arches); i++) {
		char num[4];
		snprintf(num, sizeof(num), "%zu", i);
		if (strcmp(goarch, go_arches[i]) == 0 || strcmp(goarch, num) == 0)
			return codes[i];
	}
	/* uname spellings, so that `uname -m` output works too */
	static const struct {
		const char *machine, *code;
	} aliases[] = {{"x86_64", "02"}, {"i386", "01"},   {"i686", "01"},   {"aarch64", "04"},
		       {"armv7l", "03"}, {"armv6l", "03"}, {"riscv64", "12"}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(aliases); i++)
		if (strcmp(goarch, aliases[i].machine) == 0)
			return aliases[i].code;
	return NULL;
}

const char *sif_host_arch(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		return "00";
	const char *code = sif_arch_from_go(u.machine);
	if (code != NULL)
		return code;
	if (strcmp(u.machine, "ppc64le") == 0)
		return "06";
	if (strcmp(u.machine, "s390x") == 0)
		return "11";
	return "00";
}

void sif_format_uuid(const uint8_t id[16], char out[37])
{
	char hex[33];
	lt_hex_encode(id, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void sif_format_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, len, "%" PRId64, t);
		return;
	}
	long year = (long)tm.tm_year + 1900;
	snprintf(out, len, "%s%04ld-%02d-%02d %02d:%02d:%02d +0000 UTC", year < 0 ? "-" : "",
		 year < 0 ? -year : year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}
