/*
 * envelope.c - see envelope.h and docs/protocol.md ("Envelope").
 */
#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bytes.h"
#include "log.h"
#include "util.h"

/* Offsets of the header fields (docs/protocol.md). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_TYPE = 5,
	OFF_FLAGS = 6,
	OFF_KEYID = 8,
	OFF_SITE = 16,
	OFF_SEQ = 32,
	OFF_ISSUED = 40,
	OFF_EXPIRES = 48,
	OFF_BODYLEN = 56,
};

#define SECRET_HEX_LEN 128
#define PUBLIC_HEX_LEN 64
/* A key file is one line of hex; anything much bigger is not a key file. */
#define KEY_FILE_MAX 1024
/* The seq file: one short line per key; bounded so a broken disk cannot make us allocate. */
#define STATE_FILE_MAX (64 * 1024)
#define STATE_MAX_ENTRIES 64

/* Two's complement without implementation-defined conversions. */
static int64_t u64_to_i64(uint64_t u)
{
	if (u <= (uint64_t)INT64_MAX)
		return (int64_t)u;
	return -(int64_t)(~u) - 1;
}

static int crypto_ready(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void key_id_of(uint8_t id[ENVELOPE_KEYID_LEN], const uint8_t pk[32])
{
	uint8_t digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, pk, 32);
	memcpy(id, digest, ENVELOPE_KEYID_LEN);
}

int public_key_parse(uint8_t pk[32], const char *hex)
{
	uint8_t tmp[32];

	if (!hex || strlen(hex) != PUBLIC_HEX_LEN || hex_decode(tmp, sizeof(tmp), hex) < 0)
		return -EINVAL;
	memcpy(pk, tmp, sizeof(tmp));
	return 0;
}

/* Trailing whitespace (the newline an editor adds) is not part of the key. */
static void strip_trailing_space(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
			 s[n - 1] == '\t'))
		s[--n] = '\0';
}

/*
 * Write a new key file without ever replacing one: the text goes to a
 * temporary file first, which is then hard-linked to its final name. link()
 * fails with EEXIST when the name is taken, so an existing key survives even
 * a race, and a reader never sees a half-written key.
 */
static int write_key_file_new(const char *path, const char *text, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text), off = 0;
	int fd = -1, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (link(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	rc = fsync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int keypair_generate(const char *secret_path, const char *public_path)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char sk_hex[SECRET_HEX_LEN + 2], pk_hex[PUBLIC_HEX_LEN + 2];
	struct stat st;
	int rc;

	rc = crypto_ready();
	if (rc < 0)
		return rc;
	/* Refuse before creating anything when either file is there already. */
	if (lstat(secret_path, &st) == 0 || lstat(public_path, &st) == 0)
		return -EEXIST;
	crypto_sign_keypair(pk, sk);
	hex_encode(sk_hex, sk, sizeof(sk));
	strcat(sk_hex, "\n");
	hex_encode(pk_hex, pk, sizeof(pk));
	strcat(pk_hex, "\n");
	rc = write_key_file_new(secret_path, sk_hex, 0600);
	if (rc < 0)
		goto out;
	rc = write_key_file_new(public_path, pk_hex, 0644);
	if (rc < 0) {
		/* Do not leave a secret whose public half nobody has. */
		unlink(secret_path);
		goto out;
	}
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk_hex, sizeof(sk_hex));
	return rc;
}

static int site_valid(const char *site)
{
	return site && name_valid(site) && strlen(site) <= ENVELOPE_SITE_LEN;
}

/*
 * The secret file holds libsodium's 64-byte secret key: the 32-byte seed
 * followed by the public key. Deriving the public key again from the seed and
 * comparing catches a damaged or hand-edited file before we sign anything
 * that no node could verify.
 */
