/*
 * capdev.h - an ALSA capture device as the controller reads it.
 *
 * Live sessions (live.c) and recordings (record.c) both read a microphone
 * or a receiver's line-out in the poll loop: mono, S16_LE, 48 kHz,
 * non-blocking, started at once. The device string comes from
 * controller.cfg's capture group only (ctl_capture_pcm), never from a
 * client, so opening it here interprets nothing a client sent.
 */
#ifndef LOAXA_CTL_CAPDEV_H
#define LOAXA_CTL_CAPDEV_H

#include <stddef.h>

#include <alsa/asoundlib.h>

#define CAPTURE_RATE 48000
/* More descriptors than this and the device is refused (a pollfd budget). */
#define CAPTURE_MAX_PFDS 10

/*
 * Open and start device for capture. On success *pcm is the open PCM and
 * *npfds its poll descriptor count; on failure *pcm is NULL, why says what
 * went wrong in words for the operator, and a negative errno is returned.
 */
int capdev_open(snd_pcm_t **pcm, int *npfds, const char *device, char *why, size_t whylen);

#endif
