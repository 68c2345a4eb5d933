/* Unit tests of the registry side of the image module (references, challenges, retry timing,
 * credentials, the credential store, the cache), and a small driver that the command-level
 * tests (tests/cli/registry.bats) use against real registries:
 *
 *   test_registry                           run the unit tests (TAP)
 *   test_registry pull REF [OPTIONS]        open the image, read every layer twice (the first
 *                                           pass in parallel threads, as `litho build` does),
 *                                           print a JSON summary
 *   test_registry login REGISTRY USER PASS [--no-verify] [OPTIONS]
 *   test_registry logout REGISTRY
 *   test_registry logins
 *   test_registry oras-push SIF REF [--chunk N] [--annotation K=V]... [OPTIONS]
 *   test_registry oras-pull REF OUT [OPTIONS]
 *   test_registry cache-list [--kind K]
 *   test_registry cache-clean [--kind K] [--days N] [--dry-run]
 *   test_registry sif-cache KEY FILE        store FILE as the converted SIF of KEY; print path
 *
 * OPTIONS: -u USER -p PASS --no-https --insecure --ca FILE --no-cache --cache DIR --jobs N
 *          --platform OS/ARCH[/VARIANT] --prefetch --save DIR (layer i to DIR/i)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "tap.h"

/* ---------------------------------------------------------------------------------------------
 * Unit tests
 */
static char *tmpdir;

static void test_reference_parsing(void)
{
	reg_ref r;
	lt_error *err = NULL;
	CHECK_INT(img_reg_ref_parse("docker://busybox", "docker", &r, &err), 0);
	CHECK_STR(r.host, "docker.io");
	CHECK_STR(r.api_host, "registry-1.docker.io");
	CHECK_STR(r.repo, "library/busybox");
	CHECK_STR(r.tag, "latest");
	CHECK(r.digest == NULL);
	CHECK_STR(r.display, "docker://docker.io/library/busybox:latest");
	img_reg_ref_free(&r);

	CHECK_INT(img_reg_ref_parse("docker://index.docker.io/user/img:1.0", "docker", &r, &err),
		  0);
	CHECK_STR(r.host, "docker.io");
	CHECK_STR(r.repo, "user/img");
	CHECK_STR(r.tag, "1.0");
	img_reg_ref_free(&r);

	CHECK_INT(img_reg_ref_parse("docker://127.0.0.1:5000/a/b/c:v_1", "docker", &r, &err), 0);
	CHECK_STR(r.host, "127.0.0.1:5000");
	CHECK_STR(r.api_host, "127.0.0.1:5000");
	CHECK_STR(r.repo, "a/b/c");
	CHECK_STR(r.tag, "v_1");
	img_reg_ref_free(&r);

	CHECK_INT(img_reg_ref_parse("docker://localhost/x", "docker", &r, &err), 0);
	CHECK_STR(r.host, "localhost");
	CHECK_STR(r.repo, "x");
	img_reg_ref_free(&r);

	const char *d = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
	char *s = lt_strdup_printf("docker://quay.io/org/img@%s", d);
	CHECK_INT(img_reg_ref_parse(s, "docker", &r, &err), 0);
	CHECK_STR(r.digest, d);
	CHECK(r.tag == NULL);
	img_reg_ref_free(&r);
	free(s);
	s = lt_strdup_printf("oras://reg.example:443/a-b__c.d:t@%s", d);
	CHECK_INT(img_reg_ref_parse(s, "oras", &r, &err), 0);
	CHECK_STR(r.repo, "a-b__c.d");
	CHECK_STR(r.tag, "t");
	CHECK_STR(r.digest, d);
	img_reg_ref_free(&r);
	free(s);

	/* the first component is a host only with '.', ':' or "localhost" */
	CHECK_INT(img_reg_ref_parse("docker://myuser/img", "docker", &r, &err), 0);
	CHECK_STR(r.host, "docker.io");
	CHECK_STR(r.repo, "myuser/img");
	img_reg_ref_free(&r);

	static const char *const bad[] = {
	    "docker://",     "docker://UPPER/x:y/z", "docker://x:bad tag",
	    "docker://a//b", "docker://a/-b",	     "docker://x@sha256:123",
	    "docker://x:",   "docker://.x",	     "docker://h.io:99x/y",
	    "oras://x",	     "docker://x@md5:abcd",
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(bad); i++) {
		int rc = img_reg_ref_parse(bad[i], "docker", &r, &err);
		if (rc == 0) {
			printf("# accepted %s\n", bad[i]);
			tap_current_failed = true;
			img_reg_ref_free(&r);
		}
		CHECK(err != NULL);
		lt_error_free(&err);
	}
	CHECK(img_is_reference("docker://x"));
	CHECK(img_is_reference("oras://h/x"));
	CHECK(img_is_oras_reference("oras://h/x"));
	CHECK(!img_is_reference("docker:x"));
	CHECK(!img_is_reference("/tmp/x.sif"));
}

