/*
 * fuzz_schedule.c - libFuzzer harness for the schedule file parser
 * (controller/schedule.c, docs/schedules.md): the input is written to a
 * temporary file, parsed with sched_parse_file(), the ids checked, and every
 * parsed item expanded over a week. Errors must name something (msgs), and
 * an accepted item must expand without crashing.
 * Inputs with '@' are skipped (an @include would read other files).
 */
// fuzz-sources: controller/*.c import/*.c
// fuzz-exclude: controller/main.c
// fuzz-args: -max_len=4096
// fuzz-pkgs: libmosquitto sqlite3 libmicrohttpd libavformat libavcodec libswresample libavutil libebur128 opus ogg libopusenc libsystemd alsa libcrypto pangocairo fontconfig
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct sched_set set;
	struct sched_msgs msgs;
	FILE *f;
	int rc;

	if (!path[0]) {
		log_init("fuzz", 0);
		snprintf(path, sizeof(path), "/dev/shm/fuzz-schedule-%d.cfg", (int)getpid());
	}
	if (memchr(data, '@', size))
		return 0;
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	memset(&set, 0, sizeof(set));
	if (sched_msgs_init(&msgs) < 0)
		abort();
	rc = sched_parse_file(path, "fuzz.cfg", &set, &msgs);
	if (rc < 0 && json_array_size(msgs.errors) == 0)
		abort(); /* a refused file always says why */
	if (rc == 0)
		sched_check_unique(&set, &msgs);
	sched_set_free(&set);
	sched_msgs_free(&msgs);
	return 0;
}