int signer_load(struct signer *s, const char *secret_path, const char *site)
{
	uint8_t *text = NULL, pk[crypto_sign_PUBLICKEYBYTES],
		sk[crypto_sign_SECRETKEYBYTES];
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = crypto_ready();
	if (rc < 0)
		return rc;
	if (!site_valid(site)) {
		log_errorx("site \"%s\": must be 1 to %d characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
			   site ? site : "", ENVELOPE_SITE_LEN);
		return -EINVAL;
	}
	rc = read_file(secret_path, KEY_FILE_MAX, &text, &len);
	if (rc < 0) {
		errno = -rc;
		log_warn("%s: cannot read the controller key", secret_path);
		goto out;
	}
	strip_trailing_space((char *)text);
	if (strlen((char *)text) != SECRET_HEX_LEN ||
	    hex_decode(s->sk, sizeof(s->sk), (char *)text) < 0) {
		log_errorx("%s: not a controller key (want %d hex digits, as written by "
			   "\"loaxa keygen\")", secret_path, SECRET_HEX_LEN);
		rc = -EINVAL;
		goto out;
	}
	crypto_sign_seed_keypair(pk, sk, s->sk);
	if (sodium_memcmp(pk, s->sk + 32, sizeof(pk)) != 0) {
		log_errorx("%s: damaged controller key (its public half does not match "
			   "its secret half)", secret_path);
		rc = -EINVAL;
		goto out;
	}
	memcpy(s->pk, pk, sizeof(pk));
	key_id_of(s->key_id, s->pk);
	strcpy(s->site, site);
	rc = 0;
out:
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	sodium_memzero(sk, sizeof(sk));
	if (rc < 0)
		sodium_memzero(s, sizeof(*s));
	return rc;
}

int envelope_seal(const struct signer *s, enum envelope_type type, uint16_t flags,
		  uint64_t seq, int64_t issued_at, int64_t expires_at,
		  const void *body, size_t body_len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	size_t total;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (type < ENV_PLAN || type > ENV_TYPE_MAX || (body_len && !body))
		return -EINVAL;
	if (body_len > UINT32_MAX || body_len > SIZE_MAX - ENVELOPE_OVERHEAD)
		return -EMSGSIZE;
	rc = crypto_ready();
	if (rc < 0)
		return rc;
	total = ENVELOPE_OVERHEAD + body_len;
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;
	memcpy(buf + OFF_MAGIC, ENVELOPE_MAGIC, 4);
	buf[OFF_VERSION] = ENVELOPE_VERSION;
	buf[OFF_TYPE] = (uint8_t)type;
	put_be16(buf + OFF_FLAGS, flags);
	memcpy(buf + OFF_KEYID, s->key_id, ENVELOPE_KEYID_LEN);
	/* NUL-padded: calloc'd, and the site is at most 16 characters. */
	memcpy(buf + OFF_SITE, s->site, strnlen(s->site, ENVELOPE_SITE_LEN));
	put_be64(buf + OFF_SEQ, seq);
	put_be64(buf + OFF_ISSUED, (uint64_t)issued_at);
	put_be64(buf + OFF_EXPIRES, (uint64_t)expires_at);
	put_be32(buf + OFF_BODYLEN, (uint32_t)body_len);
	if (body_len)
		memcpy(buf + ENVELOPE_HEADER_LEN, body, body_len);
	crypto_sign_detached(buf + ENVELOPE_HEADER_LEN + body_len, NULL, buf,
			     ENVELOPE_HEADER_LEN + body_len, s->sk);
	*out = buf;
	*out_len = total;
	return 0;
}

/* ---- the node's sequence state file ---------------------------------- */

/*
 * Format of <state_dir>/seq, one line per controller key:
 *
 *   # comment lines and blank lines are ignored
 *   floor <ms>                 newest issued-at of an accepted plan/cmd/key
 *   fresh-after <ms>           (after a loss) unknown sequences need a later issued-at
 *   revoked-self               (a copy of the trust file's: this node is revoked)
 *   distrust <key id>          a retired or revoked key: never trusted again
 *   <key id: 16 hex digits> <seq[0]> <plan> <cmd> <live> <content> <time> <key>
 *   end
 *
 * seq[0] is unused (no type 0) and kept so a line mirrors the array. "end"
 * is the last line: a file without it was cut short (a disk or an editor)
 * and is corrupt - except a file of the first format (key lines only, no
 * floor), which is read as it is.
 */
