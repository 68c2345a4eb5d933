/* util: the pieces every litho module shares.
 *
 *  - errors: one error type carried up the stack, each level adding context, printed once at the
 *    top (lt_error_*);
 *  - logging with quiet / verbose / debug levels (lt_log_*);
 *  - allocation that never returns NULL (lt_x*, one out-of-memory exit: lt_oom);
 *  - growable arrays, byte buffers and string vectors (LT_ARRAY, lt_array_*, lt_buf_*,
 *    lt_strv_*);
 *  - small string helpers (lt_strdup_printf, lt_str_*);
 *  - safe path handling: lexical cleaning and joining that can never leave a root (lt_path_*);
 *  - SHA-256 through OpenSSL (lt_sha256_*);
 *  - thin helpers over jansson (lt_json_*);
 *  - atomic file output: a temporary name beside the target, fsync, rename, and removal of the
 *    temporary on error and on SIGINT/SIGTERM (lt_atomic_*, lt_cleanup_*).
 *
 * Functions that can fail return 0 on success and -1 on failure, filling *err (when err is not
 * NULL) with a message that names what failed and why. Callers add their own context with
 * lt_error_wrap() and return -1 again; only main() prints the error.
 */
#ifndef LITHO_UTIL_H
#define LITHO_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>

#include <jansson.h>

#define LT_PRINTF(a, b)	 __attribute__((format(printf, a, b)))
#define LT_UNUSED	 __attribute__((unused))
#define LT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------
 * Errors
 */
typedef struct lt_error {
	int errnum;    /* errno value of the root cause, 0 when there is none */
	char *message; /* "outer context: inner context: cause" */
} lt_error;

/* Sets *err to a new error built from fmt; when errnum is not 0, ": strerror(errnum)" is
 * appended. An existing *err is replaced. Always returns -1. */
int lt_error_set(lt_error **err, int errnum, const char *fmt, ...) LT_PRINTF(3, 4);
int lt_error_setv(lt_error **err, int errnum, const char *fmt, va_list ap) LT_PRINTF(3, 0);
/* Prefixes the message of *err with "context: ". Always returns -1. */
int lt_error_wrap(lt_error **err, const char *fmt, ...) LT_PRINTF(2, 3);
void lt_error_free(lt_error **err);
/* Hands the error in *from (raised elsewhere: a callback, a worker) to the caller's *err,
 * replacing any earlier one there, or frees it when the caller passed no err. Returns -1. */
int lt_error_move(lt_error **err, lt_error **from);
/* Prints "litho: error: <message>" on stderr. */
void lt_error_report(const lt_error *err);

/* ---------------------------------------------------------------------------------------------
 * Allocation (alloc.c). Out-of-memory is not recoverable anywhere in litho: lt_oom() prints
 * "litho: out of memory" and aborts; every allocator below calls it instead of returning NULL.
 */
_Noreturn void lt_oom(void);
void *lt_xmalloc(size_t n);
void *lt_xcalloc(size_t n, size_t size);
void *lt_xrealloc(void *p, size_t n);
/* realloc to n elements of `size` bytes, the multiplication overflow-checked. */
void *lt_xreallocarray(void *p, size_t n, size_t size);
/* A buffer of n bytes backed by transparent huge pages where the kernel allows: for buffers of
 * hundreds of KiB that a short-lived process fills once. Each small page is a page fault the
 * first time it is touched, about 10 us in a virtual machine, so a 2 MiB buffer costs 5 ms in
 * small pages and a tenth of that as one huge page. Zero-filled; free with lt_huge_free(p, n). */
void *lt_xhuge_alloc(size_t n);
void lt_huge_free(void *p, size_t n);
char *lt_xstrdup(const char *s);
char *lt_xstrndup(const char *s, size_t n);
char *lt_strdup_printf(const char *fmt, ...) LT_PRINTF(1, 2);
char *lt_strdup_vprintf(const char *fmt, va_list ap) LT_PRINTF(1, 0);

/* ---------------------------------------------------------------------------------------------
 * Growable arrays: any struct with members `T *v`, `size_t n` (used) and `size_t cap`
 * (allocated), e.g. `LT_ARRAY(char *) names = {0};`. Capacity doubles (from 8); sizes are
 * overflow-checked.
 */
