// emergency.js - the one large emergency control (in the frame of every
// page, so it is one press away wherever the official is), its confirmation
// step, and the banner that follows every running emergency or drill: each
// cluster's confirmation of the start and of the stop as they arrive.
//
// A drill is shown striped blue with "DIỄN TẬP" everywhere; a real
// emergency red. The two never share a colour or a word.

import { t } from './i18n.js';
import { get, post, explain } from './api.js';
import { h, put, clear, note, resultBadge } from './dom.js';
import { zonesAndNodes, onLive, allZones, zoneName } from './state.js';

// Emergencies this page follows: id -> {drill, stopped_at}. A stopped one is
// kept on the banner until every node confirmed the stop (or 2 minutes).
const followed = new Map();
let offLive = null;
let busy = false;
let lastSig = '';

export async function openEmergencyDialog() {
	const dlg = document.getElementById('emg-dialog');
	clear(dlg);
	const msg = h('div', { id: 'emg-msg' });
	let clips = [], zones = [];
	try {
		[clips, zones] = await Promise.all([
			get('/v1/emergency/clips').then((r) => r.clips || []),
			zonesAndNodes().then((r) => r.zones),
		]);
	} catch (e) {
		msg.append(note('error', explain(e)));
	}
	const clipSel = h('select', { id: 'emg-clip' },
		clips.map((c) => h('option', { value: c.name }, (c.title || c.name) + ' (' + c.name + ')')));
	const realDefault = clips.find((c) => c.name !== 'drill' && c.name !== 'tone');
	if (realDefault)
		clipSel.value = realDefault.name;
	// Every village of the account by default: a scoped official's own.
	const where = h('select', { id: 'emg-where' },
		allZones() ? h('option', { value: '*' }, t('All villages')) : null,
		zones.map((z) => h('option', { value: z }, zoneName(z))));
	const go = async (drill) => {
		put(clear(msg), note('info', t('Sending…')));
		const body = { drill };
		const clip = drill && clips.some((c) => c.name === 'drill') ? 'drill' : clipSel.value;
		if (!clip) {
			put(clear(msg), note('error', t('No emergency clip is on the controller yet: the technician must add them (scripts/emergency-clips.sh).')));
			return;
		}
		body.clip = clip;
		if (where.value === '*')
			body.all = true;
		else
			body.zone = where.value;
		try {
			const r = (await post('/v1/emergency', body)).body;
			followed.set(r.emergency, { drill, stopped_at: 0 });
			dlg.close();
			refresh();
		} catch (e) {
			put(clear(msg), note('error', explain(e)));
		}
	};
	dlg.append(h('form', { method: 'dialog', class: 'emg-form' },
		h('h2', {}, t('Emergency broadcast')),
		h('p', {}, t('Choose, then press one of the two buttons to confirm. It sounds at once on every loudspeaker chosen.')),
		h('label', {}, t('Message'), clipSel),
		h('label', {}, t('Where'), where),
		h('button', { type: 'button', id: 'emg-drill', class: 'drill big',
			      onclick: () => go(true) }, t('Confirm: start a DRILL')),
		h('button', { type: 'button', id: 'emg-real', class: 'danger big',
			      onclick: () => go(false) }, t('Confirm: REAL EMERGENCY')),
		h('button', { type: 'submit', id: 'emg-cancel', class: 'plain' }, t('Cancel')),
		msg));
	dlg.showModal();
}

// Which emergencies run now: the controller's list of emergencies (the
// review list holds every one, newest first) within their end.
async function running() {
	const r = await get('/v1/reviews?all=1');
	const now = Date.now();
	for (const e of r.emergencies || [])
		if (e.expires > now && !followed.has(e.emergency))
			followed.set(e.emergency, { drill: !!e.drill, stopped_at: 0 });
}

async function stop(id) {
	try {
		await post('/v1/emergency/stop', { emergency: id });
		const f = followed.get(id);
		if (f)
			f.stopped_at = Date.now();
		refresh();
	} catch (e) {
		const b = document.getElementById('banner');
		b.append(note('error', explain(e)));
	}
}

// One emergency's panel: what it is, each node's start and stop.
export function emergencyPanel(e, onStop) {
	const drill = !!e.drill;
	const ended = e.ends && e.ends <= Date.now();
	const rows = (e.nodes || []).map((n) => h('li', { class: 'emg-node', 'data-node': n.node },
		h('span', { class: 'name' }, n.node), ' ',
		resultBadge(n.result),
		n.stop ? [' ', h('span', { class: 'badge badge-good', 'data-stop': 'yes' }, t('Stop confirmed'))] : null,
		n.reason && n.reason !== 'stopped' ? h('span', { class: 'small' }, ' ' + n.reason) : null));
	return h('section', { class: 'emg-panel ' + (drill ? 'is-drill' : 'is-real'), 'data-emergency': e.emergency },
		h('strong', { class: 'emg-kind' }, drill ? t('DRILL') : t('REAL EMERGENCY')), ' ',
		ended ? h('span', { class: 'badge badge-good' }, t('ended')) : null, ' ',
		h('span', {}, (e.target_kind === 'all' ? t('All villages') : e.target) + ' · ' + e.emergency),
		h('ul', { class: 'plain-list' }, rows),
		!ended && onStop ? h('button', { type: 'button', class: 'big stop', id: 'emg-stop-' + e.emergency,
					     'data-stop-id': e.emergency, onclick: () => onStop(e.emergency) },
					  drill ? t('Stop the drill') : t('Stop and sound the all-clear')) : null);
}

async function refresh() {
	if (busy)
		return;
	busy = true;
	const b = document.getElementById('banner');
	try {
		await running();
		const panels = [], seen = [];
		for (const [id, f] of [...followed]) {
			const e = await get('/v1/emergency/' + encodeURIComponent(id));
			const allStopped = (e.nodes || []).every((n) => n.stop);
			const ended = e.ends && e.ends <= Date.now();
			// done: a minute after every node said it is silent (so the
			// official sees each confirmation), or 3 minutes after the end
			const since = Date.now() - (f.stopped_at || e.ends);
			if (ended && ((allStopped && since > 60000) || since > 180000)) {
				followed.delete(id);
				continue;
			}
			panels.push(emergencyPanel(e, stop));
			seen.push(e);
		}
		// redraw only on a change: a button replaced under the finger loses the press
		const sig = JSON.stringify(seen);
		if (sig !== lastSig)
			put(clear(b), ...panels);
		lastSig = sig;
		b.hidden = panels.length === 0;
	} catch (e) {
		/* the banner waits for the next tick; the page shows the error */
	} finally {
		busy = false;
	}
}

export function startBanner() {
	stopBanner();
	offLive = onLive(refresh);
	refresh();
}

export function stopBanner() {
	if (offLive)
		offLive();
	offLive = null;
	followed.clear();
	lastSig = '';
	const b = document.getElementById('banner');
	clear(b);
	b.hidden = true;
}
