// cum.js - "Cụm loa" (clusters): every node the account may see, with
// online/offline, last seen, what it plays, signal, clock error, readiness
// for the coming plays, alarms and delivery; and a node's own page with its
// journal and the remote actions (volume, stop, test tone, restart).

import { t } from './i18n.js';
import { get, post, explain } from './api.js';
import { h, put, clear, note, fmtAgo, fmtDateTime, resultBadge } from './dom.js';
import { onLive, can } from './state.js';

function readiness(n) {
	const up = (n.status && n.status.upcoming) || [];
	const ready = up.filter((u) => u.ready).length;
	return { ready, total: up.length };
}

function cell(label, value, cls) {
	return h('div', { class: 'kv ' + (cls || '') }, h('span', { class: 'k' }, t(label)), h('span', { class: 'v' }, value));
}

function alarmText(a) {
	// i18n-words
	const kinds = {
		offline: 'offline', clock: 'clock error', disk: 'disk almost full', alsa: 'sound card error',
		plan: 'plan not acknowledged', miss: 'an upcoming play is not ready',
	};
	// end-i18n-words
	return t(kinds[a] || a);
}

function nodeCard(n, now) {
	const r = readiness(n);
	const st = n.status || {};
	const clock = n.clock_error_ms !== undefined && n.clock_error_ms !== null ? n.clock_error_ms
		: st.clock ? st.clock.error_ms : null;
	const signal = n.signal || (st.link ? st.link.signal : null);
	// alarm_kinds: "offline,clock" (a comma list; an array accepted too)
	const kinds = (Array.isArray(n.alarm_kinds) ? n.alarm_kinds : String(n.alarm_kinds || '').split(','))
		.filter(Boolean);
	return h('a', { class: 'card node ' + (n.online ? 'is-online' : 'is-offline') + (n.alarms ? ' has-alarm' : ''),
			href: '#/cum/' + encodeURIComponent(n.node), 'data-node': n.node,
			'data-online': n.online ? 'yes' : 'no' },
		h('div', { class: 'node-head' },
			h('strong', {}, n.label || n.node), ' ',
			h('span', { class: 'badge ' + (n.online ? 'badge-good' : 'badge-bad'), 'data-state': '' },
			  n.online ? t('Online') : t('Offline'))),
		h('div', { class: 'small' }, n.node + ' · ' + (n.zones || []).map((z) => {
			// the village's title from controller.cfg, else its id
			const title = Object.prototype.hasOwnProperty.call(n.zone_titles || {}, z) ?
				n.zone_titles[z] : null;
			return typeof title === 'string' && title ? title : z;
		}).join(', ')),
		cell('Last seen', fmtAgo(n.last_seen, now)),
		cell('Playing', n.playing ? (n.playing.title || n.playing.broadcast || '…') : t('nothing')),
		cell('Signal', signal || '—'),
		cell('Clock error', clock === null || clock === undefined ? '—' : Math.round(clock * 10) / 10 + ' ms'),
		cell('Ready for coming plays', r.total ? r.ready + '/' + r.total : '—', r.ready < r.total ? 'warn' : ''),
		cell('Delivery', r.ready < r.total ? t('fetching {n} sounds', { n: r.total - r.ready }) : t('complete')),
		n.alarms ? h('div', { class: 'alarm', 'data-alarms': n.alarms },
			     '⚠ ' + t('Alarms') + ': ' + (kinds.length ? kinds.map(alarmText).join(', ') : n.alarms)) : null);
}

async function list(main) {
	const grid = h('div', { id: 'nodes', class: 'grid' });
	const alarms = h('div', { id: 'alarms' });
	const msg = h('div');
	const refresh = async () => {
		try {
			const [r, a] = await Promise.all([get('/v1/nodes'), get('/v1/alarms')]);
			const now = Date.now();
			const nodes = (r.nodes || []).sort((x, y) => (x.online - y.online) || (x.node < y.node ? -1 : 1));
			put(clear(grid), ...nodes.map((n) => nodeCard(n, now)));
			const act = a.alarms || [];
			put(clear(alarms), act.length
				? h('div', { class: 'card alarms' }, h('h2', {}, t('Active alarms') + ' (' + act.length + ')'),
					h('ul', { class: 'plain-list' }, act.map((x) => h('li', { 'data-alarm': x.kind, 'data-node': x.node },
						h('strong', {}, x.node), ' ', alarmText(x.kind), ' · ', fmtAgo(x.raised, now),
						x.detail ? h('span', { class: 'small' }, ' ' + x.detail) : null))))
				: note('ok', t('No alarm.')));
			clear(msg);
		} catch (e) {
			put(clear(msg), note('error', explain(e)));
		}
	};
	await refresh();
	put(main, h('h1', {}, t('Clusters')), msg, alarms, grid);
	return onLive(refresh);
}

