#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util/util.h"

static char tmpdir[] = "/tmp/litho-unit-XXXXXX";

static void test_error_context(void)
{
	lt_error *err = NULL;
	CHECK_INT(lt_error_set(&err, ENOENT, "opening %s", "x.sif"), -1);
	CHECK_STR(err->message, "opening x.sif: No such file or directory");
	CHECK_INT(err->errnum, ENOENT);
	CHECK_INT(lt_error_wrap(&err, "building %s", "out.sif"), -1);
	CHECK_STR(err->message, "building out.sif: opening x.sif: No such file or directory");
	lt_error_free(&err);
	CHECK(err == NULL);
	/* A NULL err pointer is allowed by callers that do not care. */
	CHECK_INT(lt_error_set(NULL, 0, "ignored"), -1);
	CHECK_INT(lt_error_wrap(NULL, "ignored"), -1);

	/* An error raised by a callback replaces the caller's earlier one without leaking it. */
	lt_error *raised = NULL;
	lt_error_set(&err, 0, "earlier");
	lt_error_set(&raised, EIO, "callback");
	CHECK_INT(lt_error_move(&err, &raised), -1);
	CHECK(raised == NULL);
	CHECK_STR(err->message, "callback: Input/output error");
	lt_error_set(&raised, 0, "dropped");
	CHECK_INT(lt_error_move(NULL, &raised), -1);
	CHECK(raised == NULL);
	lt_error_free(&err);
}

static void test_path_clean(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", "."},
	    {"abc", "abc"},
	    {"abc/def", "abc/def"},
	    {"a/b/c", "a/b/c"},
	    {".", "."},
	    {"..", ".."},
	    {"../..", "../.."},
	    {"../../abc", "../../abc"},
	    {"/abc", "/abc"},
	    {"/", "/"},
	    {"abc/", "abc"},
	    {"abc/def/", "abc/def"},
	    {"/abc/", "/abc"},
	    {"abc//def//ghi", "abc/def/ghi"},
	    {"//abc", "/abc"},
	    {"abc/./def", "abc/def"},
	    {"/./abc/def", "/abc/def"},
	    {"abc/.", "abc"},
	    {"abc/def/ghi/../jkl", "abc/def/jkl"},
	    {"abc/def/../ghi/../jkl", "abc/jkl"},
	    {"abc/def/..", "abc"},
	    {"abc/def/../..", "."},
	    {"/abc/def/../..", "/"},
	    {"abc/def/../../..", ".."},
	    {"/abc/def/../../..", "/"},
	    {"abc/def/../../../ghi/jkl/../../../mno", "../../mno"},
	    {"abc/./../def", "def"},
	    {"abc//./../def", "def"},
	    {"abc/../../././../def", "../../def"},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(cases); i++) {
		char *got = lt_path_clean(cases[i].in);
		CHECK_STR(got, cases[i].out);
		free(got);
	}
}

static void test_path_confine(void)
{
	static const struct {
		const char *in, *out;
		bool clamped;
	} cases[] = {
	    {"bin/busybox", "bin/busybox", false},
	    {"./bin/", "bin", false},
	    {".", "", false},
	    {"./", "", false},
	    {"/etc/passwd", "etc/passwd", true},
	    {"../x", "x", true},
	    {"a/../../x", "x", true},
	    {"a/b/../c", "a/c", false},
	    {"../../../../etc/shadow", "etc/shadow", true},
	    {"//a//b", "a/b", true},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(cases); i++) {
		bool clamped = false;
		char *got = lt_path_confine(cases[i].in, &clamped);
		CHECK_STR(got, cases[i].out);
		CHECK_INT(clamped, cases[i].clamped);
		free(got);
	}
}

static void test_path_join(void)
{
	char *s;
	s = lt_path_join("/a", "b");
	CHECK_STR(s, "/a/b");
	free(s);
	s = lt_path_join("/a/", "/b");
	CHECK_STR(s, "/a/b");
	free(s);
	s = lt_path_join("/", "b");
	CHECK_STR(s, "/b");
	free(s);
	s = lt_path_join("a", "");
	CHECK_STR(s, "a");
	free(s);
	s = lt_path_dirname("/a/b/c");
	CHECK_STR(s, "/a/b");
	free(s);
	s = lt_path_dirname("c");
	CHECK_STR(s, ".");
	free(s);
	s = lt_path_dirname("/c");
	CHECK_STR(s, "/");
	free(s);
	CHECK_STR(lt_path_basename("/a/b/c"), "c");
}

