/*
 * encode.h - `loaxa encode`: one audio file to one loudness-normalised Ogg
 * Opus file, with the controller's own import pipeline (import/import.h) and
 * no daemon.
 */
#ifndef LOAXA_CLI_ENCODE_H
#define LOAXA_CLI_ENCODE_H

/*
 * argv[0] is "encode". Returns the process exit status: 0 when the file was
 * written, 1 on any error (one line "loaxa encode: <what>" on stderr).
 */
int cmd_encode(int argc, char **argv);

#endif
