/*
 * fuzz_schedule.c - libFuzzer harness for the schedule file parser
 * (controller/schedparse.c, docs/schedules.md): the input is a schedule file's
 * text as a client sends it, parsed with sched_parse_text() with an audio
 * map made up for the files it names, and the ids checked. Errors must name
 * something (msgs). The parser refuses @include lines itself, so inputs
 * with '@' are fuzzed too: nothing is ever opened.
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
#include "schedfile.h"
#include "schedparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct sched_set set;
	struct sched_msgs msgs;
	json_t *audio, *v;
	const char *k;
	int rc, i = 0;

	if (!ready) {
		log_init("fuzz", 0);
		ready = 1;
	}
	/*
	 * The audio map a client would send: every file the text names, by
	 * turns a hash, missing, unreadable, not a file, or left out (the
	 * controller's answers to each); nothing is opened.
	 */
	audio = sched_audio_refs((const char *)data, size);
	if (!audio)
		abort();
	json_object_foreach(audio, k, v) {
		json_t *e = NULL;

		switch (i++ % 5) {
		case 0: e = json_pack("{s:s}", "sha256", "0123456789abcdef0123456789abcdef"
				      "0123456789abcdef0123456789abcdef"); break;
		case 1: e = json_pack("{s:s, s:s}", "error", "missing", "looked_for", "/x/a.wav"); break;
		case 2: e = json_pack("{s:s, s:s}", "error", "unreadable", "detail", "EACCES"); break;
		case 3: e = json_pack("{s:s}", "error", "not_a_file"); break;
		default: e = json_null(); break;
		}
		json_object_set_new(audio, k, e);
	}
	memset(&set, 0, sizeof(set));
	if (sched_msgs_init(&msgs) < 0)
		abort();
	rc = sched_parse_text("fuzz.cfg", (const char *)data, size, audio,
			      SCHED_DEFAULT_MAX_FILE_BYTES, &set, &msgs);
	if (rc < 0 && json_array_size(msgs.errors) == 0)
		abort(); /* a refused file always says why */
	if (rc == 0)
		sched_check_unique(&set, &msgs);
	json_decref(audio);
	sched_set_free(&set);
	sched_msgs_free(&msgs);
	return 0;
}
