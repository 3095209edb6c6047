#!/usr/bin/env node
/* browser-test.js - the officers' pages in headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core), against the real daemon on
 * port 0 with a fresh store in a temporary directory.
 *
 *   node browser-test.js NODE_EXE SOURCE_ROOT OUT_DIR [--screenshots DIR]
 *
 * Checks: log in; submit a case report and see it listed as queued; the
 * inline error for a village of another district (3202...), in Indonesian
 * and in English; a POST without (or with a wrong) CSRF token is refused
 * (raw HTTP); a wrong password is refused, and five from one address pause
 * logins of that phone there; a viewer may not post; every other form
 * saves one record; the work queues and the case page: a P report by SMS
 * waits in the queue with its age, is answered by a visit from its case
 * page, leaves the queue, gets its outcome, and its page shows the report,
 * follow-ups, the SMS and its alerts, times in WIB; a record the hub
 * refused is listed with its reason and sent again. Every page: axe-core
 * finds nothing serious or critical, and at 390 px nothing scrolls
 * sideways. Screenshots of the main screens go to OUT_DIR (and to DIR when
 * given). */
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [nodeExe, srcRoot, outDir] = process.argv.slice(2, 5);
const shotIdx = process.argv.indexOf('--screenshots');
const shotDir = shotIdx > 0 ? process.argv[shotIdx + 1] : null;
if (!nodeExe || !srcRoot || !outDir) {
  console.error('usage: browser-test.js NODE_EXE SOURCE_ROOT OUT_DIR [--screenshots DIR]');
  process.exit(2);
}

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const VET = { phone: '081200000001', password: 'rahasia-vet-1' };
const PELSA = '6281200000009';          /* a village reporter who sends SMS */
const VIEWER = { phone: '081200000002', password: 'rahasia-viewer-2' };
const LOCKME = { phone: '081200000003', password: 'rahasia-lock-3' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sikhnas-web-'));
const db = path.join(tmp, 'node.db');
let daemon = null, context = null, failures = 0, checks = 0;

// The scratch directory goes when the test ends, passed or failed, and on
// SIGTERM (meson's timeout); SIKHNAS_KEEP_TMP=1 keeps it for a post-mortem.
function removeTmp() {
  if (process.env.SIKHNAS_KEEP_TMP === '1') console.error('kept ' + tmp + ' (SIKHNAS_KEEP_TMP=1)');
  else fs.rmSync(tmp, { recursive: true, force: true });
}
process.once('SIGTERM', () => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  removeTmp();
  process.exit(143);
});

function check(ok, what) {
  checks++;
  if (ok) console.log('ok   ' + what);
  else { failures++; console.log('FAIL ' + what); }
}

function cli(args, input) {
  return execFileSync(nodeExe, ['--db', db, ...args], { input: input || '', encoding: 'utf8' });
}

function startDaemon() {
  return new Promise((resolve, reject) => {
    daemon = spawn(nodeExe, ['--db', db, 'run', '--listen', '127.0.0.1:0'],
                   { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => reject(new Error('daemon did not report its port: ' + log)), 20000);
    daemon.stderr.on('data', d => {
      log += d;
      process.stderr.write(d);
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    daemon.on('exit', code => reject(new Error('daemon exited with ' + code + ': ' + log)));
  });
}

/* One raw HTTP request: no browser, so nothing adds headers for us. */
function raw(base, method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(p, base);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search,
                               method, headers }, res => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', d => { data += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(data); } catch (e) { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text: data });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function shot(page, name) {
  const file = path.join(outDir, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  if (shotDir) fs.copyFileSync(file, path.join(shotDir, name + '.png'));
}

/* axe-core on the page as it is now (run through DevTools, so the page's
 * CSP does not stop it): no serious or critical finding. */
async function accessible(page, name) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
  });
  check(found.length === 0, name + ': axe-core finds nothing serious or critical' +
        (found.length ? ' (' + found.join('; ') + ')' : ''));
}

/* At a phone's 390 px nothing scrolls sideways. */
async function fitsPhone(page, name) {
  const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(w[0] <= w[1], name + ': no sideways scroll at ' + w[1] + ' px (content ' + w[0] + ' px)');
}

async function login(page, base, who) {
  await page.goto(base + '/#reports');
  await page.waitForSelector('#login-form');
  await page.fill('#phone', who.phone);
  await page.fill('#password', who.password);
  await page.click('#login-form button[type=submit]');
}

/* Picks the first sub-district and its first village; returns the village code. */
async function pickVillage(page, name) {
  const sub = '#f-' + name + '-sub';
  await page.waitForFunction(s => document.querySelector(s).options.length > 1, sub);
  const code = await page.$eval(sub, s => s.options[1].value);
  await page.selectOption(sub, code);
  const vil = '#f-' + name;
  await page.waitForFunction(s => document.querySelector(s).options.length > 1, vil);
  const v = await page.$eval(vil, s => s.options[1].value);
  await page.selectOption(vil, v);
  return v;
}

/* Changes the store behind the daemon's back (test set-up: an old case, a
 * refusal from the hub). */