struct seq_entry {
	uint8_t key_id[ENVELOPE_KEYID_LEN];
	uint64_t seq[ENV_TYPE_MAX + 1];
};

struct seq_file {
	struct seq_entry e[STATE_MAX_ENTRIES];
	int n;
	int64_t floor_ms, fresh_after;
	uint8_t distrust[VERIFIER_DISTRUST_MAX][ENVELOPE_KEYID_LEN];
	int ndistrust;
	int revoked_self;
	char why[160];      /* what was wrong, when corrupt */
	int line;           /* and on which line (0: the whole file) */
};

static int parse_u64(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*pp = p;
	*out = v;
	return 0;
}

static int parse_seq_line(const char *line, struct seq_entry *e)
{
	char hex[2 * ENVELOPE_KEYID_LEN + 1];
	const char *p = line;
	int i;

	for (i = 0; i < 2 * ENVELOPE_KEYID_LEN; i++) {
		if (!p[i])
			return -EINVAL;
		hex[i] = p[i];
	}
	hex[i] = '\0';
	if (hex_decode(e->key_id, ENVELOPE_KEYID_LEN, hex) < 0)
		return -EINVAL;
	p += 2 * ENVELOPE_KEYID_LEN;
	for (i = 0; i <= ENV_TYPE_MAX; i++) {
		if (*p != ' ' && *p != '\t')
			return -EINVAL;
		while (*p == ' ' || *p == '\t')
			p++;
		if (parse_u64(&p, &e->seq[i]) < 0)
			return -EINVAL;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return *p ? -EINVAL : 0;
}

/*
 * Read the state file into *sf. A missing file is an empty state (first
 * start); anything unreadable or malformed is an error naming the file and
 * line, because silently starting from zero would re-open every old message
 * to replay.
 */
static int seq_file_read(const char *path, struct seq_file *sf)
{
	uint8_t *text = NULL;
	char *line, *next;
	size_t len;
	int rc, lineno = 0, i, ended = 0, newfmt = 0, badline = 0;

	memset(sf, 0, sizeof(*sf));
	rc = read_file(path, STATE_FILE_MAX, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EFBIG) {
		log_errorx("%s: sequence state file is larger than %d bytes: corrupt?",
			   path, STATE_FILE_MAX);
		snprintf(sf->why, sizeof(sf->why), "larger than %d bytes", STATE_FILE_MAX);
		return -EINVAL;
	}
	if (rc == -EINVAL) {
		log_errorx("%s: sequence state path is not a regular file", path);
		return -EIO;
	}
	if (rc < 0) {
		errno = -rc;
		log_warn("%s: cannot read the sequence state file", path);
		return rc;
	}
	if (strlen((char *)text) != len) {
		snprintf(sf->why, sizeof(sf->why), "contains a NUL byte");
		goto corrupt;
	}
	for (line = (char *)text; line; line = next) {
		struct seq_entry e;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '\r' || *line == '#')
			continue;
		if (ended) {
			badline = lineno;
			snprintf(sf->why, sizeof(sf->why), "text after \"end\"");
			goto corrupt;
		}
		if (strncmp(line, "end", 3) == 0 && (line[3] == '\0' || line[3] == '\r')) {
			ended = 1;
			continue;
		}
		if (strncmp(line, "floor ", 6) == 0 || strncmp(line, "fresh-after ", 12) == 0) {
			int fl = line[1] == 'l';
			const char *p = line + (fl ? 6 : 12);
			uint64_t f;

			if (parse_u64(&p, &f) < 0 || (*p && *p != '\r') || f > INT64_MAX) {
				badline = lineno;
				snprintf(sf->why, sizeof(sf->why), "bad %s",
					 fl ? "floor" : "fresh-after");
				goto corrupt;
			}
			*(fl ? &sf->floor_ms : &sf->fresh_after) = (int64_t)f;
			newfmt = 1;
			continue;
		}
		if (strncmp(line, "revoked-self", 12) == 0 &&
		    (line[12] == '\0' || line[12] == '\r')) {
			sf->revoked_self = 1;
			newfmt = 1;
			continue;
		}
		if (strncmp(line, "distrust ", 9) == 0) {
			char hex[2 * ENVELOPE_KEYID_LEN + 1];

			if (strlen(line + 9) < sizeof(hex) - 1 || sf->ndistrust >= VERIFIER_DISTRUST_MAX) {
				badline = lineno;
				snprintf(sf->why, sizeof(sf->why), "bad distrust line");
				goto corrupt;
			}
			memcpy(hex, line + 9, sizeof(hex) - 1);
			hex[sizeof(hex) - 1] = '\0';
			if (hex_decode(sf->distrust[sf->ndistrust], ENVELOPE_KEYID_LEN, hex) < 0) {
				badline = lineno;
				snprintf(sf->why, sizeof(sf->why), "bad distrust key id");
				goto corrupt;
			}
			sf->ndistrust++;
			newfmt = 1;
			continue;
		}
		if (parse_seq_line(line, &e) < 0) {
			badline = lineno;
			snprintf(sf->why, sizeof(sf->why), "not a sequence line (want a 16-digit hex key id "
				 "and 7 numbers)");
			goto corrupt;
		}
		for (i = 0; i < sf->n; i++) {
			if (memcmp(sf->e[i].key_id, e.key_id, ENVELOPE_KEYID_LEN) == 0) {
				badline = lineno;
				snprintf(sf->why, sizeof(sf->why), "key id appears twice");
				goto corrupt;
			}
		}
		if (sf->n >= STATE_MAX_ENTRIES) {
			badline = lineno;
			snprintf(sf->why, sizeof(sf->why), "more than %d keys",
				 STATE_MAX_ENTRIES);
			goto corrupt;
		}
		sf->e[sf->n++] = e;
	}
	if (!ended && (newfmt || sf->n == 0)) {
		snprintf(sf->why, sizeof(sf->why), "cut short (no \"end\" line)");
		goto corrupt;
	}
	rc = 0;
	goto out;
corrupt:
	sf->line = badline;
	if (badline)
		log_errorx("%s:%d: corrupt sequence state file: %s", path, badline, sf->why);
	else
		log_errorx("%s: corrupt sequence state file: %s", path, sf->why);
	rc = -EINVAL;
out:
	free(text);
	return rc;
}

