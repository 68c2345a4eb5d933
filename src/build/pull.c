/* Getting a runnable SIF for an image reference: `litho pull`, and run/exec/shell given a
 * reference instead of a file. Both go through the converted-image cache, so the second pull or
 * run of the same image converts nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_internal.h"

/* Copies into an open file (a reflink where the filesystem can). */
int build_copy_into(const char *from, int out_fd, lt_error **err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return lt_error_set(err, errno, "opening %s", from);
	struct stat st;
	int rc = fstat(in, &st) < 0 ? lt_error_set(err, errno, "%s", from)
				    : lt_copy_range_to_fd(in, 0, st.st_size, out_fd, from, err);
	close(in);
	return rc;
}

int build_copy_file(const char *from, const char *to, lt_error **err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return lt_error_set(err, errno, "opening %s", from);
	struct stat st;
	lt_atomic_file af;
	int rc = -1;
	if (fstat(in, &st) < 0) {
		lt_error_set(err, errno, "%s", from);
		goto out;
	}
	if (lt_atomic_open(&af, to, 0755, err) < 0)
		goto out;
	if (lt_copy_range_to_fd(in, 0, st.st_size, af.fd, from, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	rc = lt_atomic_commit(&af, err);
out:
	close(in);
	return rc;
}

int build_pull(const build_opts *o, build_report *report, bool *from_cache, lt_error **err)
{
	build_report dummy;
	if (report == NULL)
		report = &dummy;
	memset(report, 0, sizeof(*report));
	*from_cache = false;
	struct stat st;
	if (!o->force && lstat(o->output, &st) == 0)
		return lt_error_set(err, 0, "%s already exists (use --force to overwrite it)",
				    o->output);
	if (img_is_oras_reference(o->source) || o->registry.disable_cache)
		return build_sif(o, report, err);
	char *cached = NULL;
	bool built = false;
	if (build_cached(o, &cached, &built, report, err) < 0)
		return -1;
	*from_cache = !built;
	int rc = build_copy_file(cached, o->output, err);
	if (rc < 0)
		lt_error_wrap(err, "writing %s", o->output);
	free(cached);
	return rc;
}

/* A new SIF in the temporary folder for one run; the caller removes it. */
static int build_temporary(const build_opts *o, char **path, lt_error **err)
{
	const char *tmpdir = getenv("TMPDIR");
	char *tmpl = lt_strdup_printf("%s/litho-image-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	int fd = mkstemp(tmpl);
	if (fd < 0) {
		lt_error_set(err, errno, "creating a temporary file like %s", tmpl);
		free(tmpl);
		return -1;
	}
	close(fd);
	int slot = lt_cleanup_register(tmpl);
	build_opts t = *o;
	t.output = tmpl;
	t.force = true;
	if (build_sif(&t, NULL, err) < 0) {
		unlink(tmpl);
		lt_cleanup_unregister(slot);
		free(tmpl);
		return -1;
	}
	/* From here the caller owns the file (and removes it after the run). */
	lt_cleanup_unregister(slot);
	*path = tmpl;
	return 0;
}

int build_image_for_run(const build_opts *o, char **path, bool *temporary, lt_error **err)
{
	*path = NULL;
	*temporary = img_is_oras_reference(o->source) || o->registry.disable_cache;
	if (*temporary)
		return build_temporary(o, path, err);
	bool built = false;
	return build_cached(o, path, &built, NULL, err);
}

char *build_default_pull_name(const char *ref)
{
	const char *rest = strstr(ref, "://");
	rest = rest ? rest + 3 : ref;
	const char *last = strrchr(rest, '/');
	last = last ? last + 1 : rest;
	const char *at = strchr(last, '@');
	const char *colon = strchr(last, ':');
	if (at != NULL) {
		/* name@sha256:HEX -> name_sha256.HEX.sif (no ':' in file names, which would read as
		 * references elsewhere) */
		const char *alg_end = strchr(at + 1, ':');
		if (alg_end != NULL)
			return lt_strdup_printf("%.*s_%.*s.%s.sif", (int)(at - last), last,
						(int)(alg_end - at - 1), at + 1, alg_end + 1);
		return lt_strdup_printf("%.*s.sif", (int)(at - last), last);
	}
	if (colon != NULL)
		return lt_strdup_printf("%.*s_%s.sif", (int)(colon - last), last, colon + 1);
	return lt_strdup_printf("%s_latest.sif", last);
}
