/*
 * fuzz_restore.c - libFuzzer harness for `loaxa restore` (controller/backup.c):
 * the archive is outside input (a file handed to an administrator who runs
 * the restore as root). The input is the archive; the machine's
 * configuration is fixed, in /dev/shm/fuzz-restore/. For any input:
 *   - no crash, no leak, and nothing written outside the places a backup
 *     holds (the directory is listed after each run: only the expected
 *     names may exist);
 *   - a refused archive leaves no temp file behind.
 * The seeds (tests/fuzz/corpus/fuzz_restore/) are real small archives made
 * for this configuration, so the fuzzer starts from ones that restore.
 */
// fuzz-sources: controller/*.c import/*.c
// fuzz-exclude: controller/main.c
// fuzz-args: -max_len=16384
// fuzz-pkgs: libmosquitto sqlite3 libmicrohttpd libavformat libavcodec libswresample libavutil libebur128 opus ogg libopusenc libsystemd alsa libcrypto pangocairo fontconfig
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIR_ "/dev/shm/fuzz-restore"

static const char config[] =
	"site = \"xa-demo\";\n"
	"state_dir = \"" DIR_ "/state\";\n"
	"api_socket = \"" DIR_ "/api.sock\";\n"
	"key = \"" DIR_ "/keys/controller.key\";\n"
	"mqtt = { insecure = true; };\n"
	"broker = { dir = \"" DIR_ "/broker\"; node_host = \"localhost\"; node_port = 8883; };\n";

static void write_text(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || (n && fwrite(p, 1, n, f) != n))
		abort();
	fclose(f);
}

/* Remove dir's files; abort on a name a restore may not make there. */
static void sweep(const char *dir, int (*allowed)(const char *))
{
	char p[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!allowed(e->d_name) || strstr(e->d_name, ".tmp."))
			abort();
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0 && rmdir(p) < 0)
			abort();
	}
	closedir(d);
}

static int top_ok(const char *n)
{
	return !strcmp(n, "state") || !strcmp(n, "keys") || !strcmp(n, "broker") ||
	       !strcmp(n, "controller.cfg") || !strcmp(n, "archive");
}
static int state_ok(const char *n) { return !strcmp(n, "loaxa.db") || !strcmp(n, "content"); }
static int content_ok(const char *n) { return strlen(n) == 69 && !strcmp(n + 64, ".opus"); }
static int keys_ok(const char *n) { return !strncmp(n, "controller.", 11); }
static int any_ok(const char *n) { (void)n; return 1; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct backup_opts o = { .with_content = 1, .force = 1 };

	if (!ready) {
		log_init("fuzz_restore", 0);
		mkdir(DIR_, 0700);
		ready = 1;
	}
	write_text(DIR_ "/controller.cfg", config, sizeof(config) - 1);
	write_text(DIR_ "/archive", data, size);
	(void)backup_restore(DIR_ "/archive", DIR_ "/controller.cfg", &o);
	sweep(DIR_ "/state/content", content_ok);
	sweep(DIR_ "/state", state_ok);
	sweep(DIR_ "/keys", keys_ok);
	sweep(DIR_ "/broker", any_ok);
	sweep(DIR_, top_ok);
	return 0;
}
