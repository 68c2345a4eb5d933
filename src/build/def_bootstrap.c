/* Bootstrap agents: the base root file system of a definition-file stage. Image agents
 * (docker, oci, oci-archive, docker-archive, oras, localimage) go through the same merge as a
 * plain `build` and are written out as a directory; scratch, busybox and debootstrap make one
 * from nothing (compat.md §3.1; Apptainer's internal/pkg/build/sources). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "def_build.h"

/* The stage's header value, or an error naming the file and the stage's line. */
static const char *need_header(def_ctx *d, def_stage_run *s, const char *key, lt_error **err)
{
	const char *v = build_def_stage_header(s->def, key);
	if (v == NULL || *v == '\0')
		lt_error_set(err, 0, "%s:%zu: bootstrap %s needs a %s: header", d->def->path,
			     s->def->line, s->def->bootstrap, key);
	return v;
}

/* Apptainer's skeleton, without the definition file (written at the end of the stage) and,
 * for images that bring their own, without replacing anything they have. */
static int add_skeleton(def_ctx *d, def_stage_run *s, const meta_source *ms, bool keep_existing,
			const char *runscript, lt_error **err)
{
	meta_image m;
	if (meta_for_image(ms, &m, err) < 0)
		return -1;
	for (size_t i = 0; i < m.n_entries; i++) {
		meta_entry *e = &m.entries[i];
		if (strcmp(e->path, ".singularity.d/Singularity") == 0) {
			e->replace = false;
			e->kind = META_DIR; /* neutralised: made by build_def_insert_metadata */
			free(e->path);
			e->path = lt_xstrdup(".singularity.d");
		}
		if (keep_existing)
			e->replace = false;
		if (runscript != NULL && strcmp(e->path, ".singularity.d/runscript") == 0) {
			free(e->data);
			e->data = lt_xstrdup(runscript);
			e->len = strlen(runscript);
		}
	}
	int rc = build_def_meta_to_root(s->rootfd, &m, err);
	meta_image_free(&m);
	return rc;
}

int build_def_image_reference(def_ctx *d, const def_stage *st, char **out, lt_error **err)
{
	*out = NULL;
	const char *agent = st->bootstrap;
	const char *prefix = strcmp(agent, "docker") == 0	    ? "docker://"
			     : strcmp(agent, "oci") == 0	    ? "oci:"
			     : strcmp(agent, "oci-archive") == 0    ? "oci-archive:"
			     : strcmp(agent, "docker-archive") == 0 ? "docker-archive:"
								    : NULL;
	if (prefix == NULL)
		return 0;
	const char *from = build_def_stage_header(st, "from");
	if (from == NULL || *from == '\0')
		return lt_error_set(err, 0, "%s:%zu: bootstrap %s needs a from: header",
				    d->def->path, st->line, agent);
	if (lt_str_has_prefix(from, prefix))
		from += strlen(prefix);
	if (strcmp(agent, "docker") == 0) {
		/* Registry and Namespace headers: registry/namespace/from */
		const char *registry = build_def_stage_header(st, "registry");
		const char *ns = build_def_stage_header(st, "namespace");
		*out = lt_strdup_printf("docker://%s%s%s%s%s", registry ? registry : "",
					registry ? "/" : "", ns ? ns : "", ns ? "/" : "", from);
	} else {
		*out = lt_strdup_printf("%s%s", prefix, from);
	}
	return 0;
}

/* An image reference or a sandbox directory, through the build's tree into the rootfs. */
static int from_tree(def_ctx *d, def_stage_run *s, const char *source, lt_error **err)
{
	build_opts o = *d->o;
	o.source = source;
	o.sandbox = true;
	build_report rep = {0};
	build_ctx c;
	build_ctx_init(&c, &o, &rep);
	meta_source ms = {0};
	meta_image meta;
	memset(&meta, 0, sizeof(meta));
	int rc = -1;
	if (build_open_source(&c, &ms, err) < 0)
		goto out;
	if (o.build_time < 0)
		o.build_time = build_reproducible_time(&c);
	ms.build_time = o.build_time;
	ms.bootstrap = s->def->bootstrap;
	ms.from = build_def_stage_header(s->def, "from");
	if (meta_for_image(&ms, &meta, err) < 0)
		goto out;
	/* the definition file goes in at the end of the stage (older ones to history) */
	for (size_t i = 0; i < meta.n_entries; i++)
		if (strcmp(meta.entries[i].path, ".singularity.d/Singularity") == 0)
			meta.entries[i].replace = false;
	if (build_prepare_meta(&c, &meta, err) < 0)
		goto out;
	if (c.image != NULL) {
		tree_remove(c.tree, tree_lookup(c.tree, ".singularity.d/Singularity"));
		s->config = json_incref(c.image->config);
		s->base_name = c.image->name ? lt_xstrdup(c.image->name) : NULL;
		s->base_digest =
		    c.image->manifest_digest ? lt_xstrdup(c.image->manifest_digest) : NULL;
		s->arch = c.image->arch ? lt_xstrdup(c.image->arch) : NULL;
	}
	rc = build_write_sandbox(&c, s->rootfs, err);
	d->report->layers += rep.layers;
	d->report->stored_bytes += rep.stored_bytes;
out:
	meta_image_free(&meta);
	build_ctx_free(&c);
	return rc;
}

