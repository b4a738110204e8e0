/*
 * test_update.c - the files of a node update (node/updjournal.c): the journal
 * written and read back, damaged files refused with the reason, versions;
 * and common/debpkg.c on a package made here with dpkg-deb and on a file
 * that is none.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debpkg.h"
#include "tap.h"
#include "updjournal.h"
#include "util.h"

static char dir[256];

static void test_roundtrip(void)
{
	struct upd_rec r, back;
	char path[512], why[256];

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "c-1796686557808-u4");
	snprintf(r.step, sizeof(r.step), UPD_STEP_INSTALLED);
	snprintf(r.version, sizeof(r.version), "0.1.1+b1~rc2");
	snprintf(r.from, sizeof(r.from), "0.1.0");
	snprintf(r.arch, sizeof(r.arch), "arm64");
	memset(r.content, 'a', CONTENT_ID_LEN);
	r.bytes = 812345;
	r.at = 1796686557808;
	r.deadline = 1796686677808;
	snprintf(r.error, sizeof(r.error), "giờ \"quoted\"");
	snprintf(path, sizeof(path), "%s/journal.json", dir);
	CHECK(upd_write(path, &r) == 0, "the journal is written");
	CHECK(upd_read(path, &back, why, sizeof(why)) == 0, "and read back");
	CHECK(memcmp(&r, &back, sizeof(r)) == 0, "every field comes back as written");
}

static int read_text(const char *text, char *why, size_t whylen)
{
	struct upd_rec r;
	char path[512];

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	if (write_file_atomic(path, text, strlen(text), 0640) < 0)
		return -EIO;
	return upd_read(path, &r, why, whylen);
}

static void test_damaged(void)
{
	struct upd_rec r;
	char path[512], why[256];

	snprintf(path, sizeof(path), "%s/absent.json", dir);
	CHECK(upd_read(path, &r, why, sizeof(why)) == -ENOENT, "an absent file is -ENOENT");
	CHECK(read_text("{\"id\":\"c-1\",\"vers", why, sizeof(why)) == -EINVAL,
	      "a file cut short is refused");
	CHECK(read_text("{\"id\":\"c-1\"}", why, sizeof(why)) == -EINVAL &&
	      strstr(why, "\"version\""), "a missing version is refused, naming it: %s", why);
	CHECK(read_text("{\"id\":\"c-1\",\"version\":\"../x\"}", why, sizeof(why)) == -EINVAL,
	      "a version that is not one is refused: %s", why);
	CHECK(read_text("{\"id\":\"c-1\",\"version\":\"1.0\",\"content\":\"abc\"}", why,
			sizeof(why)) == -EINVAL && strstr(why, "SHA-256"),
	      "a content that is no SHA-256 is refused: %s", why);
	CHECK(read_text("{\"id\":\"c-1\",\"version\":\"1.0\",\"at\":-5}", why, sizeof(why)) ==
	      -EINVAL, "a negative time is refused: %s", why);
	CHECK(read_text("{\"id\":\"c-1\",\"version\":\"1.0\",\"id\":\"c-2\"}", why,
			sizeof(why)) == -EINVAL, "a duplicate key is refused");
}

static void test_versions(void)
{
	CHECK(upd_version_valid("0.1.0") && upd_version_valid("1:2.3-4+b1~rc1"),
	      "Debian versions are accepted");
	CHECK(!upd_version_valid("") && !upd_version_valid("v1") && !upd_version_valid("1 0") &&
	      !upd_version_valid("1/0") && !upd_version_valid(NULL),
	      "empty, non-digit start, space, slash are refused");
	CHECK(strcmp(upd_build_arch(), "unknown") != 0, "the build knows its architecture: %s",
	      upd_build_arch());
}

static void test_debpkg(void)
{
	char cmd[1200], deb[512], why[300];
	struct deb_info info;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s/pkg/DEBIAN", dir);
	mkdir(dir, 0700);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/pkg/DEBIAN' '%s/pkg/usr/sbin'", dir, dir);
	CHECK(system(cmd) == 0, "a package tree");
	snprintf(cmd, sizeof(cmd), "%s/pkg/DEBIAN/control", dir);
	f = fopen(cmd, "w");
	if (f) {
		fprintf(f, "Package: loaxa-node\nVersion: 0.1.1+u2\nArchitecture: arm64\n"
			"Maintainer: t <t@example.invalid>\nDescription: test\n");
		fclose(f);
	}
	snprintf(deb, sizeof(deb), "%s/n.deb", dir);
	snprintf(cmd, sizeof(cmd), "dpkg-deb --root-owner-group -Zgzip --build '%s/pkg' '%s' "
		 ">/dev/null", dir, deb);
	CHECK(system(cmd) == 0, "dpkg-deb --build makes it");
	CHECK(deb_read_fields(deb, NULL, &info, why, sizeof(why)) == 0 &&
	      strcmp(info.package, "loaxa-node") == 0 && strcmp(info.version, "0.1.1+u2") == 0 &&
	      strcmp(info.arch, "arm64") == 0, "its Package, Version, Architecture are read: "
	      "%s %s %s", info.package, info.version, info.arch);
	snprintf(cmd, sizeof(cmd), "%s/pkg/DEBIAN/control", dir);
	CHECK(deb_read_fields(cmd, NULL, &info, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "not a Debian package"), "a file that is no package: %s", why);
	CHECK(deb_read_fields(deb, "/nonexistent/dpkg-deb", &info, why, sizeof(why)) < 0 &&
	      strstr(why, "cannot run"), "a missing dpkg-deb is said: %s", why);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[400];

	snprintf(dir, sizeof(dir), "%s/loaxa-test-update-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_roundtrip();
	test_damaged();
	test_versions();
	test_debpkg();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	TAP_EXIT();
}