static void test_sha256(void)
{
	uint8_t d[LT_SHA256_LEN];
	char hex[LT_SHA256_HEX_LEN + 1], s[72];
	lt_sha256_buffer("abc", 3, d);
	lt_hex_encode(d, sizeof(d), hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Incremental hashing gives the same digest. */
	lt_sha256 *h = lt_sha256_new();
	lt_sha256_update(h, "a", 1);
	lt_sha256_update(h, "bc", 2);
	lt_sha256_final(h, d);
	lt_sha256_digest_string(d, s);
	CHECK_STR(s, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	lt_sha256_buffer("", 0, d);
	lt_hex_encode(d, sizeof(d), hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_format_size(void)
{
	char buf[32];
	lt_format_size(0, buf, sizeof(buf));
	CHECK_STR(buf, "0 B");
	lt_format_size(1023, buf, sizeof(buf));
	CHECK_STR(buf, "1023 B");
	lt_format_size(28080, buf, sizeof(buf));
	CHECK_STR(buf, "27 KiB");
	lt_format_size(759525, buf, sizeof(buf));
	CHECK_STR(buf, "742 KiB");
	lt_format_size(1536, buf, sizeof(buf));
	CHECK_STR(buf, "2 KiB");
	lt_format_size(3LL << 30, buf, sizeof(buf));
	CHECK_STR(buf, "3 GiB");
}

static void test_utf8_decode(void)
{
	size_t w = 0;
	CHECK_INT(lt_utf8_decode((const unsigned char *)"a", 1, &w), 'a');
	CHECK_INT(w, 1);
	CHECK_INT(lt_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &w), 0xE9);
	CHECK_INT(w, 2);
	CHECK_INT(lt_utf8_decode((const unsigned char *)"\xe2\x80\xa8", 3, &w), 0x2028);
	CHECK_INT(w, 3);
	CHECK_INT(lt_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &w), 0x1F600);
	CHECK_INT(w, 4);
	/* Go's utf8.RuneError cases: one byte wide */
	static const char *const bad[] = {"\xc0\x80",	      "\xe0\x80\x80", "\xed\xa0\x80",
					  "\xf4\x90\x80\x80", "\xff",	      "\x80"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(bad); i++) {
		CHECK_INT(lt_utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &w), -1);
		CHECK_INT(w, 1);
	}
	CHECK_INT(lt_utf8_decode((const unsigned char *)"\xe2\x80", 2, &w), -1);
	CHECK_INT(w, 1);
}

static void test_env_name(void)
{
	CHECK(lt_env_name_valid("_a1", 3));
	CHECK(lt_env_name_valid("PATH=x", 4));
	CHECK(!lt_env_name_valid("1a", 2));
	CHECK(!lt_env_name_valid("a-b", 3));
	CHECK(!lt_env_name_valid("", 0));
}

static void test_parse_int(void)
{
	int64_t v = 0;
	lt_error *err = NULL;
	CHECK_INT(lt_parse_int64("42", 0, 100, "--x", &v, &err), 0);
	CHECK_INT(v, 42);
	CHECK_INT(lt_parse_int64("0x10", 0, 100, "--x", &v, &err), 0);
	CHECK_INT(v, 16);
	CHECK_INT(lt_parse_int64("101", 0, 100, "--x", &v, &err), -1);
	CHECK_ERR(err, "out of range");
	CHECK_INT(lt_parse_int64("4x", 0, 100, "--x", &v, &err), -1);
	CHECK_ERR(err, "--x: '4x' is not a valid number");
	CHECK_INT(lt_parse_int64("", 0, 100, "--x", &v, &err), -1);
	CHECK_ERR(err, "empty");
	lt_error_free(&err);
}

static void test_json(void)
{
	lt_error *err = NULL;
	json_t *v = lt_json_parse("{\"b\":1,\"a\":\"x\"}", 15, "test doc", &err);
	CHECK(v != NULL);
	CHECK_STR(lt_json_string(v, "a"), "x");
	CHECK(lt_json_string(v, "b") == NULL);
	CHECK(lt_json_string(v, "missing") == NULL);
	char *s = lt_json_dump_compact(v);
	CHECK_STR(s, "{\"a\":\"x\",\"b\":1}");
	free(s);
	json_decref(v);
	/* bytewise: upper case before lower case, "\xc3..." after ASCII */
	v = json_pack("{s:i,s:i,s:i,s:i}", "b", 1, "\xc3\xa9", 2, "B", 3, "a", 4);
	size_t n = 99;
	const char **keys = lt_json_sorted_keys(v, &n);
	CHECK_INT(n, 4);
	CHECK_STR(keys[0], "B");
	CHECK_STR(keys[1], "a");
	CHECK_STR(keys[2], "b");
	CHECK_STR(keys[3], "\xc3\xa9");
	CHECK(keys[4] == NULL);
	free(keys);
	json_decref(v);
	v = json_array();
	keys = lt_json_sorted_keys(v, &n);
	CHECK_INT(n, 0);
	CHECK(keys[0] == NULL);
	free(keys);
	json_decref(v);
	CHECK(lt_json_parse("{\"a\":", 5, "manifest of x", &err) == NULL);
	CHECK_ERR(err, "manifest of x: invalid JSON");
	/* Duplicate keys are rejected: they make digests ambiguous. */
	CHECK(lt_json_parse("{\"a\":1,\"a\":2}", 13, "dup", &err) == NULL);
	CHECK_ERR(err, "dup");
	lt_error_free(&err);
}

static void test_json_go_string(void)
{
	/* Go: json.Marshal(string) with its HTML-safe escapes */
	static const char in[] =
	    "a\"\\\b\f\n\r\t\x01\0<>&\x7f\xc3\xa9\xe2\x80\xa8\xe2\x80\xa9\xff\xe2\x80";
	size_t n = 0;
	char *q = lt_json_go_string(in, sizeof(in) - 1, &n);
	CHECK_STR(q, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u0000\\u003c\\u003e\\u0026\x7f\xc3\xa9"
		     "\\u2028\\u2029\\ufffd\\ufffd\\ufffd\"");
	CHECK_INT(n, strlen(q));
	free(q);
	q = lt_json_go_string("", 0, &n);
	CHECK_STR(q, "\"\"");
	CHECK_INT(n, 2);
	free(q);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static int count_tmp_files(const char *dir)
{
	char *cmd = lt_strdup_printf("ls -a '%s' | grep -c '\\.tmp\\.' ", dir);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	free(cmd);
	return n;
}

static void test_atomic_commit(void)
{
	lt_error *err = NULL;
	char *path = lt_path_join(tmpdir, "out.bin");
	lt_atomic_file af;
	CHECK_INT(lt_atomic_open(&af, path, 0755, &err), 0);
	CHECK(lt_str_has_prefix(af.tmp_path, path));
	CHECK(!exists(path));
	CHECK_INT(lt_write_all(af.fd, "hello", 5, "out", &err), 0);
	CHECK_INT(lt_atomic_commit(&af, &err), 0);
	char *data = NULL;
	size_t len = 0;
	CHECK_INT(lt_read_file(path, &data, &len, &err), 0);
	CHECK_INT(len, 5);
	CHECK(data && memcmp(data, "hello", 5) == 0);
	free(data);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0755 & ~lt_umask());
	CHECK_INT(count_tmp_files(tmpdir), 0);
	unlink(path);
	free(path);
}

static void test_atomic_abort(void)
{
	lt_error *err = NULL;
	char *path = lt_path_join(tmpdir, "keep.bin");
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(write(fd, "old", 3) == 3);
	close(fd);
	lt_atomic_file af;
	CHECK_INT(lt_atomic_open(&af, path, 0644, &err), 0);
	CHECK_INT(lt_write_all(af.fd, "new data", 8, "out", &err), 0);
	lt_atomic_abort(&af);
	char *data = NULL;
	CHECK_INT(lt_read_file(path, &data, NULL, &err), 0);
	CHECK_STR(data, "old");
	free(data);
	CHECK_INT(count_tmp_files(tmpdir), 0);
	unlink(path);
	free(path);
}

/* A SIGTERM in the middle of writing must leave neither the target nor the temporary. */
static void test_atomic_signal(void)
{
	char *path = lt_path_join(tmpdir, "sig.bin");
	int ready[2];
	CHECK_INT(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		lt_cleanup_install_signal_handlers();
		lt_atomic_file af;
		if (lt_atomic_open(&af, path, 0644, NULL) < 0)
			_exit(3);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK_INT(count_tmp_files(tmpdir), 1);
	kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	CHECK_INT(count_tmp_files(tmpdir), 0);
	CHECK(!exists(path));
	close(ready[0]);
	close(ready[1]);
	free(path);
}

static void test_atomic_bad_dir(void)
{
	lt_error *err = NULL;
	lt_atomic_file af;
	CHECK_INT(lt_atomic_open(&af, "/nonexistent-dir/x.sif", 0644, &err), -1);
	CHECK_ERR(err, "/nonexistent-dir/x.sif");
	lt_error_free(&err);
}

static void test_huge_alloc(void)
{
	/* sizes around a huge page: all usable, zeroed, starting on a 2 MiB boundary */
	const size_t sizes[] = {1, 4096, (2u << 20) - 1, 2u << 20, (2u << 20) + 1, 5u << 20};
	for (size_t i = 0; i < LT_ARRAY_SIZE(sizes); i++) {
		uint8_t *p = lt_xhuge_alloc(sizes[i]);
		CHECK(((uintptr_t)p & ((2u << 20) - 1)) == 0);
		CHECK(p[0] == 0 && p[sizes[i] - 1] == 0);
		memset(p, 0xa5, sizes[i]);
		CHECK(p[sizes[i] - 1] == 0xa5);
		lt_huge_free(p, sizes[i]);
	}
	lt_huge_free(NULL, 0);
}

static void test_pread_short(void)
{
	lt_error *err = NULL;
	char *path = lt_path_join(tmpdir, "short.bin");
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK_INT(lt_pwrite_all(fd, "abc", 3, 10, "short.bin", &err), 0);
	char buf[16];
	CHECK_INT(lt_pread_all(fd, buf, 3, 10, "short.bin", &err), 0);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK_INT(lt_pread_all(fd, buf, 4, 10, "short.bin", &err), -1);
	CHECK_ERR(err, "reading short.bin: unexpected end of file");
	close(fd);
	unlink(path);
	free(path);
	lt_error_free(&err);
}

static void test_buf(void)
{
	lt_buf b = {0};
	CHECK(b.data == NULL);
	lt_buf_add(&b, "abc");
	lt_buf_addc(&b, '-');
	lt_buf_addn(&b, "x\0y", 3); /* bytes, NUL included */
	lt_buf_printf(&b, "%d%s", 42, "!");
	CHECK_INT(b.len, 10);
	CHECK(memcmp(b.data, "abc-x\0y42!", 11) == 0);
	lt_buf_truncate(&b, 3);
	CHECK_STR(b.data, "abc");
	lt_buf_truncate(&b, 99); /* not longer: unchanged */
	CHECK_INT(b.len, 3);
	for (int i = 0; i < 10000; i++)
		lt_buf_addc(&b, 'z');
	CHECK_INT(b.len, 10003);
	CHECK(b.cap > b.len && b.data[b.len] == '\0');
	size_t len = 0;
	char *s = lt_buf_steal(&b, &len);
	CHECK_INT(len, 10003);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	free(s);
	s = lt_buf_steal(&b, NULL); /* an empty buffer gives "" */
	CHECK_STR(s, "");
	free(s);
	lt_buf_init(&b);
	CHECK_STR(b.data, "");
	lt_buf_free(&b);
	CHECK(b.data == NULL);
}

static void test_array(void)
{
	LT_ARRAY(int) a = {0};
	for (int i = 0; i < 1000; i++)
		*lt_array_push(&a) = i;
	CHECK_INT(a.n, 1000);
	CHECK(a.cap >= 1000 && a.cap < 2048);
	long sum = 0;
	for (size_t i = 0; i < a.n; i++)
		sum += a.v[i];
	CHECK_INT(sum, 999 * 1000 / 2);
	lt_array_free(&a);
	CHECK(a.v == NULL && a.n == 0 && a.cap == 0);

	/* growth that would overflow size_t is out of memory, never a short buffer */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		size_t cap = 0;
		lt_array_grow(NULL, 16, SIZE_MAX / 8, &cap);
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void test_strv(void)
{
	lt_strv v = {0};
	lt_strv_add(&v, "b");
	lt_strv_push(&v, lt_xstrdup("c"));
	lt_strv_add(&v, "a");
	CHECK_INT(v.n, 3);
	CHECK(v.v[3] == NULL);
	lt_strv_sort(&v);
	CHECK_STR(v.v[0], "a");
	CHECK_STR(v.v[2], "c");
	char **w = lt_strv_steal(&v);
	CHECK(v.v == NULL && v.n == 0);
	CHECK_STR(w[1], "b");
	CHECK(w[3] == NULL);
	lt_strv_free(w);
	w = lt_strv_steal(&v); /* empty: a vector holding only NULL */
	CHECK(w != NULL && w[0] == NULL);
	lt_strv_free(w);
	lt_strv_add(&v, "x");
	lt_strv_clear(&v);
	CHECK(v.v == NULL && v.n == 0);
}

static void test_trim(void)
{
	size_t n;
	const char *t = lt_str_trim(" \t a b\r\v\f", 9, &n);
	CHECK_INT(n, 3);
	CHECK(strncmp(t, "a b", 3) == 0);
	t = lt_str_trim("\nx\n", 3, &n); /* '\n' is not a blank */
	CHECK_INT(n, 3);
	lt_str_trim("   ", 3, &n);
	CHECK_INT(n, 0);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 2;
	lt_umask();
	RUN(test_error_context);
	RUN(test_path_clean);
	RUN(test_path_confine);
	RUN(test_path_join);
	RUN(test_sha256);
	RUN(test_format_size);
	RUN(test_utf8_decode);
	RUN(test_env_name);
	RUN(test_parse_int);
	RUN(test_json);
	RUN(test_json_go_string);
	RUN(test_atomic_commit);
	RUN(test_atomic_abort);
	RUN(test_atomic_signal);
	RUN(test_atomic_bad_dir);
	RUN(test_huge_alloc);
	RUN(test_pread_short);
	RUN(test_buf);
	RUN(test_array);
	RUN(test_strv);
	RUN(test_trim);
	rmdir(tmpdir);
	return tap_done();
}
