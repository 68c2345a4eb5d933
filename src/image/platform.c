/* Platform selection (oci.md §4.4, after containers/image internal/pkg/platform): the wanted
 * os/arch/variant, the host's GOARCH and ARM variant, and the ranking of index entries. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "image_internal.h"

static const struct {
	const char *from, *arch, *variant;
} machine_map[] = {
    {"x86_64", "amd64", ""},  {"amd64", "amd64", ""},	    {"aarch64", "arm64", ""},
    {"arm64", "arm64", ""},   {"armv8l", "arm", "v8"},	    {"armv7l", "arm", "v7"},
    {"armv7", "arm", "v7"},   {"armhf", "arm", "v7"},	    {"armv6l", "arm", "v6"},
    {"armel", "arm", "v6"},   {"armv5tel", "arm", "v5"},    {"armv5l", "arm", "v5"},
    {"i386", "386", ""},      {"i486", "386", ""},	    {"i586", "386", ""},
    {"i686", "386", ""},      {"ppc64le", "ppc64le", ""},   {"ppc64", "ppc64", ""},
    {"s390x", "s390x", ""},   {"riscv64", "riscv64", ""},   {"loongarch64", "loong64", ""},
    {"mips64", "mips64", ""}, {"mips64el", "mips64le", ""},
};

/* Variants of an architecture, most capable first. */
static const struct {
	const char *arch;
	const char *variants[5];
} variant_lists[] = {
    {"arm", {"v8", "v7", "v6", "v5", NULL}},
    {"arm64", {"v8", NULL}},
};

const char *img_normalize_arch(const char *arch)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(machine_map); i++)
		if (strcmp(arch, machine_map[i].from) == 0 && machine_map[i].variant[0] == '\0')
			return machine_map[i].arch;
	if (strcmp(arch, "armhf") == 0 || strcmp(arch, "armel") == 0)
		return "arm";
	return arch;
}

/* "7" -> "v7". */
static void normalize_variant(const char *variant, char *out, size_t len)
{
	if (variant == NULL)
		variant = "";
	if (variant[0] >= '0' && variant[0] <= '9')
		snprintf(out, len, "v%s", variant);
	else
		snprintf(out, len, "%s", variant);
}

static void host_platform(char *arch, size_t arch_len, char *variant, size_t var_len)
{
	struct utsname u;
	snprintf(arch, arch_len, "unknown");
	variant[0] = '\0';
	if (uname(&u) < 0)
		return;
	for (size_t i = 0; i < LT_ARRAY_SIZE(machine_map); i++) {
		if (strcmp(u.machine, machine_map[i].from) == 0) {
			snprintf(arch, arch_len, "%s", machine_map[i].arch);
			snprintf(variant, var_len, "%s", machine_map[i].variant);
			return;
		}
	}
	if (lt_str_has_prefix(u.machine, "arm")) {
		snprintf(arch, arch_len, "arm");
		snprintf(variant, var_len, "v7");
		return;
	}
	snprintf(arch, arch_len, "%s", u.machine);
}

void img_wanted_init(const img_platform *p, img_wanted *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->os, sizeof(w->os), "%s", p && p->os ? p->os : "linux");
	char host_arch[72], host_variant[16];
	host_platform(host_arch, sizeof(host_arch), host_variant, sizeof(host_variant));
	snprintf(w->arch, sizeof(w->arch), "%s",
		 p && p->arch ? img_normalize_arch(p->arch) : host_arch);
	/* No variant given: the host's (ARM) when the host's architecture is wanted. */
	const char *variant = p ? p->variant : NULL;
	if (variant == NULL && strcmp(w->arch, host_arch) == 0)
		variant = host_variant;
	normalize_variant(variant, w->variant, sizeof(w->variant));
	const char *const *list = NULL;
	for (size_t i = 0; i < LT_ARRAY_SIZE(variant_lists); i++)
		if (strcmp(w->arch, variant_lists[i].arch) == 0)
			list = variant_lists[i].variants;
	/* Candidates: the wanted variant, then the less capable ones, then none; with no
	 * variant wanted: none first, then every variant. */
	if (w->variant[0] != '\0') {
		w->cands[w->n_cands++] = w->variant;
		bool after = false;
		for (size_t i = 0; list && list[i] && w->n_cands < LT_ARRAY_SIZE(w->cands) - 1;
		     i++) {
			if (after)
				w->cands[w->n_cands++] = list[i];
			else if (strcmp(list[i], w->variant) == 0)
				after = true;
		}
		w->cands[w->n_cands++] = "";
	} else {
		w->cands[w->n_cands++] = "";
		for (size_t i = 0; list && list[i] && w->n_cands < LT_ARRAY_SIZE(w->cands); i++)
			w->cands[w->n_cands++] = list[i];
	}
}

int img_platform_rank(const img_wanted *w, const char *os, const char *arch, const char *variant)
{
	if (os == NULL || arch == NULL || strcmp(os, w->os) != 0 ||
	    strcmp(img_normalize_arch(arch), w->arch) != 0)
		return -1;
	char v[32];
	normalize_variant(variant, v, sizeof(v));
	for (size_t i = 0; i < w->n_cands; i++)
		if (strcmp(v, w->cands[i]) == 0)
			return (int)i;
	return -1;
}

char *img_platform_format(const char *os, const char *arch, const char *variant)
{
	if (variant != NULL && variant[0] != '\0')
		return lt_strdup_printf("%s/%s/%s", os ? os : "?", arch ? arch : "?", variant);
	return lt_strdup_printf("%s/%s", os ? os : "?", arch ? arch : "?");
}

bool img_desc_is_attestation(const json_t *desc)
{
	json_t *annotations = json_object_get(desc, "annotations");
	const char *type = lt_json_string(annotations, "vnd.docker.reference.type");
	if (type != NULL && strcmp(type, "attestation-manifest") == 0)
		return true;
	json_t *p = json_object_get(desc, "platform");
	const char *os = lt_json_string(p, "os");
	const char *arch = lt_json_string(p, "architecture");
	return os != NULL && arch != NULL && strcmp(os, "unknown") == 0 &&
	       strcmp(arch, "unknown") == 0;
}

void img_platform_check_config(const img_source *src, const img_image *img, const img_wanted *w)
{
	if (img->os == NULL || img->arch == NULL) {
		lt_warn("%s: the image config does not say which platform it is for", src->display);
		return;
	}
	if (strcmp(img->os, w->os) == 0 && strcmp(img_normalize_arch(img->arch), w->arch) == 0)
		return;
	char *have = img_platform_format(img->os, img->arch, img->variant);
	char *want = img_platform_format(w->os, w->arch, w->variant);
	lt_warn("%s: the image is for %s, not %s", src->display, have, want);
	free(have);
	free(want);
}