async function one(main, id) {
	const body = h('div');
	const msg = h('div', { id: 'node-msg', 'aria-live': 'polite' });
	const cmds = [];	// commands sent from this page, followed until answered
	const content = can('maintain') ? ((await get('/v1/content')).content || []).sort((a, b) => b.created - a.created) : [];

	async function send(what, b) {
		try {
			const r = (await post('/v1/nodes/' + encodeURIComponent(id) + '/' + what, b)).body;
			cmds.unshift(r);
			put(clear(msg), note('info', t('Sent; waiting for the cluster to answer…')));
			refresh();
		} catch (e) {
			put(clear(msg), note('error', explain(e)));
		}
	}

	const vol = h('input', { type: 'number', id: 'act-volume-level', min: 0, max: 100, value: 80 });
	const tone = h('select', { id: 'act-tone-content' }, content.map((c) => h('option', { value: c.id }, c.title)));
	const actions = can('maintain') ? h('div', { class: 'card actions' },
		h('h2', {}, t('Remote actions')),
		h('p', { class: 'row' }, h('label', {}, t('Volume'), vol),
		  h('button', { type: 'button', id: 'act-volume', onclick: () => send('volume', { level: parseInt(vol.value, 10) }) }, t('Set'))),
		h('p', { class: 'row' }, tone,
		  h('button', { type: 'button', id: 'act-tone', onclick: () => send('test-tone', { content: tone.value }) }, t('Test sound'))),
		h('p', { class: 'row' },
		  h('button', { type: 'button', id: 'act-stop', onclick: () => send('stop', {}) }, t('Stop what it plays')),
		  h('button', { type: 'button', id: 'act-restart', class: 'danger',
				onclick: () => { if (confirm(t('Restart the cluster\'s program? It is silent for a few seconds.'))) send('restart', {}); } },
			 t('Restart')))) : null;
	const cmdList = h('ul', { class: 'plain-list', id: 'node-commands' });

	async function refresh() {
		try {
			const n = await get('/v1/nodes/' + encodeURIComponent(id));
			const now = Date.now();
			for (let i = 0; i < cmds.length; i++)
				if (cmds[i].state === 'sent')
					cmds[i] = await get('/v1/commands/' + encodeURIComponent(cmds[i].command));
			put(clear(cmdList), ...cmds.map((c) => h('li', { 'data-command': c.command },
				t(c.cmd), ' ', resultBadge(c.state), c.reason ? ' ' + c.reason : '')));
			const st = n.status || {};
			put(clear(body), 
				nodeCard(n, now),
				h('div', { class: 'card' }, h('h2', {}, t('Details')),
					cell('Version', n.version || '—'),
					cell('Online since', fmtDateTime(n.since)),
					cell('Restarts', n.restarts),
					cell('Reconnects', n.reconnects),
					cell('Volume', st.volume !== undefined ? st.volume : '—'),
					cell('Disk free', st.disk ? Math.round(st.disk.free_bytes / 1e6) + ' MB' : '—'),
					cell('Last error', st.last_error || '—')),
				(n.alarm_list || []).length ? h('div', { class: 'card' }, h('h2', {}, t('Alarms')),
					h('ul', { class: 'plain-list' }, n.alarm_list.map((a) => h('li', {},
						alarmText(a.kind), ' · ', fmtDateTime(a.raised), a.cleared ? ' → ' + fmtDateTime(a.cleared) : '',
						a.detail ? h('span', { class: 'small' }, ' ' + a.detail) : null)))) : null,
				h('div', { class: 'card' }, h('h2', {}, t('Journal (latest events)')),
					h('ul', { class: 'plain-list journal', id: 'journal' }, (n.recent_events || []).map((e) =>
						h('li', {}, fmtDateTime(e.ts || e.received), ' ', t(e.type),
						  e.title ? ' · ' + e.title : '', e.reason ? h('span', { class: 'small' }, ' ' + e.reason) : null)))));
		} catch (e) {
			put(clear(body), note('error', explain(e)));
		}
	}
	await refresh();
	put(main, h('p', {}, h('a', { href: '#/cum' }, '← ' + t('All clusters'))),
		h('h1', {}, t('Cluster {n}', { n: id })), msg, actions,
		actions ? h('div', { class: 'card' }, h('h2', {}, t('Commands sent')), cmdList) : null, body);
	return onLive(refresh);
}

export async function render(main, arg) {
	return arg ? one(main, arg) : list(main);
}
