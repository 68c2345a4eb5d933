/* dlib: the heavy libraries (libarchive, OpenSSL's libcrypto, libcurl, libseccomp) loaded on
 * first use.
 *
 * Linked normally, these libraries cost `litho run` more start-up time than the whole container
 * launch: libarchive pulls in libxml2, ICU and libstdc++, libcurl a dozen TLS and protocol
 * libraries, and the dynamic loader relocates all of them before main() (measured with
 * callgrind: 8.3 million instructions for `litho version` against 0.5 million for bwrap). Only
 * building and pulling need them, so they are opened with dlopen() when first called.
 *
 * Include this header instead of <archive.h>, <archive_entry.h>, <openssl/evp.h> (pem, x509),
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
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
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
	X(EVP_DecodeBlock)                                                                         \
	X(BIO_free)                                                                                \
	X(BIO_new_mem_buf)                                                                         \
	X(BN_bn2bin)                                                                               \
	X(BN_free)                                                                                 \
	X(BN_num_bits)                                                                             \
	X(ERR_clear_error)                                                                         \
	X(ERR_error_string_n)                                                                      \
	X(ERR_get_error)                                                                           \
	X(EVP_DigestSign)                                                                          \
	X(EVP_DigestSignInit)                                                                      \
	X(EVP_DigestVerify)                                                                        \
	X(EVP_DigestVerifyInit)                                                                    \
	X(EVP_MD_get_size)                                                                         \
	X(EVP_PKEY_free)                                                                           \
	X(EVP_PKEY_get_base_id)                                                                    \
	X(EVP_PKEY_get_bits)                                                                       \
	X(EVP_PKEY_get_bn_param)                                                                   \
	X(EVP_PKEY_get_octet_string_param)                                                         \
	X(EVP_PKEY_get_raw_public_key)                                                             \
	X(EVP_PKEY_get_utf8_string_param)                                                          \
	X(EVP_sha224)                                                                              \
	X(EVP_sha384)                                                                              \
	X(EVP_sha512)                                                                              \
	X(EVP_sha512_224)                                                                          \
	X(EVP_sha512_256)                                                                          \
	X(OSSL_DECODER_CTX_free)                                                                   \
	X(OSSL_DECODER_CTX_new_for_pkey)                                                           \
	X(OSSL_DECODER_from_bio)                                                                   \
	X(PEM_read_bio_PrivateKey)                                                                 \
	X(PEM_read_bio_X509)                                                                       \
	X(X509_STORE_CTX_free)                                                                     \
	X(X509_STORE_CTX_get_error)                                                                \
	X(X509_STORE_CTX_init)                                                                     \
	X(X509_STORE_CTX_new)                                                                      \
	X(X509_STORE_add_cert)                                                                     \
	X(X509_STORE_free)                                                                         \
	X(X509_STORE_load_file)                                                                    \
	X(X509_STORE_new)                                                                          \
	X(X509_STORE_set_default_paths)                                                            \
	X(X509_free)                                                                               \
	X(X509_get_extended_key_usage)                                                             \
	X(X509_get_pubkey)                                                                         \
	X(X509_verify_cert)                                                                        \
	X(X509_verify_cert_error_string)

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

#define EVP_DigestFinal_ex		(dlib_crypto()->EVP_DigestFinal_ex)
#define EVP_DigestInit_ex		(dlib_crypto()->EVP_DigestInit_ex)
#define EVP_DigestUpdate		(dlib_crypto()->EVP_DigestUpdate)
#define EVP_MD_CTX_free			(dlib_crypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new			(dlib_crypto()->EVP_MD_CTX_new)
#define EVP_sha256			(dlib_crypto()->EVP_sha256)
#define EVP_EncodeBlock			(dlib_crypto()->EVP_EncodeBlock)
#define EVP_DecodeBlock			(dlib_crypto()->EVP_DecodeBlock)
#define BIO_free			(dlib_crypto()->BIO_free)
#define BIO_new_mem_buf			(dlib_crypto()->BIO_new_mem_buf)
#define BN_bn2bin			(dlib_crypto()->BN_bn2bin)
#define BN_free				(dlib_crypto()->BN_free)
#define BN_num_bits			(dlib_crypto()->BN_num_bits)
#define ERR_clear_error			(dlib_crypto()->ERR_clear_error)
#define ERR_error_string_n		(dlib_crypto()->ERR_error_string_n)
#define ERR_get_error			(dlib_crypto()->ERR_get_error)
#define EVP_DigestSign			(dlib_crypto()->EVP_DigestSign)
#define EVP_DigestSignInit		(dlib_crypto()->EVP_DigestSignInit)
#define EVP_DigestVerify		(dlib_crypto()->EVP_DigestVerify)
#define EVP_DigestVerifyInit		(dlib_crypto()->EVP_DigestVerifyInit)
#define EVP_MD_get_size			(dlib_crypto()->EVP_MD_get_size)
#define EVP_PKEY_free			(dlib_crypto()->EVP_PKEY_free)
#define EVP_PKEY_get_base_id		(dlib_crypto()->EVP_PKEY_get_base_id)
#define EVP_PKEY_get_bits		(dlib_crypto()->EVP_PKEY_get_bits)
#define EVP_PKEY_get_bn_param		(dlib_crypto()->EVP_PKEY_get_bn_param)
#define EVP_PKEY_get_octet_string_param (dlib_crypto()->EVP_PKEY_get_octet_string_param)
#define EVP_PKEY_get_raw_public_key	(dlib_crypto()->EVP_PKEY_get_raw_public_key)
#define EVP_PKEY_get_utf8_string_param	(dlib_crypto()->EVP_PKEY_get_utf8_string_param)
#define EVP_sha224			(dlib_crypto()->EVP_sha224)
#define EVP_sha384			(dlib_crypto()->EVP_sha384)
#define EVP_sha512			(dlib_crypto()->EVP_sha512)
#define EVP_sha512_224			(dlib_crypto()->EVP_sha512_224)
#define EVP_sha512_256			(dlib_crypto()->EVP_sha512_256)
#define OSSL_DECODER_CTX_free		(dlib_crypto()->OSSL_DECODER_CTX_free)
#define OSSL_DECODER_CTX_new_for_pkey	(dlib_crypto()->OSSL_DECODER_CTX_new_for_pkey)
#define OSSL_DECODER_from_bio		(dlib_crypto()->OSSL_DECODER_from_bio)
#define PEM_read_bio_PrivateKey		(dlib_crypto()->PEM_read_bio_PrivateKey)
#define PEM_read_bio_X509		(dlib_crypto()->PEM_read_bio_X509)
#define X509_STORE_CTX_free		(dlib_crypto()->X509_STORE_CTX_free)
#define X509_STORE_CTX_get_error	(dlib_crypto()->X509_STORE_CTX_get_error)
#define X509_STORE_CTX_init		(dlib_crypto()->X509_STORE_CTX_init)
#define X509_STORE_CTX_new		(dlib_crypto()->X509_STORE_CTX_new)
#define X509_STORE_add_cert		(dlib_crypto()->X509_STORE_add_cert)
#define X509_STORE_free			(dlib_crypto()->X509_STORE_free)
#define X509_STORE_load_file		(dlib_crypto()->X509_STORE_load_file)
#define X509_STORE_new			(dlib_crypto()->X509_STORE_new)
#define X509_STORE_set_default_paths	(dlib_crypto()->X509_STORE_set_default_paths)
#define X509_free			(dlib_crypto()->X509_free)
#define X509_get_extended_key_usage	(dlib_crypto()->X509_get_extended_key_usage)
#define X509_get_pubkey			(dlib_crypto()->X509_get_pubkey)
#define X509_verify_cert		(dlib_crypto()->X509_verify_cert)
#define X509_verify_cert_error_string	(dlib_crypto()->X509_verify_cert_error_string)

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

/* dlib for GPGME: loaded on first use like the libraries of dlib.h, for the same reason (only
 * signing and verifying with OpenPGP keys need it). Include dlib.h instead of <gpgme.h>.
 */

