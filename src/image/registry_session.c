/* The registry session: the /v2/ ping (the authentication scheme, plain HTTP for a loopback
 * registry without TLS), authentication state (Basic credentials, Bearer tokens per scope,
 * fetched once and reused until they expire), and img_reg_do: one request with authentication,
 * 401 handling and retries of 429, 5xx and transport errors with backoff. */
#include "dlib/dlib.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Authentication state
 */
/* The Authorization value to send for scope (new string) or NULL. Called with c->lock. */
static char *auth_value_locked(reg_client *c, const char *scope)
{
	if (c->scheme == SCHEME_BASIC) {
		const reg_creds *cr = img_reg_creds_locked(c);
		if (cr == NULL)
			return NULL;
		char *up = lt_strdup_printf("%s:%s", cr->user, cr->pass);
		char *b = img_reg_base64(up, strlen(up));
		char *v = lt_strdup_printf("Basic %s", b);
		free(b);
		free(up);
		return v;
	}
	if (c->scheme == SCHEME_BEARER) {
		const char *key = scope ? scope : "";
		time_t now = time(NULL);
		for (size_t i = 0; i < c->n_tokens; i++)
			if (strcmp(c->tokens[i].scope, key) == 0 && c->tokens[i].expires > now + 5)
				return lt_strdup_printf("Bearer %s", c->tokens[i].token);
	}
	return NULL;
}

static void store_token_locked(reg_client *c, const char *scope, char *token, int64_t expires_in)
{
	const char *key = scope ? scope : "";
	time_t exp = time(NULL) + (time_t)expires_in;
	for (size_t i = 0; i < c->n_tokens; i++) {
		if (strcmp(c->tokens[i].scope, key) == 0) {
			free(c->tokens[i].token);
			c->tokens[i].token = token;
			c->tokens[i].expires = exp;
			return;
		}
	}
	if (c->n_tokens == REG_MAX_TOKENS) { /* drop the oldest */
		free(c->tokens[0].scope);
		free(c->tokens[0].token);
		memmove(c->tokens, c->tokens + 1, (REG_MAX_TOKENS - 1) * sizeof(c->tokens[0]));
		c->n_tokens--;
	}
	c->tokens[c->n_tokens++] = (reg_token){lt_xstrdup(key), token, exp};
}

/* Gets a token for fetch_scope (from the realm the registry named) and keeps it under store_scope,
 * unless a valid one is cached (and not `force`). */
static int bearer_token(reg_client *c, const char *fetch_scope, const char *store_scope, bool force,
			const volatile bool *abort, lt_error **err)
{
	pthread_mutex_lock(&c->auth_lock);
	pthread_mutex_lock(&c->lock);
	char *have = force ? NULL : auth_value_locked(c, store_scope);
	char *realm = c->realm ? lt_xstrdup(c->realm) : NULL;
	char *service = c->service ? lt_xstrdup(c->service) : NULL;
	const reg_creds *cr0 = img_reg_creds_locked(c);
	reg_creds cr = {0};
	if (cr0 != NULL) {
		cr.user = lt_xstrdup(cr0->user);
		cr.pass = lt_xstrdup(cr0->pass);
	}
	pthread_mutex_unlock(&c->lock);
	int rc = 0;
	if (have == NULL) {
		if (realm == NULL) {
			rc = lt_error_set(err, 0, "%s: Bearer challenge without a realm", c->name);
		} else {
			char *token;
			int64_t expires_in;
			rc = img_reg_token_fetch(c, realm, service, fetch_scope,
						 cr.user ? &cr : NULL, abort, &token, &expires_in,
						 err);
			if (rc == 0) {
				pthread_mutex_lock(&c->lock);
				store_token_locked(c, store_scope, token, expires_in);
				pthread_mutex_unlock(&c->lock);
			}
		}
	}
	free(have);
	free(realm);
	free(service);
	img_reg_creds_clear(&cr);
	pthread_mutex_unlock(&c->auth_lock);
	return rc;
}

/* Learns the scheme from a challenge. */
static void learn_challenge(reg_client *c, const reg_challenge *ch)
{
	pthread_mutex_lock(&c->lock);
	if (strcmp(ch->scheme, "basic") == 0) {
		c->scheme = SCHEME_BASIC;
	} else {
		c->scheme = SCHEME_BEARER;
		free(c->realm);
		free(c->service);
		c->realm = ch->realm ? lt_xstrdup(ch->realm) : NULL;
		c->service = ch->service ? lt_xstrdup(ch->service) : NULL;
	}
	pthread_mutex_unlock(&c->lock);
}

/* Attempts for a transport error: a name that does not resolve is not retried, a refused
 * connection once (a registry that is down should not keep the user waiting), the rest (resets,
 * timeouts, broken transfers) up to REG_MAX_ATTEMPTS. */
static int max_attempts(int cc)
{
	if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
	    cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
	    cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
		return 1;
	if (cc == CURLE_COULDNT_CONNECT)
		return 2;
	return REG_MAX_ATTEMPTS;
}

