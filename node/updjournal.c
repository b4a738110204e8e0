/*
 * updjournal.c - see updjournal.h.
 */
#include "updjournal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int upd_path(char *out, size_t outlen, const char *state_dir, const char *name)
{
	if ((size_t)snprintf(out, outlen, "%s/update%s%s", state_dir, name[0] ? "/" : "",
			     name) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int upd_version_valid(const char *s)
{
	size_t i;

	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= UPD_VERSION_MAX - 1)
			return 0;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '+' || c == '~' || c == '-' || c == ':'))
			return 0;
	}
	return 1;
}

const char *upd_build_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
	return "armhf";
#elif defined(__arm__)
	return "armel";
#elif defined(__i386__)
	return "i386";
#else
	return "unknown";
#endif
}

/* Copy string field key of o into out; absent: "" (why names it when required). */
static int get_str(json_t *o, const char *key, int required, char *out, size_t outlen,
		   char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= outlen ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(why, whylen, "field \"%s\" must be a string of at most %zu bytes", key,
			 outlen - 1);
		return -EINVAL;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_int(json_t *o, const char *key, int64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, whylen, "field \"%s\" must be a whole number >= 0", key);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

int upd_read(const char *path, struct upd_rec *r, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len;
	json_t *o = NULL;
	json_error_t jerr;
	int64_t bytes;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = read_file(path, 16384, &buf, &len);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	rc = -EINVAL;
	if (!json_is_object(o)) {
		snprintf(why, whylen, "%s is not a JSON object (%s)", path, jerr.text);
		goto out;
	}
	if (get_str(o, "id", 1, r->id, sizeof(r->id), why, whylen) < 0 ||
	    get_str(o, "step", 0, r->step, sizeof(r->step), why, whylen) < 0 ||
	    get_str(o, "version", 1, r->version, sizeof(r->version), why, whylen) < 0 ||
	    get_str(o, "from", 0, r->from, sizeof(r->from), why, whylen) < 0 ||
	    get_str(o, "arch", 0, r->arch, sizeof(r->arch), why, whylen) < 0 ||
	    get_str(o, "content", 0, r->content, sizeof(r->content), why, whylen) < 0 ||
	    get_str(o, "outcome", 0, r->outcome, sizeof(r->outcome), why, whylen) < 0 ||
	    get_str(o, "error", 0, r->error, sizeof(r->error), why, whylen) < 0 ||
	    get_int(o, "bytes", &bytes, why, whylen) < 0 ||
	    get_int(o, "at", &r->at, why, whylen) < 0 ||
	    get_int(o, "deadline", &r->deadline, why, whylen) < 0)
		goto out;
	r->bytes = (uint64_t)bytes;
	if (!upd_version_valid(r->version) || (r->from[0] && !upd_version_valid(r->from))) {
		snprintf(why, whylen, "%s: field \"version\" or \"from\" is not a package version",
			 path);
		goto out;
	}
	if (r->content[0] && !content_id_valid(r->content)) {
		snprintf(why, whylen, "%s: field \"content\" is not a SHA-256 (64 hex digits)",
			 path);
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	free(buf);
	return rc;
}

int upd_write(const char *path, const struct upd_rec *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}",
			      "id", r->id, "step", r->step, "version", r->version, "from",
			      r->from, "arch", r->arch, "content", r->content, "bytes",
			      (json_int_t)r->bytes, "at", (json_int_t)r->at, "deadline",
			      (json_int_t)r->deadline, "outcome", r->outcome, "error", r->error);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (!s)
		return -ENOMEM;
	rc = write_file_atomic(path, s, strlen(s), 0640);
	free(s);
	return rc;
}