static int append_seq_line(char *buf, size_t cap, size_t *off, const uint8_t *key_id,
			   const uint64_t *seq)
{
	char hex[2 * ENVELOPE_KEYID_LEN + 1];
	int n, i;

	hex_encode(hex, key_id, ENVELOPE_KEYID_LEN);
	n = snprintf(buf + *off, cap - *off, "%s", hex);
	if (n < 0 || (size_t)n >= cap - *off)
		return -ENOSPC;
	*off += (size_t)n;
	for (i = 0; i <= ENV_TYPE_MAX; i++) {
		n = snprintf(buf + *off, cap - *off, " %llu", (unsigned long long)seq[i]);
		if (n < 0 || (size_t)n >= cap - *off)
			return -ENOSPC;
		*off += (size_t)n;
	}
	if (*off + 1 >= cap)
		return -ENOSPC;
	buf[(*off)++] = '\n';
	buf[*off] = '\0';
	return 0;
}

static int verifier_find_key(const struct verifier *v, const uint8_t *key_id)
{
	int i;

	for (i = 0; i < v->nkeys; i++)
		if (memcmp(v->keys[i].key_id, key_id, ENVELOPE_KEYID_LEN) == 0)
			return i;
	return -1;
}

/*
 * Write every trusted key's sequences. Lines of keys we no longer trust are
 * kept as they are: trusting such a key again must not re-open its old
 * messages to replay.
 */
