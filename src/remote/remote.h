/* remote: Apptainer's remote endpoints (`remote add/use/list/login ...`, `search`).
 *
 * The configuration is Apptainer's remote.yaml format (internal/pkg/remote/remote.go):
 *
 *     Active: NAME
 *     Remotes:
 *         NAME:
 *             URI: host[/path]
 *             Token: ...            (omitted when empty)
 *             System: false
 *             Exclusive: false
 *             Insecure: true        (omitted when false; http instead of https)
 *             Keyservers: [...]     (omitted when empty)
 *     Credentials: [...]            (omitted when empty)
 *
 * kept in litho's config directory ($LITHO_CONFIGDIR or ~/.litho, file remote.yaml, 0600),
 * plus a system file ($LITHO_SYSCONFDIR/litho/remote.yaml, default /etc) whose remotes are
 * shown as global. Without a system file litho behaves as an Apptainer installation with its
 * shipped one: a global DefaultRemote for cloud.apptainer.org, which has no library.
 *
 * An endpoint's services (library, token ...) are discovered from
 * https://URI/assets/config/config.prod.json, as Apptainer does.
 */
#ifndef LITHO_REMOTE_H
#define LITHO_REMOTE_H

#include <stdbool.h>
#include <stdio.h>

#include "util/util.h"

#define RMT_DEFAULT_NAME  "DefaultRemote"
#define RMT_DEFAULT_CLOUD "cloud.apptainer.org"

typedef struct rmt_keyserver {
	char *uri;
	bool skip, external, insecure;
} rmt_keyserver;

typedef struct rmt_endpoint {
	char *name;
	char *uri; /* host[/path], no scheme */
	char *token;
	bool system, exclusive, insecure;
	rmt_keyserver *keyservers;
	size_t n_keyservers;
} rmt_endpoint;

typedef struct rmt_credential {
	char *uri, *auth;
	bool insecure;
} rmt_credential;

typedef struct rmt_config {
	char *active;	       /* the default remote's name, NULL when none */
	rmt_endpoint *remotes; /* sorted by name */
	size_t n;
	rmt_credential *creds;
	size_t n_creds;
} rmt_config;

/* litho's remote.yaml (new string), and the system one. */
char *rmt_user_path(void);
char *rmt_system_path(void);
/* Reads a remote.yaml (a missing or empty file is an empty configuration). The decoding is
 * strict like Apptainer's: unknown keys are errors. */
int rmt_read(const char *path, rmt_config *c, lt_error **err);
/* The system configuration: the file, or Apptainer's shipped default when there is none. */
int rmt_read_system(rmt_config *c, lt_error **err);
/* Writes atomically with mode 0600 (0644 for the system file), making the directory (0700). */
int rmt_write(const char *path, const rmt_config *c, bool world_readable, lt_error **err);
void rmt_free(rmt_config *c);

rmt_endpoint *rmt_find(rmt_config *c, const char *name);
/* Adds a remote (an error when the name is taken); returns it. */
rmt_endpoint *rmt_add(rmt_config *c, const char *name, const char *uri, lt_error **err);
int rmt_remove(rmt_config *c, const char *name, lt_error **err);
/* Apptainer's Config.SyncFrom: the system's remotes in the user's configuration (a user
 * remote of the same name wins, with a message), an exclusive one made the default. */
int rmt_sync_system(rmt_config *user, const rmt_config *sys, lt_error **err);

/* https:// (http:// when insecure) + URI */
char *rmt_endpoint_url(const rmt_endpoint *e);
/* The URI of one of an endpoint's services ("library", "token", "keyserver" ...): "" for the
 * library of the default cloud, which has none. */
int rmt_service_uri(const rmt_endpoint *e, const char *service, char **uri, lt_error **err);
/* All of them, for `remote status`: names and URIs (NULL terminated, free with
 * lt_strv_free). */
int rmt_services(const rmt_endpoint *e, char ***names, char ***uris, lt_error **err);
/* GET uri/version of a service: its version. */
int rmt_service_version(const char *uri, bool insecure, char **version, lt_error **err);
/* Checks a token with the endpoint's token service (GET <token>/v1/token-status). */
int rmt_verify_token(const rmt_endpoint *e, const char *token, lt_error **err);

/* A library search (GET <library>/v1/search), printed as Apptainer prints it. */
int rmt_search(FILE *out, const char *library, const char *token, const char *query,
	       const char *arch, bool signed_only, lt_error **err);

#endif