function sql(statement, args) {
  execFileSync('python3', ['-c', 'import sqlite3, sys, json\n' +
    'c = sqlite3.connect(sys.argv[1], timeout=30)\n' +
    'c.execute(sys.argv[2], json.loads(sys.argv[3]))\nc.commit()', db, statement,
    JSON.stringify(args || [])]);
}

function count(statement, args) {
  return Number(execFileSync('python3', ['-c', 'import sqlite3, sys, json\n' +
    'c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)\n' +
    'print(c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchone()[0])', db, statement,
    JSON.stringify(args || [])], { encoding: 'utf8' }).trim());
}

/* A message from a phone, handled by `sms process` as the spool watcher
 * would; the reply's case reference. */
function sms(from, text) {
  const spool = path.join(tmp, 'spool');
  const now = new Date();
  const p2 = n => String(n).padStart(2, '0');
  const sent = p2(now.getUTCFullYear() % 100) + '-' + p2(now.getUTCMonth() + 1) + '-' +
    p2(now.getUTCDate()) + ' ' + p2(now.getUTCHours()) + ':' + p2(now.getUTCMinutes()) + ':00';
  fs.mkdirSync(path.join(spool, 'incoming'), { recursive: true });
  const f = path.join(spool, 'incoming', 'GSM1.' + Date.now());
  fs.writeFileSync(f, 'From: ' + from + '\nSent: ' + sent + '\n\n' + text);
  const old = (Date.now() - 5000) / 1000;
  fs.utimesSync(f, old, old);
  cli(['sms', 'process', '--spool', spool, '--gateway', 'smstools']);
  const out = path.join(spool, 'outgoing');
  const names = fs.readdirSync(out);
  const replies = names.map(n => fs.readFileSync(path.join(out, n), 'utf8'));
  names.forEach(n => fs.unlinkSync(path.join(out, n)));
  const m = replies.map(x => /\[ID kasus (\d{4}-\d{6})\]/.exec(x)).find(Boolean);
  sms.replies = replies;
  return m ? m[1] : null;
}

