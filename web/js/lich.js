// lich.js - "Lịch phát" (schedule): the week's program as a week view, and
// adding, editing and deleting items.
//
// The schedule files stay the source a technician edits. The console reads
// the files of the last apply (GET /v1/schedule/files), keeps every file but
// its own exactly as it was (comments and all), and writes its items into
// its own file, console.cfg: one item per line, each after a comment line
// "# console-item {json}" holding the form's values, so the console reads its
// own items back without parsing libconfig. Checks and applies go through
// POST /v1/schedule/check and /apply, the same checks as `loaxa schedule
// check`; each error is shown beside the field it names.

import { t } from './i18n.js';
import { get, api, explain, ApiError } from './api.js';
import { h, put, clear, note, isoDate, weekdayName } from './dom.js';
import { zonesAndNodes, onLive, allZones, can, zoneName } from './state.js';

const CONSOLE_FILE = 'console.cfg';
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
// i18n-words
const DAY_NAMES = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };
// end-i18n-words

// libconfig string: quotes and backslashes escaped, no line breaks
const q = (s) => '"' + String(s).replace(/[\\"]/g, (c) => '\\' + c).replace(/[\r\n]+/g, ' ') + '"';

// The console's file for a list of items; the line of item i (0-based) is
// 6 + 2 * i (its comment line is just before), which error messages name.
export function consoleFile(items) {
	const lines = [
		'# Lịch do bảng điều khiển web (loaxa) viết: sửa ở trang "Lịch phát".',
		'# Written by the loaxa web console: edit it on the "Schedule" page; a technician may',
		'# edit it too, but the console rewrites it from the "# console-item" lines.',
		'items = (',
	];
	items.forEach((it, i) => {
		const f = ['id = ' + q(it.id), 'title = ' + q(it.title || it.id), 'content = ' + q(it.content),
			   it.zones.length ? 'zones = [' + it.zones.map(q).join(', ') + ']' : 'zones = ["all"]',
			   'times = [' + it.times.map(q).join(', ') + ']',
			   'days = ' + (Array.isArray(it.days) ? '[' + it.days.map(q).join(', ') + ']' : q(it.days))];
		if (it.from)
			f.push('from = ' + q(it.from));
		if (it.until)
			f.push('until = ' + q(it.until));
		f.push('repeat = ' + (parseInt(it.repeat, 10) || 1));
		f.push('level = ' + q(it.level || 'normal'));
		f.push('chime = ' + (it.chime ? 'true' : 'false'));
		lines.push('# console-item ' + JSON.stringify(it));
		lines.push('  { ' + f.join('; ') + '; }' + (i < items.length - 1 ? ',' : ''));
	});
	lines.push(');');
	return lines.join('\n') + '\n';
}

function readConsoleItems(text) {
	const items = [];
	for (const line of (text || '').split('\n')) {
		const m = /^# console-item (\{.*\})\s*$/.exec(line);
		if (!m)
			continue;
		try { items.push(JSON.parse(m[1])); } catch (e) { /* a hand-broken line: skipped */ }
	}
	return items;
}

// "console.cfg:6: field "times": ..." -> {file, line, field, text}
function parseError(s) {
	const m = /^(?:warning: )?([^:]+):(\d+): (?:field "([^"]+)": )?(.*)$/.exec(s);
	return m ? { file: m[1], line: +m[2], field: m[3] || '', text: m[4] } : { file: '', line: 0, field: '', text: s };
}

export async function render(main) {
	const { zones } = await zonesAndNodes();
	let files = null;		// null: this account cannot edit the whole timetable
	try {
		files = (await get('/v1/schedule/files')).files || [];
	} catch (e) {
		if (!(e instanceof ApiError && e.status === 403))
			throw e;
	}
	let mine = files ? readConsoleItems((files.find((f) => f.name === CONSOLE_FILE) || {}).text) : [];
	const others = files ? files.filter((f) => f.name !== CONSOLE_FILE) : [];
	const content = ((await get('/v1/content')).content || []).sort((a, b) => b.created - a.created);

	const week = h('div', { id: 'week', class: 'week' });
	const list = h('ul', { id: 'items', class: 'plain-list items' });
	const msg = h('div', { id: 'lich-msg', 'aria-live': 'polite' });
	let editing = null;	// id of the item in the form, null: a new one
	let newId = '';		// the id a new item gets: made once per form, so checks find its line

	// --- the form
	const errs = {};
	const field = (name, label, input) => {
		errs[name] = h('span', { class: 'field-error', id: 'err-' + name, role: 'alert' });
		return h('label', { class: 'field', 'data-field': name }, t(label), input, errs[name]);
	};
	const fTitle = h('input', { id: 'f-title', maxlength: 200 });
	const fContent = h('select', { id: 'f-content' },
		content.map((c) => h('option', { value: c.id }, c.title + ' (' + Math.round(c.duration_ms / 1000) + ' s)')));
	const fTime = h('input', { id: 'f-time', type: 'time', required: true });
	const fDays = h('select', { id: 'f-days' },
		h('option', { value: 'daily' }, t('Every day')),
		h('option', { value: 'weekdays' }, t('Monday to Friday')),
		h('option', { value: 'weekends' }, t('Saturday and Sunday')),
		h('option', { value: 'some' }, t('Some days…')));
	const dayBoxes = DAYS.map((d) => h('input', { type: 'checkbox', value: d }));
	const dayPick = h('div', { class: 'chips', hidden: true },
		dayBoxes.map((b) => h('label', { class: 'chip' }, b, t(DAY_NAMES[b.value]))));
	fDays.addEventListener('change', () => { dayPick.hidden = fDays.value !== 'some'; });
	const fFrom = h('input', { id: 'f-from', type: 'date' });
	const fUntil = h('input', { id: 'f-until', type: 'date' });
	const fRepeat = h('input', { id: 'f-repeat', type: 'number', min: 1, max: 20, value: 1 });
	const fLevel = h('select', { id: 'f-level' },
		h('option', { value: 'normal' }, t('normal')),
		h('option', { value: 'priority' }, t('priority')),
		can('emergency') ? h('option', { value: 'emergency' }, t('emergency')) : null);
	const fChime = h('input', { id: 'f-chime', type: 'checkbox' });
	const zoneBoxes = zones.map((z) => h('input', { type: 'checkbox', value: z }));
	const fZones = h('div', { class: 'chips', id: 'f-zones' },
		zoneBoxes.map((b) => h('label', { class: 'chip' }, b, zoneName(b.value))));
	const fOutside = h('input', { id: 'f-outside', type: 'checkbox' });
	const outsideRow = h('label', { class: 'field', hidden: true }, fOutside,
		t('Yes, it must play outside the allowed hours'));
	const saveBtn = h('button', { type: 'submit', id: 'f-save', class: 'primary big' }, t('Save'));
	const delBtn = h('button', { type: 'button', id: 'f-delete', class: 'danger', hidden: true }, t('Delete'));
	const newBtn = h('button', { type: 'button', id: 'f-new', class: 'plain', hidden: true }, t('New item'));

	function formItem() {
		const days = fDays.value === 'some' ? dayBoxes.filter((b) => b.checked).map((b) => b.value) : fDays.value;
		const time = fTime.value;
		const c = content.find((x) => x.id === fContent.value);
		return {
			id: editing || newId,
			title: fTitle.value.trim() || (c ? c.title : '') || t('Program at {time}', { time }),
			content: fContent.value,
			zones: zoneBoxes.filter((b) => b.checked).map((b) => b.value),
			times: time ? [time] : [],
			days, from: fFrom.value, until: fUntil.value,
			repeat: parseInt(fRepeat.value, 10) || 1,
			level: fLevel.value, chime: fChime.checked,
		};
	}

	function fill(it) {
		editing = it ? it.id : null;
		newId = 'web-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 6);
		fTitle.value = it ? it.title : '';
		if (it)
			fContent.value = it.content;
		fTime.value = it ? it.times[0] || '' : '';
		const named = it && !Array.isArray(it.days);
		fDays.value = !it ? 'daily' : named ? it.days : 'some';
		dayPick.hidden = fDays.value !== 'some';
		dayBoxes.forEach((b) => { b.checked = !!(it && Array.isArray(it.days) && it.days.includes(b.value)); });
		fFrom.value = it ? it.from || '' : '';
		fUntil.value = it ? it.until || '' : '';
		fRepeat.value = it ? it.repeat : 1;
		fLevel.value = it ? it.level : 'normal';
		fChime.checked = !!(it && it.chime);
		zoneBoxes.forEach((b) => { b.checked = !!(it && it.zones.includes(b.value)); });
		delBtn.hidden = newBtn.hidden = !it;
		saveBtn.textContent = it ? t('Save changes') : t('Add');
		showErrors([], []);
	}

	// the request body: every other file as it was, ours rewritten
	function body(items, outside) {
		const all = others.map((f) => ({ name: f.name, text: f.text, audio: f.audio || {} }));
		if (items.length)
			all.push({ name: CONSOLE_FILE, text: consoleFile(items), audio: {} });
		const b = { files: all };
		if (outside)
			b.outside_hours = true;
		return b;
	}

	// errors beside the field they name (the item in the form), the rest above
	function showErrors(errors, warnings, items) {
		for (const e of Object.values(errs))
			clear(e);
		clear(msg);
		const idx = items ? items.findIndex((x) => x.id === formItem().id) : -1;
		let outside = false;
		for (const [s, kind] of [...errors.map((e) => [e, 'error']), ...warnings.map((w) => [w, 'warning'])]) {
			const p = parseError(typeof s === 'string' ? s : s.message || JSON.stringify(s));
			const mineLine = p.file === CONSOLE_FILE && idx >= 0 && p.line === 6 + 2 * idx;
			const key = { times: 'time', content: 'content', zones: 'zones', days: 'days', from: 'from',
				      until: 'until', repeat: 'repeat', level: 'level', title: 'title', chime: 'chime' }[p.field];
			if (/allowed hours/.test(p.text))
				outside = true;
			if (mineLine && key && errs[key])
				errs[key].append(h('span', { class: kind }, p.text));
			else
				msg.append(note(kind === 'error' ? 'error' : 'info', (p.file ? p.file + ':' + p.line + ': ' : '') + p.text));
		}
		outsideRow.hidden = !outside;
	}

	async function send(items, path) {
		const r = await api('POST', path, body(items, fOutside.checked)).catch((e) => e);
		if (r instanceof ApiError) {
			if (r.body && (r.body.errors || r.body.warnings)) {
				showErrors(r.body.errors || [], r.body.warnings || [], items);
				if (!msg.firstChild && !(r.body.errors || []).length)
					msg.append(note('error', explain(r)));
			} else {
				showErrors([], []);
				msg.append(note('error', explain(r)));
			}
			return null;
		}
		showErrors(r.body.errors || [], r.body.warnings || [], items);
		return r;
	}

	// check as the official types (the same checks as apply, nothing changes)
	let checkTimer = null;
	const check = () => {
		clearTimeout(checkTimer);
		checkTimer = setTimeout(() => {
			if (!fTime.value)
				return;
			const items = mine.filter((x) => x.id !== editing).concat([formItem()]);
			send(items, '/v1/schedule/check');
		}, 700);
	};

	const form = h('form', { id: 'lich-form', class: 'card form' },
		h('h2', {}, t('Add or change an item')),
		field('time', 'Time', fTime),
		field('content', 'Sound', fContent),
		field('title', 'Title', fTitle),
		field('days', 'Days', h('div', {}, fDays, dayPick)),
		field('zones', 'Villages (none chosen: all)', fZones),
		h('details', {}, h('summary', {}, t('More: dates, repeats, level, chime')),
			field('from', 'First day', fFrom),
			field('until', 'Last day', fUntil),
			field('repeat', 'Plays each time', fRepeat),
			field('level', 'Level', fLevel),
			field('chime', 'Chime before', fChime)),
		outsideRow,
		h('p', { class: 'row' }, saveBtn, delBtn, newBtn));
	form.addEventListener('input', check);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		if (!fTime.value) {
			showErrors([CONSOLE_FILE + ':0: field "times": ' + t('Give the time of day, e.g. 05:30.')], []);
			return;
		}
		if (!fContent.value) {
			msg.append(note('error', t('There is no sound on the controller yet: send one on "Announce now" first.')));
			return;
		}
		const it = formItem();
		const items = mine.filter((x) => x.id !== it.id).concat([it]);
		put(clear(msg), note('info', t('Checking and sending to the clusters…')));
		const r = await send(items, '/v1/schedule/apply');
		if (!r)
			return;
		if (r.status === 202) {
			msg.append(note('info', t('Sent for approval: it plays once an approver accepts it (see "Waiting for approval" on Announce now).')));
			return;
		}
		mine = items;
		fill(null);
		msg.append(note('ok', t('Saved: the clusters get the new plan now.')));
		drawItems();
		drawWeek();
	});
	delBtn.addEventListener('click', async () => {
		if (!editing || !confirm(t('Delete this item from the schedule?')))
			return;
		const items = mine.filter((x) => x.id !== editing);
		const r = await send(items, '/v1/schedule/apply');
		if (r && r.status === 200) {
			mine = items;
			fill(null);
			msg.append(note('ok', t('Deleted.')));
			drawItems();
			drawWeek();
		}
	});
	newBtn.addEventListener('click', () => fill(null));

	function daysText(it) {
		if (!Array.isArray(it.days))
			return t({ daily: 'Every day', weekdays: 'Monday to Friday', weekends: 'Saturday and Sunday' }[it.days] || it.days);
		return it.days.map((d) => t(DAY_NAMES[d] || d)).join(', ');
	}

	function drawItems() {
		put(clear(list), ...mine.map((it) => h('li', { 'data-item': it.id },
			h('button', { type: 'button', class: 'link', onclick: () => fill(it) },
			  it.times.join(', ') + ' · ' + it.title),
			h('span', { class: 'small' }, ' ' + daysText(it) + ' · ' +
			  (it.zones.length ? it.zones.map(zoneName).join(', ') : t('All villages'))))));
		if (others.length)
			list.append(h('li', { class: 'small' }, t('Also applied: the technician\'s files {files} (edited on the controller; shown in the week).',
								  { files: others.map((f) => f.name).join(', ') })));
	}

	// the week: 7 days from the site's today, one column each (one below
	// the other on a phone); days are the site's (controller.cfg timezone)
	async function drawWeek() {
		let r;
		try {
			r = await get('/v1/schedule?days=7');
		} catch (e) {
			put(clear(week), note('error', explain(e)));
			return;
		}
		const byDay = new Map();
		for (let i = 0; i < 7; i++) {
			const noon = r.from + i * 86400000 + 12 * 3600000;	/* no DST in the 7 days counted */
			byDay.set(isoDate(noon), { d: noon, slots: new Map() });
		}
		for (const o of r.occurrences || []) {
			const day = byDay.get((o.local || '').slice(0, 10));
			if (!day)
				continue;
			const key = (o.local || '').slice(11, 16) + '|' + o.item;
			const s = day.slots.get(key) || { time: (o.local || '').slice(11, 16), o, nodes: [] };
			s.nodes.push(o.node);
			day.slots.set(key, s);
		}
		put(clear(week), ...[...byDay.entries()].map(([iso, { d, slots }]) =>
			h('section', { class: 'day', 'data-date': iso },
				h('h3', {}, weekdayName(d) + ' ' + iso.slice(8, 10) + '/' + iso.slice(5, 7)),
				slots.size ? h('ul', { class: 'plain-list' }, [...slots.values()]
					.sort((a, b) => (a.time < b.time ? -1 : 1))
					.map((s) => h('li', { class: 'slot level-' + s.o.level, 'data-item': s.o.item, 'data-time': s.time },
						h('strong', {}, s.time), ' ', s.o.title,
						h('span', { class: 'small' }, ' (' + s.nodes.length + ' ' + t('clusters') + ')'))))
					: h('p', { class: 'small' }, t('Nothing planned')))));
	}

	const off = onLive(() => {});	// the week changes only when applied; no polling
	fill(null);
	drawItems();
	await drawWeek();
	put(main, h('h1', {}, t('Schedule')),
		h('h2', {}, t('This week')), week,
		files && can('operate') ? [form, msg, h('h2', {}, t('Items made here')), list]
			: note('info', allZones() ? t('Your account may look but not change the schedule.')
				: t('The schedule covers every village: ask the commune\'s administrator to change it. A one-off announcement for your village: "Announce now".')));
	return off;
}
