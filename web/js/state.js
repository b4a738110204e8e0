// state.js - what several pages share: the nodes and zones the account may
// see, and the live-update hub (Server-Sent Events from /v1/events, with a
// poll every few seconds as the fallback so a page never goes stale).

import { get, session } from './api.js';

let listeners = new Set();
let source = null;
let timer = null;

// Every zone (village) the account may act on, from the nodes it sees (the
// API already leaves other zones' nodes out) and its own scope.
const zoneTitles = new Map();

// A village as an official knows it: its title when controller.cfg gives
// one, else its id. Text only (dom.js puts it in as text).
export function zoneName(z) {
	return zoneTitles.get(z) || z;
}

export async function zonesAndNodes() {
	const r = await get('/v1/nodes');
	const nodes = r.nodes || [];
	const zones = new Set();
	for (const n of nodes) {
		for (const z of n.zones || [])
			zones.add(z);
		// the villages' titles of controller.cfg ("Thôn 1"); ids stay the values
		for (const [z, title] of Object.entries(n.zone_titles || {}))
			if (typeof title === 'string' && title)
				zoneTitles.set(z, title);
	}
	let list = [...zones].sort();
	if (session && !allZones())
		list = list.filter((z) => (session.zones || []).includes(z));
	return { nodes, zones: list };
}

export function allZones() {
	if (!session)
		return false;
	const z = session.zones;
	return z === '*' || (Array.isArray(z) && z.includes('*'));
}

export function can(what) {
	const role = session ? session.role : '';
	const roles = {
		operate: ['operator', 'approver', 'admin'],
		emergency: ['approver', 'admin'],
		maintain: ['maintenance', 'admin'],
		admin: ['admin'],
	};
	return (roles[what] || []).includes(role);
}

// onLive(f): f() after every server event and every poll tick; returns the
// function that stops it.
export function onLive(f) {
	listeners.add(f);
	return () => listeners.delete(f);
}

function fire() {
	for (const f of [...listeners]) {
		try { f(); } catch (e) { console.error(e); }
	}
}

export function startLive() {
	stopLive();
	if (window.EventSource) {
		source = new EventSource('/v1/events', { withCredentials: true });
		source.onmessage = fire;
		for (const kind of ['node', 'play', 'alarm', 'reset'])
			source.addEventListener(kind, fire);
	}
	timer = setInterval(fire, 2000);
}

export function stopLive() {
	if (source)
		source.close();
	source = null;
	if (timer)
		clearInterval(timer);
	timer = null;
}