async function post(page, p, body) {
  return page.evaluate(async ([p, b]) => {
    const c = (await (await fetch('/api/v1/session')).json()).csrf;
    const res = await fetch(p, { method: 'POST', body: JSON.stringify(b),
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': c } });
    return { status: res.status, json: await res.json().catch(() => null) };
  }, [p, body]);
}

/* From a P report by SMS to its outcome, through the home page's queues
 * and the case page; an old case without an outcome; a refused record. */
async function workspace(page, base, village) {
  await page.setViewportSize({ width: 390, height: 860 });
  cli(['officer', 'add', '--name', 'Pak Pelsa Desa', '--phone', PELSA, '--role', 'reporter',
       '--village', village]);
  const ref = sms(PELSA, 'P MMD SP 3');
  check(!!ref, 'a P report by SMS: ' + ref);
  let r = await post(page, '/api/v1/reports', { kind: 'P', village, syndrome: 'GGK',
    event_date: new Date(Date.now() - 2 * 86400000).toISOString().slice(0, 10),
    animals: [{ species: 'AJ', sick: 1 }] });
  const lateRef = r.json && r.json.ref;
  sql("UPDATE case_report SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 hours')" +
      ' WHERE ref = ?', [lateRef]);
  const old = new Date(Date.now() - 20 * 86400000).toISOString().slice(0, 10);
  r = await post(page, '/api/v1/reports', { kind: 'U', village, signs: ['DIA'], event_date: old,
                                                  animals: [{ species: 'KB', sick: 2 }] });
  const oldRef = r.json && r.json.ref;
  check(r.status === 201, 'a case of 20 days ago: ' + oldRef);
  r = await post(page, '/api/v1/reports', { kind: 'U', village, signs: ['BTK'], event_date: old,
                                              animals: [{ species: 'SP', sick: 1 }] });
  const badRef = r.json && r.json.ref;
  sql("UPDATE outbox SET state = 2, error = 'village unknown at the hub (test)' WHERE row_id = " +
      '(SELECT id FROM case_report WHERE ref = ?)', [badRef]);

  await page.goto(base + '/#home');
  await page.waitForSelector('#queue-awaiting tr[data-ref="' + ref + '"]');
  const fresh = await page.$eval('#queue-awaiting tr[data-ref="' + ref + '"]', tr => [tr.className, tr.querySelector('.age').textContent]);
  check(fresh[0] === '' && /^0 jam/.test(fresh[1]), 'the SMS case waits for a response, 0 h old: ' + fresh[1]);
  const late = await page.$eval('#queue-awaiting tr[data-ref="' + lateRef + '"]', tr => [tr.className, tr.querySelector('.age').textContent]);
  check(late[0] === 'late' && /^30 jam/.test(late[1]) && /terlambat/.test(late[1]),
        'a case past the 24 h target is red: ' + late[1]);
  check(!!await page.$('#queue-no-outcome tr[data-ref="' + oldRef + '"]'), 'the 20-day-old case has no outcome: listed');
  check(!await page.$('#queue-no-outcome tr[data-ref="' + ref + '"]'), 'a new case is not in that queue');
  const rej = await page.textContent('#queue-rejected');
  check(rej.includes(badRef) && rej.includes('village unknown at the hub (test)'), 'the refused record with its reason');
  await shot(page, 'home-queues');
  await fitsPhone(page, 'home');
  await accessible(page, 'home');

  /* send the refused record again */
  await page.click('#queue-rejected button');
  await page.waitForFunction(() => /antrian/.test(document.querySelector('#flash').textContent));
  check(!await page.$('#queue-rejected'), 'after "send again" nothing is refused');
  r = await page.evaluate(async x => (await (await fetch('/api/v1/reports?q=' + x)).json())[0].sync, badRef);
  check(r === 'queued', 'and the record is queued again: ' + r);

  /* refused again, now corrected in its form: the hub's reason at the field */
  sql("UPDATE outbox SET state = 2, error = 'unknown village ' || ? WHERE row_id = " +
      '(SELECT id FROM case_report WHERE ref = ?)', [village, badRef]);
  await page.reload();                                   /* the page is #home already */
  await page.click('#queue-rejected a[href="#case?fix=' + badRef + '"]');
  await page.waitForSelector('#case-form [data-err="village"]:not(:empty)');
  const at = await page.textContent('#case-form [data-err="village"]');
  check(/Ditolak pusat: unknown village/.test(at), 'the form opens with the hub\'s reason at the village: ' + at);
  check(await page.$eval('#f-animals-0-species', s => s.value) === 'SP' &&
        await page.$eval('#kind-U', x => x.checked), 'the form holds the refused report');
  await page.waitForFunction(() => document.querySelector('#f-village').options.length > 2);
  const other = await page.$eval('#f-village', s => [...s.options].map(o => o.value).find(v => v && v !== s.value));
  await page.selectOption('#f-village', other);
  await shot(page, 'correct-refused');
  await accessible(page, 'correct');
  await page.click('#case-form button[type=submit]');
  await page.waitForSelector('#case-title');
  check(count('SELECT count(*) FROM outbox o JOIN case_report c ON c.id = o.row_id WHERE c.ref = ?' +
              ' AND o.state = 0 AND c.village = ? AND o.hlc = c.hlc', [badRef, other]) === 1 &&
        count('SELECT count(*) FROM outbox o JOIN case_report c ON c.id = o.row_id WHERE c.ref = ?' +
              ' AND o.state = 2', [badRef]) === 0,
        'the correction is saved and queued once, the refusal gone');
  await page.goto(base + '/#home');

  /* the case page */
  await page.click('#queue-awaiting a[href="#casepage?ref=' + ref + '"]');
  await page.waitForSelector('#case-title');
  const facts = await page.textContent('dl.facts');
  check(facts.includes('Pak Pelsa Desa') && facts.includes('mati mendadak') && /WIB/.test(facts),
        'the case page shows the report, its reporter and the time in WIB');
  const smsText = await page.textContent('#case-sms');
  check(smsText.includes('P MMD SP 3') && smsText.includes('Terima kasih') && smsText.includes('PERINGATAN'),
        'the case page shows the SMS, its reply and the alert to the vet');
  await fitsPhone(page, 'case page');
  await accessible(page, 'case page');
  await page.selectOption('#visit-form-f-animals-0-species', 'SP');
  await page.fill('#visit-form-f-animals-0-sick', '1');
  await page.fill('#visit-form-f-animals-0-dead', '3');
  await page.fill('#visit-form-f-animals-0-at_risk', '12');
  await page.click('#visit-form button[type=submit]');
  await page.waitForSelector('#case-followups tbody tr');
  check(true, 'a visit recorded from the case page is listed');
  await page.goto(base + '/#home');
  await page.waitForSelector('#queue-awaiting');
  check(!await page.$('#queue-awaiting tr[data-ref="' + ref + '"]'), 'an answered case leaves the queue');
  await page.goto(base + '/' + '#casepage?ref=' + ref);
  await page.waitForSelector('#outcome-form');
  await page.selectOption('#outcome-form-f-outcome', 'SB');
  await page.click('#outcome-form button[type=submit]');
  await page.waitForSelector('#case-outcome');
  check(/sembuh/.test(await page.textContent('#case-outcome')), 'the outcome recorded from the case page is shown');
  await page.setViewportSize({ width: 1100, height: 900 });
  await shot(page, 'case-page');
  await page.setViewportSize({ width: 390, height: 860 });
}

/* The officers' page: every refusal of the add form at once; a reporter
 * added in the web is accepted by SMS, the message shows as their last;
 * deactivated, their SMS is refused. */
async function officersFlow(page, base, village) {
  await page.goto(base + '/#officers');
  await page.waitForSelector('#officer-add');
  await page.click('#officer-add button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#officer-add .err:not(:empty)').length >= 3);
  const errs = await page.$$eval('#officer-add .err', es => es.filter(e => e.textContent).map(e => e.dataset.err));
  check(['name', 'phone', 'village'].every(f => errs.includes(f)), 'every refusal at once, each at its field: ' + errs);
  await page.fill('#officer-add-f-name', 'Ibu Ani Pelsa');
  await page.fill('#officer-add-f-phone', '0812-7000-0055');
  await page.selectOption('#officer-add-f-role', 'reporter');
  await page.waitForFunction(() => document.querySelector('#officer-add-f-village-sub').options.length > 1);
  const sub = village.slice(0, 6);
  await page.selectOption('#officer-add-f-village-sub', sub);
  await page.waitForFunction(v => [...document.querySelector('#officer-add-f-village').options].some(o => o.value === v), village);
  await page.selectOption('#officer-add-f-village', village);
  await page.click('#officer-add button[type=submit]');
  await page.waitForSelector('tr[data-phone="+6281270000055"]');
  check(true, 'a reporter added in the web, the phone normalised to +6281270000055');
  const ref = sms('6281270000055', 'U KBG SP 2');
  check(!!ref, 'and accepted by SMS: ' + ref);
  await page.goto(base + '/#officers?r=1');
  await page.waitForSelector('tr[data-phone="+6281270000055"]');
  const last = await page.textContent('tr[data-phone="+6281270000055"]');
  check(last.includes('U KBG SP 2') && /WIB/.test(last), 'the reporter\'s last SMS is listed: ' + last);
  await fitsPhone(page, 'officers');
  await accessible(page, 'officers');
  await page.click('tr[data-phone="+6281270000055"] button');
  await page.waitForSelector('#officer-edit');
  await accessible(page, 'officers, editing');
  await page.uncheck('#officer-edit-active');
  await page.click('#officer-edit button[type=submit]');
  await page.waitForSelector('tr.inactive[data-phone="+6281270000055"]');
  check(sms('6281270000055', 'U KBG SP 3') === null && /belum terdaftar/.test(sms.replies.join()),
        'deactivated, the reporter\'s SMS is refused');
  await shot(page, 'officers');
}

/* A tablet away from the LAN: the app opens from the service worker's
 * cache, a case report is kept as a draft (the header says so); back on
 * the LAN the draft goes to the node, whose first answer is lost on the
 * way; sent again with its key, it is stored once. */
async function offlineFlow(page, base, context) {
  await page.goto(base + '/#case');
  await page.waitForSelector('#case-form');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 });
  const manifest = await page.evaluate(async () => {
    const r = await fetch(document.querySelector('link[rel=manifest]').href);
    return [r.headers.get('content-type'), (await r.json()).display];
  });
  check(manifest[0] === 'application/manifest+json' && manifest[1] === 'standalone',
        'the web app manifest is served: ' + manifest);
  const village = await pickVillage(page, 'village');          /* caches the village lists */
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('#case-form');
  check(true, 'offline, the app opens from the service worker\'s cache');
  await page.waitForFunction(() => document.querySelector('#f-village-sub').options.length > 1);
  await page.selectOption('#f-village-sub', village.slice(0, 6));
  await page.waitForFunction(v => [...document.querySelector('#f-village').options].some(o => o.value === v), village);
  await page.selectOption('#f-village', village);
  await page.selectOption('#f-syndrome', 'MMU');
  await page.selectOption('#f-animals-0-species', 'AY');
  await page.fill('#f-animals-0-dead', '7');
  await page.fill('#f-note', 'draf offline tablet');
  await page.click('#case-form button[type=submit]');
  await page.waitForSelector('#net-drafts');
  const head = await page.textContent('#net');
  check(/Offline/.test(head) && /1 draf/.test(head), 'the header says offline, one draft waits: ' + head);
  await fitsPhone(page, 'offline header');
  await shot(page, 'offline-draft');
  const note = "SELECT count(*) FROM case_report WHERE note = 'draf offline tablet'";
  check(count(note) === 0, 'nothing reached the node while offline');
  let lost = 0, taken = false;
  await page.route('**/api/v1/reports', async route => {
    if (route.request().method() === 'POST' && !taken) {
      taken = true;
      await route.fetch();                  /* the node stores it ... */
      await route.abort('connectionreset'); /* ... and its answer is lost */
      lost++;
    } else await route.continue();
  });
  await context.setOffline(false);
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  /* the online event, or at the latest the 20 s retry, sends it */
  for (let i = 0; i < 300 && lost === 0; i++) await new Promise(r => setTimeout(r, 100));
  const stored = count(note);
  check(lost === 1 && stored === 1, 'back on the LAN the draft went; its answer was lost (sent ' +
        lost + ', stored ' + stored + ')');
  check(await page.$('#net-drafts') !== null, 'so the draft stays on the tablet');
  await page.evaluate(() => sendDrafts());
  await page.waitForFunction(() => !document.querySelector('#net-drafts'));
  check(count(note) === 1, 'sent again with its key, the draft is stored once');
  await page.unroute('**/api/v1/reports');
}