static void test_hosts(void)
{
	char *k = img_reg_host_key("https://index.docker.io/v1/");
	CHECK_STR(k, "docker.io");
	free(k);
	k = img_reg_host_key("docker://Quay.IO/org");
	CHECK_STR(k, "quay.io");
	free(k);
	k = img_reg_host_key("127.0.0.1:5000");
	CHECK_STR(k, "127.0.0.1:5000");
	free(k);
	CHECK(img_reg_host_key("") == NULL);
	CHECK(img_reg_host_key("bad host") == NULL);
	CHECK(img_reg_host_is_loopback("localhost:5000"));
	CHECK(img_reg_host_is_loopback("127.0.0.1"));
	CHECK(img_reg_host_is_loopback("127.1.2.3:80"));
	CHECK(img_reg_host_is_loopback("[::1]:5000"));
	CHECK(!img_reg_host_is_loopback("localhost.example.com"));
	CHECK(!img_reg_host_is_loopback("quay.io"));
	CHECK(!img_reg_host_is_loopback("1270.0.0.1"));
}

static void test_challenges(void)
{
	reg_challenge ch;
	CHECK_INT(
	    img_reg_challenge_parse("Bearer realm=\"http://127.0.0.1:5003/token\","
				    "service=\"test-registry\",scope=\"repository:a/b:pull,push\","
				    "error=\"insufficient_scope\"",
				    &ch),
	    0);
	CHECK_STR(ch.scheme, "bearer");
	CHECK_STR(ch.realm, "http://127.0.0.1:5003/token");
	CHECK_STR(ch.service, "test-registry");
	CHECK_STR(ch.scope, "repository:a/b:pull,push");
	CHECK_STR(ch.error, "insufficient_scope");
	img_reg_challenge_clear(&ch);
	CHECK_INT(img_reg_challenge_parse("Basic realm=\"test \\\"realm\\\"\"", &ch), 0);
	CHECK_STR(ch.scheme, "basic");
	CHECK_STR(ch.realm, "test \"realm\"");
	img_reg_challenge_clear(&ch);
	CHECK_INT(img_reg_challenge_parse("bearer realm=https://auth.example/t, service=x", &ch),
		  0);
	CHECK_STR(ch.realm, "https://auth.example/t");
	CHECK_STR(ch.service, "x");
	img_reg_challenge_clear(&ch);
	CHECK_INT(img_reg_challenge_parse("Negotiate abc", &ch), -1);
	CHECK_INT(img_reg_challenge_parse(NULL, &ch), -1);
}

