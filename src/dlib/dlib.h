/* dlib: the heavy libraries (libarchive, OpenSSL's libcrypto, libcurl, libseccomp) loaded on
 * first use.
 *
 * Linked normally, these libraries cost `litho run` more start-up time than the whole container
 * launch: libarchive pulls in libxml2, ICU and libstdc++, libcurl a dozen TLS and protocol
 * libraries, and the dynamic loader relocates all of them before main() (measured with
 * callgrind: 8.3 million instructions for `litho version` against 0.5 million for bwrap). Only
 * building and pulling need them, so they are opened with dlopen() when first called.
 *
 * Include this header instead of <archive.h>, <archive_entry.h>, <openssl/evp.h>,
 * <curl/curl.h> and <seccomp.h>: the functions litho uses keep their names (they become calls
 * through a table of pointers filled by dlsym). A library that cannot be loaded is fatal, with a
 * message naming it: it is part of the installation, like the binary itself.
 *
 * libseccomp is needed only by `--fakeroot` runs without subordinate ids, where a missing
 * library must become an ordinary error of that run: dlib_seccomp_try() says whether it loads.
 */
#ifndef LITHO_DLIB_H
#define LITHO_DLIB_H

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
/* curl.h otherwise wraps the variadic setters in type-checking macros of the same names */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <seccomp.h>

/* X(function) lists of every function litho calls. */
#define DLIB_ARCHIVE_FUNCTIONS(X)                                                                  \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_gid)                                                                       \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_pathname_utf8)                                                             \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_rdevmajor)                                                                 \
	X(archive_entry_rdevminor)                                                                 \
	X(archive_entry_size)                                                                      \
	X(archive_entry_sparse_count)                                                              \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_symlink_utf8)                                                              \
	X(archive_entry_uid)                                                                       \
	X(archive_entry_xattr_next)                                                                \
	X(archive_entry_xattr_reset)                                                               \
	X(archive_error_string)                                                                    \
	X(archive_filter_bytes)                                                                    \
	X(archive_filter_count)                                                                    \
	X(archive_read_data)                                                                       \
	X(archive_read_data_block)                                                                 \
	X(archive_read_free)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_next_header)                                                                \
	X(archive_read_open)                                                                       \
	X(archive_read_open2)                                                                      \
	X(archive_read_support_filter_bzip2)                                                       \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_filter_xz)                                                          \
	X(archive_read_support_filter_zstd)                                                        \
	X(archive_read_support_format_empty)                                                       \
	X(archive_read_support_format_tar)                                                         \
	X(archive_set_error)

#define DLIB_CRYPTO_FUNCTIONS(X)                                                                   \
	X(EVP_DigestFinal_ex)                                                                      \
	X(EVP_DigestInit_ex)                                                                       \
	X(EVP_DigestUpdate)                                                                        \
	X(EVP_MD_CTX_free)                                                                         \
	X(EVP_MD_CTX_new)                                                                          \
	X(EVP_sha256)                                                                              \
	X(EVP_EncodeBlock)                                                                         \
	X(EVP_DecodeBlock)

#define DLIB_CURL_FUNCTIONS(X)                                                                     \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_escape)                                                                        \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_init)                                                                          \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_strerror)                                                                      \
	X(curl_free)                                                                               \
	X(curl_getdate)                                                                            \
	X(curl_global_init)                                                                        \
	X(curl_share_cleanup)                                                                      \
	X(curl_share_init)                                                                         \
	X(curl_share_setopt)                                                                       \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)

#define DLIB_SECCOMP_FUNCTIONS(X)                                                                  \
	X(seccomp_arch_add)                                                                        \
	X(seccomp_arch_native)                                                                     \
	X(seccomp_attr_set)                                                                        \
	X(seccomp_export_bpf)                                                                      \
	X(seccomp_init)                                                                            \
	X(seccomp_release)                                                                         \
	X(seccomp_rule_add_array)                                                                  \
	X(seccomp_syscall_resolve_name)

#define DLIB_POINTER(f) __typeof__(f) *f;
struct dlib_archive {
	DLIB_ARCHIVE_FUNCTIONS(DLIB_POINTER)
};
struct dlib_crypto {
	DLIB_CRYPTO_FUNCTIONS(DLIB_POINTER)
};
struct dlib_curl {
	DLIB_CURL_FUNCTIONS(DLIB_POINTER)
};
struct dlib_seccomp {
	DLIB_SECCOMP_FUNCTIONS(DLIB_POINTER)
};
#undef DLIB_POINTER

const struct dlib_archive *dlib_archive(void);
const struct dlib_crypto *dlib_crypto(void);
const struct dlib_curl *dlib_curl(void);
const struct dlib_seccomp *dlib_seccomp(void);
/* Loads libseccomp like dlib_seccomp() but returns NULL instead of failing, with *why set to a
 * static description of the problem; once it returned the table, the names below work. */
const struct dlib_seccomp *dlib_seccomp_try(const char **why);

