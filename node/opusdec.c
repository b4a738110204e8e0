/*
 * opusdec.c - see opusdec.h.
 */
#include "opusdec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <opus.h>
#include <opusfile.h>

struct opusdec {
	OpusDecoder *dec;      /* our own allocation, opus_decoder_get_size() bytes */
	void *pristine;        /* dec as opus_decoder_init() left it */
	size_t size;
	int channels;          /* what dec was made for (0: none yet) */
	const OggOpusFile *of; /* the file attached now */
	int link;              /* the link dec was last set up for (-1: none) */
	unsigned long packets; /* decoded by us */
};

static void drop_decoder(struct opusdec *d)
{
	free(d->dec);
	free(d->pristine);
	d->dec = NULL;
	d->pristine = NULL;
	d->size = 0;
	d->channels = 0;
}

/*
 * A decoder for `channels`, and a copy of its initial state: a reset is
 * then a memcpy. (OPUS_RESET_STATE and opus_decoder_create() both go
 * through the CPU detection, 50 and 150 µs here.) The state is one flat
 * block by libopus' own design (opus_decoder_get_size + opus_decoder_init
 * let the caller allocate it); its only pointers are to static tables.
 */
static int make_decoder(struct opusdec *d, int channels)
{
	int size = opus_decoder_get_size(channels);

	drop_decoder(d);
	if (size <= 0)
		return -1;
	d->dec = malloc((size_t)size);
	d->pristine = malloc((size_t)size);
	if (!d->dec || !d->pristine || opus_decoder_init(d->dec, 48000, channels) != OPUS_OK) {
		drop_decoder(d);
		return -1;
	}
	memcpy(d->pristine, d->dec, (size_t)size);
	d->size = (size_t)size;
	d->channels = channels;
	return 0;
}

/*
 * Make d's decoder right for link li: the same channel count, a clean state
 * (opusfile resets its own decoder at every new link, so do we) and the gain
 * opusfile applies to that link: the header's output gain (we never set a
 * gain offset, see op_set_gain_offset). Returns 0, or -1 when opusfile
 * should decode this one itself.
 */
static int prepare(struct opusdec *d, const OpusHead *head, int channels, int li)
{
	if (d->dec && d->channels == channels && d->link == li)
		return 0;
	if (d->channels != channels && make_decoder(d, channels) < 0)
		return -1;
	memcpy(d->dec, d->pristine, d->size);
	if (opus_decoder_ctl(d->dec, OPUS_SET_GAIN(head->output_gain)) != OPUS_OK)
		return -1;
	d->link = li;
	return 0;
}

static int decode_packet(void *ctx, OpusMSDecoder *ms, void *pcm, const ogg_packet *op,
			 int nsamples, int nchannels, int format, int li)
{
	struct opusdec *d = ctx;
	const OpusHead *head = op_head(d->of, li);
	int n;

	if (!head || head->mapping_family != 0 || head->stream_count != 1 ||
	    head->channel_count != nchannels || nchannels < 1 || nchannels > 2 ||
	    op->bytes > 0x7fffffff)
		return OP_DEC_USE_DEFAULT;
	(void)ms;
	if (prepare(d, head, nchannels, li) < 0)
		return OP_DEC_USE_DEFAULT;
	if (format == OP_DEC_FORMAT_FLOAT)
		n = opus_decode_float(d->dec, op->packet, (opus_int32)op->bytes, pcm, nsamples, 0);
	else
		n = opus_decode(d->dec, op->packet, (opus_int32)op->bytes, pcm, nsamples, 0);
	if (n < 0)
		return n;
	/* opusfile sized the buffer from the packet's own duration */
	if (n != nsamples)
		return OP_EBADPACKET;
	d->packets++;
	return 0;
}

struct opusdec *opusdec_new(void)
{
	struct opusdec *d = calloc(1, sizeof(*d));

	if (d)
		d->link = -1;
	return d;
}

void opusdec_attach(struct opusdec *d, OggOpusFile *of)
{
	d->of = of;
	d->link = -1; /* the first packet sets the decoder up afresh */
	op_set_decode_callback(of, decode_packet, d);
}

unsigned long opusdec_packets(const struct opusdec *d)
{
	return d ? d->packets : 0;
}

void opusdec_free(struct opusdec *d)
{
	if (!d)
		return;
	drop_decoder(d);
	free(d);
}

void opusdec_mono(short *pcm, int n, int channels)
{
	int i, c;

	if (channels <= 1)
		return;
	for (i = 0; i < n; i++) {
		int sum = 0;

		for (c = 0; c < channels; c++)
			sum += pcm[i * channels + c];
		pcm[i] = (short)(sum / channels);
	}
}

int opusdec_decode_file(const char *path, size_t max, short **pcm, size_t *n)
{
	struct opusdec *d = NULL;
	OggOpusFile *of = NULL;
	short *buf = NULL;
	ogg_int64_t total;
	size_t len = 0, cap;
	int err = 0, rc;

	*pcm = NULL;
	*n = 0;
	of = op_open_file(path, &err);
	if (!of) {
		rc = -EINVAL;
		goto out;
	}
	total = op_pcm_total(of, -1);
	if (total < 0 || (uint64_t)total > max) {
		rc = total < 0 ? -EIO : -EFBIG;
		goto out;
	}
	/* room for the longest read past the end of the last link (120 ms, 8 ch) */
	cap = (size_t)total + 5760 * 8;
	d = opusdec_new();
	buf = malloc(cap * sizeof(short));
	if (!d || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	opusdec_attach(d, of);
	for (;;) {
		int li, got = op_read(of, buf + len, (int)(cap - len), &li);

		if (got == OP_HOLE)
			continue;
		if (got < 0) {
			rc = -EIO;
			goto out;
		}
		if (got == 0)
			break;
		opusdec_mono(buf + len, got, op_channel_count(of, li));
		len += (size_t)got;
		if (len > max || cap - len < 5760 * 8) {
			rc = -EFBIG; /* more than op_pcm_total said: damaged */
			goto out;
		}
	}
	*pcm = buf;
	*n = len;
	buf = NULL;
	rc = 0;
out:
	if (of)
		op_free(of);
	opusdec_free(d);
	free(buf);
	return rc;
}
