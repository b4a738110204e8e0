/*
 * worker.h - the decode worker: `loaxa-encode --worker MODE ...`, the one
 * place where the controller's untrusted media (uploads, schedule sources,
 * relayed streams, stored content it streams live) meets FFmpeg.
 *
 * loaxa-controller links no FFmpeg. It forks, gives the child only the
 * descriptors the job needs (everything else closed with close_range), an
 * empty environment, and execs this program (controller/worker.c). The
 * program holds no key and no database, and before it reads a byte of the
 * media it installs a seccomp filter (libseccomp) that allows what decoding
 * needs and nothing else: no open() of any path (so not controller.key even
 * though it runs as the controller's user), no exec, no new processes, no
 * network except, for a relay, the one connection it already has.
 *
 * Modes (descriptors are set up by the caller):
 *   import   fd 0 the input file, fd 3 the output file (Ogg Opus, written
 *            from its start), fd 1 a pipe: one struct import_outcome.
 *            --spill-dir DIR: long audio spills into unnamed (O_TMPFILE)
 *            files there, the only open() the filter lets through.
 *   pcm      fd 0 the input (file or pipe), fd 1: s16 mono 48 kHz PCM.
 *   url URL  fd 1: s16 mono 48 kHz PCM of an http(s) stream. https verifies
 *            the server's certificate against --ca-file (default: the
 *            system store). The connection is made (DNS, TCP, TLS, HTTP)
 *            before the filters; then a fetcher process keeps only that
 *            socket and a pipe, and a decoder process (fork) only the pipe
 *            and fd 1, under the same filter as pcm.
 *
 * Errors: one line "loaxa-encode worker: ..." on stderr (the controller's
 * log), exit status 1 (2: the stream cannot be opened).
 */
#ifndef LOAXA_ENCODE_WORKER_H
#define LOAXA_ENCODE_WORKER_H

int worker_main(int argc, char **argv);

#endif
