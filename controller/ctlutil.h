/*
 * ctlutil.h - small helpers of the controller: checked JSON fields with
 * messages an operator can act on, printable copies of untrusted text, the
 * realtime clock in microseconds.
 */
#ifndef LOAXA_CTLUTIL_H
#define LOAXA_CTLUTIL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest integer a JSON number can carry exactly (2^53 - 1). */
#define CTL_JSON_INT_MAX 9007199254740991LL

enum { CTL_OPTIONAL = 0, CTL_REQUIRED = 1 };

/*
 * Parse len bytes as one JSON object. On failure fills err with e.g.
 * "not JSON: '[' or '{' expected near 'x' (byte 0)" and returns NULL.
 */
json_t *ctl_json_object(const void *buf, size_t len, char *err, size_t errlen);

/*
 * Field getters. Return 0 when found and valid, 1 when absent and optional
 * (out untouched), -EINVAL with err filled ("field \"boot\" must be a whole
 * number from 0 to 9007199254740991, not a string").
 */
int ctl_json_str(json_t *o, const char *key, int required, char *out,
		 size_t outlen, char *err, size_t errlen);
int ctl_json_int(json_t *o, const char *key, int required, int64_t min,
		 int64_t max, int64_t *out, char *err, size_t errlen);
int ctl_json_bool(json_t *o, const char *key, int required, int *out,
		  char *err, size_t errlen);

/* "a string", "a number", ... for messages. */
const char *ctl_json_kind(const json_t *v);

/* Valid UTF-8 without control characters (for titles). */
int ctl_text_valid(const char *s, size_t len);

/* {"error": "<formatted message>"}, the body of every API error (new reference). */
json_t *ctl_error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* First 12 hex digits of a content id, for log lines and tables. */
const char *ctl_short_id(const char *id);

uint64_t ctl_now_us(void);

/*
 * The destination a signed body names (docs/protocol.md, "Destination"):
 * topic below root ("loaxa/xa/zone/thon-1/cmd" -> "zone/thon-1/cmd"). A
 * node acts on a body only on that topic. Sets body's "to" and returns 0,
 * or -EINVAL when topic is not below root, -ENOMEM.
 */
int ctl_body_set_to(json_t *body, const char *root, const char *topic);
/* The same as a pointer into topic, or NULL when it is not below root. */
const char *ctl_topic_below(const char *root, const char *topic);

/*
 * First thing in a worker the controller forked (an import, a relay's URL
 * decoder): signals back to their defaults (the daemon blocks them for its
 * signalfd), and die with the controller; exits at once if it is gone.
 */
void ctl_child_init(pid_t parent);

#endif