static void test_retry_timing(void)
{
	time_t now = 1700000000;
	CHECK_INT(img_reg_retry_after_ms("1", now), 1000);
	CHECK_INT(img_reg_retry_after_ms(" 120 ", now), 120000);
	CHECK_INT(img_reg_retry_after_ms("Tue, 14 Nov 2023 22:13:30 GMT", now), 10000);
	CHECK_INT(img_reg_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
	CHECK_INT(img_reg_retry_after_ms("soon", now), -1);
	CHECK_INT(img_reg_retry_after_ms("-3", now), -1);
	CHECK_INT(img_reg_retry_after_ms(NULL, now), -1);
	unsetenv("LITHO_RETRY_BASE_MS");
	CHECK_INT(img_reg_backoff_ms(1), 2000);
	CHECK_INT(img_reg_backoff_ms(2), 4000);
	CHECK_INT(img_reg_backoff_ms(5), 32000);
	CHECK_INT(img_reg_backoff_ms(6), 60000);
	CHECK_INT(img_reg_backoff_ms(30), 60000);
	setenv("LITHO_RETRY_BASE_MS", "10", 1);
	CHECK_INT(img_reg_backoff_ms(1), 10);
	CHECK_INT(img_reg_backoff_ms(3), 40);
	unsetenv("LITHO_RETRY_BASE_MS");
	volatile bool stop = true;
	CHECK(!img_reg_sleep_ms(10000, &stop));
}

static void test_base64(void)
{
	char *b = img_reg_base64("alice:s3cr:et", 13);
	CHECK_STR(b, "YWxpY2U6czNjcjpldA==");
	size_t n;
	char *d = img_reg_unbase64(b, &n);
	CHECK_STR(d, "alice:s3cr:et");
	CHECK_INT(n, 13);
	free(d);
	d = img_reg_unbase64("YWxpY2U6czNjcjpldA", &n); /* padding omitted */
	CHECK_STR(d, "alice:s3cr:et");
	free(d);
	CHECK(img_reg_unbase64("!!!!", &n) == NULL);
	free(b);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		printf("# cannot write %s\n", path);
		tap_current_failed = true;
		return;
	}
	fputs(text, f);
	fclose(f);
}

static void clear_cred_env(void)
{
	static const char *const names[] = {
	    "LITHO_DOCKER_USERNAME",	   "LITHO_DOCKER_PASSWORD",
	    "APPTAINER_DOCKER_USERNAME",   "APPTAINER_DOCKER_PASSWORD",
	    "SINGULARITY_DOCKER_USERNAME", "SINGULARITY_DOCKER_PASSWORD",
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(names); i++)
		unsetenv(names[i]);
}