#define LT_ARRAY(T)                                                                                \
	struct {                                                                                   \
		T *v;                                                                              \
		size_t n, cap;                                                                     \
	}
/* The array v of elements of elem_size bytes with *cap slots, grown to hold at least `need`
 * elements (new pointer; *cap updated). The one growth rule of litho. */
void *lt_array_grow(void *v, size_t elem_size, size_t need, size_t *cap);
/* Room for at least `need` elements in array a. */
#define lt_array_reserve(a, need)                                                                  \
	((a)->v = lt_array_grow((a)->v, sizeof(*(a)->v), (need), &(a)->cap))
/* Appends a zeroed element to array a and returns a pointer to it. */
#define lt_array_push(a)                                                                           \
	(lt_array_reserve((a), (a)->n + 1), memset(&(a)->v[(a)->n], 0, sizeof(*(a)->v)),           \
	 &(a)->v[(a)->n++])
/* Frees the elements' storage (not what they point to) and empties a. */
#define lt_array_free(a) (free((a)->v), (a)->v = NULL, (a)->n = (a)->cap = 0)

/* ---------------------------------------------------------------------------------------------
 * Growable byte buffer (buf.c): data is NUL terminated once anything was added (or after
 * lt_buf_init); `lt_buf b = {0};` is an empty buffer with data NULL.
 */
typedef struct lt_buf {
	char *data;
	size_t len; /* bytes in data, the NUL not counted */
	size_t cap;
} lt_buf;

/* An empty buffer whose data is "". */
void lt_buf_init(lt_buf *b);
/* Room for `extra` more bytes (and the NUL); data is never NULL afterwards. */
void lt_buf_reserve(lt_buf *b, size_t extra);
void lt_buf_addn(lt_buf *b, const void *s, size_t n);
void lt_buf_add(lt_buf *b, const char *s);
void lt_buf_addc(lt_buf *b, char c);
void lt_buf_printf(lt_buf *b, const char *fmt, ...) LT_PRINTF(2, 3);
void lt_buf_vprintf(lt_buf *b, const char *fmt, va_list ap) LT_PRINTF(2, 0);
/* Shortens the buffer to len bytes (no-op when it is not longer). */
void lt_buf_truncate(lt_buf *b, size_t len);
/* The buffer's string (never NULL; *len its length when len is not NULL); b is left empty. */
char *lt_buf_steal(lt_buf *b, size_t *len);
void lt_buf_free(lt_buf *b);

/* A NULL-terminated vector of owned strings (v is NULL until the first push). */
typedef LT_ARRAY(char *) lt_strv;
/* Appends str (taken over) / a copy of str. */
void lt_strv_push(lt_strv *s, char *str);
void lt_strv_add(lt_strv *s, const char *str);
/* The NULL-terminated vector (never NULL; free with lt_strv_free); s is left empty. */
char **lt_strv_steal(lt_strv *s);
/* Sorts the strings bytewise (strcmp). */
void lt_strv_sort(lt_strv *s);
/* Frees the strings and the vector; s is left empty. */
void lt_strv_clear(lt_strv *s);
/* Frees a NULL-terminated vector of strings and the strings (NULL is fine). */
void lt_strv_free(char **v);

/* ---------------------------------------------------------------------------------------------
 * Logging (stderr)
 */
enum lt_log_level {
	LT_LOG_SILENT = -1, /* nothing, not even errors (only main's final report is affected) */
	LT_LOG_ERROR = 0,   /* -q: errors only */
	LT_LOG_INFO = 1,    /* default: warnings and information */
	LT_LOG_VERBOSE = 2, /* -v */
	LT_LOG_DEBUG = 3,   /* -d */
};

void lt_log_set_level(enum lt_log_level level);
enum lt_log_level lt_log_get_level(void);
void lt_warn(const char *fmt, ...) LT_PRINTF(1, 2);
void lt_info(const char *fmt, ...) LT_PRINTF(1, 2);
void lt_verbose(const char *fmt, ...) LT_PRINTF(1, 2);
void lt_debug(const char *fmt, ...) LT_PRINTF(1, 2);

