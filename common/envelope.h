/*
 * envelope.h - the signed envelope around every controller->node message.
 *
 * Layout (all integers big-endian), see docs/protocol.md:
 *
 *   off len field
 *     0   4 magic "LOAX"
 *     4   1 version (1)
 *     5   1 type (enum envelope_type)
 *     6   2 flags (0; bit 0 = drill, reserved for later issues)
 *     8   8 key id: first 8 bytes of SHA-256(Ed25519 public key)
 *    16  16 site id, NUL-padded ASCII
 *    32   8 sequence number (per key and type, strictly increasing)
 *    40   8 issued-at, ms since the epoch, controller time (signed)
 *    48   8 expires-at, ms since the epoch, controller time (signed)
 *    56   4 body length
 *    60   n body (JSON text, or binary for content/live)
 *  60+n  64 Ed25519 signature over bytes [0, 60+n)
 *
 * A receiver calls envelope_open(): it checks sizes first, then the
 * signature over the raw bytes, and only then looks at site, times and
 * sequence. Nothing of the body is parsed before the signature holds.
 */
#ifndef LOAXA_ENVELOPE_H
#define LOAXA_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAGIC "LOAX"
#define ENVELOPE_VERSION 1
#define ENVELOPE_HEADER_LEN 60
#define ENVELOPE_SIG_LEN 64
#define ENVELOPE_OVERHEAD (ENVELOPE_HEADER_LEN + ENVELOPE_SIG_LEN)
#define ENVELOPE_KEYID_LEN 8
#define ENVELOPE_SITE_LEN 16
#define ENVELOPE_MAX_KEYS 4
#define VERIFIER_DISTRUST_MAX 32
/* Default largest envelope a node accepts (content chunks are 64 KiB). */
#define ENVELOPE_DEFAULT_MAX (256 * 1024)

enum envelope_type {
	ENV_PLAN = 1,
	ENV_CMD = 2,
	ENV_LIVE = 3,
	ENV_CONTENT = 4,
	ENV_TIME = 5,
	ENV_KEY = 6,
	ENV_TYPE_MAX = 6,
};

/* Envelope flags. Drill: an exercise, never to be taken for a real alarm. */
#define ENV_FLAG_DRILL 0x0001

enum envelope_result {
	ENV_OK = 0,
	ENV_ERR_TRUNCATED,   /* shorter than header + signature, or than body_len says */
	ENV_ERR_OVERSIZED,   /* larger than the receiver's limit */
	ENV_ERR_MAGIC,       /* not a loaxa envelope at all */
	ENV_ERR_VERSION,     /* a version this build does not speak */
	ENV_ERR_TYPE,        /* unknown message type */
	ENV_ERR_LENGTH,      /* body_len disagrees with the payload size (trailing bytes) */
	ENV_ERR_UNKNOWN_KEY, /* key id is not one we trust */
	ENV_ERR_SIGNATURE,   /* signature does not verify */
	ENV_ERR_SITE,        /* signed for another commune */
	ENV_ERR_EXPIRED,     /* expires-at is in the past */
	ENV_ERR_FUTURE,      /* issued-at too far ahead of our clock */
	ENV_ERR_TIMES,       /* expires-at before issued-at */
	ENV_ERR_REPLAY,      /* sequence lower than one already accepted */
	ENV_ERR_DUPLICATE,   /* sequence equal to the last accepted (e.g. retained plan redelivered) */
	ENV_ERR_STALE,       /* sequence state lost: issued before the node noticed (fail closed) */
	ENV_RESULT_MAX
};

/* A parsed, verified envelope. body points into the caller's buffer. */
struct envelope {
	uint8_t type;
	uint16_t flags;
	uint8_t key_id[ENVELOPE_KEYID_LEN];
	char site[ENVELOPE_SITE_LEN + 1];
	uint64_t seq;
	int64_t issued_at;
	int64_t expires_at;
	const uint8_t *body;
	size_t body_len;
	uint64_t prev_seq;    /* on ENV_OK: the highest sequence before this one (verifier_undo) */
	int64_t prev_floor_ms; /* on ENV_OK: the verifier's issued-at floor before it */
};

/* The controller's side: a secret key and the site it signs for. */
struct signer {
	uint8_t sk[64];
	uint8_t pk[32];
	uint8_t key_id[ENVELOPE_KEYID_LEN];
	char site[ENVELOPE_SITE_LEN + 1];
};

/*
 * The node's side: trusted public keys, its site, limits, and the highest
 * sequence accepted per (key, type), kept in state_path (written atomically).
 */
