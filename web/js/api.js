// api.js - the controller's JSON API over the console's HTTPS session.
// The session lives in an HttpOnly cookie the browser sends by itself; every
// change (POST, PUT, DELETE) carries the session's CSRF token in
// X-CSRF-Token, which the controller compares with the session's.

import { t } from './i18n.js';

let csrf = '';
export let session = null;	// {user, role, zones, csrf}

export class ApiError extends Error {
	constructor(status, message, body) {
		super(message);
		this.status = status;
		this.body = body;
	}
}

// Plain words for what a status means to an official; the controller's own
// sentence (English until the catalogs land) follows it.
export function explain(err) {
	if (!(err instanceof ApiError))
		console.error(err);	/* a fault of the page: for the technician's console */
	if (!(err instanceof ApiError) || err.status === 0)
		return t('Cannot reach the controller. Check the network cable or Wi-Fi of this computer, then try again.');
	const what = {
		400: t('Something in the form is not right.'),
		401: t('You are not logged in (or the session ended). Log in again.'),
		403: t('Your account may not do this (another village, or a role that does not allow it).'),
		404: t('Not found: it may have been removed meanwhile.'),
		409: t('Something else is running already. Wait for it to end, then try again.'),
		413: t('The file is too large.'),
		422: t('The controller refused it.'),
		429: t('Too many tries. Wait a minute, then try again.'),
		503: t('The controller is busy. Try again in a few seconds.'),
	}[err.status] || t('The controller had a problem (see its log). Try again; if it stays, call the technician.');
	return err.message ? what + ' (' + err.message + ')' : what;
}

function headers(method, extra) {
	const h = Object.assign({ 'Accept': 'application/json' }, extra || {});
	if (method !== 'GET' && method !== 'HEAD')
		h['X-CSRF-Token'] = csrf;
	return h;
}

export async function api(method, url, body) {
	const init = { method, credentials: 'same-origin', headers: headers(method) };
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let r;
	try {
		r = await fetch(url, init);
	} catch (e) {
		throw new ApiError(0, '', null);
	}
	let j = null;
	const ct = r.headers.get('Content-Type') || '';
	if (ct.includes('json')) {
		try { j = await r.json(); } catch (e) { j = null; }
	}
	if (!r.ok) {
		if (r.status === 401 && url !== '/v1/session')
			window.dispatchEvent(new Event('loaxa-logged-out'));
		throw new ApiError(r.status, j && j.error ? j.error : '', j);
	}
	return { status: r.status, body: j || {} };
}

export const get = (url) => api('GET', url).then((r) => r.body);
export const post = (url, body) => api('POST', url, body === undefined ? {} : body);

function takeSession(j) {
	session = j;
	csrf = j.csrf || j.csrf_token || '';
	return j;
}

export async function whoami() {
	return takeSession((await api('GET', '/v1/session')).body);
}

export async function login(user, password) {
	return takeSession((await api('POST', '/v1/session', { user, password })).body);
}

export async function logout() {
	try { await api('DELETE', '/v1/session'); } catch (e) { /* gone already */ }
	session = null;
	csrf = '';
}

// Upload an audio file (a File or a recorded Blob) to POST /v1/content with
// progress: onProgress(sent, total) while the bytes go, then onImport() once
// they are all sent and the controller converts it. Resolves to the content.
export function upload(blob, filename, title, onProgress, onImport) {
	return new Promise((resolve, reject) => {
		const x = new XMLHttpRequest();
		x.open('POST', '/v1/content?title=' + encodeURIComponent(title));
		x.withCredentials = true;
		x.setRequestHeader('X-CSRF-Token', csrf);
		// The filename travels as a header: percent-encoded, because a header
		// holds only ASCII and a Vietnamese name would be refused.
		x.setRequestHeader('X-Filename', encodeURIComponent(filename).replace(/%/g, '_'));
		x.setRequestHeader('Content-Type', 'application/octet-stream');
		x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
		x.upload.onload = () => onImport();
		x.onerror = () => reject(new ApiError(0, '', null));
		x.onload = () => {
			let j = null;
			try { j = JSON.parse(x.responseText); } catch (e) { j = null; }
			if (x.status >= 200 && x.status < 300)
				resolve(j);
			else
				reject(new ApiError(x.status, j && j.error ? j.error : '', j));
		};
		x.send(blob);
	});
}
