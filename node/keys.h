/*
 * keys.h - which controller keys the node trusts, and whether it is revoked.
 *
 * The controller's trust document (envelope type `key`, retained on
 * <root>/zone/all/key, docs/protocol.md) lists keys to trust with their
 * expiry, keys being retired (trusted until a time), revoked keys and
 * revoked nodes. The node applies it to its verifier and keeps the result
 * in <state_dir>/trust.json (atomic), loaded at start before connecting:
 *   - controller_key of node.cfg is trusted unless the file says it was
 *     retired or revoked (an operator may install a new key in node.cfg);
 *   - recovery_key of node.cfg is trusted for trust documents only;
 *   - a retired or revoked key is never trusted again from node.cfg.
 * Every accepted envelope then passes node_keys_check(): a message signed
 * by an expired key, a non-key message signed by the recovery key, and any
 * command or plan while the node is revoked are refused, logged and counted
 * in status "rejected" (key_expired, recovery_key_misuse, node_revoked).
 */
#ifndef LOAXA_NODE_KEYS_H
#define LOAXA_NODE_KEYS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"

struct node;

#define NODE_KEYS_MAX ENVELOPE_MAX_KEYS
#define NODE_KEYS_OLD_MAX 16

struct node_key {
	uint8_t pk[32];
	int64_t not_after;   /* ms; 0 = no expiry known (node.cfg, before a document) */
	int64_t retire_at;   /* ms; 0 = not retiring */
};

struct node_keys {
	struct node_key trusted[NODE_KEYS_MAX];
	size_t ntrusted;
	uint8_t retired[NODE_KEYS_OLD_MAX][32];  /* dropped after their window */
	size_t nretired;
	uint8_t revoked[NODE_KEYS_OLD_MAX][32];
	size_t nrevoked;
	int revoked_self;
	uint64_t doc_seq;           /* sequence of the last trust document applied */
	int64_t doc_issued;
	char path[PATH_MAX];
	uint64_t key_expired, recovery_misuse, node_revoked, revoked_key;
	int stale;                  /* a trust document signed by a key we do not know */
	int64_t floor;              /* the verifier's floor_ms when trust.json was written */
	int trust_lost;             /* trust.json missing or corrupt: re-take the retained document */
	/*
	 * Why this node fails closed (docs/security.md "State files"): the
	 * sequence store or the trust file was missing or corrupt at start.
	 * Reported in status "state" (the controller raises alarm "state").
	 */
	char lost[240];
	int64_t lost_at;
};

/*
 * After the verifier holds controller_key: load trust.json, fix the set.
 * A missing trust.json on a node that ran before (ran_before), or a corrupt
 * one (moved to trust.json.corrupt), is not fatal: retired and revoked keys
 * come from the sequence store's copy, and the node reports it.
 */
int node_keys_init(struct node *n, int ran_before);
/*
 * After clock_init: if the sequence store was lost (missing on a node that
 * ran before, or corrupt), fail closed from max(now, the trust file's
 * floor) and report why.
 */
void node_keys_check_state(struct node *n, int ran_before, int64_t now);
/* {"lost": why, "since": ms, "stale": refused} or NULL when nothing was lost. */
json_t *node_keys_state_json(const struct node *n);

/* 1 when topic is <root>/zone/all/key. */
int node_keys_topic(const struct node *n, const char *topic);
/*
 * Check a trust document body without applying it (tests, fuzzing):
 * -EINVAL with err, else 1 when it revokes self, 0 when not.
 */
int node_keys_doc_check(const char *self, const uint8_t *body, size_t len, char *err,
			size_t errlen);
/* A verified envelope of type key from that topic. */
void node_keys_on_trust(struct node *n, const struct envelope *env);

/*
 * After envelope_open() accepted env: 0 when the node may act on it, else
 * -EPERM (logged, counted). topic_is_key: it came on the key topic.
 */
int node_keys_check(struct node *n, const struct envelope *env, const char *topic);
/*
 * After envelope_open() said unknown_key: if the raw header names a key we
 * revoked, count it as revoked_key instead (and say so in the log); if it
 * is a trust document, say why this node cannot follow the controller any
 * more (status "trust": "stale"). Returns 1 when it was a revoked key.
 */
int node_keys_unknown(struct node *n, const char *topic, const uint8_t *payload,
		      size_t len);

/* Retire keys whose time came; call from the loop's tick. */
void node_keys_tick(struct node *n);
/* Monotonic ms of the next retirement (INT64_MAX: none). */
int64_t node_keys_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int node_keys_register(struct loop *l, struct node *n);

/* {"keys": ["<key id>"...], "seq": N, "revoked": bool} for the status. */
json_t *node_keys_status_json(const struct node *n);
/* Adds key_expired, recovery_key_misuse, node_revoked, revoked_key counts. */
void node_keys_rejected_json(const struct node *n, json_t *rejected);

#endif
