/* offline.js - forms on a tablet away from the office LAN. A form that
 * cannot reach the node is kept as a draft in the browser's IndexedDB,
 * with an idempotency key made when the officer first pressed "save"; the
 * header says the tablet is offline and how many drafts wait. When the
 * node answers again, each draft is sent with its key (Idempotency-Key):
 * the node stores a key's record once, so a draft whose answer was lost on
 * the way is not stored twice when it is sent again. A draft the node
 * refuses (a check failed) stays, with the reason, until the officer
 * deletes it. Loaded before app.js, whose helpers it uses. */
'use strict';

const DRAFTS = 'drafts';
let netDown = false;
let sending = null;

function draftsDb() {
  return new Promise((ok, fail) => {
    const r = indexedDB.open('sikhnas', 1);
    r.onupgradeneeded = () => r.result.createObjectStore(DRAFTS, { keyPath: 'key' });
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

/* Runs one request on the drafts store; resolves with its result. */
async function drafts(mode, op) {
  const db = await draftsDb();
  try {
    return await new Promise((ok, fail) => {
      const tx = db.transaction(DRAFTS, mode);
      const req = op(tx.objectStore(DRAFTS));
      let out;
      req.onsuccess = () => { out = req.result; };
      tx.oncomplete = () => ok(out);
      tx.onerror = () => fail(tx.error);
    });
  } finally { db.close(); }
}
const draftList = () => drafts('readonly', s => s.getAll()).then(l => l.sort((a, b) => a.created < b.created ? -1 : 1));
const draftPut = d => drafts('readwrite', s => s.put(d));
const draftDelete = key => drafts('readwrite', s => s.delete(key));

function newKey() {
  if (window.crypto && crypto.randomUUID) return 'draft-' + crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return 'draft-' + [...b].map(x => x.toString(16).padStart(2, '0')).join('');
}

/* The header's word on the network and the drafts. */
async function drawNet() {
  const box = document.getElementById('net');
  if (!box) return;
  let n = 0;
  try { n = (await draftList()).length; } catch (e) { n = 0; }
  clear(box);
  box.hidden = !netDown && !n;
  if (netDown) box.append(el('span', { class: 'badge down', id: 'net-offline', text: t('offline') }));
  if (n) box.append(' ', el('a', { href: '#home', id: 'net-drafts', text: n + ' ' + t('drafts_waiting') }));
}

function setNet(down) {
  if (netDown === down) return;
  netDown = down;
  drawNet();
  if (!down) sendDrafts();
}

/* Keeps a form the node could not be reached for. */
async function saveDraft(path, body, key, label) {
  await draftPut({ key, path, body, label, created: new Date().toISOString(),
                   officer: session ? session.officer.phone : '' });
  drawNet();
}

/* Sends the waiting drafts, oldest first, each with its key; stops at the
 * first that cannot reach the node. One run at a time. */
function sendDrafts() {
  if (sending) return sending;
  sending = (async () => {
    let list = [];
    try { list = await draftList(); } catch (e) { return; }
    for (const d of list) {
      /* a draft goes under the officer who made it, not whoever logs in next */
      if (d.failed || (d.officer && session && d.officer !== session.officer.phone)) continue;
      const r = await api('POST', d.path, d.body, { 'Idempotency-Key': d.key });
      if (r.status === 200 || r.status === 201) await draftDelete(d.key);
      else if (r.status === 0 || r.status === 401 || r.status === 503) break;
      else {
        d.failed = true;
        d.error = (r.data && r.data.error && r.data.error.message) || String(r.status);
        await draftPut(d);
      }
    }
  })().finally(() => { sending = null; drawNet(); });
  return sending;
}

/* The drafts on this tablet, for the home page. */
async function draftsSection() {
  let list = [];
  try { list = await draftList(); } catch (e) { return null; }
  if (!list.length) return null;
  return el('section', { id: 'drafts' }, el('h2', { text: t('drafts_here') }),
    el('ul', { class: 'sms' }, list.map(d => el('li', { 'data-key': d.key },
      el('b', { text: d.label }), ' ', el('span', { class: 'muted', text: localTime(d.created) }),
      d.failed ? el('div', { class: 'err', text: t('refused_by_node') + ': ' + d.error }) :
        el('div', { class: 'muted', text: t('waiting_for_lan') }),
      d.failed ? el('button', { type: 'button', class: 'secondary', text: t('remove'),
        onclick: async () => { await draftDelete(d.key); route(); } }) : null))),
    el('button', { type: 'button', class: 'secondary', text: t('send_now'),
      onclick: async () => { await sendDrafts(); route(); } }));
}

window.addEventListener('online', () => { netDown = false; drawNet(); sendDrafts(); });
window.addEventListener('offline', () => setNet(true));
setInterval(() => { draftList().then(l => { if (l.some(d => !d.failed)) sendDrafts(); }).catch(() => {}); }, 20000);
if ('serviceWorker' in navigator)
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
