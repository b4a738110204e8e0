/*
 * decode.c - see decode.h.
 *
 * FFmpeg 5.1 (Debian 12) with the ch_layout API. One audio stream (the
 * "best" one, so an MP3 with cover art or a phone video works), decoded
 * packet by packet; libswresample downmixes to mono and resamples to 48 kHz.
 * A stream whose format changes midway (chained Ogg, concatenated MP3) gets a
 * new resampler after the old one is drained, so no sample is lost.
 */
#include "decode.h"
#include "import.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

struct decoder {
	int is_url;               /* decoder_open_url: a network stream */
	int fd;                   /* decoder_open_fd: the descriptor read, else -1 */
	int streamed;             /* cannot seek (a pipe, a URL): no header peeking */
	AVIOContext *io;          /* decoder_open_fd: our I/O on fd */
	AVFormatContext *fmt;
	AVCodecContext *dec;
	AVPacket *pkt;
	AVFrame *frame;
	SwrContext *swr;
	int stream;
	/* what the resampler was set up for */
	AVChannelLayout swr_layout;
	int swr_format, swr_rate;

	float *buf;
	size_t cap;
	uint64_t samples;
	/* End trimming: the container's length in samples, and what decoded
	 * past it (held back: padding to drop, unless more follows). */
	uint64_t trim_at;
	float *over;
	size_t over_len;
	int cut_short;  /* the file ends in the middle of things (Ogg) */
	uint64_t max_samples;
	double max_s;
	double expected_s;
	int flushing;  /* sent the decoder its end-of-stream */
	int finished;  /* decoder and resampler are drained */
	int errors;
};

static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;

/*
 * FFmpeg writes its own warnings to stderr; the import pipeline reports
 * errors itself, in one line per file, so FFmpeg is quiet unless
 * LOAXA_FFMPEG_LOG is set (for debugging a strange file).
 */
static void ffmpeg_init(void)
{
	av_log_set_level(getenv("LOAXA_FFMPEG_LOG") ? AV_LOG_WARNING : AV_LOG_QUIET);
}

static const char *av_words(int averr, char *buf, size_t len)
{
	if (av_strerror(averr, buf, len) < 0)
		snprintf(buf, len, "error %d", averr);
	return buf;
}

double decoder_expected_s(const struct decoder *d)
{
	return d->expected_s;
}

uint64_t decoder_samples(const struct decoder *d)
{
	return d->samples;
}

/*
 * How long the container says the audio is, when it knows rather than
 * guesses: a WAV header's data size, an MP3's Xing/Info frame count, an MP4
 * sample table, the last Ogg granule. A duration estimated from the bitrate
 * (a CBR MP3 without a Xing frame) is a guess and gives -1.
 */