struct verifier {
	char site[ENVELOPE_SITE_LEN + 1];
	size_t max_size;
	int64_t max_future_ms;
	int nkeys;
	struct {
		uint8_t pk[32];
		uint8_t key_id[ENVELOPE_KEYID_LEN];
		uint64_t seq[ENV_TYPE_MAX + 1];
	} keys[ENVELOPE_MAX_KEYS];
	char state_path[4096];
	int dirty;            /* seqs accepted but not yet on disk */
	/*
	 * Set by the owner: plan/cmd/key sequences are not written inside
	 * envelope_open but marked urgent, and the owner writes them
	 * (verifier_flush) before it waits again, right after acting. The node
	 * uses it so an emergency's first sample does not wait for an fsync;
	 * a crash in between could let a replay of that one command in again,
	 * until it expires.
	 */
	int defer_persist;
	int urgent;           /* with defer_persist: flush before waiting again */
	uint64_t counts[ENV_RESULT_MAX]; /* per result, for status reports */
	/*
	 * Floors that must survive the loss of the state file (docs/security.md
	 * "State files"). floor_ms: the newest issued-at of an accepted plan,
	 * cmd or key (also copied into the node's trust file). fresh_after:
	 * 0 normally; once the state was lost, a (key, type) whose sequence is
	 * unknown (0) accepts only envelopes issued after it (ENV_ERR_STALE).
	 * distrust: ids of keys retired or revoked (a copy of the trust
	 * file's lists): verifier_add_key refuses them. revoked_self: a copy
	 * of the trust file's "this node is revoked".
	 */
	int64_t floor_ms;
	int64_t fresh_after;
	uint8_t distrust[VERIFIER_DISTRUST_MAX][ENVELOPE_KEYID_LEN];
	int ndistrust;
	int revoked_self;
	/* set by verifier_init: the file was absent (1) or corrupt (2, moved to <path>.corrupt) */
	int state_missing;
	int state_corrupt;
	char corrupt_why[160];
};

/* Key files hold hex: secret = 128 hex digits (64 bytes), public = 64. */
int keypair_generate(const char *secret_path, const char *public_path);
int signer_load(struct signer *s, const char *secret_path, const char *site);
int public_key_parse(uint8_t pk[32], const char *hex);
void key_id_of(uint8_t id[ENVELOPE_KEYID_LEN], const uint8_t pk[32]);

/*
 * Build header + body + signature into a malloc'd buffer (*out, *out_len).
 * Returns 0 or -errno.
 */
int envelope_seal(const struct signer *s, enum envelope_type type, uint16_t flags,
		  uint64_t seq, int64_t issued_at, int64_t expires_at,
		  const void *body, size_t body_len, uint8_t **out, size_t *out_len);

/*
 * state_path: where highest sequences live (may be NULL in tests: memory only).
 * Loads it when present. A missing file sets state_missing; a corrupt one
 * (garbage, truncated: a complete file ends with an "end" line) is logged
 * naming the file and line, moved to <state_path>.corrupt and sets
 * state_corrupt: the caller decides whether to fail closed
 * (verifier_fail_closed). Returns 0 or -errno (unreadable, bad arguments).
 */
int verifier_init(struct verifier *v, const char *site, const char *state_path,
		  size_t max_size, int64_t max_future_ms);
/* -EPERM when the key is distrusted (retired or revoked before). */
int verifier_add_key(struct verifier *v, const uint8_t pk[32]);
/* Never trust this key again (also drops it); persisted with the sequences. */
void verifier_distrust(struct verifier *v, const uint8_t pk[32]);
int verifier_distrusted(const struct verifier *v, const uint8_t pk[32]);
/*
 * The sequence state is lost: from now on a (key, type) with no known
 * sequence accepts only envelopes issued after max(after, floor_ms).
 */
void verifier_fail_closed(struct verifier *v, int64_t after);
/*
 * Stop trusting a key (retired or revoked, node/keys.c). Its sequences stay
 * in the state file, so adding it again cannot reopen replays. -ENOENT when
 * it was not trusted.
 */
int verifier_remove_key(struct verifier *v, const uint8_t pk[32]);

/*
 * Check buf and fill *env. On ENV_OK the sequence is recorded: persisted at
 * once for plans, commands and keys; for live, content and time only in
 * memory until verifier_flush() (called from a timer) - they are frequent
 * and short-lived, and their expiry bounds what a replay after a crash
 * could do. Every result is counted in v->counts.
 * *env is zeroed first and filled only once the signature holds (so it is
 * also filled for wrong_site, times, replay and duplicate, for logging).
 * A sequence of 0 is never accepted (it equals the initial state).
 */
enum envelope_result envelope_open(struct verifier *v, const uint8_t *buf,
				   size_t len, int64_t now, struct envelope *env);
int verifier_flush(struct verifier *v);
/*
 * Forget that env (just accepted by envelope_open) was accepted: its key and
 * type's highest sequence goes back to env->prev_seq, persisted like an
 * acceptance. For a message refused after the envelope check for a reason
 * that holds wherever it is redelivered (the node: addressed to another
 * topic), so a copy the broker moved cannot use up the sequence of a
 * message still on its way. Returns 0, or -ESTALE when a newer message was
 * accepted since (nothing changed), -ENOENT when the key is gone.
 */
int verifier_undo(struct verifier *v, const struct envelope *env);

const char *envelope_result_str(enum envelope_result r);  /* e.g. "signature does not verify" */
const char *envelope_result_name(enum envelope_result r); /* e.g. "bad_signature" (for counters) */
const char *envelope_type_name(enum envelope_type t);     /* "plan", "cmd", ... */

#endif
