// app.js - the console's frame: login, the menu, the pages (one module each,
// chosen by the address's #/...), the emergency control on every page and the
// banner that follows a running emergency or drill.

import { t, loadLanguage, savedLanguage, language, translateStatic } from './i18n.js';
import { whoami, login, logout, session, explain, ApiError } from './api.js';
import { h, put, clear, note, setSiteTimezone } from './dom.js';
import { get } from './api.js';
import { startLive, stopLive, can } from './state.js';
import { openEmergencyDialog, startBanner, stopBanner } from './emergency.js';
import * as phat from './phat.js';
import * as lich from './lich.js';
import * as khan from './khan.js';
import * as cum from './cum.js';
import * as nhatky from './nhatky.js';

// The menu: address, msgid, module. The first is the page after login.
const pages = [
	['phat', 'Announce now', phat],
	['lich', 'Schedule', lich],
	['khan', 'Emergency', khan],
	['cum', 'Clusters', cum],
	['nhatky', 'Log & reports', nhatky],
];

const main = document.getElementById('main');
let leave = null;

function route() {
	const m = /^#\/([a-z]+)(?:\/(.*))?$/.exec(location.hash) || [];
	const page = pages.find((p) => p[0] === m[1]) || pages[0];
	return { page, arg: m[2] ? decodeURIComponent(m[2]) : '' };
}

function drawNav() {
	const nav = clear(document.getElementById('nav'));
	const cur = route().page[0];
	for (const [id, msgid] of pages)
		nav.append(h('a', { href: '#/' + id, id: 'nav-' + id, class: id === cur ? 'on' : '',
				    'aria-current': id === cur ? 'page' : null }, t(msgid)));
	document.getElementById('who-name').textContent =
		session ? session.user + ' · ' + t(session.role) : '';
	document.getElementById('lang').textContent = language() === 'vi' ? 'English' : 'Tiếng Việt';
	document.getElementById('emg-open').hidden = !can('emergency');
	translateStatic(document.getElementById('top'));
}

async function show() {
	if (!session)
		return;
	if (leave)
		leave();
	leave = null;
	const { page, arg } = route();
	drawNav();
	clear(main);
	document.title = t(page[1]) + ' – ' + t('Commune radio');
	try {
		leave = (await page[2].render(main, arg)) || null;
	} catch (e) {
		put(main, note('error', explain(e)));
	}
}

function showLogin(message) {
	stopLive();
	stopBanner();
	document.getElementById('top').hidden = true;
	clear(main);
	const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
	const pw = h('input', { id: 'login-password', name: 'password', type: 'password',
				autocomplete: 'current-password', required: true });
	const msg = h('div', { id: 'login-msg' }, message ? note('error', message) : null);
	const form = h('form', { id: 'login', class: 'card login' },
		h('h1', {}, t('Commune radio')),
		h('label', {}, t('Account name'), user),
		h('label', {}, t('Password'), pw),
		h('button', { type: 'submit', class: 'primary big', id: 'login-go' }, t('Log in')),
		msg,
		h('p', { class: 'small' }, h('button', { type: 'button', class: 'link', onclick: toggleLang },
					  language() === 'vi' ? 'English' : 'Tiếng Việt')));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		put(clear(msg), note('info', t('Checking…')));
		try {
			await login(user.value.trim(), pw.value);
			await enter();
		} catch (err) {
			put(clear(msg), note('error', err instanceof ApiError && err.status === 401
				? t('Wrong account name or password. Check them (capital letters count) and try again.')
				: explain(err)));
		}
	});
	put(main, form);
	user.focus();
}

async function enter() {
	document.getElementById('top').hidden = false;
	try {
		setSiteTimezone((await get('/v1/schedule?days=1')).timezone);
	} catch (e) {
		/* the browser's own zone then */
	}
	startLive();
	startBanner();
	await show();
}

async function toggleLang() {
	await loadLanguage(language() === 'vi' ? 'en' : 'vi');
	if (session) {
		translateStatic(document.body);
		await show();
	} else {
		showLogin();
	}
}

async function start() {
	await loadLanguage(savedLanguage());
	document.getElementById('lang').addEventListener('click', toggleLang);
	document.getElementById('logout').addEventListener('click', async () => {
		await logout();
		showLogin();
	});
	document.getElementById('emg-open').addEventListener('click', () => openEmergencyDialog());
	window.addEventListener('hashchange', show);
	window.addEventListener('loaxa-logged-out', () => {
		if (session)
			showLogin(t('You are not logged in (or the session ended). Log in again.'));
	});
	try {
		await whoami();
		await enter();
	} catch (e) {
		showLogin(e instanceof ApiError && e.status === 401 ? '' : explain(e));
	}
}

start();
