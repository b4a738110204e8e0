// i18n.js - the console's words. Every string shown to a person goes
// through t("English msgid"); the translations are one file per language
// (i18n/vi.json, i18n/en.json; keys = the English msgids) so a translator
// edits one file, and the gettext catalog (po/vi.po) can replace them later
// without touching the pages. Vietnamese is the default.

let lang = 'vi';
let table = {};

export function language() { return lang; }

export async function loadLanguage(want) {
	const l = want === 'en' ? 'en' : 'vi';
	try {
		const r = await fetch('i18n/' + l + '.json', { credentials: 'same-origin' });
		table = r.ok ? await r.json() : {};
	} catch (e) {
		table = {};
	}
	lang = l;
	document.documentElement.lang = l;
	try { localStorage.setItem('loaxa.lang', l); } catch (e) { /* private mode */ }
}

export function savedLanguage() {
	try { return localStorage.getItem('loaxa.lang') || 'vi'; } catch (e) { return 'vi'; }
}

// t("Node {n} is offline", {n: "n1"}): the translation (or the msgid itself
// when a language lacks it) with {name} replaced by the value.
export function t(msgid, vars) {
	let s = Object.prototype.hasOwnProperty.call(table, msgid) ? table[msgid] : msgid;
	if (vars)
		s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
	return s;
}

// Fill every element marked data-i18n="msgid" (the static frame).
export function translateStatic(root) {
	for (const el of root.querySelectorAll('[data-i18n]'))
		el.textContent = t(el.getAttribute('data-i18n'));
}

// Words the controller sends that the pages show through t() (roles, event
// types, levels, command names): listed here so tests/web/msgids.py finds
// them and a translator sees them.
// i18n-words
export const CONTROLLER_WORDS = [
	'operator', 'approver', 'maintenance', 'admin',
	'play_started', 'play_finished', 'play_failed', 'play_preempted', 'emergency_started', 'emergency_ended',
	'relay', 'normal', 'priority', 'emergency', 'live',
	'volume', 'stop', 'restart', 'test-tone',
];
// end-i18n-words