/* ---------------------------------------------------------------------------------------------
 * Strings
 */
/* The value of an environment variable, NULL when unset or empty (empty counts as unset). */
const char *lt_env_nonempty(const char *name);
/* Blanks within a line: ' ', '\t', '\r', '\v' and '\f' (never '\n'). */
bool lt_is_blank(char c);
/* s[0..len) without leading and trailing blanks: the start, *out_len its length. */
const char *lt_str_trim(const char *s, size_t len, size_t *out_len);
bool lt_str_has_prefix(const char *s, const char *prefix);
bool lt_str_has_suffix(const char *s, const char *suffix);
/* The GOARCH name of the machine litho was built for ("amd64", "arm64" ...). */
const char *lt_host_goarch(void);
/* The executable `name` found in $PATH (or name itself when it holds a '/'), or NULL. */
char *lt_which(const char *name);
/* Parses a whole decimal (or 0x hex) integer within [min, max]; -1 with an error naming `what`
 * when s is empty, has trailing characters or is out of range. */
int lt_parse_int64(const char *s, int64_t min, int64_t max, const char *what, int64_t *out,
		   lt_error **err);
/* Formats like Go's readable sizes used by siftool: "123 B", "27 KiB", "3 MiB". */
void lt_format_size(int64_t size, char *buf, size_t len);
/* Decodes the UTF-8 sequence at s (len >= 1) as Go's utf8.DecodeRune does: the rune, or -1 for
 * anything invalid (overlong, surrogate, above U+10FFFF, truncated), which is one byte wide.
 * *width is the number of bytes the rune takes. */
int32_t lt_utf8_decode(const unsigned char *s, size_t len, size_t *width);
/* A shell variable name, ^[A-Za-z_][A-Za-z0-9_]*$: the names Apptainer exports from an image
 * config and the only ones a shell can assign. */
