// xlsx.js - the monthly report as an Excel workbook, made in the browser
// from the controller's CSV (the same columns and rows), so the controller
// needs no spreadsheet library. An .xlsx file is a ZIP of a few XML parts;
// this writes them uncompressed (ZIP "stored"), which every spreadsheet
// program reads. One sheet, inline strings, numbers as numbers.

const enc = new TextEncoder();

let crcTable = null;
function crc32(bytes) {
	if (!crcTable) {
		crcTable = new Uint32Array(256);
		for (let n = 0; n < 256; n++) {
			let c = n;
			for (let k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
			crcTable[n] = c >>> 0;
		}
	}
	let c = 0xffffffff;
	for (let i = 0; i < bytes.length; i++)
		c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

// ZIP of [name, Uint8Array] with every entry stored (no compression).
function zip(files) {
	const parts = [], central = [];
	let offset = 0;
	for (const [name, data] of files) {
		const nm = enc.encode(name), crc = crc32(data);
		const local = new DataView(new ArrayBuffer(30));
		local.setUint32(0, 0x04034b50, true);
		local.setUint16(4, 20, true);		// version needed
		local.setUint16(6, 0x0800, true);	// UTF-8 names
		local.setUint16(8, 0, true);		// stored
		local.setUint32(14, crc, true);
		local.setUint32(18, data.length, true);
		local.setUint32(22, data.length, true);
		local.setUint16(26, nm.length, true);
		parts.push(new Uint8Array(local.buffer), nm, data);
		const cen = new DataView(new ArrayBuffer(46));
		cen.setUint32(0, 0x02014b50, true);
		cen.setUint16(4, 20, true);
		cen.setUint16(6, 20, true);
		cen.setUint16(8, 0x0800, true);
		cen.setUint32(16, crc, true);
		cen.setUint32(20, data.length, true);
		cen.setUint32(24, data.length, true);
		cen.setUint16(28, nm.length, true);
		cen.setUint32(42, offset, true);
		central.push(new Uint8Array(cen.buffer), nm);
		offset += 30 + nm.length + data.length;
	}
	const size = central.reduce((s, p) => s + p.length, 0);
	const end = new DataView(new ArrayBuffer(22));
	end.setUint32(0, 0x06054b50, true);
	end.setUint16(8, files.length, true);
	end.setUint16(10, files.length, true);
	end.setUint32(12, size, true);
	end.setUint32(16, offset, true);
	return new Blob([...parts, ...central, new Uint8Array(end.buffer)],
			{ type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
}

// RFC 4180 CSV (quotes, doubled quotes, CRLF or LF), the BOM dropped.
export function parseCsv(text) {
	const rows = [];
	let row = [], cell = '', q = false;
	text = text.replace(/^\ufeff/, '');
	for (let i = 0; i < text.length; i++) {
		const ch = text[i];
		if (q) {
			if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
			else if (ch === '"') q = false;
			else cell += ch;
		} else if (ch === '"') q = true;
		else if (ch === ',') { row.push(cell); cell = ''; }
		else if (ch === '\n' || ch === '\r') {
			if (ch === '\r' && text[i + 1] === '\n')
				i++;
			row.push(cell);
			rows.push(row);
			row = [];
			cell = '';
		} else cell += ch;
	}
	if (cell !== '' || row.length) {
		row.push(cell);
		rows.push(row);
	}
	return rows;
}

const esc = (s) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' }[c]))
	// characters XML 1.0 cannot hold
	.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

function colName(i) {
	let s = '';
	for (i++; i > 0; i = Math.floor((i - 1) / 26))
		s = String.fromCharCode(65 + ((i - 1) % 26)) + s;
	return s;
}

export function workbook(rows, sheetName) {
	const sheet = rows.map((r, y) => '<row r="' + (y + 1) + '">' + r.map((v, x) => {
		const ref = colName(x) + (y + 1);
		return /^-?\d+(\.\d+)?$/.test(v) && v.length < 16
			? '<c r="' + ref + '"><v>' + v + '</v></c>'
			: '<c r="' + ref + '" t="inlineStr"><is><t xml:space="preserve">' + esc(v) + '</t></is></c>';
	}).join('') + '</row>').join('');
	const x = (s) => enc.encode('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + s);
	const ns = 'http://schemas.openxmlformats.org/';
	return zip([
		['[Content_Types].xml', x('<Types xmlns="' + ns + 'package/2006/content-types">' +
			'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
			'<Default Extension="xml" ContentType="application/xml"/>' +
			'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
			'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' +
			'</Types>')],
		['_rels/.rels', x('<Relationships xmlns="' + ns + 'package/2006/relationships">' +
			'<Relationship Id="rId1" Type="' + ns + 'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>' +
			'</Relationships>')],
		['xl/workbook.xml', x('<workbook xmlns="' + ns + 'spreadsheetml/2006/main" xmlns:r="' + ns +
			'officeDocument/2006/relationships"><sheets><sheet name="' + esc(sheetName).slice(0, 31) +
			'" sheetId="1" r:id="rId1"/></sheets></workbook>')],
		['xl/_rels/workbook.xml.rels', x('<Relationships xmlns="' + ns + 'package/2006/relationships">' +
			'<Relationship Id="rId1" Type="' + ns + 'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>' +
			'</Relationships>')],
		['xl/worksheets/sheet1.xml', x('<worksheet xmlns="' + ns + 'spreadsheetml/2006/main"><sheetData>' +
			sheet + '</sheetData></worksheet>')],
	]);
}