/* The map after the SMS reports: those without GPS sit at their village,
 * reports on one spot are one cluster with their count, a dot's popup
 * links to its case. */
async function mapFlow(page, base) {
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.goto(base + '/#map?x=2');
  await page.waitForFunction(() => window.sikhnasMap && document.querySelector('#leaflet-map .leaflet-marker-icon'));
  const api = await page.evaluate(async () => (await (await fetch('/api/v1/map?days=90')).json()));
  const byPlace = k => api.features.filter(f => f.properties.placed === k).length;
  const m = await page.evaluate(() => {
    const { map, cluster } = window.sikhnasMap;
    let shown = 0, clusters = 0;
    cluster._featureGroup.eachLayer(l => {
      if (l.getChildCount) { shown += l.getChildCount(); clusters++; } else shown++;
    });
    return { layers: cluster.getLayers().length, shown, clusters,
             icons: [...document.querySelectorAll('.marker-cluster span')].map(s => Number(s.textContent)) };
  });
  check(m.layers === api.features.length && m.shown === m.layers,
        'every report is on the map, clustered or alone: ' + m.shown + ' of ' + api.features.length);
  check(byPlace('village') >= 2, 'reports without GPS (SMS) placed at their village: ' + byPlace('village'));
  check(m.clusters >= 1 && m.icons.reduce((a, b) => a + b, 0) >= 2,
        'reports on one spot show as one circle with a count: ' + JSON.stringify(m.icons));
  const counts = await page.textContent('#map-counts');
  check(counts.includes(byPlace('village') + ' '), 'the page says how many sit at their village: ' + counts);
  const ref = await page.evaluate(() => {
    const l = window.sikhnasMap.cluster.getLayers().find(x => x.feature.properties.placed === 'gps');
    window.sikhnasMap.cluster.zoomToShowLayer(l, () => l.openPopup());
    return l.feature.properties.ref;
  });
  await page.waitForSelector('.leaflet-popup-content a');
  await shot(page, 'map');
  await page.click('.leaflet-popup-content a');
  await page.waitForSelector('#case-title');
  check((await page.textContent('#case-title')).includes(ref), 'a dot\'s popup links to its case ' + ref);
  await page.setViewportSize({ width: 390, height: 860 });
}