static double container_duration(const AVFormatContext *fmt, const AVStream *st)
{
	if (fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
		return -1;
	if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
		return (double)st->duration * av_q2d(st->time_base);
	if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
		return (double)fmt->duration / AV_TIME_BASE;
	return -1;
}

/*
 * Only local files, only demuxers for audio (and the video containers
 * phones record into). No playlists (hls), no concat lists, no image
 * sequences, no network: an uploaded file must not make FFmpeg open other
 * files or URLs.
 */
static const char audio_formats[] =
	"wav,w64,rf64,mp3,mov,aac,flac,ogg,matroska,aiff,caf,amr,amrnb,amrwb,asf,avi,"
	"flv,mpeg,mpegts,wv,ape,au,mpc,mpc8,tta,ac3,eac3,dts,truehd,mlp,loas,voc,rm,"
	"xwma,oma,dsf,gsm,s337m,shn,tak,ircam,sox,nistsphere,smjpeg";

/*
 * A relayed network stream (decoder_open_url, controller only, from a
 * schedule the operator wrote): HTTP(S) only, the same audio demuxers, and a
 * read timeout so a dead server ends the relay instead of hanging it.
 */
static int open_url(struct decoder *d, const char *url)
{
	AVDictionary *opts = NULL;
	int ret;

	av_dict_set(&opts, "protocol_whitelist", "http,https,tcp,tls,crypto", 0);
	av_dict_set(&opts, "format_whitelist", audio_formats, 0);
	av_dict_set(&opts, "rw_timeout", "10000000", 0); /* us */
	av_dict_set(&opts, "reconnect", "1", 0);
	ret = avformat_open_input(&d->fmt, url, NULL, &opts);
	av_dict_free(&opts);
	return ret;
}

/* Custom I/O on a descriptor the decoder was handed (decoder_open_fd). */
static int fd_read(void *opaque, uint8_t *buf, int size)
{
	struct decoder *d = opaque;
	ssize_t n;

	do
		n = read(d->fd, buf, (size_t)size);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return AVERROR_EOF;
	return n < 0 ? AVERROR(errno) : (int)n;
}

static int64_t fd_seek(void *opaque, int64_t off, int whence)
{
	struct decoder *d = opaque;
	struct stat st;
	off_t r;

	if (whence & AVSEEK_SIZE)
		return fstat(d->fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size :
									 AVERROR(ENOSYS);
	r = lseek(d->fd, (off_t)off, whence & ~AVSEEK_FORCE);
	return r < 0 ? AVERROR(errno) : (int64_t)r;
}

/*
 * A descriptor: no protocol at all (nothing for FFmpeg to open), only the
 * same audio demuxers as a file.
 */
static int open_fd(struct decoder *d)
{
	AVDictionary *opts = NULL;
	unsigned char *buf;
	int ret;

	d->streamed = lseek(d->fd, 0, SEEK_CUR) < 0;
	buf = av_malloc(65536);
	if (!buf)
		return AVERROR(ENOMEM);
	d->io = avio_alloc_context(buf, 65536, 0, d, fd_read, NULL, d->streamed ? NULL : fd_seek);
	d->fmt = avformat_alloc_context();
	if (!d->io || !d->fmt) {
		if (!d->io)
			av_free(buf);
		return AVERROR(ENOMEM);
	}
	d->io->seekable = d->streamed ? 0 : AVIO_SEEKABLE_NORMAL;
	d->fmt->pb = d->io;
	d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
	av_dict_set(&opts, "format_whitelist", audio_formats, 0);
	ret = avformat_open_input(&d->fmt, "", NULL, &opts);
	av_dict_free(&opts);
	return ret;
}

static int open_input(struct decoder *d, const char *path)
{
	AVDictionary *opts = NULL;
	char *url;
	size_t n;
	int ret;

	if (d->fd >= 0)
		return open_fd(d);
	if (d->is_url)
		return open_url(d, path);
	n = strlen(path) + 6;

	url = malloc(n);
	if (!url)
		return AVERROR(ENOMEM);
	snprintf(url, n, "file:%s", path);
	av_dict_set(&opts, "protocol_whitelist", "file", 0);
	av_dict_set(&opts, "format_whitelist", audio_formats, 0);
	ret = avformat_open_input(&d->fmt, url, NULL, &opts);
	av_dict_free(&opts);
	free(url);
	return ret;
}

/*
 * Is it a media file at all, judged by its first bytes alone (not its
 * name)? Tells "damaged or truncated M4A" apart from "not an audio file".
 */
static const char *content_format(const char *path, int fd)
{
	uint8_t buf[4096 + AVPROBE_PADDING_SIZE];
	AVProbeData pd;
	const AVInputFormat *f;
	FILE *fp = NULL;
	size_t n;
	int score = 0;

	memset(buf, 0, sizeof(buf));
	if (fd >= 0) {
		/* a descriptor: only a seekable one can be read again from the start */
		ssize_t r = pread(fd, buf, 4096, 0);

		if (r <= 0)
			return NULL;
		n = (size_t)r;
	} else {
		fp = fopen(path, "rb");
		if (!fp)
			return NULL;
		n = fread(buf, 1, 4096, fp);
		fclose(fp);
	}
	memset(&pd, 0, sizeof(pd));
	pd.filename = "";
	pd.buf = buf;
	pd.buf_size = (int)n;
	f = av_probe_input_format3(&pd, 1, &score);
	if (!f || score < AVPROBE_SCORE_MAX / 4 || av_match_list(f->name, audio_formats, ',') <= 0)
		return NULL; /* nothing, or nothing we would read anyway */
	if (!strcmp(f->name, "mov,mp4,m4a,3gp,3g2,mj2"))
		return "MP4/M4A";
	return f->long_name ? f->long_name : f->name;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * A WAV file cut short still says in its header how long it was: FFmpeg
 * clamps the data chunk to the file and says nothing, so read the header
 * ourselves. Returns the length the data chunk promises when the file is
 * shorter than that, else -1.
 */
static double riff_promised_s(AVIOContext *pb)
{
	uint8_t h[16];
	int64_t size = avio_size(pb), back = avio_tell(pb), off = 12;
	uint32_t byte_rate = 0;
	double promised = -1;
	int chunks;

	if (size <= 0 || avio_seek(pb, 0, SEEK_SET) < 0)
		return -1;
	if (avio_read(pb, h, 12) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
		goto out;
	for (chunks = 0; chunks < 64 && off + 8 <= size; chunks++) {
		uint32_t len;

		if (avio_seek(pb, off, SEEK_SET) < 0 || avio_read(pb, h, 16) < 8)
			break;
		len = le32(h + 4);
		if (!memcmp(h, "fmt ", 4) && len >= 16 && avio_read(pb, h + 8, 0) >= 0) {
			uint8_t f[16];

			if (avio_seek(pb, off + 8, SEEK_SET) < 0 || avio_read(pb, f, 16) != 16)
				break;
			byte_rate = le32(f + 8);
		} else if (!memcmp(h, "data", 4)) {
			/* 0 and 0xffffffff: written while streaming, no promise */
			if (len != 0 && len != 0xffffffffu && byte_rate > 0 &&
			    off + 8 + (int64_t)len > size)
				promised = (double)len / byte_rate;
			break;
		}
		off += 8 + (int64_t)len + (len & 1);
	}
out:
	avio_seek(pb, back, SEEK_SET);
	return promised;
}

/*
 * An Ogg stream ends with a complete page flagged end-of-stream. A file
 * whose last page is cut off, or that stops without that flag, was cut
 * short (FFmpeg just stops reading).
 */
static int ogg_cut_short(AVIOContext *pb)
{
	const int64_t max_page = 27 + 255 + 255 * 255;
	int64_t size = avio_size(pb), back = avio_tell(pb), start;
	uint8_t *buf;
	int len, i, cut = 0;

	if (size <= 27)
		return 0;
	start = size > max_page ? size - max_page : 0;
	len = (int)(size - start);
	buf = malloc((size_t)len);
	if (!buf)
		return 0;
	if (avio_seek(pb, start, SEEK_SET) < 0 || avio_read(pb, buf, len) != len)
		goto out;
	for (i = len - 27; i >= 0; i--) {
		int nseg, body = 0, k;

		if (memcmp(buf + i, "OggS", 4) != 0 || buf[i + 4] != 0)
			continue;
		nseg = buf[i + 26];
		if (i + 27 + nseg > len) {
			cut = 1;
			break;
		}
		for (k = 0; k < nseg; k++)
			body += buf[i + 27 + k];
		cut = i + 27 + nseg + body > len || !(buf[i + 5] & 4);
		break;
	}
out:
	free(buf);
	avio_seek(pb, back, SEEK_SET);
	return cut;
}

static int open_common(struct decoder **out, const char *path, int fd, double max_s,
		       int is_url, char *why, size_t whylen);

int decoder_open(struct decoder **out, const char *path, double max_s, char *why,
		 size_t whylen)
{
	return open_common(out, path, -1, max_s, 0, why, whylen);
}

int decoder_open_fd(struct decoder **out, int fd, double max_s, char *why, size_t whylen)
{
	return open_common(out, NULL, fd, max_s, 0, why, whylen);
}

int decoder_open_url(struct decoder **out, const char *url, double max_s, char *why,
		     size_t whylen)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(why, whylen, "only http:// and https:// streams can be relayed");
		return -EINVAL;
	}
	return open_common(out, url, -1, max_s, 1, why, whylen);
}

static int open_common(struct decoder **out, const char *path, int fd, double max_s,
		       int is_url, char *why, size_t whylen)
{
	struct decoder *d;
	const AVCodec *codec = NULL;
	AVStream *st;
	char e[128], a[32], b[32];
	unsigned i;
	int ret, rc = 0;

	*out = NULL;
	pthread_once(&ffmpeg_once, ffmpeg_init);
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	d->stream = -1;
	d->max_s = max_s;
	d->max_samples = (uint64_t)((max_s + 0.05) * IMPORT_RATE);
	d->expected_s = -1;

	d->is_url = is_url;
	d->streamed = is_url;
	d->fd = fd;
	ret = open_input(d, path);
	if (ret < 0 && is_url) {
		snprintf(why, whylen, "cannot open the stream: %s", av_words(ret, e, sizeof(e)));
		rc = -EIO;
		goto out;
	}
	if (ret < 0) {
		const char *kind = d->streamed ? NULL : content_format(path, fd);

		if (ret == AVERROR(ENOMEM)) {
			snprintf(why, whylen, "out of memory");
			rc = -ENOMEM;
		} else if (ret == AVERROR(EACCES) || ret == AVERROR(ENOENT) || ret == AVERROR(EIO)) {
			snprintf(why, whylen, "cannot read it: %s", av_words(ret, e, sizeof(e)));
			rc = -EIO;
		} else if (kind) {
			snprintf(why, whylen, "damaged or truncated %s file", kind);
			rc = -EINVAL;
		} else {
			snprintf(why, whylen, "not an audio file");
			rc = -EINVAL;
		}
		goto out;
	}
	ret = avformat_find_stream_info(d->fmt, NULL);
	if (ret < 0) {
		snprintf(why, whylen, "not an audio file (%s)", av_words(ret, e, sizeof(e)));
		rc = -EINVAL;
		goto out;
	}
	ret = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
	if (ret == AVERROR_DECODER_NOT_FOUND) {
		int s = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
		snprintf(why, whylen, "its audio format (%s) cannot be decoded",
			 s >= 0 ? avcodec_get_name(d->fmt->streams[s]->codecpar->codec_id)
				: "unknown");
		rc = -ENOTSUP;
		goto out;
	}
	if (ret < 0 || !codec) {
		snprintf(why, whylen, "not an audio file");
		rc = -EINVAL;
		goto out;
	}
	d->stream = ret;
	for (i = 0; i < d->fmt->nb_streams; i++)
		if ((int)i != d->stream)
			d->fmt->streams[i]->discard = AVDISCARD_ALL;
	st = d->fmt->streams[d->stream];
	if (st->codecpar->sample_rate <= 0 || st->codecpar->ch_layout.nb_channels <= 0) {
		/* A text file called .mp3 opens as "MP3" with no parameters. */
		snprintf(why, whylen, "not an audio file");
		rc = -EINVAL;
		goto out;
	}

	d->expected_s = container_duration(d->fmt, st);
	/* what the container's own header says, where FFmpeg quietly clamps it */
	if (d->streamed) {
		/* a stream: no header peeking (it cannot seek back) */
	} else if (strcmp(d->fmt->iformat->name, "wav") == 0) {
		double promised = riff_promised_s(d->fmt->pb);

		if (promised > 0)
			d->expected_s = promised;
	} else if (strcmp(d->fmt->iformat->name, "ogg") == 0) {
		d->cut_short = ogg_cut_short(d->fmt->pb);
	}
	if (d->expected_s > 0)
		d->trim_at = (uint64_t)llround(d->expected_s * IMPORT_RATE);
	if (d->expected_s > max_s + 0.05) {
		import_fmt_duration(a, sizeof(a), d->expected_s, 0);
		import_fmt_duration(b, sizeof(b), max_s, 0);
		if (!strcmp(a, b)) /* 4:00:00.3 against 4:00:00: say the tenths */
			import_fmt_duration(a, sizeof(a), d->expected_s, 1);
		snprintf(why, whylen, "%s is longer than the %s maximum", a, b);
		rc = -EFBIG;
		goto out;
	}

	d->dec = avcodec_alloc_context3(codec);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->dec || !d->pkt || !d->frame) {
		snprintf(why, whylen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	ret = avcodec_parameters_to_context(d->dec, st->codecpar);
	if (ret >= 0) {
		d->dec->pkt_timebase = st->time_base;
		ret = avcodec_open2(d->dec, codec, NULL);
	}
	if (ret < 0) {
		snprintf(why, whylen, "cannot decode its %s audio: %s", codec->name,
			 av_words(ret, e, sizeof(e)));
		rc = -EINVAL;
		goto out;
	}
out:
	if (rc < 0)
		decoder_close(&d);
	*out = d;
	return rc;
}

void decoder_close(struct decoder **dp)
{
	struct decoder *d = *dp;

	if (!d)
		return;
	swr_free(&d->swr);
	av_channel_layout_uninit(&d->swr_layout);
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
	avcodec_free_context(&d->dec);
	avformat_close_input(&d->fmt);
	if (d->io) /* custom I/O: FFmpeg leaves it (and its buffer) to us */
		av_freep(&d->io->buffer);
	avio_context_free(&d->io);
	free(d->buf);
	free(d->over);
	free(d);
	*dp = NULL;
}

static int reserve(struct decoder *d, size_t n)
{
	float *p;

	if (n <= d->cap)
		return 0;
	p = realloc(d->buf, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	d->buf = p;
	d->cap = n;
	return 0;
}

/* Drain what the resampler still holds (its filter delay) into the buffer. */
static int swr_drain(struct decoder *d, size_t *n)
{
	int want, got;
	uint8_t *outp;

	*n = 0;
	if (!d->swr)
		return 0;
	want = swr_get_out_samples(d->swr, 0);
	if (want <= 0)
		return 0;
	if (reserve(d, (size_t)want) < 0)
		return -ENOMEM;
	outp = (uint8_t *)d->buf;
	got = swr_convert(d->swr, &outp, want, NULL, 0);
	if (got < 0)
		return -EIO;
	*n = (size_t)got;
	return 0;
}

/* (Re)create the resampler for the format of this frame. */
static int swr_setup(struct decoder *d, const AVFrame *f)
{
	AVChannelLayout in = { 0 }, mono = AV_CHANNEL_LAYOUT_MONO;
	int ret;

	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&in, f->ch_layout.nb_channels);
	else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
		return -ENOMEM;
	swr_free(&d->swr);
	ret = swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_FLT, IMPORT_RATE, &in,
				  (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
	if (ret >= 0)
		ret = swr_init(d->swr);
	av_channel_layout_uninit(&d->swr_layout);
	if (ret >= 0)
		ret = av_channel_layout_copy(&d->swr_layout, &f->ch_layout);
	av_channel_layout_uninit(&in);
	if (ret < 0) {
		swr_free(&d->swr);
		return ret == AVERROR(ENOMEM) ? -ENOMEM : -EINVAL;
	}
	d->swr_format = f->format;
	d->swr_rate = f->sample_rate;
	return 0;
}

static int frame_changes_format(const struct decoder *d, const AVFrame *f)
{
	return !d->swr || f->format != d->swr_format || f->sample_rate != d->swr_rate ||
	       av_channel_layout_compare(&f->ch_layout, &d->swr_layout) != 0;
}

/* Convert one decoded frame; *n may be 0 (the resampler keeps a few). */
static int convert_frame(struct decoder *d, size_t *n, char *why, size_t whylen)
{
	const AVFrame *f = d->frame;
	size_t drained = 0;
	int want, got, rc;
	uint8_t *outp;

	*n = 0;
	if (f->nb_samples <= 0 || f->sample_rate <= 0 || f->ch_layout.nb_channels <= 0)
		return 0;
	if (frame_changes_format(d, f)) {
		/* Keep what the old resampler holds, then start a new one. */
		if (swr_drain(d, &drained) < 0)
			goto fail;
		rc = swr_setup(d, f);
		if (rc < 0) {
			snprintf(why, whylen, "cannot convert its audio (%d channels, %d Hz)",
				 f->ch_layout.nb_channels, f->sample_rate);
			return rc;
		}
	}
	want = swr_get_out_samples(d->swr, f->nb_samples);
	if (want < 0 || reserve(d, drained + (size_t)want) < 0)
		goto fail;
	outp = (uint8_t *)(d->buf + drained);
	got = swr_convert(d->swr, &outp, want, (const uint8_t **)f->extended_data,
			  f->nb_samples);
	if (got < 0)
		goto fail;
	*n = drained + (size_t)got;
	return 0;
fail:
	snprintf(why, whylen, "out of memory while decoding");
	return -ENOMEM;
}

/* A decoding error in the last few kilobytes: a cut-off last frame. */
static int near_end(const struct decoder *d)
{
	int64_t size, pos;

	if (d->flushing)
		return 1;
	size = avio_size(d->fmt->pb);
	pos = avio_tell(d->fmt->pb);
	return size > 0 && pos >= 0 && size - pos < 16384;
}

static void stopped_at(struct decoder *d, char *why, size_t whylen, const char *what,
		       int averr)
{
	char at[32], of[32], e[128];
	int n;

	import_fmt_duration(at, sizeof(at), (double)d->samples / IMPORT_RATE, 1);
	if (d->expected_s > 0)
		n = snprintf(why, whylen, "%s: decoding stopped at %s of %s", what, at,
			     import_fmt_duration(of, sizeof(of), d->expected_s, 1));
	else
		n = snprintf(why, whylen, "%s: decoding stopped at %s", what, at);
	if (averr && strcmp(what, "truncated") != 0 && n > 0 && (size_t)n < whylen)
		snprintf(why + n, whylen - (size_t)n, " (%s)", av_words(averr, e, sizeof(e)));
}

#define TRIM_MAX (IMPORT_RATE / 10) /* up to 100 ms of padding */

/*
 * Some containers say exactly how long the audio is while the codec
 * delivers whole frames: an M4A from FFmpeg's AAC encoder decodes up to
 * 1024 samples of padding past the end its edit list gives. Samples past
 * the container's length are held back; at the end they are dropped. If
 * more than TRIM_MAX turns up past it, the container was wrong, and the
 * held samples go out after all.
 */
static int trim_tail(struct decoder *d, size_t *got)
{
	uint64_t upto = d->samples + *got;
	size_t keep, extra, need;
	float *p;

	if (d->trim_at == 0 || (upto <= d->trim_at && d->over_len == 0))
		return 0;
	keep = d->samples >= d->trim_at ? 0 : (size_t)(d->trim_at - d->samples);
	if (keep > *got)
		keep = *got;
	extra = *got - keep;
	if (d->over_len + extra > TRIM_MAX) {
		/* not padding: give everything back, trimming is off */
		need = d->over_len + *got;
		p = malloc(need * sizeof(float));
		if (!p)
			return -ENOMEM;
		memcpy(p, d->over, d->over_len * sizeof(float));
		memcpy(p + d->over_len, d->buf, *got * sizeof(float));
		if (reserve(d, need) < 0) {
			free(p);
			return -ENOMEM;
		}
		memcpy(d->buf, p, need * sizeof(float));
		free(p);
		*got = need;
		d->over_len = 0;
		d->trim_at = 0;
		return 0;
	}
	if (extra > 0) {
		p = realloc(d->over, (d->over_len + extra) * sizeof(float));
		if (!p)
			return -ENOMEM;
		d->over = p;
		memcpy(d->over + d->over_len, d->buf + keep, extra * sizeof(float));
		d->over_len += extra;
	}
	*got = keep;
	return 0;
}

/*
 * The heart of the decoder: packets in, frames out, until one frame yields
 * samples. Any read or decode error stops the import: an announcement with a
 * hole in it is worse than a clear error the operator can act on (export the
 * file again, copy it again). The end of the file comes with a check that
 * the audio is as long as the container promised; a shorter one is a file
 * cut off in a download or copy.
 */
int decoder_read(struct decoder *d, const float **pcm, size_t *n, char *why,
		 size_t whylen)
{
	char a[32];
	size_t got;
	int ret, rc;

	*pcm = NULL;
	*n = 0;
again:
	while (!d->finished) {
		ret = avcodec_receive_frame(d->dec, d->frame);
		if (ret == 0) {
			rc = convert_frame(d, &got, why, whylen);
			av_frame_unref(d->frame);
			if (rc < 0)
				return rc;
			if (got == 0)
				continue;
			goto deliver;
		}
		if (ret == AVERROR_EOF) {
			d->finished = 1;
			if (swr_drain(d, &got) < 0) {
				snprintf(why, whylen, "out of memory while decoding");
				return -ENOMEM;
			}
			if (got == 0)
				break;
			goto deliver;
		}
		if (ret != AVERROR(EAGAIN)) {
			stopped_at(d, why, whylen, near_end(d) ? "truncated" : "damaged audio", ret);
			return -EINVAL;
		}
		/* The decoder wants input. */
		if (d->flushing) {
			/* Cannot happen (EAGAIN after the flush); do not spin. */
			d->finished = 1;
			break;
		}
		ret = av_read_frame(d->fmt, d->pkt);
		if (ret == AVERROR_EOF) {
			d->flushing = 1;
			ret = avcodec_send_packet(d->dec, NULL);
		} else if (ret < 0) {
			const char *what = ret == AVERROR(EIO) ? "read error"
					   : ret != AVERROR_INVALIDDATA || near_end(d) ? "truncated"
					   : "damaged";

			stopped_at(d, why, whylen, what, ret);
			return ret == AVERROR(EIO) ? -EIO : -EINVAL;
		} else {
			if (d->pkt->stream_index != d->stream) {
				av_packet_unref(d->pkt);
				continue;
			}
			ret = avcodec_send_packet(d->dec, d->pkt);
			av_packet_unref(d->pkt);
		}
		if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) {
			stopped_at(d, why, whylen, near_end(d) ? "truncated" : "damaged audio", ret);
			return -EINVAL;
		}
	}

	/* The end. Cut off in the middle of a page, or shorter than promised. */
end:
	if (d->cut_short) {
		if (d->samples == 0) {
			snprintf(why, whylen, "no audio in the file (and it is cut short)");
			return -ENODATA;
		}
		d->expected_s = -1; /* its length is that of what is left */
		stopped_at(d, why, whylen, "truncated", 0);
		return -EINVAL;
	}
	if (d->expected_s > 0) {
		double have = (double)d->samples / IMPORT_RATE;
		double slack = 0.25 + d->expected_s * 1e-4;

		if (have + slack < d->expected_s) {
			if (d->samples == 0) {
				snprintf(why, whylen,
					 "no audio in the file (the header promises %s)",
					 import_fmt_duration(a, sizeof(a), d->expected_s, 1));
				return -ENODATA;
			}
			stopped_at(d, why, whylen, "truncated", 0);
			return -EINVAL;
		}
	}
	return 0;

deliver:
	rc = trim_tail(d, &got);
	if (rc < 0) {
		snprintf(why, whylen, "out of memory while decoding");
		return rc;
	}
	if (got == 0) {
		if (!d->finished)
			goto again; /* all of it held back as padding */
		goto end;
	}
	d->samples += got;
	if (d->samples > d->max_samples) {
		snprintf(why, whylen, "longer than the %s maximum",
			 import_fmt_duration(a, sizeof(a), d->max_s, 0));
		return -EFBIG;
	}
	*pcm = d->buf;
	*n = got;
	return 1;
}
