#!/usr/bin/env node
/* browser-test.js - the analysts' pages of sikhnas-web in headless
 * Chromium (Debian's, driven by playwright-core), against the central
 * that browser_run.py made (the seed of analystlib.py).
 *
 *   node browser-test.js BASE_URL OUT_DIR LAST_MONDAY
 *
 * Checks: a wrong password is refused on the page; login; the overview's
 * figures (one open priority event, one silent district); the language
 * toggle; the epi curve's chart holds the weekly figures; the map draws the
 * districts and clusters the points; drill-down national -> province ->
 * district -> village -> case, and the case page's follow-up; the
 * completeness table marks the silent district; a CSV download parses;
 * a province analyst asking for another province gets the refusal on the
 * page. Screenshots of each page go to OUT_DIR. */
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, outDir, lastMonday] = process.argv.slice(2, 5);
let failures = 0, checks = 0;

function check(ok, what) {
  checks++;
  if (ok) console.log('ok   ' + what);
  else { failures++; console.log('FAIL ' + what); }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
}

async function login(page, user, password) {
  await page.goto(base + '/');
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#login input[name=login]', user);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
}

async function rows(page, sel) {
  return page.$$eval(sel + ' tbody tr', trs => trs.map(tr =>
    Array.from(tr.querySelectorAll('td')).map(td => td.textContent)));
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true,
                                             viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests = [];
  page.on('pageerror', e => { failures++; console.log('FAIL page error: ' + e.message); });
  page.on('request', r => requests.push(r.url()));
  page.on('console', m => { if (m.type() === 'error') console.log('console: ' + m.text()); });

  await login(page, 'nat', 'salah-sekali');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent !== '');
  check(/salah/.test(await page.textContent('#login-error')), 'a wrong password is refused on the page');
  await shot(page, 'login');

  await login(page, 'nat', 'rahasia-nasional-1');
  await page.waitForSelector('#c-silent');
  check(await page.textContent('#c-open .n') === '1', 'overview: one open priority event');
  check(await page.textContent('#c-silent .n') === '1', 'overview: one silent district');
  check(/Ringkasan/.test(await page.textContent('#nav a[href="#/overview"]')), 'pages in Bahasa Indonesia');
  await shot(page, 'overview');
  await page.click('#lang');
  check(await page.textContent('#nav a[href="#/overview"]') === 'Overview', 'the English toggle');
  await page.waitForSelector('#c-silent');
  await page.click('#lang');

  await page.goto(base + '/#/epi');
  await page.waitForFunction(() => window.Chart && Chart.getChart('epi-chart'));
  const epi = await page.evaluate(() => {
    const c = Chart.getChart('epi-chart');
    return { labels: c.data.labels, reports: c.data.datasets[0].data, dead: c.data.datasets[1].data };
  });
  const i = epi.labels.indexOf(lastMonday);
  check(i >= 0 && epi.reports[i] === 3 && epi.dead[i] === 6, 'epi curve: last week 3 reports, 6 dead');
  check(epi.reports.reduce((a, b) => a + b, 0) === 7, 'epi curve: 7 reports in the year');
  await shot(page, 'epi');

  await page.goto(base + '/#/map');
  await page.waitForSelector('#map[data-points], #error', { state: 'attached' });
  if (await page.$('#error')) console.log('map error: ' + await page.textContent('#error'));
  check(await page.getAttribute('#map', 'data-districts') === '3', 'map: three districts');
  check(await page.getAttribute('#map', 'data-points') === '7', 'map: seven case points');
  check((await page.$$('path.district-circle')).length === 3, 'map: a circle per district (no boundaries loaded)');
  check((await page.$$('.marker-cluster')).length >= 1, 'map: the points are clustered');
  /* Bali's one case stands alone: its popup asks for the cases at its spot */
  const lone = await page.$$('.leaflet-marker-icon:not(.marker-cluster)');
  if (lone.length === 1) await lone[0].click();
  await page.waitForSelector('.map-at a', { timeout: 5000 }).catch(() => {});
  check(lone.length === 1 && await page.getAttribute('.map-at a', 'href') === '#/case/c3',
        'map: a point\'s popup links its case');
  await shot(page, 'map');

  await page.goto(base + '/#/table');
  await page.waitForSelector('td[data-key=code] a');
  await page.click('td[data-key=code] a:text("32")');
  await page.waitForSelector('td[data-key=code] a:text("3201")');
  check((await rows(page, '#page table')).length === 2, 'drill: Jawa Barat has two districts with reports');
  await page.click('td[data-key=code] a:text("3201")');
  await page.waitForSelector('td[data-key=code] a:text("3201011002")');
  await page.click('td[data-key=code] a:text("3201011002")');
  await page.waitForSelector('td[data-key=ref] a');
  check(await page.textContent('td[data-key=ref] a') === 'REF-c2', 'drill: the village lists its case');
  await page.click('td[data-key=ref] a');
  await page.waitForSelector('h2:text("Tindak lanjut")');
  check((await page.textContent('#page')).includes('MS'), 'case page: its follow-up');
  await shot(page, 'case');

  await page.goto(base + '/#/completeness');
  await page.waitForSelector('tr.silent');
  check((await page.textContent('tr.silent')).includes('3202'), 'completeness: 3202 is silent');
  await shot(page, 'completeness');

  await page.goto(base + '/#/table/32');
  await page.waitForSelector('a[data-format=csv]');
  /* the link the page offers, fetched with the page's session (Chromium
   * cancels real downloads from a server whose certificate it was told to
   * ignore, as the test CA's is) */
  const bytes = Buffer.from(await page.evaluate(() =>
    fetch(document.querySelector('a[data-format=csv]').href).then(r => r.arrayBuffer())
      .then(b => Array.from(new Uint8Array(b)))));
  const csv = bytes.toString('utf8');
  check(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf &&
        /\r\n3202,Kabupaten Sukabumi,4,/.test(csv), 'CSV download parses (with its BOM)');

  check(requests.every(u => u.startsWith(base)), 'nothing fetched from outside the app');

  await page.click('#logout');
  await login(page, 'jabar', 'rahasia-jabar-2');
  await page.waitForSelector('#c-silent');
  await page.goto(base + '/#/table/51');
  await page.waitForSelector('#error');
  check(/cakupan/.test(await page.textContent('#error')), 'a province analyst is refused another province');
  await shot(page, 'scope-refused');
  await browser.close();
  console.log(checks + ' checks, ' + failures + ' failed');
  process.exit(failures ? 1 : 0);
}

main().catch(e => { console.log('FAIL ' + e.stack); process.exit(1); });