#include <gpgme.h>

#define DLIB_GPGME_FUNCTIONS(X)                                                                    \
	X(gpgme_check_version_internal)                                                            \
	X(gpgme_ctx_set_engine_info)                                                               \
	X(gpgme_data_new)                                                                          \
	X(gpgme_data_new_from_mem)                                                                 \
	X(gpgme_data_release)                                                                      \
	X(gpgme_data_release_and_get_mem)                                                          \
	X(gpgme_engine_check_version)                                                              \
	X(gpgme_free)                                                                              \
	X(gpgme_get_key)                                                                           \
	X(gpgme_io_writen)                                                                         \
	X(gpgme_key_unref)                                                                         \
	X(gpgme_new)                                                                               \
	X(gpgme_op_createkey)                                                                      \
	X(gpgme_op_export)                                                                         \
	X(gpgme_op_genkey_result)                                                                  \
	X(gpgme_op_import)                                                                         \
	X(gpgme_op_import_result)                                                                  \
	X(gpgme_op_keylist_end)                                                                    \
	X(gpgme_op_keylist_from_data_start)                                                        \
	X(gpgme_op_keylist_next)                                                                   \
	X(gpgme_op_sign)                                                                           \
	X(gpgme_op_verify)                                                                         \
	X(gpgme_op_verify_result)                                                                  \
	X(gpgme_release)                                                                           \
	X(gpgme_set_armor)                                                                         \
	X(gpgme_set_passphrase_cb)                                                                 \
	X(gpgme_set_pinentry_mode)                                                                 \
	X(gpgme_signers_add)                                                                       \
	X(gpgme_signers_clear)                                                                     \
	X(gpgme_strerror)