/* The stage's root from a SIF file: its SquashFS extracted, then the metadata skeleton. */
static int from_sif(def_ctx *d, def_stage_run *s, const char *sif, const char *agent,
		    const char *from, lt_error **err)
{
	if (build_extract_sif(sif, s->rootfs, err) < 0)
		return -1;
	/* the extraction replaced the folder the descriptor pointed to */
	close(s->rootfd);
	s->rootfd = build_def_root_open(s->rootfs, err);
	if (s->rootfd < 0)
		return -1;
	meta_source ms = {.bootstrap = agent, .from = from, .build_time = d->o->build_time};
	return add_skeleton(d, s, &ms, true, NULL, err);
}

static int bootstrap_localimage(def_ctx *d, def_stage_run *s, lt_error **err)
{
	const char *from = need_header(d, s, "from", err);
	if (from == NULL)
		return -1;
	struct stat st;
	if (stat(from, &st) < 0)
		return lt_error_set(err, errno, "%s:%zu: From: %s", d->def->path, s->def->line,
				    from);
	if (S_ISDIR(st.st_mode))
		return from_tree(d, s, from, err);
	if (!build_is_sif_file(from))
		return lt_error_set(err, 0,
				    "%s:%zu: From: %s is neither a SIF image nor a directory",
				    d->def->path, s->def->line, from);
	return from_sif(d, s, from, "localimage", from, err);
}

static int bootstrap_oras(def_ctx *d, def_stage_run *s, lt_error **err)
{
	const char *from = need_header(d, s, "from", err);
	if (from == NULL)
		return -1;
	char *ref = lt_str_has_prefix(from, "oras://") ? lt_xstrdup(from)
						       : lt_strdup_printf("oras://%s", from);
	char *sif = lt_path_join(d->workdir, "oras.sif");
	int rc = img_oras_pull(ref, sif, &d->o->registry, NULL, err);
	if (rc == 0)
		rc = from_sif(d, s, sif, "oras", from, err);
	unlink(sif);
	free(sif);
	free(ref);
	return rc;
}

static int bootstrap_busybox(def_ctx *d, def_stage_run *s, lt_error **err)
{
	const char *mirror = build_def_stage_header(s->def, "mirrorurl");
	meta_source ms = {.bootstrap = "busybox", .build_time = d->o->build_time};
	if (add_skeleton(d, s, &ms, false, "#!/bin/sh\n", err) < 0 ||
	    build_def_root_mkdirs(s->rootfd, "bin", 0755, err) < 0)
		return -1;
	static const char passwd[] = "root:!:0:0:root:/root:/bin/sh\n";
	static const char group[] = "root:x:0:\n";
	static const char hosts[] =
	    "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n";
	if (build_def_root_write(s->rootfd, "etc/passwd", passwd, strlen(passwd), 0664, err) < 0 ||
	    build_def_root_write(s->rootfd, "etc/group", group, strlen(group), 0664, err) < 0 ||
	    build_def_root_write(s->rootfd, "etc/hosts", hosts, strlen(hosts), 0664, err) < 0)
		return -1;
	char *target = lt_path_join(s->rootfs, "bin/busybox");
	int rc;
	if (mirror != NULL && *mirror != '\0') {
		rc = img_http_download(mirror, &d->o->registry, target, 0755, err);
		if (rc < 0)
			lt_error_wrap(err, "%s:%zu: MirrorURL", d->def->path, s->def->line);
	} else {
		/* no mirror: the host's busybox, which must be static to run in the image */
		char *argv[] = {"cp", "-L", "--", "busybox", target, NULL};
		char *host = lt_which("busybox");
		if (host == NULL) {
			rc = lt_error_set(err, 0,
					  "%s:%zu: bootstrap busybox without MirrorURL needs the "
					  "host's busybox (Debian: busybox-static)",
					  d->def->path, s->def->line);
		} else {
			argv[3] = host;
			rc = build_def_run_host(argv, NULL, 0, NULL, "copying the host's busybox",
						err);
			free(host);
		}
	}
	if (rc == 0) {
		char *bindir = lt_path_join(s->rootfs, "bin");
		char *argv[] = {target, "--install", bindir, NULL};
		rc = build_def_run_host(argv, NULL, 0, NULL, "busybox --install", err);
		free(bindir);
	}
	free(target);
	return rc;
}

/* Debian names of the architectures debootstrap knows, by GOARCH. */
static const char *debian_arch(const char *goarch)
{
	static const struct {
		const char *go, *deb;
	} archs[] = {{"386", "i386"},	       {"amd64", "amd64"},     {"arm", "armhf"},
		     {"arm64", "arm64"},       {"ppc64le", "ppc64el"}, {"mipsle", "mipsel"},
		     {"mips64le", "mips64el"}, {"s390x", "s390x"},     {"riscv64", "riscv64"}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(archs); i++)
		if (strcmp(archs[i].go, goarch) == 0)
			return archs[i].deb;
	return NULL;
}

