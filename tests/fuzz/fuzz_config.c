/*
 * fuzz_config.c - libFuzzer harness for common/config.c: the input is written
 * to a temporary file, loaded with cfg_load() and read with every getter the
 * node's configuration uses, then checked for unknown fields.
 *
 * Inputs with '@' are skipped: an @include of /dev/zero or of a file outside
 * the test would make the harness read things that are not the input.
 * Run with -close_fd_mask=2 (run.sh does): every bad input logs an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const node_fields[] = {
	"site", "node", "zones", "state_dir", "controller_key",
	"mqtt", "mqtt.host", "mqtt.port", "mqtt.keepalive", "mqtt.username", "mqtt.password",
	"alsa", "alsa.device", "alsa.channels", "alsa.rate", "alsa.buffer_ms", "alsa.period_ms",
	"status_interval_s", "max_future_s", "max_message_bytes", "cache_max_mb",
	"import", "import.target_lufs", "import.true_peak_dbtp",
	NULL,
};

static char path[64];

static void remove_temp(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg cfg;
	char s[256], zones[8][32];
	long long i;
	double d;
	int b;
	size_t n, z;
	FILE *f;

	if (!path[0]) {
		/* In memory when possible: the file is rewritten for every input. */
		int fd;
		strcpy(path, access("/dev/shm", W_OK) == 0 ? "/dev/shm/loaxa-fuzz-config-XXXXXX"
							   : "/tmp/loaxa-fuzz-config-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_temp);
	}
	if (memchr(data, '@', size))
		return 0;
	/* A plain write: write_file_atomic's fsyncs would cost most of the time. */
	f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	if (cfg_load(&cfg, path) < 0)
		return 0;
	cfg_string(&cfg, "site", CFG_REQUIRED, NULL, s, sizeof(s));
	cfg_string(&cfg, "node", CFG_REQUIRED, NULL, s, 32);
	cfg_string_list(&cfg, "zones", CFG_REQUIRED, zones, 8, &n);
	for (z = 0; z < n; z++)
		if (strlen(zones[z]) > 31)
			abort();
	cfg_string(&cfg, "state_dir", CFG_OPTIONAL, "/var/lib/loaxa-node", s, sizeof(s));
	cfg_string(&cfg, "controller_key", CFG_REQUIRED, NULL, s, 65);
	cfg_string(&cfg, "mqtt.host", CFG_OPTIONAL, "127.0.0.1", s, sizeof(s));
	cfg_int(&cfg, "mqtt.port", CFG_OPTIONAL, 1883, 1, 65535, &i);
	cfg_int(&cfg, "mqtt.keepalive", CFG_OPTIONAL, 30, 5, 3600, &i);
	cfg_string(&cfg, "mqtt.username", CFG_OPTIONAL, "", s, sizeof(s));
	cfg_string(&cfg, "mqtt.password", CFG_OPTIONAL, "", s, sizeof(s));
	cfg_string(&cfg, "alsa.device", CFG_OPTIONAL, "default", s, sizeof(s));
	cfg_int(&cfg, "alsa.channels", CFG_OPTIONAL, 1, 1, 8, &i);
	cfg_int(&cfg, "alsa.rate", CFG_OPTIONAL, 48000, 8000, 192000, &i);
	cfg_int(&cfg, "alsa.buffer_ms", CFG_OPTIONAL, 200, 20, 2000, &i);
	cfg_int(&cfg, "alsa.period_ms", CFG_OPTIONAL, 20, 5, 500, &i);
	cfg_int(&cfg, "status_interval_s", CFG_OPTIONAL, 30, 1, 3600, &i);
	cfg_int(&cfg, "max_future_s", CFG_OPTIONAL, 300, 0, 86400, &i);
	cfg_int(&cfg, "max_message_bytes", CFG_OPTIONAL, 262144, 1024, 16777216, &i);
	cfg_int(&cfg, "cache_max_mb", CFG_OPTIONAL, 512, 1, 1048576, &i);
	cfg_double(&cfg, "import.target_lufs", CFG_OPTIONAL, -16.0, -70.0, 0.0, &d);
	cfg_double(&cfg, "import.true_peak_dbtp", CFG_OPTIONAL, -1.0, -20.0, 0.0, &d);
	cfg_bool(&cfg, "debug", CFG_OPTIONAL, 0, &b);
	cfg_reject_unknown(&cfg, node_fields);
	cfg_error(&cfg, "site", "fuzz %d", 1);
	cfg_free(&cfg);
	return 0;
}
