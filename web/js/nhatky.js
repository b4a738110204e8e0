// nhatky.js - "Nhật ký & báo cáo": the broadcast log with filters, the
// monthly report (CSV download, a print view, the printable PDF) and, for
// administrators, the audit log.

import { t } from './i18n.js';
import { get, explain, ApiError } from './api.js';
import { h, put, clear, note, fmtDateTime, fmtDuration, resultBadge, siteParts, siteMs } from './dom.js';
import { zonesAndNodes, can, allZones, zoneName } from './state.js';
import { parseCsv, workbook } from './xlsx.js';

export async function render(main) {
	const { zones, nodes } = await zonesAndNodes();
	const today = siteParts(Date.now());	/* the site's month, not the computer's */
	const month = today.y + '-' + today.m;

	// --- the monthly report
	const fMonth = h('input', { type: 'month', id: 'r-month', value: month });
	const csv = h('a', { id: 'r-csv', class: 'button primary big', download: '' }, t('Download CSV'));
	const pdf = h('a', { id: 'r-pdf', class: 'button', target: '_blank' }, t('Printable report (PDF)'));
	const view = h('div', { id: 'r-view' });
	const xlsxMsg = h('span', { id: 'r-xlsx-msg' });
	// Excel: the controller's CSV made into a workbook here (xlsx.js)
	const xlsx = h('button', { type: 'button', id: 'r-xlsx', class: 'primary' }, t('Download Excel (XLSX)'));
	xlsx.addEventListener('click', async () => {
		const m = fMonth.value || month;
		put(clear(xlsxMsg), t('Preparing…'));
		try {
			const r = await fetch('/v1/report?month=' + encodeURIComponent(m) + '&format=csv',
					      { credentials: 'same-origin' });
			if (!r.ok) {
				let j = null;
				try { j = await r.json(); } catch (e) { j = null; }
				throw new ApiError(r.status, j && j.error ? j.error : '', j);
			}
			const blob = workbook(parseCsv(await r.text()), t('Monthly report {m}', { m }));
			const a = h('a', { href: URL.createObjectURL(blob), download: 'bao-cao-' + m + '.xlsx', hidden: true });
			document.body.append(a);
			a.click();
			setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
			clear(xlsxMsg);
		} catch (e) {
			put(clear(xlsxMsg), note('error', explain(e)));
		}
	});
	const links = () => {
		const m = encodeURIComponent(fMonth.value || month);
		csv.href = '/v1/report?month=' + m + '&format=csv';
		csv.setAttribute('download', 'bao-cao-' + (fMonth.value || month) + '.csv');
		pdf.href = '/v1/report?month=' + m + '&format=pdf';
	};
	fMonth.addEventListener('change', links);
	links();
	const showReport = async () => {
		try {
			const r = await get('/v1/report?month=' + encodeURIComponent(fMonth.value || month));
			put(clear(view), h('div', { class: 'print-area' },
				h('h2', {}, t('Monthly report {m}', { m: r.month })),
				h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
					h('thead', {}, h('tr', {}, ['Cluster', 'Villages', 'Planned', 'Played', 'Failed', 'Success', 'Air time', 'Emergencies', 'Drills']
						.map((x) => h('th', {}, t(x))))),
					h('tbody', {}, (r.clusters || []).map((c) => h('tr', {},
						h('td', {}, c.label || c.node), h('td', {}, Array.isArray(c.zones) ? c.zones.join(', ') : c.zones || ''),
						h('td', {}, c.scheduled), h('td', {}, c.played), h('td', {}, c.failed),
						h('td', {}, c.success_ratio === null ? '—' : Math.round(c.success_ratio * 100) + '%'),
						h('td', {}, fmtDuration(c.airtime_ms)), h('td', {}, c.emergencies), h('td', {}, c.drills))))))),
				h('p', {}, h('button', { type: 'button', id: 'r-print', onclick: () => window.print() }, t('Print'))));
		} catch (e) {
			put(clear(view), note('error', explain(e)));
		}
	};
	const report = allZones()
		? h('div', { class: 'card' }, h('h2', {}, t('Monthly report')),
			h('p', { class: 'row' }, h('label', {}, t('Month'), fMonth)),
			h('p', { class: 'row' }, csv, xlsx, pdf,
			  h('button', { type: 'button', id: 'r-show', onclick: showReport }, t('Show on screen'))),
			xlsxMsg,
			view)
		: note('info', t('The monthly report covers the whole commune: ask an account for every village.'));

	// --- the broadcast log
	const fFrom = h('input', { type: 'date', id: 'l-from', value: month + '-01' });
	const fTo = h('input', { type: 'date', id: 'l-to' });
	const fZone = h('select', { id: 'l-zone' }, h('option', { value: '' }, t('All villages')), zones.map((z) => h('option', { value: z }, zoneName(z))));
	const fNode = h('select', { id: 'l-node' }, h('option', { value: '' }, t('All clusters')),
		nodes.map((n) => h('option', { value: n.node }, n.label || n.node)));
	const fType = h('select', { id: 'l-type' }, h('option', { value: '' }, t('Everything')),
		['play_finished', 'play_failed', 'play_started', 'emergency_started', 'emergency_ended'].map((x) => h('option', { value: x }, t(x))));
	const logBox = h('div', { id: 'log' });
	const showLog = async () => {
		const p = new URLSearchParams();
		if (fFrom.value)
			p.set('from', String(siteMs(fFrom.value, '00:00:00')));
		if (fTo.value)
			p.set('to', String(siteMs(fTo.value, '23:59:59') + 999));
		for (const [k, el] of [['zone', fZone], ['node', fNode], ['type', fType]])
			if (el.value)
				p.set(k, el.value);
		p.set('limit', '500');
		try {
			const r = await get('/v1/log?' + p.toString());
			const ev = (r.events || []).slice().reverse();
			put(clear(logBox), ev.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table log' },
				h('thead', {}, h('tr', {}, ['Time', 'Cluster', 'What', 'Title', 'Level', 'Length', 'Result'].map((x) => h('th', {}, t(x))))),
				h('tbody', {}, ev.map((e) => h('tr', {},
					h('td', {}, fmtDateTime(e.start || e.ts)), h('td', {}, e.node), h('td', {}, t(e.type)),
					h('td', {}, e.title || ''), h('td', {}, t(e.level || '') + (e.drill ? ' · ' + t('DRILL') : '')),
					h('td', {}, fmtDuration(e.duration_ms)),
					h('td', {}, /failed/.test(e.type) ? resultBadge('failed') : /finished|ended/.test(e.type) ? resultBadge('finished') : '',
					  e.reason ? ' ' + e.reason : ''))))))
				: note('info', t('Nothing in the log for these filters.')));
		} catch (e) {
			put(clear(logBox), note('error', explain(e)));
		}
	};
	const filters = h('form', { class: 'card filters', id: 'log-filters' },
		h('h2', {}, t('Broadcast log')),
		h('div', { class: 'row wrap' }, h('label', {}, t('From'), fFrom), h('label', {}, t('To'), fTo),
		  h('label', {}, t('Village'), fZone), h('label', {}, t('Cluster'), fNode), h('label', {}, t('What'), fType)),
		h('p', {}, h('button', { type: 'submit', class: 'primary' }, t('Show'))),
		logBox);
	filters.addEventListener('submit', (e) => { e.preventDefault(); showLog(); });

	// --- the audit log (administrators)
	let audit = null;
	if (can('admin')) {
		audit = h('details', { class: 'card', id: 'audit' }, h('summary', {}, t('Audit log (who did what)')));
		audit.addEventListener('toggle', async () => {
			if (!audit.open || audit.dataset.loaded)
				return;
			audit.dataset.loaded = '1';
			try {
				const r = await get('/v1/audit?limit=300');
				audit.append(h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
					h('thead', {}, h('tr', {}, ['Time', 'Who', 'Action', 'Target', 'Result'].map((x) => h('th', {}, t(x))))),
					h('tbody', {}, (r.audit || []).map((a) => h('tr', {},
						h('td', {}, fmtDateTime(a.ts)), h('td', {}, a.user + ' (' + t(a.role || '') + ')'),
						h('td', {}, a.action), h('td', {}, a.target || ''), h('td', {}, a.result + (a.detail ? ' · ' + a.detail : ''))))))));
			} catch (e) {
				audit.append(note('error', e instanceof ApiError ? explain(e) : String(e)));
			}
		});
	}

	put(main, h('h1', {}, t('Log & reports')), report, filters, audit);
	await showLog();
	return null;
}