static int ping_once(reg_client *c, const volatile bool *abort, reg_resp *r, char *errbuf)
{
	reg_req q = {.url = "/v2/", .what = "ping", .no_auth = true, .abort = abort};
	lt_error *sink_err = NULL;
	int rc = img_reg_perform(c, &q, NULL, r, errbuf, &sink_err);
	lt_error_free(&sink_err);
	return rc;
}

int img_reg_ping(reg_client *c, const volatile bool *abort, lt_error **err)
{
	pthread_mutex_lock(&c->auth_lock);
	pthread_mutex_lock(&c->lock);
	bool done = c->pinged;
	pthread_mutex_unlock(&c->lock);
	if (done) {
		pthread_mutex_unlock(&c->auth_lock);
		return 0;
	}
	reg_resp r = {0};
	char errbuf[CURL_ERROR_SIZE];
	int rc = -1;
	for (int attempt = 1;; attempt++) {
		int cc = ping_once(c, abort, &r, errbuf);
		if (cc != 0 && !c->no_https && lt_str_has_prefix(c->base, "https://") &&
		    img_reg_host_is_loopback(c->api_host) &&
		    (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR ||
		     cc == CURLE_GOT_NOTHING)) {
			/* A local registry without TLS (Docker treats loopback as insecure). */
			char *http = lt_strdup_printf("http://%s", c->api_host);
			free(c->base);
			c->base = http;
			lt_verbose("%s does not speak TLS (%s); using plain HTTP", c->name, errbuf);
			cc = ping_once(c, abort, &r, errbuf);
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			lt_error_set(err, 0, "%s: interrupted", c->name);
			break;
		}
		bool retry = cc != 0 || r.status == 429 || r.status >= 500;
		if (retry && attempt < max_attempts(cc)) {
			int64_t ms = img_reg_retry_after_ms(r.retry_after, time(NULL));
			if (ms < 0 || ms > REG_MAX_BACKOFF_MS)
				ms = img_reg_backoff_ms(attempt);
			lt_warn("%s: %s; retrying in %.1f s", c->name,
				cc ? errbuf
				   : (r.status == 429 ? "too many requests" : "server error"),
				(double)ms / 1000);
			if (!img_reg_sleep_ms(ms, abort)) {
				lt_error_set(err, 0, "%s: interrupted", c->name);
				break;
			}
			continue;
		}
		if (cc != 0) {
			lt_error_set(
			    err, 0, "%s: cannot reach %s: %s%s", c->name, c->base, errbuf,
			    cc == CURLE_PEER_FAILED_VERIFICATION
				? " (for a registry with a private CA, give its certificate "
				  "as the CA file, or disable TLS verification)"
				: "");
			break;
		}
		if (r.status == 200) {
			pthread_mutex_lock(&c->lock);
			c->scheme = SCHEME_NONE;
			pthread_mutex_unlock(&c->lock);
			rc = 0;
		} else if (r.status == 401) {
			reg_challenge ch;
			if (img_reg_challenge_parse(r.www_auth, &ch) < 0) {
				lt_error_set(err, 0,
					     "%s: /v2/ asks for authentication without a Basic or "
					     "Bearer challenge (WWW-Authenticate: %s)",
					     c->name, r.www_auth ? r.www_auth : "none");
				break;
			}
			learn_challenge(c, &ch);
			img_reg_challenge_clear(&ch);
			rc = 0;
		} else {
			img_reg_http_error(c, "GET /v2/ (is this a registry?)", &r, err);
		}
		break;
	}
	if (rc == 0) {
		pthread_mutex_lock(&c->lock);
		c->pinged = true;
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&c->auth_lock);
	img_reg_resp_clear(&r);
	return rc;
}

static int auth_required(const reg_client *c, const char *what, lt_error **err)
{
	return lt_error_set(err, 0,
			    "%s: %s: authentication required (no credentials found; log in with "
			    "`litho registry login` or set LITHO_DOCKER_USERNAME and "
			    "LITHO_DOCKER_PASSWORD)",
			    c->name, what);
}

/* After a 401 from a resource: decides how to retry. `sent_basic` says whether the request
 * carried credentials. 0 = retry, -1 = give up (*err). */
