// dom.js - small helpers to build the pages without innerHTML (every value
// from the controller or a node is text, never markup).

import { t, language } from './i18n.js';

// h('div', {class: 'x', onclick: f}, child, 'text', ...)
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else if (k === 'class')
			el.className = v;
		else if (k in el && typeof v !== 'string')
			el[k] = v;
		else
			el.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) {
		if (c === undefined || c === null || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

// put(parent, child, [children], null, 'text'): append what is there
// (Element.append would write "null" for a missing part and cannot take a list).
export function put(parent, ...children) {
	for (const c of children.flat(2)) {
		if (c === undefined || c === null || c === false)
			continue;
		parent.append(c instanceof Node ? c : String(c));
	}
	return parent;
}

export function clear(el) {
	while (el.firstChild)
		el.removeChild(el.firstChild);
	return el;
}

const locale = () => (language() === 'en' ? 'en-GB' : 'vi-VN');
const pad = (n) => String(n).padStart(2, '0');

// Times are shown in the site's time zone (controller.cfg timezone, which
// GET /v1/schedule names), whatever the zone of the computer or phone.
let siteTz;
export function setSiteTimezone(tz) {
	try {
		new Intl.DateTimeFormat('en', { timeZone: tz });
		siteTz = tz;
	} catch (e) {
		siteTz = undefined;	/* unknown to this browser: its own zone */
	}
}

// {y, m, d, H, M, S, wd} of ms in the site's zone (strings, zero-padded)
export function siteParts(ms) {
	const f = new Intl.DateTimeFormat('en-GB', { timeZone: siteTz, year: 'numeric', month: '2-digit',
		day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
	const p = {};
	for (const x of f.formatToParts(new Date(ms)))
		p[x.type] = x.value;
	return { y: p.year, m: p.month, d: p.day, H: p.hour, M: p.minute, S: p.second };
}

// "YYYY-MM-DD HH:MM:SS" in the site's zone: what the API's "at" fields take
export function siteStamp(ms) {
	const p = siteParts(ms);
	return p.y + '-' + p.m + '-' + p.d + ' ' + p.H + ':' + p.M + ':' + p.S;
}

// ms of a site-local "YYYY-MM-DD" + "HH:MM:SS" (the zone's offset that day)
export function siteMs(date, time) {
	const [y, m, d] = date.split('-').map(Number);
	const [H, M, S] = (time || '00:00:00').split(':').map(Number);
	const guess = Date.UTC(y, m - 1, d, H, M, S || 0);
	const p = siteParts(guess);
	const off = Date.UTC(+p.y, +p.m - 1, +p.d, +p.H, +p.M, +p.S) - guess;
	return guess - off;
}

export function fmtTime(ms) {
	if (!ms)
		return '—';
	const p = siteParts(ms);
	return p.H + ':' + p.M + ':' + p.S;
}

export function fmtDateTime(ms) {
	if (!ms)
		return '—';
	const p = siteParts(ms);
	return p.d + '/' + p.m + ' ' + p.H + ':' + p.M;
}

export function fmtAgo(ms, now) {
	if (!ms)
		return t('never');
	const s = Math.max(0, Math.round(((now || Date.now()) - ms) / 1000));
	if (s < 60)
		return t('{n} s ago', { n: s });
	if (s < 3600)
		return t('{n} min ago', { n: Math.floor(s / 60) });
	if (s < 86400)
		return t('{n} h ago', { n: Math.floor(s / 3600) });
	return fmtDateTime(ms);
}

export function fmtDuration(ms) {
	if (ms === null || ms === undefined)
		return '—';
	const s = Math.round(ms / 1000);
	return Math.floor(s / 60) + ':' + pad(s % 60);
}

// the site's date of ms, "YYYY-MM-DD"
export function isoDate(ms) {
	const p = siteParts(ms);
	return p.y + '-' + p.m + '-' + p.d;
}

export function weekdayName(ms) {
	return new Date(ms).toLocaleDateString(locale(), { weekday: 'short', timeZone: siteTz });
}

// A message line under a form or a block: kind "ok", "error", "info".
export function note(kind, text) {
	return h('p', { class: 'note note-' + kind, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// The state of one node's play, in words and a colour class.
export function resultBadge(result) {
	// i18n-words
	const words = { pending: 'Waiting', sent: 'Sent', started: 'Playing', finished: 'Played', played: 'Played',
			ok: 'Done', failed: 'Failed', refused: 'Refused', stopped: 'Stopped' };
	// end-i18n-words
	const colour = { pending: 'wait', sent: 'wait', started: 'play', finished: 'good', played: 'good',
			 ok: 'good', failed: 'bad', refused: 'bad', stopped: 'good' };
	return h('span', { class: 'badge badge-' + (colour[result] || 'wait'), 'data-result': result || '' },
		 words[result] ? t(words[result]) : result || '—');
}