static void test_credentials(void)
{
	char *home = lt_path_join(tmpdir, "home");
	char *cfg = lt_path_join(tmpdir, "litho-config");
	char *dcfg = lt_path_join(tmpdir, "docker");
	mkdir(home, 0755);
	mkdir(dcfg, 0755);
	setenv("HOME", home, 1);
	setenv("LITHO_CONFIGDIR", cfg, 1);
	setenv("DOCKER_CONFIG", dcfg, 1);
	unsetenv("APPTAINER_CONFIGDIR");
	clear_cred_env();
	reg_creds c;
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 0);

	/* Docker's config.json: base64 auth, Docker Hub's v1 key */
	char *p = lt_path_join(dcfg, "config.json");
	write_text(p, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnBhc3M=\"},"
		      "\"quay.io\":{\"username\":\"q\",\"password\":\"qp\"},"
		      "\"ghcr.io\":{\"identitytoken\":\"x\"}},\"credsStore\":\"desktop\"}");
	free(p);
	CHECK_INT(img_reg_creds_lookup("docker.io", NULL, &c), 1);
	CHECK_STR(c.user, "hub");
	CHECK_STR(c.pass, "hubpass");
	img_reg_creds_clear(&c);
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 1);
	CHECK_STR(c.user, "q");
	img_reg_creds_clear(&c);
	CHECK_INT(img_reg_creds_lookup("ghcr.io", NULL, &c), 0);

	/* Apptainer's docker-config.json comes after Docker's */
	char *adir = lt_path_join(home, ".apptainer");
	mkdir(adir, 0700);
	p = lt_path_join(adir, "docker-config.json");
	write_text(p, "{\"auths\":{\"ghcr.io\":{\"auth\":\"YXA6YXBw\"}}}");
	free(p);
	free(adir);
	CHECK_INT(img_reg_creds_lookup("ghcr.io", NULL, &c), 1);
	CHECK_STR(c.user, "ap");
	CHECK_STR(c.pass, "app");
	img_reg_creds_clear(&c);

	/* litho's store wins over both */
	lt_error *err = NULL;
	CHECK_INT(img_registry_login("docker://quay.io", "lu", "l:p", NULL, false, &err), 0);
	CHECK(err == NULL);
	char *store = img_reg_store_path();
	struct stat st;
	CHECK_INT(stat(store, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 1);
	CHECK_STR(c.user, "lu");
	CHECK_STR(c.pass, "l:p");
	CHECK_STR(c.source, store);
	img_reg_creds_clear(&c);
	CHECK_INT(img_registry_login("127.0.0.1:5000", "x", "y", NULL, false, &err), 0);
	img_registry_login_entry *le;
	size_t n;
	CHECK_INT(img_registry_list(&le, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(le[0].registry, "127.0.0.1:5000");
		CHECK_STR(le[0].username, "x");
		CHECK_STR(le[1].registry, "quay.io");
		CHECK_STR(le[1].username, "lu");
	}
	img_registry_list_free(le, n);

	/* the environment wins over files, LITHO_ over APPTAINER_ over SINGULARITY_ */
	setenv("SINGULARITY_DOCKER_USERNAME", "su", 1);
	setenv("SINGULARITY_DOCKER_PASSWORD", "sp", 1);
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 1);
	CHECK_STR(c.user, "su");
	img_reg_creds_clear(&c);
	setenv("APPTAINER_DOCKER_USERNAME", "au", 1);
	setenv("APPTAINER_DOCKER_PASSWORD", "ap", 1);
	setenv("LITHO_DOCKER_USERNAME", "lu2", 1);
	setenv("LITHO_DOCKER_PASSWORD", "lp2", 1);
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 1);
	CHECK_STR(c.user, "lu2");
	CHECK_STR(c.pass, "lp2");
	img_reg_creds_clear(&c);
	/* explicit options win over everything */
	img_registry_opts o = {.username = "opt", .password = "op"};
	CHECK_INT(img_reg_creds_lookup("quay.io", &o, &c), 1);
	CHECK_STR(c.user, "opt");
	img_reg_creds_clear(&c);
	clear_cred_env();

	CHECK_INT(img_registry_logout("quay.io", &err), 0);
	CHECK_INT(img_reg_creds_lookup("quay.io", NULL, &c), 1); /* Docker's entry again */
	CHECK_STR(c.user, "q");
	img_reg_creds_clear(&c);
	CHECK_INT(img_registry_logout("quay.io", &err), -1);
	CHECK_ERR(err, "not logged in to quay.io");
	lt_error_free(&err);
	CHECK_INT(img_registry_login("quay.io", "", "x", NULL, false, &err), -1);
	CHECK_ERR(err, "invalid user name");
	lt_error_free(&err);
	CHECK_INT(stat(store, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	free(store);
	free(home);
	free(cfg);
	free(dcfg);
}

static void touch_at(const char *path, const char *text, time_t mtime)
{
	write_text(path, text);
	struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	utimensat(AT_FDCWD, path, ts, 0);
}

static void test_cache(void)
{
	char *dir = lt_path_join(tmpdir, "cache");
	setenv("LITHO_CACHEDIR", dir, 1);
	char *d = img_cache_dir();
	CHECK_STR(d, dir);
	free(d);
	unsetenv("LITHO_CACHEDIR");
	setenv("APPTAINER_CACHEDIR", "/x/app", 1);
	d = img_cache_dir();
	CHECK_STR(d, "/x/app/litho");
	free(d);
	unsetenv("APPTAINER_CACHEDIR");
	unsetenv("SINGULARITY_CACHEDIR");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/h", 1);
	d = img_cache_dir();
	CHECK_STR(d, "/h/.cache/litho");
	free(d);
	img_registry_opts o = {.disable_cache = true};
	CHECK(img_cache_dir_for(&o) == NULL);

	lt_error *err = NULL;
	img_cache_entry *e;
	size_t n;
	CHECK_INT(img_cache_list(dir, IMG_CACHE_ALL, &e, &n, &err), 0); /* missing: empty */
	CHECK_INT(n, 0);
	img_cache_entries_free(e, n);

	const char *d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	const char *d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	time_t now = time(NULL), old = now - 10 * 86400;
	char *b1 = img_cache_blob_path(dir, "blobs", d1);
	char *b2 = img_cache_blob_path(dir, "blobs", d2);
	char *o1 = img_cache_blob_path(dir, "oras", d1);
	CHECK_INT(img_cache_mkdirs_for(b1, &err), 0);
	CHECK_INT(img_cache_mkdirs_for(o1, &err), 0);
	touch_at(b1, "one", now);
	touch_at(b2, "two!", old);
	touch_at(o1, "sif", old);
	char *tmp = lt_strdup_printf("%s.tmp.abc123", b1);
	char *fresh_tmp = lt_strdup_printf("%s.tmp.def456", b1);
	char *lock = lt_strdup_printf("%s.lock", b1);
	touch_at(tmp, "partial", now - 7200);
	touch_at(fresh_tmp, "partial", now);
	touch_at(lock, "", now);
	char *sif;
	CHECK_INT(img_cache_sif_path(dir, "sha256:abc|opts", &sif, &err), 0);
	lt_atomic_file af;
	CHECK_INT(img_cache_sif_begin(dir, "sha256:abc|opts", &af, &err), 0);
	CHECK_INT(lt_write_all(af.fd, "SIF", 3, "sif", &err), 0);
	CHECK_INT(lt_atomic_commit(&af, &err), 0);
	CHECK_INT(access(sif, R_OK), 0);
	CHECK(lt_str_has_suffix(sif, ".sif"));

	CHECK_INT(img_cache_list(dir, IMG_CACHE_ALL, &e, &n, &err), 0);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_INT(e[0].kind, IMG_CACHE_BLOB);
		CHECK_STR(e[0].name, d1);
		CHECK_INT(e[0].size, 3);
		CHECK_STR(e[1].name, d2);
		CHECK_INT(e[2].kind, IMG_CACHE_SIF);
		CHECK_STR(e[2].path, sif);
		CHECK_INT(e[3].kind, IMG_CACHE_ORAS);
		CHECK_INT(e[3].mtime, old);
	}
	img_cache_entries_free(e, n);
	CHECK_INT(img_cache_list(dir, IMG_CACHE_ORAS, &e, &n, &err), 0);
	CHECK_INT(n, 1);
	img_cache_entries_free(e, n);

	/* by age, dry run first */
	img_cache_clean_opts co = {.days = 5, .dry_run = true};
	CHECK_INT(img_cache_clean(dir, &co, &e, &n, &err), 0);
	CHECK_INT(n, 2);
	img_cache_entries_free(e, n);
	CHECK_INT(access(b2, F_OK), 0);
	CHECK_INT(access(tmp, F_OK), 0);
	co.dry_run = false;
	co.kinds = IMG_CACHE_BLOB;
	CHECK_INT(img_cache_clean(dir, &co, &e, &n, &err), 0);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(e[0].name, d2);
	img_cache_entries_free(e, n);
	CHECK(access(b2, F_OK) < 0);
	CHECK(access(tmp, F_OK) < 0);	       /* abandoned temporary file */
	CHECK_INT(access(fresh_tmp, F_OK), 0); /* maybe still being written */
	CHECK_INT(access(o1, F_OK), 0);
	co = (img_cache_clean_opts){0};
	CHECK_INT(img_cache_clean(dir, &co, &e, &n, &err), 0);
	CHECK_INT(n, 3);
	img_cache_entries_free(e, n);
	CHECK_INT(img_cache_list(dir, IMG_CACHE_ALL, &e, &n, &err), 0);
	CHECK_INT(n, 0);
	img_cache_entries_free(e, n);

	CHECK_INT(img_cache_kind_parse("blob"), IMG_CACHE_BLOB);
	CHECK_INT(img_cache_kind_parse("oras"), IMG_CACHE_ORAS);
	CHECK_INT(img_cache_kind_parse("all"), IMG_CACHE_ALL);
	CHECK_INT(img_cache_kind_parse("x"), 0);
	CHECK_STR(img_cache_kind_name(IMG_CACHE_SIF), "sif");

	/* small entries are verified when read; a corrupt one is removed */
	const char *empty = EMPTY_JSON_DIGEST;
	char *pe = img_cache_blob_path(dir, "blobs", empty);
	img_cache_store_small(pe, "{}", 2);
	char *data;
	size_t len;
	CHECK_INT(img_cache_read_small(pe, empty, 2, &data, &len, &err), 1);
	CHECK_STR(data, "{}");
	free(data);
	write_text(pe, "{]");
	CHECK_INT(img_cache_read_small(pe, empty, 2, &data, &len, &err), 0);
	CHECK(access(pe, F_OK) < 0);
	free(pe);
	free(b1);
	free(b2);
	free(o1);
	free(tmp);
	free(fresh_tmp);
	free(lock);
	free(sif);
	free(dir);
}