static int handle_401(reg_client *c, const reg_req *q, const reg_resp *r, bool sent_basic,
		      int *auth_tries, lt_error **err)
{
	const char *what = q->what ? q->what : q->url;
	reg_challenge ch;
	if (img_reg_challenge_parse(r->www_auth, &ch) < 0)
		return img_reg_http_error(c, what, r, err);
	learn_challenge(c, &ch);
	pthread_mutex_lock(&c->lock);
	const reg_creds *cr = img_reg_creds_locked(c);
	char *user = cr ? lt_xstrdup(cr->user) : NULL;
	pthread_mutex_unlock(&c->lock);
	int rc = 0;
	(*auth_tries)++;
	if (strcmp(ch.scheme, "basic") == 0) {
		if (user == NULL)
			rc = auth_required(c, what, err);
		else if (sent_basic || *auth_tries > 2)
			rc = lt_error_set(err, 0, "%s: authentication failed for user %s", c->name,
					  user);
		/* else the scheme is known now: the retry sends the credentials */
	} else if (*auth_tries >= 2) {
		/* A fresh token did not help. */
		if (user == NULL)
			rc = auth_required(c, what, err);
		else if (ch.error != NULL && strcmp(ch.error, "insufficient_scope") == 0)
			rc = lt_error_set(
			    err, 0, "%s: %s: access denied (insufficient scope; needs %s%s%s)",
			    c->name, what, ch.scope ? ch.scope : q->scope, user ? " for user " : "",
			    user ? user : "");
		else
			rc = lt_error_set(err, 0, "%s: %s: access denied for user %s", c->name,
					  what, user);
	} else {
		/* Bearer: a new token for the scope the registry named (else ours), kept under
		 * our scope so that the retry uses it. */
		rc = bearer_token(c, ch.scope ? ch.scope : q->scope, q->scope, true, q->abort, err);
	}
	free(user);
	img_reg_challenge_clear(&ch);
	return rc;
}

int img_reg_do(reg_client *c, const reg_req *q, reg_resp *r, lt_error **err)
{
	const char *what = q->what ? q->what : q->url;
	if (!q->no_auth && q->authorization == NULL && img_reg_ping(c, q->abort, err) < 0)
		return -1;
	int attempt = 0, auth_tries = 0;
	char errbuf[CURL_ERROR_SIZE];
	for (;;) {
		char *auth = NULL;
		if (q->authorization != NULL) {
			auth = lt_xstrdup(q->authorization);
		} else if (!q->no_auth) {
			pthread_mutex_lock(&c->lock);
			enum reg_scheme scheme = c->scheme;
			pthread_mutex_unlock(&c->lock);
			if (scheme == SCHEME_BEARER &&
			    bearer_token(c, q->scope, q->scope, false, q->abort, err) < 0)
				return -1;
			pthread_mutex_lock(&c->lock);
			auth = auth_value_locked(c, q->scope);
			pthread_mutex_unlock(&c->lock);
		}
		bool sent_basic = auth != NULL && lt_str_has_prefix(auth, "Basic ");
		lt_error *sink_err = NULL;
		int cc = img_reg_perform(c, q, auth, r, errbuf, &sink_err);
		free(auth);
		if (sink_err != NULL) {
			return lt_error_move(err, &sink_err);
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			return lt_error_set(err, 0, "%s: %s: interrupted", c->name, what);
		bool body_started = r->sunk > 0;
		if (cc == 0 && r->status == 401 && q->authorization == NULL && !q->no_auth) {
			if (handle_401(c, q, r, sent_basic, &auth_tries, err) < 0)
				return -1;
			continue;
		}
		bool transient = cc != 0 || r->status == 429 || r->status == 500 ||
				 r->status == 502 || r->status == 503 || r->status == 504;
		if (!transient)
			return 0;
		if (cc != 0 && (body_started || q->no_retry))
			return lt_error_set(err, 0, "%s: %s: %s", c->name, what, errbuf);
		if (cc == 0 && q->no_retry && r->status != 429)
			return 0;
		attempt++;
		int64_t ms = img_reg_retry_after_ms(r->retry_after, time(NULL));
		if (cc == 0 && r->status == 429 && ms > REG_MAX_BACKOFF_MS) {
			char *msg;
			free(img_reg_error_code(r, &msg));
			lt_error_set(
			    err, 0,
			    "%s: %s: too many requests%s%s (the registry asks to wait %lld "
			    "s; try again later%s)",
			    c->name, what, msg ? ": " : "", msg ? msg : "", (long long)(ms / 1000),
			    img_reg_client_user(c) ? "" : ", or log in to raise the limit");
			free(msg);
			return -1;
		}
		if (attempt >= max_attempts(cc)) {
			if (cc != 0)
				return lt_error_set(err, 0,
						    "%s: %s: %s (gave up after %d attempts)",
						    c->name, what, errbuf, attempt);
			img_reg_http_error(c, what, r, err);
			return lt_error_wrap(err, "gave up after %d attempts", attempt);
		}
		if (ms < 0)
			ms = img_reg_backoff_ms(attempt);
		if (cc != 0)
			lt_warn("%s: %s: %s; retrying in %.1f s", c->name, what, errbuf,
				(double)ms / 1000);
		else
			lt_warn("%s: %s: HTTP %ld%s; retrying in %.1f s", c->name, what, r->status,
				r->status == 429 ? " (too many requests)" : "", (double)ms / 1000);
		if (!img_reg_sleep_ms(ms, q->abort))
			return lt_error_set(err, 0, "%s: %s: interrupted", c->name, what);
	}
}
