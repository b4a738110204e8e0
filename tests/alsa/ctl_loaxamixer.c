/*
 * ctl_loaxamixer.c - a sound card's control interface for tests: one mixer
 * control with a volume and a mute switch, as a real card would have.
 *
 * The test machines have no sound card, and ALSA's softvol plugin keeps its
 * volume in a control of a card ("hw:N"). This external control plugin
 * stands in for that card: set as ctl.hw in a test's asoundrc, it offers
 *
 *   "<name> Playback Volume"  integer 0..255, dB scale -51..0 dB (what a
 *                             softvol with the default resolution and
 *                             range expects, so softvol takes it as its own)
 *   "<name> Playback Switch"  boolean (a softvol with resolution 2 is a mute)
 *
 * which the simple mixer (amixer, loaxa-node's alsa.mixer) shows as one
 * control "<name>" with a playback volume and a playback switch. Their
 * values live in a small text file, so every process that opens the card
 * (the node's softvol plugins, the node's mixer, amixer in the test) sees
 * the same control; each read rereads it, each write replaces it atomically.
 *
 *   ctl_type.loaxamixer { lib "/abs/path/libasound_module_ctl_loaxamixer.so" }
 *   ctl.!hw {
 *       @args [ CARD ]
 *       @args.CARD { type string default "0" }
 *       type loaxamixer
 *       name "Horn"                   # the control's name
 *       state "/tmp/x/mixer.state"    # "volume N\nswitch N\n"; absent: 255, on
 *   }
 */
#include <alsa/asoundlib.h>
#include <alsa/control_external.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOL_MAX 255
/* softvol's own element flag (SNDRV_CTL_ELEM_ACCESS_USER): a user control */
#define ACCESS_USER (1u << 29)

enum { KEY_VOLUME = 0, KEY_SWITCH = 1, NKEYS };

struct mixer {
	snd_ctl_ext_t ext;
	char name[40];
	char state[4096];
};

/* -51.00 dB at 0, steps of 0.20 dB: exactly what softvol computes itself */
static const unsigned int db_tlv[] = { SND_CTL_TLVT_DB_SCALE, 2 * sizeof(unsigned int),
				       (unsigned int)-5100, 20 };

static void load(const struct mixer *m, long *vol, long *sw)
{
	FILE *f = fopen(m->state, "r");
	char key[16];
	long v;

	*vol = VOL_MAX;
	*sw = 1;
	if (!f)
		return;
	while (fscanf(f, "%15s %ld", key, &v) == 2) {
		if (strcmp(key, "volume") == 0 && v >= 0 && v <= VOL_MAX)
			*vol = v;
		else if (strcmp(key, "switch") == 0)
			*sw = v ? 1 : 0;
	}
	fclose(f);
}

static int store(const struct mixer *m, long vol, long sw)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", m->state, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "volume %ld\nswitch %ld\n", vol, sw);
	if (fclose(f) != 0 || rename(tmp, m->state) != 0) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static void elem_name(const struct mixer *m, unsigned int key, char *out, size_t len)
{
	snprintf(out, len, "%s Playback %s", m->name, key == KEY_VOLUME ? "Volume" : "Switch");
}

static int mx_elem_count(snd_ctl_ext_t *ext)
{
	(void)ext;
	return NKEYS;
}

static int mx_elem_list(snd_ctl_ext_t *ext, unsigned int offset, snd_ctl_elem_id_t *id)
{
	struct mixer *m = ext->private_data;
	char name[64];

	if (offset >= NKEYS)
		return -EINVAL;
	elem_name(m, offset, name, sizeof(name));
	snd_ctl_elem_id_set_interface(id, SND_CTL_ELEM_IFACE_MIXER);
	snd_ctl_elem_id_set_name(id, name);
	return 0;
}

static snd_ctl_ext_key_t mx_find_elem(snd_ctl_ext_t *ext, const snd_ctl_elem_id_t *id)
{
	struct mixer *m = ext->private_data;
	unsigned int numid = snd_ctl_elem_id_get_numid(id), k;
	char name[64];

	if (numid > 0 && numid <= NKEYS)
		return numid - 1;
	if (snd_ctl_elem_id_get_interface(id) != SND_CTL_ELEM_IFACE_MIXER ||
	    snd_ctl_elem_id_get_index(id) != 0)
		return SND_CTL_EXT_KEY_NOT_FOUND;
	for (k = 0; k < NKEYS; k++) {
		elem_name(m, k, name, sizeof(name));
		if (strcmp(name, snd_ctl_elem_id_get_name(id)) == 0)
			return k;
	}
	return SND_CTL_EXT_KEY_NOT_FOUND;
}