static void test_open_errors(void)
{
	img_source *src;
	img_image *img;
	lt_error *err = NULL;
	CHECK_INT(img_open("oras://127.0.0.1:1/x:y", NULL, &src, &img, &err), -1);
	CHECK_ERR(err, "oras:// references hold SIF files");
	lt_error_free(&err);
	CHECK_INT(img_open("docker://bad/X", NULL, &src, &img, &err), -1);
	CHECK_ERR(err, "invalid repository name");
	lt_error_free(&err);
	/* nothing listens on port 1: a clear, quick error */
	setenv("LITHO_RETRY_BASE_MS", "1", 1);
	img_registry_opts o = {.no_https = true, .disable_cache = true};
	CHECK_INT(img_open_opts("docker://127.0.0.1:1/x:y", NULL, &o, &src, &img, &err), -1);
	CHECK_ERR(err, "docker://127.0.0.1:1/x:y: registry 127.0.0.1:1: cannot reach");
	lt_error_free(&err);
	unsetenv("LITHO_RETRY_BASE_MS");
}

static int run_unit_tests(void)
{
	char tmpl[] = "/tmp/litho-test-registry.XXXXXX";
	tmpdir = mkdtemp(tmpl);
	if (tmpdir == NULL) {
		perror("mkdtemp");
		return 1;
	}
	lt_log_set_level(LT_LOG_SILENT);
	RUN(test_reference_parsing);
	RUN(test_hosts);
	RUN(test_challenges);
	RUN(test_retry_timing);
	RUN(test_base64);
	RUN(test_credentials);
	RUN(test_cache);
	RUN(test_open_errors);
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	free(cmd);
	return tap_done();
}

