// khan.js - "Khẩn cấp" (emergency): the large control (the same as the one
// in the frame), what runs now with each cluster's confirmation, and the
// emergencies and drills of the last weeks.

import { t } from './i18n.js';
import { get, explain } from './api.js';
import { h, put, clear, note, fmtDateTime } from './dom.js';
import { onLive, can } from './state.js';
import { openEmergencyDialog } from './emergency.js';

export async function render(main) {
	const past = h('div', { id: 'khan-past' });
	const msg = h('div');
	const refresh = async () => {
		try {
			const r = await get('/v1/reviews?all=1');
			const list = (r.emergencies || []).slice(0, 30);
			put(clear(past), list.length ? h('ul', { class: 'plain-list' }, list.map((e) =>
				h('li', { class: e.drill ? 'is-drill-text' : 'is-real-text', 'data-emergency': e.emergency },
					h('strong', {}, e.drill ? t('DRILL') : t('REAL EMERGENCY')), ' ',
					fmtDateTime(e.started), ' · ', e.title || e.content || '', ' · ',
					e.target_kind === 'all' ? t('All villages') : e.target, ' · ', t('by {u}', { u: e.started_by }),
					e.reviewed ? h('span', { class: 'small' }, ' · ' + t('reviewed by {u}', { u: e.reviewed_by })) : null)))
				: note('info', t('No emergency or drill yet.')));
		} catch (e) {
			put(clear(msg), note('error', explain(e)));
		}
	};
	await refresh();
	put(main, h('h1', {}, t('Emergency')),
		can('emergency')
			? h('button', { type: 'button', id: 'khan-big', class: 'danger huge', onclick: () => openEmergencyDialog() },
			    t('EMERGENCY BROADCAST'), h('span', { class: 'small' }, t('(you confirm on the next step; a drill too)')))
			: note('info', t('Only an approver or administrator account may start an emergency. Call the commune chairman\'s office.')),
		h('p', { class: 'small' }, t('What runs now, with each cluster\'s confirmation, shows at the top of every page.')),
		h('h2', {}, t('Emergencies and drills')), msg, past);
	return onLive(refresh);
}