static int mx_get_attribute(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, int *type,
			    unsigned int *acc, unsigned int *count)
{
	(void)ext;
	*count = 1;
	*acc = SND_CTL_EXT_ACCESS_READWRITE | ACCESS_USER;
	if (key == KEY_VOLUME) {
		*type = SND_CTL_ELEM_TYPE_INTEGER;
		*acc |= SND_CTL_EXT_ACCESS_TLV_READ;
	} else {
		*type = SND_CTL_ELEM_TYPE_BOOLEAN;
	}
	return 0;
}

static int mx_get_integer_info(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *imin,
			       long *imax, long *istep)
{
	(void)ext;
	*imin = 0;
	*imax = key == KEY_VOLUME ? VOL_MAX : 1;
	*istep = 1;
	return 0;
}

static int mx_read_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	long vol, sw;

	load(ext->private_data, &vol, &sw);
	*value = key == KEY_VOLUME ? vol : sw;
	return 0;
}

static int mx_write_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	long vol, sw;
	int rc;

	load(ext->private_data, &vol, &sw);
	if (key == KEY_VOLUME) {
		if (*value < 0 || *value > VOL_MAX)
			return -EINVAL;
		if (*value == vol)
			return 0;
		vol = *value;
	} else {
		if (!!*value == sw)
			return 0;
		sw = !!*value;
	}
	rc = store(ext->private_data, vol, sw);
	return rc < 0 ? rc : 1; /* 1: changed */
}

static void mx_close(snd_ctl_ext_t *ext)
{
	free(ext->private_data);
}

static const snd_ctl_ext_callback_t callbacks = {
	.close = mx_close,
	.elem_count = mx_elem_count,
	.elem_list = mx_elem_list,
	.find_elem = mx_find_elem,
	.get_attribute = mx_get_attribute,
	.get_integer_info = mx_get_integer_info,
	.read_integer = mx_read_integer,
	.write_integer = mx_write_integer,
};

SND_CTL_PLUGIN_DEFINE_FUNC(loaxamixer)
{
	snd_config_iterator_t i, next;
	const char *ctlname = "Horn", *state = NULL;
	struct mixer *m;
	int err;

	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;

		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (strcmp(id, "comment") == 0 || strcmp(id, "type") == 0 ||
		    strcmp(id, "hint") == 0 || strcmp(id, "CARD") == 0)
			continue;
		if (strcmp(id, "name") == 0 && snd_config_get_string(n, &ctlname) == 0)
			continue;
		if (strcmp(id, "state") == 0 && snd_config_get_string(n, &state) == 0)
			continue;
		SNDERR("loaxamixer: unknown or bad field %s", id);
		return -EINVAL;
	}
	if (!state || strlen(state) >= sizeof(m->state) || strlen(ctlname) >= sizeof(m->name)) {
		SNDERR("loaxamixer: give state \"/path\" (and a name shorter than 40)");
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", ctlname);
	snprintf(m->state, sizeof(m->state), "%s", state);
	m->ext.version = SND_CTL_EXT_VERSION;
	m->ext.card_idx = 0;
	snprintf(m->ext.id, sizeof(m->ext.id), "loaxamixer");
	snprintf(m->ext.driver, sizeof(m->ext.driver), "loaxamixer");
	snprintf(m->ext.name, sizeof(m->ext.name), "loaxa test mixer");
	snprintf(m->ext.longname, sizeof(m->ext.longname), "loaxa test mixer (%s)", ctlname);
	snprintf(m->ext.mixername, sizeof(m->ext.mixername), "loaxa test mixer");
	m->ext.poll_fd = -1;
	m->ext.callback = &callbacks;
	m->ext.private_data = m;
	m->ext.tlv.p = db_tlv;
	err = snd_ctl_ext_create(&m->ext, name, mode);
	if (err < 0) {
		free(m);
		return err;
	}
	*handlep = m->ext.handle;
	return 0;
}

SND_CTL_PLUGIN_SYMBOL(loaxamixer);