/* Every page: nothing serious for axe-core, nothing sideways at 390 px. */
async function everyPage(page, base, ref) {
  for (const [hash, sel] of [['#reports', '#reports-table'], ['#case', '#case-form'],
      ['#followup', '#followup-form'], ['#vaccination', '#vaccination-form'],
      ['#treatment', '#treatment-form'], ['#movement', '#movement-form'],
      ['#slaughter', '#slaughter-form'], ['#population', '#population-form'],
      ['#dashboard', '#stat-outbox'], ['#weekly', '#week-totals'], ['#officers', '#officers-table'],
      ['#map', '#leaflet-map.leaflet-container'], ['#casepage?ref=' + ref, '#case-title']]) {
    await page.goto(base + '/' + hash);
    await page.waitForSelector(sel);
    await fitsPhone(page, hash);
    await accessible(page, hash);
  }
  await page.click('#menu-btn');
  await accessible(page, 'the open menu');
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  if (shotDir) fs.mkdirSync(shotDir, { recursive: true });
  cli(['init', '--district', '3201', '--areas', path.join(srcRoot, 'tests/data/idn-area')]);
  cli(['officer', 'add', '--name', 'drh. Sari Wulandari', '--phone', VET.phone, '--role', 'vet',
       '--password-stdin'], VET.password + '\n');
  cli(['officer', 'add', '--name', 'Budi Pengamat', '--phone', VIEWER.phone, '--role', 'viewer',
       '--password-stdin'], VIEWER.password + '\n');
  cli(['officer', 'add', '--name', 'Ahmad Kunci', '--phone', LOCKME.phone, '--role', 'clerk',
       '--password-stdin'], LOCKME.password + '\n');
  const base = await startDaemon();

  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 390, height: 860 },      /* a cheap Android phone */
    locale: 'id-ID',
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', e => { failures++; console.log('FAIL page error: ' + e.message); });

  /* a wrong password is refused, on the page and with no session */
  await login(page, base, { phone: VET.phone, password: 'salah-sekali' });
  await page.waitForFunction(() => document.querySelector('#login-error').textContent !== '');
  const loginErr = await page.textContent('#login-error');
  check(/salah/.test(loginErr), 'wrong password refused on the page: "' + loginErr + '"');
  check((await context.cookies()).every(c => c.name !== 'sid'), 'no session cookie after a wrong password');
  await shot(page, 'login');
  await fitsPhone(page, 'login');
  await accessible(page, 'login');

  /* log in */
  await page.fill('#password', VET.password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav a[href="#case"]', { state: 'attached' });
  const sid = (await context.cookies()).find(c => c.name === 'sid');
  check(sid && sid.httpOnly && sid.sameSite === 'Strict', 'session cookie is HttpOnly, SameSite=Strict');

  /* a case report: P, a village of the district, chickens, a map pin */
  await page.goto(base + '/#case');
  await page.waitForSelector('#case-form');
  const village = await pickVillage(page, 'village');
  await page.selectOption('#f-syndrome', 'MMU');
  await page.selectOption('#f-animals-0-species', 'AY');
  await page.fill('#f-animals-0-sick', '40');
  await page.fill('#f-animals-0-dead', '12');
  await page.fill('#f-animals-0-at_risk', '300');
  await page.fill('#f-lat', '-6.4817');
  await page.fill('#f-lon', '106.8540');
  await page.fill('#f-note', 'Kematian ayam kampung mendadak sejak dua hari.');
  await shot(page, 'case-form');
  await page.click('#case-form button[type=submit]');
  await page.waitForSelector('#case-title');
  const flash = await page.textContent('#flash');
  const ref = (/(\d{4}-\d{6})/.exec(flash) || [])[1];
  check(!!ref, 'saved with a reference: "' + flash + '"');
  check((await page.textContent('#case-title')).includes(ref), 'saving opens the new case\'s page');
  await page.goto(base + '/#reports');
  await page.waitForSelector('#reports-table');
  const row = await page.$('tr[data-ref="' + ref + '"]');
  check(!!row, 'the new report is listed');
  const state = row ? await row.$eval('.badge', b => b.className + ' ' + b.textContent) : '';
  check(/queued/.test(state) && /antri/.test(state), 'listed as queued: "' + state + '"');
  check(village.startsWith('3201'), 'village chosen by sub-district then village: ' + village);

  /* two more, for the list, the dashboard and the map */
  for (const [kind, extra, lat, lon] of [['U', { signs: ['DMM', 'DIA'] }, -6.55, 106.72],
                                         ['P', { syndrome: 'MMD' }, -6.60, 106.95]]) {
    const csrf = await page.evaluate(async () => (await (await fetch('/api/v1/session')).json()).csrf);
    const r = await page.evaluate(async ([b, c]) => {
      const res = await fetch('/api/v1/reports', { method: 'POST', body: JSON.stringify(b),
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': c } });
      return res.status;
    }, [Object.assign({ kind, village, event_date: new Date().toISOString().slice(0, 10),
                        animals: [{ species: kind === 'U' ? 'SP' : 'KB', sick: 2, dead: 1 }],
                        lat, lon }, extra), csrf]);
    check(r === 201, 'API case report ' + kind + ' saved (' + r + ')');
  }
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto(base + '/#reports?x=1');
  await page.waitForSelector('#reports-table');
  await shot(page, 'reports');

  /* search by reference */
  await page.fill('#search', ref);
  await page.click('form.search button');
  await page.waitForFunction(r => document.querySelectorAll('#reports-table tbody tr').length === 1 &&
                             document.querySelector('#reports-table tbody tr').dataset.ref === r, ref);
  check(true, 'search by reference finds only ' + ref);

  /* an empty form: every refusal at once, each at its field, saying what to do */
  await page.goto(base + '/#case');
  await page.waitForSelector('#case-form');
  await page.click('#case-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#case-form .err:not(:empty)').length >= 3);
  const all = await page.$$eval('#case-form .err', es => Object.fromEntries(es.filter(e => e.textContent)
    .map(e => [e.dataset.err, e.textContent])));
  check(all.village && /Pilih kecamatan, lalu desa/.test(all.village) && all.syndrome &&
        /Pilih satu sindrom/.test(all.syndrome) && (all.animals || all['animals[0]']),
        'an empty case report: village, syndrome and animals refused at once, with what to do: ' +
        JSON.stringify(all));
  check(await page.$eval('#f-village', e => e.getAttribute('aria-invalid') === 'true' &&
                         document.activeElement === e), 'the first refused field is marked and focused');
  await accessible(page, 'a form with its errors');

  /* a village of another district: the inline error, from the validator */
  await page.setViewportSize({ width: 390, height: 860 });
  await page.goto(base + '/#case');
  await page.waitForSelector('#case-form');
  await pickVillage(page, 'village');
  /* the picker offers only this district's villages; a stale or edited
   * form can still send another's, and the server must say why */
  await page.$eval('#f-village', s => {
    const o = document.createElement('option');
    o.value = '3202012002';
    o.textContent = 'Tonjong (Sukabumi)';
    s.append(o);
    s.value = '3202012002';
  });
  await page.selectOption('#f-syndrome', 'MMU');
  await page.selectOption('#f-animals-0-species', 'AY');
  await page.fill('#f-animals-0-sick', '3');
  await page.click('#case-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('[data-err="village"]').textContent !== '');
  const errId = await page.textContent('[data-err="village"]');
  check(/bukan di kabupaten\/kota ini/.test(errId), 'inline error in Indonesian: "' + errId + '"');
  check(await page.$eval('#f-village', s => s.classList.contains('invalid')), 'the village field is marked');
  await shot(page, 'case-error');
  const saveId = await page.textContent('#case-form button[type=submit]');
  check(saveId === 'Simpan', 'the form is labelled in Indonesian: "' + saveId + '"');
  await page.click('#lang-btn');
  await page.waitForSelector('#case-form');
  const saveEn = await page.textContent('#case-form button[type=submit]');
  check(saveEn === 'Save', 'and in English after the switch: "' + saveEn + '"');
  await pickVillage(page, 'village');
  await page.$eval('#f-village', s => {
    const o = document.createElement('option');
    o.value = '3202012002';
    s.append(o);
    s.value = '3202012002';
  });
  await page.selectOption('#f-syndrome', 'MMU');
  await page.selectOption('#f-animals-0-species', 'AY');
  await page.click('#case-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('[data-err="village"]').textContent !== '');
  const errEn = await page.textContent('[data-err="village"]');
  check(/not a village of this district/.test(errEn), 'inline error in English: "' + errEn + '"');

  /* a count error lands beside its own input */
  await page.fill('#f-animals-0-sick', '-4');
  await page.click('#case-form button[type=submit]');
  await page.waitForFunction(() => /whole number/.test(document.querySelector('.notice.bad').textContent +
                             document.querySelector('[data-err="animals[0]"]').textContent) ||
                             document.querySelector('[data-err="village"]').textContent !== '');
  check(true, 'a second refusal is shown without a reload');

  /* dashboard and map (English, desktop) */
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto(base + '/#dashboard');
  await page.waitForSelector('#stat-outbox');
  const outbox = await page.textContent('#stat-outbox b');
  check(Number(outbox) >= 3, 'dashboard shows the outbox depth: ' + outbox);
  await page.waitForFunction(() => window.Chart && window.Chart.getChart('chart-species') &&
                             window.Chart.getChart('chart-syndrome'));
  const drawn = await page.evaluate(() => ['chart-species', 'chart-syndrome'].map(id => {
    const c = window.Chart.getChart(id);
    return { labels: c.data.labels.length,
             series: Object.fromEntries(c.data.datasets.map(d => [d.label, d.data.slice()])) };
  }));
  const trends = await page.evaluate(async () => (await (await fetch('/api/v1/trends')).json()));
  const chicken = drawn[0].series['AY - chicken'] || [];
  const want = (trends.by_species.find(x => x.code === 'AY') || {}).counts || [];
  check(drawn[0].labels === 12 && JSON.stringify(chicken) === JSON.stringify(want) && want[11] === 1,
        'the species curve draws 12 weeks, chickens as the API counts them: ' + JSON.stringify(chicken));
  const mmd = drawn[1].series['MMD - sudden death'] || [];
  check(mmd[11] === 1, 'the syndrome curve counts this week\'s sudden deaths: ' + JSON.stringify(mmd));
  await shot(page, 'dashboard');
  await page.goto(base + '/#weekly');
  await page.waitForSelector('#weekly #week-totals');
  await page.waitForFunction(() => window.Chart.getChart('chart-weekly'));
  const weekly = await page.textContent('#weekly');
  check(/Weekly surveillance summary/.test(weekly) && weekly.includes('MMD - sudden death'),
        'the weekly summary lists this week\'s P cases');
  await page.emulateMedia({ media: 'print' });
  const pdf = await page.pdf({ format: 'A4', margin: { top: '12mm', bottom: '12mm' } });
  const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  check(pages === 1, 'the weekly summary prints on one A4 page: ' + pages);
  await page.emulateMedia({ media: 'screen' });
  await shot(page, 'weekly');
  await page.goto(base + '/#map');
  await page.waitForFunction(() => window.sikhnasMap);
  const dots = await page.evaluate(() => window.sikhnasMap.cluster.getLayers().length);
  check(dots === 3, 'the map draws the three reports with a pin: ' + dots);

  /* the other forms, one record each */
  await page.click('#lang-btn');        /* back to Indonesian */
  await page.waitForFunction(() => document.documentElement.lang === 'id');
  const forms = [
    ['followup', async () => {
      await page.fill('#f-case_ref', ref);
      await page.selectOption('#f-outcome', 'MS');
      await page.selectOption('#f-animals-0-species', 'AY');
      await page.fill('#f-animals-0-sick', '20');
      await page.fill('#f-animals-0-dead', '15');
    }],
    ['vaccination', async () => {
      await page.fill('#f-program', 'AI-2026');
      await pickVillage(page, 'village');
      await page.selectOption('#f-animals-0-species', 'AY');
      await page.fill('#f-animals-0-primary', '250');
    }],
    ['treatment', async () => {
      await page.fill('#f-case_ref', ref);
      await pickVillage(page, 'village');
      await page.selectOption('#f-species', 'AY');
      await page.fill('#f-drug', 'Oksitetrasiklin');
      await page.fill('#f-n_animals', '25');
    }],
    ['movement', async () => {
      await page.fill('#f-owner_id', '081377788899');
      await pickVillage(page, 'from_area');
      await page.fill('#f-to_area', '3202');
      await page.selectOption('#f-animals-0-species', 'SP');
      await page.fill('#f-animals-0-n', '4');
    }],
    ['slaughter', async () => {
      await pickVillage(page, 'village');
      await page.selectOption('#f-species', 'SP');
      await page.fill('#f-n_animals', '12');
    }],
    ['population', async () => {
      await pickVillage(page, 'village');
      await page.selectOption('#f-animals-0-species', 'KB');
      await page.fill('#f-animals-0-n', '140');
    }],
  ];
  for (const [kind, fill] of forms) {
    await page.goto(base + '/#' + kind);
    await page.waitForSelector('#' + kind + '-form');
    await fill();
    if (kind === 'vaccination')
      await shot(page, 'vaccination-form');
    await page.click('#' + kind + '-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('.notice.ok') ||
                               document.querySelector('.notice.bad').textContent !== '' ||
                               [...document.querySelectorAll('.err')].some(e => e.textContent !== ''));
    const ok = await page.$('.notice.ok');
    const msg = ok ? await ok.textContent() : await page.$$eval('.notice.bad, .err',
      es => es.map(e => e.textContent).filter(Boolean).join(' | '));
    check(!!ok, kind + ' form saved: "' + msg + '"');
    await page.waitForSelector('#' + kind + '-recent .badge.queued');
    check(true, kind + ': the new record is listed under the form as queued');
    if (kind === 'followup' || kind === 'treatment')
      check(await page.$('#' + kind + '-recent a[href="#casepage?ref=' + ref + '"]') !== null,
            kind + ': its row links to its case');
    if (kind === 'vaccination')
      await shot(page, 'vaccination-saved');
  }

  await workspace(page, base, village);
  await officersFlow(page, base, village);
  await mapFlow(page, base);
  await offlineFlow(page, base, context);
  await everyPage(page, base, ref);

  /* raw HTTP: the session cookie without a CSRF token, and with a wrong one */
  const cookie = 'sid=' + sid.value;
  const body = JSON.stringify({ kind: 'P', village, syndrome: 'MMU', event_date: '2026-01-05',
                                animals: [{ species: 'AY', sick: 1 }] });
  const jsonHdr = { 'Content-Type': 'application/json', Cookie: cookie, Host: new URL(base).host };
  let r = await raw(base, 'POST', '/api/v1/reports', jsonHdr, body);
  check(r.status === 403 && r.json && r.json.error.code === 'csrf',
        'POST without a CSRF token refused: ' + r.status + ' ' + r.text);
  r = await raw(base, 'POST', '/api/v1/reports', Object.assign({ 'X-CSRF-Token': 'x'.repeat(43) }, jsonHdr), body);
  check(r.status === 403 && r.json && r.json.error.code === 'csrf', 'POST with a wrong CSRF token refused: ' + r.status);
  r = await raw(base, 'POST', '/api/v1/reports', { 'Content-Type': 'application/json' }, body);
  check(r.status === 401, 'POST without a session refused: ' + r.status);
  r = await raw(base, 'GET', '/api/v1/session', { Cookie: cookie });
  const csrf = r.json && r.json.csrf;
  r = await raw(base, 'POST', '/api/v1/reports', Object.assign({ 'X-CSRF-Token': csrf,
    Origin: 'http://evil.example' }, jsonHdr), body);
  check(r.status === 403 && r.json.error.code === 'origin', 'POST from another origin refused: ' + r.status);
  r = await raw(base, 'POST', '/api/v1/reports', Object.assign({ 'X-CSRF-Token': csrf }, jsonHdr,
    { 'Content-Type': 'text/plain' }), body);
  check(r.status === 415, 'POST of text/plain refused: ' + r.status);
  r = await raw(base, 'POST', '/api/v1/reports', Object.assign({ 'X-CSRF-Token': csrf }, jsonHdr), body);
  check(r.status === 201, 'the same POST with the token is accepted: ' + r.status);

  /* a wrong password by API; five in a row pause that phone's logins here */
  const apiLogin = (who, pw) => raw(base, 'POST', '/api/v1/login', { 'Content-Type': 'application/json' },
                                 JSON.stringify({ phone: who.phone, password: pw }));
  r = await apiLogin(VET, 'salah');
  check(r.status === 401 && !r.headers['set-cookie'], 'API login with a wrong password: 401, no cookie');
  for (let i = 0; i < 5; i++)
    r = await apiLogin(LOCKME, 'salah-' + i);
  r = await apiLogin(LOCKME, LOCKME.password);
  check(r.status === 429 && r.json.error.code === 'locked', 'five failures pause the phone at this address: ' + r.status);

  /* a viewer reads but may not write */
  r = await apiLogin(VIEWER, VIEWER.password);
  const vcookie = (r.headers['set-cookie'] || [''])[0].split(';')[0];
  check(r.status === 200 && vcookie.startsWith('sid='), 'viewer logs in');
  r = await raw(base, 'GET', '/api/v1/session', { Cookie: vcookie });
  const vcsrf = r.json.csrf;
  r = await raw(base, 'GET', '/api/v1/reports', { Cookie: vcookie });
  check(r.status === 200 && r.json.length >= 3, 'viewer reads the list');
  r = await raw(base, 'POST', '/api/v1/reports', Object.assign({}, jsonHdr, { Cookie: vcookie,
    'X-CSRF-Token': vcsrf }), body);
  check(r.status === 403 && r.json.error.code === 'forbidden', 'viewer may not post a report: ' + r.status);

  /* log out ends the session on the server */
  await page.goto(base + '/#logout');
  await page.waitForSelector('#login-form');
  r = await raw(base, 'GET', '/api/v1/session', { Cookie: cookie });
  check(r.status === 401, 'after logout the old cookie is refused: ' + r.status);
}

main().catch(e => { failures++; console.log('FAIL ' + (e.stack || e)); }).finally(async () => {
  if (context) await context.close().catch(() => {});
  if (daemon && daemon.exitCode === null) {
    daemon.removeAllListeners('exit');
    const code = await new Promise(r => { daemon.once('exit', c => r(c)); daemon.kill('SIGTERM'); });
    check(code === 0, 'SIGTERM: the daemon stops cleanly (exit ' + code + ')');
  }
  removeTmp();
  console.log(checks + ' checks, ' + failures + ' failures');
  process.exit(failures ? 1 : 0);
});