bool lt_env_name_valid(const char *s, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Paths
 */
/* Lexically cleans a path the way Go's path.Clean does: collapses "//", removes "." and
 * resolves ".." against earlier elements. An absolute path stays absolute and ".." never
 * climbs above "/". Returns a new string ("." for an empty relative result). */
char *lt_path_clean(const char *path);
/* Joins a and b with exactly one '/' between them. */
char *lt_path_join(const char *a, const char *b);
/* Turns an untrusted (archive) name into a path relative to a root that cannot escape it:
 * leading '/' and every ".." that would climb above the root are dropped. Returns "" for the
 * root itself. *clamped is set when anything had to be dropped (the caller reports it). */
char *lt_path_confine(const char *name, bool *clamped);
/* Directory part and last element of a cleaned path (like dirname/basename, new strings). */
char *lt_path_dirname(const char *path);
const char *lt_path_basename(const char *path);

/* ---------------------------------------------------------------------------------------------
 * SHA-256
 */
#define LT_SHA256_LEN	  32
#define LT_SHA256_HEX_LEN 64

typedef struct lt_sha256 lt_sha256;

lt_sha256 *lt_sha256_new(void);
void lt_sha256_update(lt_sha256 *h, const void *data, size_t len);
/* Writes the digest and frees h. */
void lt_sha256_final(lt_sha256 *h, uint8_t out[LT_SHA256_LEN]);
void lt_sha256_free(lt_sha256 *h);
void lt_sha256_buffer(const void *data, size_t len, uint8_t out[LT_SHA256_LEN]);
/* hex must hold 65 bytes; writes lowercase hex and a NUL. */
void lt_hex_encode(const uint8_t *data, size_t len, char *hex);
/* Formats "sha256:<hex>" into out (72 bytes). */
void lt_sha256_digest_string(const uint8_t digest[LT_SHA256_LEN], char out[72]);

/* ---------------------------------------------------------------------------------------------
 * JSON (jansson)
 */
/* Parses a JSON document; `what` names it in errors ("manifest of docker://x"). */
json_t *lt_json_parse(const char *data, size_t len, const char *what, lt_error **err);
json_t *lt_json_load_file(const char *path, lt_error **err);
/* Returns the string member `key` of obj, or NULL when absent, null or not a string. */
const char *lt_json_string(const json_t *obj, const char *key);
/* The keys of obj in bytewise order (how Go orders map keys when it encodes them), as a
 * NULL-terminated array of borrowed strings: free() only the array. *n is their number (0 when
 * obj is not an object). */
const char **lt_json_sorted_keys(const json_t *obj, size_t *n);
/* [s, s + len) as Go's encoding/json writes a string: quoted, '<', '>', '&', U+2028 and U+2029
 * escaped, invalid UTF-8 as \ufffd. A new NUL-terminated string of *out_len bytes. */
char *lt_json_go_string(const char *s, size_t len, size_t *out_len);
/* Serialises with sorted keys and no extra spaces (stable output); free() the result. */
char *lt_json_dump_compact(const json_t *value);
/* Serialises indented like Go's json.MarshalIndent(v, "", "\t"). */
char *lt_json_dump_indent(const json_t *value, int indent);

/* ---------------------------------------------------------------------------------------------
 * Files
 */
/* Writes all of buf at offset (pwrite loop) / reads exactly len bytes at offset. A short read
 * (end of file) is an error with errnum 0 that says so. `name` is used in messages. */
int lt_pwrite_all(int fd, const void *buf, size_t len, off_t offset, const char *name,
		  lt_error **err);
int lt_pread_all(int fd, void *buf, size_t len, off_t offset, const char *name, lt_error **err);
int lt_write_all(int fd, const void *buf, size_t len, const char *name, lt_error **err);
/* Reads a whole (small) file into a NUL-terminated buffer. */
int lt_read_file(const char *path, char **data, size_t *len, lt_error **err);
/* Copies len bytes from in_fd at in_off to out_fd (its current position). */
int lt_copy_range_to_fd(int in_fd, off_t in_off, int64_t len, int out_fd, const char *name,
			lt_error **err);
/* Removes `name` below the directory fd `parent` and everything in it, through descriptors
 * only (never following a symlink), making directories writable on the way; best effort:
 * returns -1 (errno set) when something could not be removed. */
int lt_remove_tree_at(int parent, const char *name);
/* The same for a path (AT_FDCWD-relative). */
int lt_remove_tree(const char *path);
/* The process umask, read once at start-up. */
mode_t lt_umask(void);

/* Atomic output: create NAME.tmp.XXXXXX beside `path`; write through fd; commit fsyncs,
 * applies `mode & ~umask`, renames over `path` and fsyncs the directory. Abort (or a
 * SIGINT/SIGTERM before commit) removes the temporary file. */
typedef struct lt_atomic_file {
	char *path;
	char *tmp_path;
	int fd;
	mode_t mode;
	int cleanup_slot;
} lt_atomic_file;

int lt_atomic_open(lt_atomic_file *af, const char *path, mode_t mode, lt_error **err);
int lt_atomic_commit(lt_atomic_file *af, lt_error **err);
void lt_atomic_abort(lt_atomic_file *af);

/* Signal-safe removal of temporary paths. Install once in main(); register/unregister paths
 * around the time they exist. Registration returns a slot number (or -1 when the table is
 * full: the path then simply is not removed on a signal). */
void lt_cleanup_install_signal_handlers(void);
int lt_cleanup_register(const char *path);
void lt_cleanup_unregister(int slot);
/* Blocks SIGINT/SIGTERM/SIGHUP (saving the old mask) around a short critical section such as
 * rewriting SIF metadata in place, so that the file is never left half-updated. */
void lt_signals_block(sigset_t *saved);
void lt_signals_restore(const sigset_t *saved);

/* ---------------------------------------------------------------------------------------------
 * Progress on a terminal (thread-safe; every function accepts NULL)
 */
typedef struct lt_progress lt_progress;

lt_progress *lt_progress_new(void);
/* Starts a stage ("reading layers" 2/5); total is the number of input bytes expected in all
 * stages together (0 keeps the previous total). */
void lt_progress_stage(lt_progress *p, const char *stage, unsigned step, unsigned steps,
		       uint64_t total);
/* Adds bytes consumed; out_total (when not 0) is the output size so far. */
void lt_progress_add(lt_progress *p, uint64_t in_bytes, uint64_t out_total);
/* Clears the line. */
void lt_progress_free(lt_progress *p);

#endif