#define DLIB_POINTER(f) __typeof__(f) *f;
struct dlib_gpgme {
	DLIB_GPGME_FUNCTIONS(DLIB_POINTER)
};
#undef DLIB_POINTER

/* NULL (with *why) when libgpgme cannot be loaded: an error of the command that needed it. */
const struct dlib_gpgme *dlib_gpgme_try(const char **why);
/* The same, fatal when it cannot be loaded (call dlib_gpgme_try first for a clean error). */
const struct dlib_gpgme *dlib_gpgme(void);

#ifndef DLIB_REAL_NAMES
#undef gpgme_check_version
#define gpgme_check_version_internal	 (dlib_gpgme()->gpgme_check_version_internal)
#define gpgme_ctx_set_engine_info	 (dlib_gpgme()->gpgme_ctx_set_engine_info)
#define gpgme_data_new			 (dlib_gpgme()->gpgme_data_new)
#define gpgme_data_new_from_mem		 (dlib_gpgme()->gpgme_data_new_from_mem)
#define gpgme_data_release		 (dlib_gpgme()->gpgme_data_release)
#define gpgme_data_release_and_get_mem	 (dlib_gpgme()->gpgme_data_release_and_get_mem)
#define gpgme_engine_check_version	 (dlib_gpgme()->gpgme_engine_check_version)
#define gpgme_free			 (dlib_gpgme()->gpgme_free)
#define gpgme_get_key			 (dlib_gpgme()->gpgme_get_key)
#define gpgme_io_writen			 (dlib_gpgme()->gpgme_io_writen)
#define gpgme_key_unref			 (dlib_gpgme()->gpgme_key_unref)
#define gpgme_new			 (dlib_gpgme()->gpgme_new)
#define gpgme_op_createkey		 (dlib_gpgme()->gpgme_op_createkey)
#define gpgme_op_export			 (dlib_gpgme()->gpgme_op_export)
#define gpgme_op_genkey_result		 (dlib_gpgme()->gpgme_op_genkey_result)
#define gpgme_op_import			 (dlib_gpgme()->gpgme_op_import)
#define gpgme_op_import_result		 (dlib_gpgme()->gpgme_op_import_result)
#define gpgme_op_keylist_end		 (dlib_gpgme()->gpgme_op_keylist_end)
#define gpgme_op_keylist_from_data_start (dlib_gpgme()->gpgme_op_keylist_from_data_start)
#define gpgme_op_keylist_next		 (dlib_gpgme()->gpgme_op_keylist_next)
#define gpgme_op_sign			 (dlib_gpgme()->gpgme_op_sign)
#define gpgme_op_verify			 (dlib_gpgme()->gpgme_op_verify)
#define gpgme_op_verify_result		 (dlib_gpgme()->gpgme_op_verify_result)
#define gpgme_release			 (dlib_gpgme()->gpgme_release)
#define gpgme_set_armor			 (dlib_gpgme()->gpgme_set_armor)
#define gpgme_set_passphrase_cb		 (dlib_gpgme()->gpgme_set_passphrase_cb)
#define gpgme_set_pinentry_mode		 (dlib_gpgme()->gpgme_set_pinentry_mode)
#define gpgme_signers_add		 (dlib_gpgme()->gpgme_signers_add)
#define gpgme_signers_clear		 (dlib_gpgme()->gpgme_signers_clear)
#define gpgme_strerror			 (dlib_gpgme()->gpgme_strerror)
#endif

#endif
