// phat.js - "Phát ngay" (announce now): choose villages, then record from
// the microphone (press to start, press again to stop and send), send an
// audio file, or type a text to be read; see the upload and the import
// progress, then each cluster confirm as it plays.
//
// Three presses for a recorded announcement: the village, "Ghi âm",
// "Dừng và phát".

import { t } from './i18n.js';
import { get, post, upload, explain } from './api.js';
import { h, put, clear, note, resultBadge, siteStamp, siteParts } from './dom.js';
import { zonesAndNodes, onLive, allZones, can, zoneName } from './state.js';
import { draftsBox } from './drafts.js';

let follow = [];	// broadcast ids being followed on this page

function pad(n) { return String(n).padStart(2, '0'); }

export async function render(main) {
	const { zones } = await zonesAndNodes();
	follow = [];
	const status = h('div', { id: 'phat-status', 'aria-live': 'polite' });
	const progress = h('progress', { id: 'phat-progress', max: 100, value: 0, hidden: true });
	const plays = h('div', { id: 'phat-plays' });

	// villages: one checkbox each; "all" for accounts with every zone
	const boxes = zones.map((z) => h('input', { type: 'checkbox', value: z, id: 'zone-' + z,
						    checked: zones.length === 1 && !allZones() }));
	const allBox = allZones() ? h('input', { type: 'checkbox', value: '*', id: 'zone-all' }) : null;
	const chosen = () => {
		if (allBox && allBox.checked)
			return ['*'];
		return boxes.filter((b) => b.checked).map((b) => b.value);
	};
	const villages = h('fieldset', { class: 'chips', id: 'phat-zones' },
		h('legend', {}, t('1. Where')),
		allBox ? h('label', { class: 'chip' }, allBox, t('All villages')) : null,
		boxes.map((b) => h('label', { class: 'chip' }, b, zoneName(b.value))));

	const say = (kind, text) => put(clear(status), note(kind, text));

	// one broadcast per chosen village (or one to all), then follow them
	async function broadcast(content, title) {
		const where = chosen();
		follow = [];
		for (const z of where) {
			const body = { content, level: 'normal', title };
			if (z === '*')
				body.all = true;
			else
				body.zone = z;
			const r = await post('/v1/broadcasts', body);
			if (r.status === 202) {
				say('info', t('Sent for approval: it plays once an approver accepts it (see "Waiting for approval" below).'));
				continue;
			}
			follow.push(r.body.broadcast);
		}
		if (follow.length)
			say('ok', t('Sent. Each cluster confirms below as it plays.'));
		await refresh();
	}

	async function sendBlob(blob, filename, title) {
		if (!chosen().length) {
			say('error', t('Choose a village first (step 1).'));
			return;
		}
		progress.hidden = false;
		progress.value = 0;
		try {
			const c = await upload(blob, filename, title,
				(sent, total) => {
					progress.value = Math.round((100 * sent) / total);
					say('info', t('Sending the sound: {p}%', { p: progress.value }));
				},
				() => {
					progress.removeAttribute('value');
					say('info', t('Preparing the sound for the loudspeakers…'));
				});
			progress.hidden = true;
			await broadcast(c.id, title);
		} catch (e) {
			progress.hidden = true;
			say('error', explain(e));
		}
	}

	// --- recording
	let rec = null, chunks = [], started = 0, tick = null;
	const recBtn = h('button', { type: 'button', id: 'rec', class: 'primary big' }, t('Record'));
	const recTime = h('span', { id: 'rec-time', class: 'rec-time' });
	recBtn.addEventListener('click', async () => {
		if (rec) {
			rec.stop();
			return;
		}
		if (!chosen().length) {
			say('error', t('Choose a village first (step 1).'));
			return;
		}
		let stream;
		try {
			stream = await navigator.mediaDevices.getUserMedia({ audio: true });
		} catch (e) {
			say('error', t('The microphone cannot be used: allow it in the browser (the icon beside the address), or plug one in.'));
			return;
		}
		chunks = [];
		rec = new MediaRecorder(stream);
		rec.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
		rec.onstop = () => {
			stream.getTracks().forEach((tr) => tr.stop());
			clearInterval(tick);
			rec = null;
			recBtn.textContent = t('Record');
			recBtn.classList.remove('recording');
			const d = siteParts(Date.now());
			const name = 'ghi-am-' + d.y + d.m + d.d + '-' + d.H + d.M + '.webm';
			const title = t('Recording {time}', { time: d.H + ':' + d.M });
			sendBlob(new Blob(chunks, { type: chunks.length ? chunks[0].type : 'audio/webm' }), name, title);
		};
		rec.start(250);
		started = Date.now();
		recBtn.textContent = t('Stop and broadcast');
		recBtn.classList.add('recording');
		say('info', t('Recording… speak now.'));
		tick = setInterval(() => {
			const s = Math.floor((Date.now() - started) / 1000);
			recTime.textContent = Math.floor(s / 60) + ':' + pad(s % 60);
		}, 250);
	});

	// --- a file
	const file = h('input', { type: 'file', id: 'phat-file', accept: 'audio/*,video/*' });
	const fileBtn = h('button', { type: 'button', id: 'phat-file-go', class: 'primary' }, t('Broadcast this file'));
	const fileTitle = h('input', { id: 'phat-file-title', placeholder: t('Title (optional)') });
	fileBtn.addEventListener('click', () => {
		const f = file.files[0];
		if (!f) {
			say('error', t('Choose an audio file first.'));
			return;
		}
		sendBlob(f, f.name, fileTitle.value.trim() || f.name.replace(/\.[^.]*$/, ''));
	});
	file.addEventListener('change', () => { if (file.files[0] && chosen().length) fileBtn.click(); });

	// --- a text to be read (espeak-ng on the controller), as an announcement
	const text = h('textarea', { id: 'phat-text', rows: 3, maxlength: 2000,
				     placeholder: t('Type the announcement in Vietnamese…') });
	const textBtn = h('button', { type: 'button', id: 'phat-text-go', class: 'primary' }, t('Read it out'));
	textBtn.addEventListener('click', async () => {
		const where = chosen();
		if (!where.length || !text.value.trim()) {
			say('error', t('Choose a village and type the text first.'));
			return;
		}
		const at = siteStamp(Date.now() + 60000);	/* the API takes the site's local time */
		say('info', t('Preparing the sound for the loudspeakers…'));
		try {
			for (const z of where) {
				const body = { at, text: text.value.trim(), title: text.value.trim().slice(0, 60) };
				if (z === '*')
					body.all = true;
				else
					body.zone = z;
				const r = await post('/v1/announcements', body);
				say(r.status === 202 ? 'info' : 'ok', r.status === 202
					? t('Sent for approval: it plays once an approver accepts it (see "Waiting for approval" below).')
					: t('It plays in about a minute (see the Schedule page).'));
			}
		} catch (e) {
			say('error', explain(e));
		}
	});

	async function refresh() {
		const blocks = [];
		for (const id of follow) {
			let b;
			try {
				b = await get('/v1/broadcasts/' + encodeURIComponent(id));
			} catch (e) {
				continue;
			}
			const byNode = new Map((b.plays || []).map((p) => [p.node, p]));
			blocks.push(h('div', { class: 'card', 'data-broadcast': id },
				h('strong', {}, b.title || id), ' · ',
				b.target_kind === 'all' ? t('All villages') : b.target,
				h('ul', { class: 'plain-list' }, (b.targets || []).map((n) => {
					const p = byNode.get(n);
					return h('li', { 'data-node': n }, h('span', { class: 'name' }, n), ' ',
						 resultBadge(p ? p.result : 'pending'),
						 p && p.reason ? h('span', { class: 'small' }, ' ' + p.reason) : null);
				}))));
		}
		put(clear(plays), ...blocks);
	}
	const drafts = draftsBox((id) => { follow.push(id); refresh(); });
	const off = onLive(() => { refresh(); drafts.refresh(); });
	drafts.refresh();

	const operate = can('operate');
	put(main, h('h1', {}, t('Announce now')),
		operate ? null : note('info', t('Your account may look but not broadcast.')),
		h('div', { class: 'card' }, villages),
		h('div', { class: 'card' },
			h('h2', {}, t('2. Record from the microphone')),
			h('p', { class: 'row' }, recBtn, recTime)),
		h('details', { class: 'card' },
			h('summary', {}, t('…or send an audio file')),
			h('p', {}, file), h('p', {}, fileTitle), h('p', {}, fileBtn)),
		h('details', { class: 'card' },
			h('summary', {}, t('…or type a text to be read out')),
			text, h('p', {}, textBtn)),
		progress, status, plays, drafts.box);
	return () => {
		off();
		if (rec)
			rec.stop();
	};
}