/* ---------------------------------------------------------------------------------------------
 * Driver
 */
typedef struct drv {
	img_registry_opts ro;
	img_platform plat;
	bool prefetch;
	const char *save;
	const char *kind;
	int days;
	bool dry_run;
	bool no_verify;
	int64_t chunk;
	const char *annotations[16];
	size_t n_annotations;
	char *args[8];
	size_t n_args;
} drv;

static int parse_args(int argc, char **argv, drv *d)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(field)                                                                                \
	do {                                                                                       \
		if (v == NULL)                                                                     \
			goto missing;                                                              \
		field = v;                                                                         \
		i++;                                                                               \
	} while (0)
		if (!strcmp(a, "-u"))
			TAKE(d->ro.username);
		else if (!strcmp(a, "-p"))
			TAKE(d->ro.password);
		else if (!strcmp(a, "--ca"))
			TAKE(d->ro.ca_file);
		else if (!strcmp(a, "--cache"))
			TAKE(d->ro.cache_dir);
		else if (!strcmp(a, "--save"))
			TAKE(d->save);
		else if (!strcmp(a, "--kind"))
			TAKE(d->kind);
		else if (!strcmp(a, "--no-https"))
			d->ro.no_https = true;
		else if (!strcmp(a, "--insecure"))
			d->ro.insecure = true;
		else if (!strcmp(a, "--no-cache"))
			d->ro.disable_cache = true;
		else if (!strcmp(a, "--prefetch"))
			d->prefetch = true;
		else if (!strcmp(a, "--dry-run"))
			d->dry_run = true;
		else if (!strcmp(a, "--no-verify"))
			d->no_verify = true;
		else if (!strcmp(a, "--jobs") || !strcmp(a, "--days") || !strcmp(a, "--chunk")) {
			if (v == NULL)
				goto missing;
			long long x = strtoll(v, NULL, 10);
			if (!strcmp(a, "--jobs"))
				d->ro.jobs = (unsigned)x;
			else if (!strcmp(a, "--days"))
				d->days = (int)x;
			else
				d->chunk = x;
			i++;
		} else if (!strcmp(a, "--annotation")) {
			if (v == NULL)
				goto missing;
			if (d->n_annotations < LT_ARRAY_SIZE(d->annotations))
				d->annotations[d->n_annotations++] = v;
			i++;
		} else if (!strcmp(a, "--platform")) {
			if (v == NULL)
				goto missing;
			char *p = lt_xstrdup(v); /* kept for the process's life */
			d->plat.os = strtok(p, "/");
			d->plat.arch = strtok(NULL, "/");
			d->plat.variant = strtok(NULL, "/");
			i++;
		} else if (a[0] == '-') {
			fprintf(stderr, "unknown option %s\n", a);
			return -1;
		} else if (d->n_args < LT_ARRAY_SIZE(d->args)) {
			d->args[d->n_args++] = argv[i];
		}