/* From here on, the names call through the tables (dlib.c itself needs the real ones). */
#ifndef DLIB_REAL_NAMES
#define archive_entry_filetype		  (dlib_archive()->archive_entry_filetype)
#define archive_entry_gid		  (dlib_archive()->archive_entry_gid)
#define archive_entry_hardlink		  (dlib_archive()->archive_entry_hardlink)
#define archive_entry_mtime		  (dlib_archive()->archive_entry_mtime)
#define archive_entry_pathname		  (dlib_archive()->archive_entry_pathname)
#define archive_entry_pathname_utf8	  (dlib_archive()->archive_entry_pathname_utf8)
#define archive_entry_perm		  (dlib_archive()->archive_entry_perm)
#define archive_entry_rdevmajor		  (dlib_archive()->archive_entry_rdevmajor)
#define archive_entry_rdevminor		  (dlib_archive()->archive_entry_rdevminor)
#define archive_entry_size		  (dlib_archive()->archive_entry_size)
#define archive_entry_sparse_count	  (dlib_archive()->archive_entry_sparse_count)
#define archive_entry_symlink		  (dlib_archive()->archive_entry_symlink)
#define archive_entry_symlink_utf8	  (dlib_archive()->archive_entry_symlink_utf8)
#define archive_entry_uid		  (dlib_archive()->archive_entry_uid)
#define archive_entry_xattr_next	  (dlib_archive()->archive_entry_xattr_next)
#define archive_entry_xattr_reset	  (dlib_archive()->archive_entry_xattr_reset)
#define archive_error_string		  (dlib_archive()->archive_error_string)
#define archive_filter_bytes		  (dlib_archive()->archive_filter_bytes)
#define archive_filter_count		  (dlib_archive()->archive_filter_count)
#define archive_read_data		  (dlib_archive()->archive_read_data)
#define archive_read_data_block		  (dlib_archive()->archive_read_data_block)
#define archive_read_free		  (dlib_archive()->archive_read_free)
#define archive_read_new		  (dlib_archive()->archive_read_new)
#define archive_read_next_header	  (dlib_archive()->archive_read_next_header)
#define archive_read_open		  (dlib_archive()->archive_read_open)
#define archive_read_open2		  (dlib_archive()->archive_read_open2)
#define archive_read_support_filter_bzip2 (dlib_archive()->archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip  (dlib_archive()->archive_read_support_filter_gzip)
#define archive_read_support_filter_xz	  (dlib_archive()->archive_read_support_filter_xz)
#define archive_read_support_filter_zstd  (dlib_archive()->archive_read_support_filter_zstd)
#define archive_read_support_format_empty (dlib_archive()->archive_read_support_format_empty)
#define archive_read_support_format_tar	  (dlib_archive()->archive_read_support_format_tar)
#define archive_set_error		  (dlib_archive()->archive_set_error)

#define EVP_DigestFinal_ex (dlib_crypto()->EVP_DigestFinal_ex)
#define EVP_DigestInit_ex  (dlib_crypto()->EVP_DigestInit_ex)
#define EVP_DigestUpdate   (dlib_crypto()->EVP_DigestUpdate)
#define EVP_MD_CTX_free	   (dlib_crypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new	   (dlib_crypto()->EVP_MD_CTX_new)
#define EVP_sha256	   (dlib_crypto()->EVP_sha256)
#define EVP_EncodeBlock	   (dlib_crypto()->EVP_EncodeBlock)
#define EVP_DecodeBlock	   (dlib_crypto()->EVP_DecodeBlock)

/* curl.h maps these three to themselves to check the argument count; ours take over */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_share_setopt
#define curl_easy_cleanup   (dlib_curl()->curl_easy_cleanup)
#define curl_easy_escape    (dlib_curl()->curl_easy_escape)
#define curl_easy_getinfo   (dlib_curl()->curl_easy_getinfo)
#define curl_easy_init	    (dlib_curl()->curl_easy_init)
#define curl_easy_perform   (dlib_curl()->curl_easy_perform)
#define curl_easy_setopt    (dlib_curl()->curl_easy_setopt)
#define curl_easy_strerror  (dlib_curl()->curl_easy_strerror)
#define curl_free	    (dlib_curl()->curl_free)
#define curl_getdate	    (dlib_curl()->curl_getdate)
#define curl_global_init    (dlib_curl()->curl_global_init)
#define curl_share_cleanup  (dlib_curl()->curl_share_cleanup)
#define curl_share_init	    (dlib_curl()->curl_share_init)
#define curl_share_setopt   (dlib_curl()->curl_share_setopt)
#define curl_slist_append   (dlib_curl()->curl_slist_append)
#define curl_slist_free_all (dlib_curl()->curl_slist_free_all)

#define seccomp_arch_add	     (dlib_seccomp()->seccomp_arch_add)
#define seccomp_arch_native	     (dlib_seccomp()->seccomp_arch_native)
#define seccomp_attr_set	     (dlib_seccomp()->seccomp_attr_set)
#define seccomp_export_bpf	     (dlib_seccomp()->seccomp_export_bpf)
#define seccomp_init		     (dlib_seccomp()->seccomp_init)
#define seccomp_release		     (dlib_seccomp()->seccomp_release)
#define seccomp_rule_add_array	     (dlib_seccomp()->seccomp_rule_add_array)
#define seccomp_syscall_resolve_name (dlib_seccomp()->seccomp_syscall_resolve_name)
#endif

#endif
