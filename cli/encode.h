/*
 * encode.h - `loaxa encode`: one audio file to one loudness-normalised Ogg
 * Opus file, with the controller's own import pipeline and no daemon. The
 * work is done by the separate program loaxa-encode (encode/main.c), so
 * that `loaxa` itself does not load FFmpeg and the other encoding libraries.
 */
#ifndef LOAXA_CLI_ENCODE_H
#define LOAXA_CLI_ENCODE_H

/* The encoder program `loaxa encode` runs. */
#define CLI_ENCODER "loaxa-encode"

/*
 * argv[0] is "encode", argv[argc] is NULL. Replaces the process with
 * loaxa-encode and the same arguments: the one next to the running loaxa
 * (/proc/self/exe), else the first on the PATH. So it returns only when
 * neither can be run: 1, with one line "loaxa encode: <what>" on stderr,
 * the status loaxa-encode gives for any error.
 */
int cmd_encode(int argc, char **argv);

#endif