#undef TAKE
		continue;
	missing:
		fprintf(stderr, "%s needs a value\n", a);
		return -1;
	}
	return 0;
}

typedef struct pass_job {
	img_source *src;
	size_t index;
	int64_t bytes;
	lt_error *err;
	const char *save;
} pass_job;

static void *read_layer(void *arg)
{
	pass_job *j = arg;
	img_blob *b;
	j->bytes = 0;
	if (img_blob_open(j->src, j->index, &b, &j->err) < 0)
		return NULL;
	int fd = -1;
	if (j->save != NULL) {
		char *p = lt_strdup_printf("%s/%zu", j->save, j->index);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		free(p);
	}
	char buf[65536];
	for (;;) {
		ssize_t n = img_blob_read(b, buf, sizeof(buf), &j->err);
		if (n <= 0)
			break;
		if (fd >= 0 && lt_write_all(fd, buf, (size_t)n, "save", &j->err) < 0)
			break;
		j->bytes += n;
	}
	if (fd >= 0)
		close(fd);
	img_blob_close(b);
	return NULL;
}

static int cli_cmd_pull(drv *d)
{
	if (d->n_args != 1) {
		fprintf(stderr, "usage: pull REF [OPTIONS]\n");
		return 2;
	}
	img_source *src;
	img_image *img;
	lt_error *err = NULL;
	if (img_open_opts(d->args[0], &d->plat, &d->ro, &src, &img, &err) < 0) {
		lt_error_report(err);
		lt_error_free(&err);
		return 1;
	}
	if (d->prefetch)
		img_prefetch_start(src);
	size_t n = img->n_layers;
	pass_job *jobs = lt_xcalloc(n + 1, sizeof(*jobs));
	pthread_t *th = lt_xcalloc(n + 1, sizeof(*th));
	int rc = 0;
	/* pass 1: every layer at once; pass 2: one after the other */
	for (int pass = 1; pass <= 2 && rc == 0; pass++) {
		for (size_t i = 0; i < n; i++) {
			jobs[i] =
			    (pass_job){.src = src, .index = i, .save = pass == 2 ? d->save : NULL};
			if (pass == 1)
				pthread_create(&th[i], NULL, read_layer, &jobs[i]);
			else
				read_layer(&jobs[i]);
		}
		for (size_t i = 0; i < n; i++) {
			if (pass == 1)
				pthread_join(th[i], NULL);
			if (jobs[i].err != NULL && rc == 0) {
				/* the image module leaves naming the source and layer to its caller
				 */
				lt_error_wrap(&jobs[i].err, "%s: layer %zu", img->reference, i + 1);
				lt_error_report(jobs[i].err);
				rc = 1;
			}
			lt_error_free(&jobs[i].err);
		}
	}
	if (rc == 0) {
		json_t *layers = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(layers,
					      json_pack("{s:s, s:I, s:s, s:I}", "digest",
							img->layers[i].digest, "size",
							(json_int_t)img->layers[i].size,
							"media_type", img->layers[i].media_type,
							"read", (json_int_t)jobs[i].bytes));
		json_t *out = json_pack(
		    "{s:s, s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:o}", "reference", img->reference,
		    "name", img->name, "tag", img->tag, "manifest", img->manifest_digest, "config",
		    img->config_digest, "os", img->os, "arch", img->arch, "layers", layers);
		char *s = lt_json_dump_compact(out);
		printf("%s\n", s);
		free(s);
		json_decref(out);
	}
	free(jobs);
	free(th);
	img_close(src);
	img_image_free(img);
	return rc;
}

static int report(int rc, lt_error *err)
{
	if (rc < 0) {
		lt_error_report(err);
		lt_error_free(&err);
		return 1;
	}
	return 0;
}