static int bootstrap_debootstrap(def_ctx *d, def_stage_run *s, lt_error **err)
{
	const char *mirror = need_header(d, s, "mirrorurl", err);
	const char *version = mirror ? need_header(d, s, "osversion", err) : NULL;
	if (version == NULL)
		return -1;
	char *prog = lt_which("debootstrap");
	if (prog == NULL)
		return lt_error_set(err, 0,
				    "%s:%zu: bootstrap debootstrap needs the debootstrap program "
				    "(apt-get install debootstrap)",
				    d->def->path, s->def->line);
	const char *arch = debian_arch(lt_host_goarch());
	/* Include: a blank or comma separated list, plus $INCLUDE as Apptainer reads it */
	const char *inc = build_def_stage_header(s->def, "include");
	const char *env_inc = getenv("INCLUDE");
	char *include = lt_strdup_printf("apt %s %s", inc ? inc : "", env_inc ? env_inc : "");
	for (char *p = include; *p; p++)
		if (*p == ' ' || *p == '\t')
			*p = ',';
	/* collapse the empty items the joins left */
	char *w = include;
	for (char *r = include; *r; r++)
		if (*r != ',' || (w > include && w[-1] != ','))
			*w++ = *r;
	while (w > include && w[-1] == ',')
		w--;
	*w = '\0';
	char *inc_opt = lt_strdup_printf("--include=%s", include);
	char *arch_opt = lt_strdup_printf("--arch=%s", arch ? arch : "amd64");
	char *argv[] = {prog,
			"--variant=minbase",
			"--exclude=openssl,udev,debconf-i18n,e2fsprogs",
			inc_opt,
			arch_opt,
			(char *)version,
			s->rootfs,
			(char *)mirror,
			NULL};
	lt_info("Running debootstrap %s %s (this downloads the packages)", version, mirror);
	int rc =
	    build_def_run_host(argv, NULL, d->fakeroot ? DEF_HOST_FAKEROOT | DEF_HOST_NO_MOUNTS : 0,
			       s->rootfs, "debootstrap", err);
	if (rc < 0) {
		/* what went wrong is in its log, which goes with the build folder */
		char *log_path = lt_path_join(s->rootfs, "debootstrap/debootstrap.log");
		char *log = NULL;
		size_t len = 0;
		lt_error *ignored = NULL;
		if (lt_read_file(log_path, &log, &len, &ignored) == 0 && len > 0) {
			const char *tail = log + len;
			for (int lines = 0; tail > log && lines < 12; lines += *--tail == '\n') {
			}
			lt_warn("the end of debootstrap's log:\n%s", tail);
		}
		lt_error_free(&ignored);
		free(log);
		free(log_path);
	}
	if (rc < 0)
		lt_error_wrap(err, "%s:%zu", d->def->path, s->def->line);
	free(inc_opt);
	free(arch_opt);
	free(include);
	free(prog);
	if (rc < 0)
		return -1;
	chmod(s->rootfs, 0755);
	meta_source ms = {.bootstrap = "debootstrap", .build_time = d->o->build_time};
	return add_skeleton(d, s, &ms, false, "#!/bin/sh\n", err);
}

int build_def_bootstrap(def_ctx *d, def_stage_run *s, lt_error **err)
{
	const char *agent = s->def->bootstrap;
	lt_info("Bootstrapping stage %zu (%s) with %s", s->index + 1,
		s->def->name ? s->def->name : "unnamed", agent);
	if (strcmp(agent, "docker") == 0 || strcmp(agent, "oci") == 0 ||
	    strcmp(agent, "oci-archive") == 0 || strcmp(agent, "docker-archive") == 0) {
		char *ref;
		if (build_def_image_reference(d, s->def, &ref, err) < 0)
			return -1;
		int rc = from_tree(d, s, ref, err);
		free(ref);
		return rc;
	}
	if (strcmp(agent, "localimage") == 0)
		return bootstrap_localimage(d, s, err);
	if (strcmp(agent, "oras") == 0)
		return bootstrap_oras(d, s, err);
	if (strcmp(agent, "scratch") == 0) {
		meta_source ms = {.bootstrap = "scratch", .build_time = d->o->build_time};
		return add_skeleton(d, s, &ms, false, NULL, err);
	}
	if (strcmp(agent, "busybox") == 0)
		return bootstrap_busybox(d, s, err);
	if (strcmp(agent, "debootstrap") == 0)
		return bootstrap_debootstrap(d, s, err);
	return lt_error_set(err, 0,
			    "%s:%zu: bootstrap agent %s is not supported (supported: docker, oci, "
			    "oci-archive, docker-archive, oras, localimage, scratch, busybox, "
			    "debootstrap)",
			    d->def->path, s->def->line, agent);
}
