/*
 * ctlutil.c - see ctlutil.h and ctl.h.
 */
#include "ctlutil.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "ctl.h"

json_t *ctl_json_object(const void *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;

	if (len == 0) {
		snprintf(err, errlen, "empty message");
		return NULL;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		snprintf(err, errlen, "not JSON: %s (byte %d)", je.text, je.position);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "a JSON object {...} was expected, not %s",
			 ctl_json_kind(o));
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *ctl_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "a whole number";
	case JSON_REAL:
		return "a fractional number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "true/false";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

int ctl_json_str(json_t *o, const char *key, int required, char *out,
		 size_t outlen, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!v) {
		if (!required)
			return 1;
		snprintf(err, errlen, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field \"%s\" must be a string, not %s", key,
			 ctl_json_kind(v));
		return -EINVAL;
	}
	n = json_string_length(v);
	if (n >= outlen) {
		snprintf(err, errlen, "field \"%s\" is too long (%zu bytes, at most %zu)",
			 key, n, outlen - 1);
		return -EINVAL;
	}
	if (memchr(json_string_value(v), '\0', n)) {
		snprintf(err, errlen, "field \"%s\" contains a NUL character", key);
		return -EINVAL;
	}
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

int ctl_json_int(json_t *o, const char *key, int required, int64_t min,
		 int64_t max, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	json_int_t i;

	if (!v) {
		if (!required)
			return 1;
		snprintf(err, errlen, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "field \"%s\" must be a whole number from %" PRId64
			 " to %" PRId64 ", not %s", key, min, max, ctl_json_kind(v));
		return -EINVAL;
	}
	i = json_integer_value(v);
	if (i < min || i > max) {
		snprintf(err, errlen, "field \"%s\" must be from %" PRId64 " to %" PRId64
			 " (got %lld)", key, min, max, (long long)i);
		return -EINVAL;
	}
	*out = (int64_t)i;
	return 0;
}

int ctl_json_bool(json_t *o, const char *key, int required, int *out,
		  char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		if (!required)
			return 1;
		snprintf(err, errlen, "field \"%s\" is missing", key);
		return -EINVAL;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "field \"%s\" must be true or false, not %s", key,
			 ctl_json_kind(v));
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

int ctl_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p, need, cp, i;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if ((size_t)(end - p) <= need)
			return 0;
		for (i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* overlong forms, surrogates, beyond Unicode, C1 controls */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
			return 0;
		p += need + 1;
	}
	return 1;
}

const char *ctl_topic_below(const char *root, const char *topic)
{
	size_t rl = strlen(root);

	if (strncmp(topic, root, rl) != 0 || topic[rl] != '/' || !topic[rl + 1])
		return NULL;
	return topic + rl + 1;
}

int ctl_body_set_to(json_t *body, const char *root, const char *topic)
{
	const char *to = ctl_topic_below(root, topic);

	if (!to)
		return -EINVAL;
	return json_object_set_new(body, "to", json_string(to)) < 0 ? -ENOMEM : 0;
}

json_t *ctl_error_json(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}

const char *ctl_short_id(const char *id)
{
	static char buf[4][16];
	static int next;
	char *b = buf[next++ & 3];

	snprintf(b, 16, "%.12s", id ? id : "");
	return b;
}

const char *ctl_printable(char *out, size_t outlen, const char *s)
{
	size_t i;

	if (!outlen)
		return out;
	for (i = 0; s && s[i] && i + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[i] = '\0';
	return out;
}

int ctl_content_path(const struct ctl *c, const char *id, char *out, size_t outlen)
{
	if (!content_id_valid(id))
		return -EINVAL;
	if ((size_t)snprintf(out, outlen, "%s/%s.opus", c->content_dir, id) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

uint64_t ctl_now_us(void)
{
	return (uint64_t)now_us();
}

void ctl_child_init(pid_t parent)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}