static void print_entries(img_cache_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s %s %lld\n", img_cache_kind_name(e[i].kind), e[i].name,
		       (long long)e[i].size);
	img_cache_entries_free(e, n);
}

static int run_driver(int argc, char **argv)
{
	drv d;
	memset(&d, 0, sizeof(d));
	if (parse_args(argc, argv, &d) < 0)
		return 2;
	if (getenv("LITHO_DEBUG") != NULL)
		lt_log_set_level(LT_LOG_DEBUG);
	else if (getenv("LITHO_VERBOSE") != NULL)
		lt_log_set_level(LT_LOG_VERBOSE);
	lt_cleanup_install_signal_handlers();
	const char *cmd = argv[1];
	lt_error *err = NULL;
	if (!strcmp(cmd, "pull"))
		return cli_cmd_pull(&d);
	if (!strcmp(cmd, "login") && d.n_args == 3) {
		int rc =
		    img_registry_login(d.args[0], d.args[1], d.args[2], &d.ro, !d.no_verify, &err);
		return report(rc, err);
	}
	if (!strcmp(cmd, "logout") && d.n_args == 1) {
		int rc = img_registry_logout(d.args[0], &err);
		return report(rc, err);
	}
	if (!strcmp(cmd, "logins")) {
		img_registry_login_entry *e;
		size_t n;
		if (img_registry_list(&e, &n, &err) < 0)
			return report(-1, err);
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", e[i].registry, e[i].username);
		img_registry_list_free(e, n);
		return 0;
	}
	if (!strcmp(cmd, "oras-push") && d.n_args == 2) {
		img_oras_opts o = {.registry = d.ro,
				   .annotations = d.annotations,
				   .n_annotations = d.n_annotations,
				   .chunk_threshold = d.chunk};
		char *digest;
		if (img_oras_push(d.args[0], d.args[1], &o, &digest, &err) < 0)
			return report(-1, err);
		printf("%s\n", digest);
		free(digest);
		return 0;
	}
	if (!strcmp(cmd, "oras-pull") && d.n_args == 2) {
		char *digest;
		if (img_oras_pull(d.args[0], d.args[1], &d.ro, &digest, &err) < 0)
			return report(-1, err);
		printf("%s\n", digest);
		free(digest);
		return 0;
	}
	if (!strcmp(cmd, "cache-list")) {
		img_cache_entry *e;
		size_t n;
		unsigned kinds = d.kind ? img_cache_kind_parse(d.kind) : IMG_CACHE_ALL;
		if (img_cache_list(d.ro.cache_dir, kinds, &e, &n, &err) < 0)
			return report(-1, err);
		print_entries(e, n);
		return 0;
	}
	if (!strcmp(cmd, "cache-clean")) {
		img_cache_entry *e;
		size_t n;
		img_cache_clean_opts o = {.kinds = d.kind ? img_cache_kind_parse(d.kind) : 0,
					  .days = d.days,
					  .dry_run = d.dry_run};
		if (img_cache_clean(d.ro.cache_dir, &o, &e, &n, &err) < 0)
			return report(-1, err);
		print_entries(e, n);
		return 0;
	}
	if (!strcmp(cmd, "sif-cache") && d.n_args == 2) {
		lt_atomic_file af;
		char *data, *path;
		size_t len;
		if (lt_read_file(d.args[1], &data, &len, &err) < 0 ||
		    img_cache_sif_begin(d.ro.cache_dir, d.args[0], &af, &err) < 0)
			return report(-1, err);
		int rc = lt_write_all(af.fd, data, len, "sif", &err);
		free(data);
		if (rc < 0) {
			lt_atomic_abort(&af);
			return report(-1, err);
		}
		if (lt_atomic_commit(&af, &err) < 0 ||
		    img_cache_sif_path(d.ro.cache_dir, d.args[0], &path, &err) < 0)
			return report(-1, err);
		printf("%s\n", path);
		free(path);
		return 0;
	}
	fprintf(stderr, "unknown command or wrong arguments: %s (see the top of test_registry.c)\n",
		cmd);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return run_driver(argc, argv);
	return run_unit_tests();
}
