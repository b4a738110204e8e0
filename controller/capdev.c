/*
 * capdev.c - open an ALSA capture device the one way the controller reads
 * it (capdev.h).
 *
 * A 200 ms buffer in 10 ms periods: the loop wakes every 10 ms while a
 * device runs, and a loop held up by a slow API request for less than
 * 200 ms loses nothing. A device that cannot do mono 16-bit 48 kHz itself
 * is refused with a hint to put ALSA's `plug` in front, rather than
 * resampled here.
 */
#include <errno.h>
#include <stdio.h>

#include "capdev.h"

int capdev_open(snd_pcm_t **pcm, int *npfds, const char *device, char *why, size_t whylen)
{
	snd_pcm_hw_params_t *hw;
	unsigned buffer_us = 200000, period_us = 10000;
	int dir = 0, rc;

	*npfds = 0;
	rc = snd_pcm_open(pcm, device, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
	if (rc < 0) {
		*pcm = NULL;
		snprintf(why, whylen, "cannot open capture device \"%s\": %s", device,
			 snd_strerror(rc));
		return rc;
	}
	snd_pcm_hw_params_alloca(&hw);
	if ((rc = snd_pcm_hw_params_any(*pcm, hw)) < 0 ||
	    (rc = snd_pcm_hw_params_set_access(*pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
	    (rc = snd_pcm_hw_params_set_format(*pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0 ||
	    (rc = snd_pcm_hw_params_set_channels(*pcm, hw, 1)) < 0 ||
	    (rc = snd_pcm_hw_params_set_rate(*pcm, hw, CAPTURE_RATE, 0)) < 0 ||
	    (rc = snd_pcm_hw_params_set_buffer_time_near(*pcm, hw, &buffer_us, &dir)) < 0 ||
	    (rc = snd_pcm_hw_params_set_period_time_near(*pcm, hw, &period_us, &dir)) < 0 ||
	    (rc = snd_pcm_hw_params(*pcm, hw)) < 0) {
		snprintf(why, whylen, "capture device \"%s\" does not take mono 16-bit 48 kHz "
			 "(use a `plug` device): %s", device, snd_strerror(rc));
		goto fail;
	}
	rc = snd_pcm_poll_descriptors_count(*pcm);
	if (rc <= 0 || rc > CAPTURE_MAX_PFDS) {
		snprintf(why, whylen, "capture device \"%s\" offers %d poll descriptors", device,
			 rc);
		rc = -EINVAL;
		goto fail;
	}
	*npfds = rc;
	rc = snd_pcm_start(*pcm);
	if (rc < 0) {
		snprintf(why, whylen, "capture device \"%s\" does not start: %s", device,
			 snd_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	snd_pcm_close(*pcm);
	*pcm = NULL;
	*npfds = 0;
	return rc < 0 ? rc : -EINVAL;
}