static int verifier_persist(struct verifier *v)
{
	struct seq_file *old = NULL;
	char *buf = NULL;
	size_t cap = STATE_FILE_MAX, off = 0;
	int rc, i;

	if (!v->state_path[0]) {
		v->dirty = 0;
		return 0;
	}
	old = malloc(sizeof(*old));
	buf = malloc(cap);
	if (!old || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = seq_file_read(v->state_path, old);
	if (rc < 0)
		goto out;
	rc = snprintf(buf, cap, "# loaxa: highest accepted envelope sequence per "
			     "controller key\n# key-id unused plan cmd live content "
			     "time key\n");
	if (rc < 0 || (size_t)rc >= cap) {
		rc = -ENOSPC;
		goto out;
	}
	off = (size_t)rc;
	rc = snprintf(buf + off, cap - off, "floor %lld\nfresh-after %lld\n%s",
		      (long long)v->floor_ms, (long long)v->fresh_after,
		      v->revoked_self ? "revoked-self\n" : "");
	if (rc < 0 || (size_t)rc >= cap - off) {
		rc = -ENOSPC;
		goto out;
	}
	off += (size_t)rc;
	for (i = 0; i < v->ndistrust; i++) {
		char hex[2 * ENVELOPE_KEYID_LEN + 1];

		hex_encode(hex, v->distrust[i], ENVELOPE_KEYID_LEN);
		rc = snprintf(buf + off, cap - off, "distrust %s\n", hex);
		if (rc < 0 || (size_t)rc >= cap - off) {
			rc = -ENOSPC;
			goto out;
		}
		off += (size_t)rc;
	}
	for (i = 0; i < v->nkeys; i++) {
		rc = append_seq_line(buf, cap, &off, v->keys[i].key_id, v->keys[i].seq);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < old->n; i++) {
		if (verifier_find_key(v, old->e[i].key_id) >= 0)
			continue;
		rc = append_seq_line(buf, cap, &off, old->e[i].key_id, old->e[i].seq);
		if (rc < 0)
			goto out;
	}
	if (off + 5 >= cap) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(buf + off, "end\n", 4);
	off += 4;
	rc = write_file_atomic(v->state_path, buf, off, 0600);
	if (rc < 0) {
		errno = -rc;
		log_warn("%s: cannot save the sequence state", v->state_path);
		goto out;
	}
	v->dirty = 0;
	v->urgent = 0;
out:
	free(old);
	free(buf);
	return rc;
}

int verifier_init(struct verifier *v, const char *site, const char *state_path,
		  size_t max_size, int64_t max_future_ms)
{
	struct seq_file *sf = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	rc = crypto_ready();
	if (rc < 0)
		return rc;
	if (!site_valid(site)) {
		log_errorx("site \"%s\": must be 1 to %d characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
			   site ? site : "", ENVELOPE_SITE_LEN);
		return -EINVAL;
	}
	if (max_future_ms < 0)
		return -EINVAL;
	strcpy(v->site, site);
	v->max_size = max_size ? max_size : ENVELOPE_DEFAULT_MAX;
	v->max_future_ms = max_future_ms;
	if (!state_path)
		return 0;
	if (str_copy(v->state_path, sizeof(v->state_path), state_path) < 0) {
		log_errorx("%s: path too long", state_path);
		return -ENAMETOOLONG;
	}
	/*
	 * Validate now. A corrupt file is not fatal: it is moved aside and the
	 * caller fails closed (verifier_fail_closed), so the node still runs,
	 * refuses what it cannot judge and says so in its status.
	 */
	sf = malloc(sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	if (access(v->state_path, F_OK) < 0 && errno == ENOENT) {
		v->state_missing = 1;
		rc = 0;
		goto out;
	}
	rc = seq_file_read(v->state_path, sf);
	if (rc == -EINVAL) {
		char moved[sizeof(v->state_path) + 16];

		if (sf->line)
			snprintf(v->corrupt_why, sizeof(v->corrupt_why), "line %d: %.120s", sf->line,
				 sf->why);
		else
			snprintf(v->corrupt_why, sizeof(v->corrupt_why), "%s", sf->why);
		snprintf(moved, sizeof(moved), "%s.corrupt", v->state_path);
		if (rename(v->state_path, moved) < 0) {
			log_errorx("%s: cannot move the corrupt file to %s: %s", v->state_path,
				   moved, strerror(errno));
			rc = -EIO;
			goto out;
		}
		log_errorx("%s: moved to %s; failing closed", v->state_path, moved);
		v->state_corrupt = 1;
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	v->floor_ms = sf->floor_ms;
	v->fresh_after = sf->fresh_after;
	memcpy(v->distrust, sf->distrust, sizeof(v->distrust));
	v->ndistrust = sf->ndistrust;
	v->revoked_self = sf->revoked_self;
out:
	free(sf);
	return rc;
}

static int distrust_find(const struct verifier *v, const uint8_t *id)
{
	int i;

	for (i = 0; i < v->ndistrust; i++)
		if (memcmp(v->distrust[i], id, ENVELOPE_KEYID_LEN) == 0)
			return i;
	return -1;
}

int verifier_distrusted(const struct verifier *v, const uint8_t pk[32])
{
	uint8_t id[ENVELOPE_KEYID_LEN];

	key_id_of(id, pk);
	return distrust_find(v, id) >= 0;
}

void verifier_distrust(struct verifier *v, const uint8_t pk[32])
{
	uint8_t id[ENVELOPE_KEYID_LEN];

	key_id_of(id, pk);
	verifier_remove_key(v, pk);
	if (distrust_find(v, id) >= 0)
		return;
	if (v->ndistrust == VERIFIER_DISTRUST_MAX) { /* full: forget the oldest */
		memmove(v->distrust[0], v->distrust[1],
			ENVELOPE_KEYID_LEN * (VERIFIER_DISTRUST_MAX - 1));
		v->ndistrust--;
	}
	memcpy(v->distrust[v->ndistrust++], id, ENVELOPE_KEYID_LEN);
	v->dirty = 1;
	v->urgent = 1;
}

void verifier_fail_closed(struct verifier *v, int64_t after)
{
	v->fresh_after = after > v->floor_ms ? after : v->floor_ms;
	v->dirty = 1;
	v->urgent = 1;
}

/*
 * The state file is read again for each key added (a handful at start):
 * the verifier keeps no room for keys it does not trust yet.
 */
int verifier_add_key(struct verifier *v, const uint8_t pk[32])
{
	uint8_t id[ENVELOPE_KEYID_LEN];
	struct seq_file *sf = NULL;
	int rc, i, k;

	key_id_of(id, pk);
	if (distrust_find(v, id) >= 0)
		return -EPERM;
	k = verifier_find_key(v, id);
	if (k >= 0)
		return memcmp(v->keys[k].pk, pk, 32) == 0 ? 0 : -EEXIST;
	if (v->nkeys >= ENVELOPE_MAX_KEYS)
		return -ENOSPC;
	k = v->nkeys;
	memset(&v->keys[k], 0, sizeof(v->keys[k]));
	memcpy(v->keys[k].pk, pk, 32);
	memcpy(v->keys[k].key_id, id, sizeof(id));
	if (v->state_path[0]) {
		sf = malloc(sizeof(*sf));
		if (!sf)
			return -ENOMEM;
		rc = seq_file_read(v->state_path, sf);
		if (rc < 0)
			goto out;
		for (i = 0; i < sf->n; i++)
			if (memcmp(sf->e[i].key_id, id, sizeof(id)) == 0)
				memcpy(v->keys[k].seq, sf->e[i].seq, sizeof(v->keys[k].seq));
	}
	v->nkeys++;
	rc = 0;
out:
	free(sf);
	return rc;
}

int verifier_remove_key(struct verifier *v, const uint8_t pk[32])
{
	uint8_t id[ENVELOPE_KEYID_LEN];
	int k;

	key_id_of(id, pk);
	k = verifier_find_key(v, id);
	if (k < 0 || memcmp(v->keys[k].pk, pk, 32) != 0)
		return -ENOENT;
	memmove(&v->keys[k], &v->keys[k + 1], sizeof(v->keys[0]) * (size_t)(v->nkeys - k - 1));
	v->nkeys--;
	memset(&v->keys[v->nkeys], 0, sizeof(v->keys[0]));
	v->dirty = 1;
	return 0;
}

static int type_persists_at_once(uint8_t type)
{
	return type == ENV_PLAN || type == ENV_CMD || type == ENV_KEY;
}

static enum envelope_result envelope_check(struct verifier *v, const uint8_t *buf,
					   size_t len, int64_t now, struct envelope *env)
{
	char site_field[ENVELOPE_SITE_LEN];
	uint32_t body_len;
	uint64_t last;
	int k;

	/* 1. size */
	if (!buf || len < ENVELOPE_OVERHEAD)
		return ENV_ERR_TRUNCATED;
	if (len > v->max_size)
		return ENV_ERR_OVERSIZED;
	/* 2. framing */
	if (memcmp(buf + OFF_MAGIC, ENVELOPE_MAGIC, 4) != 0)
		return ENV_ERR_MAGIC;
	if (buf[OFF_VERSION] != ENVELOPE_VERSION)
		return ENV_ERR_VERSION;
	if (buf[OFF_TYPE] < ENV_PLAN || buf[OFF_TYPE] > ENV_TYPE_MAX)
		return ENV_ERR_TYPE;
	body_len = get_be32(buf + OFF_BODYLEN);
	if (body_len > len - ENVELOPE_OVERHEAD)
		return ENV_ERR_TRUNCATED;
	if (body_len < len - ENVELOPE_OVERHEAD)
		return ENV_ERR_LENGTH;
	/* 3. key and signature; nothing else is trusted before this holds */
	k = verifier_find_key(v, buf + OFF_KEYID);
	if (k < 0)
		return ENV_ERR_UNKNOWN_KEY;
	if (crypto_sign_verify_detached(buf + ENVELOPE_HEADER_LEN + body_len, buf,
					ENVELOPE_HEADER_LEN + body_len, v->keys[k].pk) != 0)
		return ENV_ERR_SIGNATURE;

	env->type = buf[OFF_TYPE];
	env->flags = get_be16(buf + OFF_FLAGS);
	memcpy(env->key_id, buf + OFF_KEYID, ENVELOPE_KEYID_LEN);
	memcpy(env->site, buf + OFF_SITE, ENVELOPE_SITE_LEN);
	env->site[ENVELOPE_SITE_LEN] = '\0';
	env->seq = get_be64(buf + OFF_SEQ);
	env->issued_at = u64_to_i64(get_be64(buf + OFF_ISSUED));
	env->expires_at = u64_to_i64(get_be64(buf + OFF_EXPIRES));
	env->body = buf + ENVELOPE_HEADER_LEN;
	env->body_len = body_len;

	/* 4. site: all 16 bytes, so junk after the NUL does not pass */
	memset(site_field, 0, sizeof(site_field));
	memcpy(site_field, v->site, strlen(v->site));
	if (memcmp(site_field, buf + OFF_SITE, ENVELOPE_SITE_LEN) != 0)
		return ENV_ERR_SITE;
	/* 5. times (no overflow: compare differences only when positive) */
	if (env->expires_at < env->issued_at)
		return ENV_ERR_TIMES;
	if (env->expires_at <= now)
		return ENV_ERR_EXPIRED;
	if (env->issued_at > now &&
	    (uint64_t)env->issued_at - (uint64_t)now > (uint64_t)v->max_future_ms)
		return ENV_ERR_FUTURE;
	/* 6. sequence */
	last = v->keys[k].seq[env->type];
	if (env->seq < last)
		return ENV_ERR_REPLAY;
	if (env->seq == last)
		return ENV_ERR_DUPLICATE;
	/* state lost: a sequence we do not know is judged by when it was issued */
	if (last == 0 && v->fresh_after && env->issued_at <= v->fresh_after)
		return ENV_ERR_STALE;
	env->prev_seq = last;
	env->prev_floor_ms = v->floor_ms;
	v->keys[k].seq[env->type] = env->seq;
	v->dirty = 1;
	if (type_persists_at_once(env->type) && env->issued_at > v->floor_ms)
		v->floor_ms = env->issued_at;
	if (type_persists_at_once(env->type)) {
		if (v->defer_persist)
			v->urgent = 1;
		else
			(void)verifier_persist(v); /* on failure stays dirty: the flush timer retries */
	}
	return ENV_OK;
}

enum envelope_result envelope_open(struct verifier *v, const uint8_t *buf,
				   size_t len, int64_t now, struct envelope *env)
{
	enum envelope_result r;

	memset(env, 0, sizeof(*env));
	r = envelope_check(v, buf, len, now, env);
	v->counts[r]++;
	return r;
}

int verifier_undo(struct verifier *v, const struct envelope *env)
{
	int k = verifier_find_key(v, env->key_id);

	if (k < 0 || env->type < ENV_PLAN || env->type > ENV_TYPE_MAX)
		return -ENOENT;
	if (v->keys[k].seq[env->type] != env->seq)
		return -ESTALE;
	v->keys[k].seq[env->type] = env->prev_seq;
	/* nor does a refused copy raise the issued-at floor (node/keys.c) */
	if (env->prev_floor_ms < v->floor_ms)
		v->floor_ms = env->prev_floor_ms;
	v->dirty = 1;
	if (type_persists_at_once(env->type)) {
		if (v->defer_persist)
			v->urgent = 1;
		else
			(void)verifier_persist(v);
	}
	return 0;
}

int verifier_flush(struct verifier *v)
{
	if (!v->dirty)
		return 0;
	return verifier_persist(v);
}

const char *envelope_result_str(enum envelope_result r)
{
	switch (r) {
	case ENV_OK: return "accepted";
	case ENV_ERR_TRUNCATED: return "message truncated";
	case ENV_ERR_OVERSIZED: return "message larger than the size limit";
	case ENV_ERR_MAGIC: return "not a loaxa message";
	case ENV_ERR_VERSION: return "unsupported envelope version";
	case ENV_ERR_TYPE: return "unknown message type";
	case ENV_ERR_LENGTH: return "body length does not match the message size";
	case ENV_ERR_UNKNOWN_KEY: return "signed by an unknown key";
	case ENV_ERR_SIGNATURE: return "signature does not verify";
	case ENV_ERR_SITE: return "signed for another site";
	case ENV_ERR_EXPIRED: return "message expired";
	case ENV_ERR_FUTURE: return "dated too far in the future";
	case ENV_ERR_TIMES: return "expires before it was issued";
	case ENV_ERR_REPLAY: return "replayed (sequence already used)";
	case ENV_ERR_DUPLICATE: return "duplicate (same sequence as the last accepted)";
	case ENV_ERR_STALE: return "issued before this node lost its sequence state (failing closed)";
	case ENV_RESULT_MAX: break;
	}
	return "unknown result";
}

const char *envelope_result_name(enum envelope_result r)
{
	switch (r) {
	case ENV_OK: return "ok";
	case ENV_ERR_TRUNCATED: return "truncated";
	case ENV_ERR_OVERSIZED: return "oversized";
	case ENV_ERR_MAGIC: return "bad_magic";
	case ENV_ERR_VERSION: return "bad_version";
	case ENV_ERR_TYPE: return "bad_type";
	case ENV_ERR_LENGTH: return "bad_length";
	case ENV_ERR_UNKNOWN_KEY: return "unknown_key";
	case ENV_ERR_SIGNATURE: return "bad_signature";
	case ENV_ERR_SITE: return "wrong_site";
	case ENV_ERR_EXPIRED: return "expired";
	case ENV_ERR_FUTURE: return "future";
	case ENV_ERR_TIMES: return "bad_times";
	case ENV_ERR_REPLAY: return "replay";
	case ENV_ERR_DUPLICATE: return "duplicate";
	case ENV_ERR_STALE: return "stale";
	case ENV_RESULT_MAX: break;
	}
	return "unknown";
}

const char *envelope_type_name(enum envelope_type t)
{
	switch (t) {
	case ENV_PLAN: return "plan";
	case ENV_CMD: return "cmd";
	case ENV_LIVE: return "live";
	case ENV_CONTENT: return "content";
	case ENV_TIME: return "time";
	case ENV_KEY: return "key";
	}
	return "unknown";
}
