// drafts.js - what waits for an approver (docs/approval.md): an operator's
// plays, announcements and schedule changes where controller.cfg asks for
// approval. Shown on Phát ngay: an approver approves or rejects (with a
// reason) what others wrote; an author may withdraw their own.

import { t } from './i18n.js';
import { get, post, explain, session } from './api.js';
import { h, put, clear, note, fmtDateTime } from './dom.js';
import { can } from './state.js';

// i18n-words
const KIND = { play: 'a broadcast', announce: 'an announcement', apply: 'a schedule change' };
// end-i18n-words

// onBroadcast(id): an approved play was sent; the page follows it
export function draftsBox(onBroadcast) {
	const box = h('div', { id: 'drafts' });
	const msg = h('div');
	let sig = '';

	async function act(d, what) {
		let body = {};
		if (what === 'reject') {
			const reason = prompt(t('Why is it rejected? (the author sees this)'));
			if (!reason || !reason.trim())
				return;
			body = { reason: reason.trim() };
		}
		try {
			const r = (await post('/v1/drafts/' + d.draft + '/' + what, body)).body;
			if (r.broadcast && r.broadcast.broadcast && onBroadcast)
				onBroadcast(r.broadcast.broadcast);
			put(clear(msg), note('ok', what === 'approve' ? t('Approved: it is sent now.')
				: what === 'reject' ? t('Rejected.') : t('Withdrawn.')));
			sig = '';
			refresh();
		} catch (e) {
			put(clear(msg), note('error', explain(e)));
		}
	}

	async function refresh() {
		let r;
		try {
			r = await get('/v1/drafts');
		} catch (e) {
			return;	/* a role without drafts: nothing to show */
		}
		const list = r.drafts || [];
		const s = JSON.stringify(list);
		if (s === sig)
			return;
		sig = s;
		const me = session ? session.user : '';
		put(clear(box), list.length ? h('div', { class: 'card drafts' },
			h('h2', {}, t('Waiting for approval') + ' (' + list.length + ')'), msg,
			h('ul', { class: 'plain-list' }, list.map((d) => h('li', { 'data-draft': d.draft },
				h('strong', {}, d.title || '#' + d.draft), ' · ', t(KIND[d.kind] || d.kind), ' · ',
				d.target || '', ' · ', t('by {u}', { u: d.author }),
				d.at ? ' · ' + fmtDateTime(d.at) : '',
				h('span', { class: 'row' },
					can('emergency') && d.author !== me ? [
						h('button', { type: 'button', class: 'primary', 'data-approve': d.draft,
							      onclick: () => act(d, 'approve') }, t('Approve')),
						h('button', { type: 'button', 'data-reject': d.draft,
							      onclick: () => act(d, 'reject') }, t('Reject'))] : null,
					d.author === me ? h('button', { type: 'button', 'data-withdraw': d.draft,
									onclick: () => act(d, 'withdraw') }, t('Withdraw')) : null)))))
			: null);
	}
	return { box, refresh };
}
