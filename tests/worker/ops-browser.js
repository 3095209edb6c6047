#!/usr/bin/env node
/* ops-browser.js - the operators' pages of sikhnas-web in headless Chromium
 * (Debian's, driven by playwright-core), against the central that
 * ops_browser_run.py made (analystlib.py's seed plus opsdata.py).
 *
 *   node ops-browser.js BASE_URL OUT_DIR
 *
 * Checks: an operator lands on the fleet; the four problem nodes are
 * highlighted in the right cell and the healthy one is not; the problem
 * filter and a click on a column header (sort) change the table; the node
 * page draws its year of history; the queue page shows the dead job and its
 * retry button makes it pending; a recipient added on the page is listed.
 * Screenshots go to OUT_DIR. */
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, outDir] = process.argv.slice(2, 4);
let failures = 0;

function check(ok, what) {
  if (ok) console.log('ok   ' + what);
  else { failures++; console.log('FAIL ' + what); }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
}

async function badCells(page) {
  return page.$$eval('tbody tr', trs => trs.map(tr => [
    tr.querySelector('td[data-key=name]') ? tr.querySelector('td[data-key=name]').textContent : '',
    Array.from(tr.querySelectorAll('td.bad')).map(td => td.dataset.key).join(',')]));
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true,
                                             viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', e => { failures++; console.log('FAIL page error: ' + e.message); });
  page.on('console', m => { if (m.type() === 'error') console.log('console: ' + m.text()); });
  page.on('dialog', d => d.accept());

  await page.goto(base + '/');
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#login input[name=login]', 'ops');
  await page.fill('#login input[name=password]', 'rahasia-ops-4');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#fleet-summary');
  check(/5 node, 4 bermasalah/.test(await page.textContent('#fleet-summary')),
        'an operator lands on the fleet: 5 nodes, 4 with problems');
  const bad = Object.fromEntries(await badCells(page));
  check(bad['silent-bogor'] === 'last_contact', 'silent node: last contact highlighted');
  check(bad['queue-sukabumi'] === 'outbox_oldest_s', 'queue node: oldest record highlighted');
  check(bad['cert-sukabumi'] === 'cert_not_after', 'cert node: certificate highlighted');
  check(bad['clock-kupang'] === 'clock_skew_s', 'clock node: skew highlighted');
  check(bad['ok-bogor'] === '', 'the healthy node is not highlighted');
  await shot(page, 'fleet');

  await page.selectOption('#fleet-problem', 'queue');
  await page.click('#fleet-apply');
  await page.waitForFunction(() => /^1 node/.test((document.querySelector('#fleet-summary') || {}).textContent));
  check((await badCells(page)).length === 1, 'the problem filter leaves one node');
  await page.selectOption('#fleet-problem', '');
  await page.click('#fleet-apply');
  await page.waitForFunction(() => /^5 node/.test((document.querySelector('#fleet-summary') || {}).textContent));
  await page.click('th:has-text("antrean")');
  await page.waitForSelector('th.asc');
  await page.click('th.asc');
  await page.waitForSelector('th.desc');
  const first = await page.textContent('tbody tr:first-child td[data-key=name]');
  check(first === 'queue-sukabumi', 'sorted by outbox, deepest first: ' + first);

  await page.click('a:has-text("ok-bogor")');
  await page.waitForFunction(() => window.Chart && Chart.getChart('node-chart'));
  const n = await page.evaluate(() => Chart.getChart('node-chart').data.labels.length);
  check(n === 365, 'the node page charts a year of history (' + n + ' days)');
  check(await page.isVisible('#node-revoke'), 'the node page has the revoke button');
  await shot(page, 'node');

  await page.goto(base + '/#/queue');
  await page.waitForSelector('#count-dead');
  await page.click('#count-dead');
  await page.waitForSelector('#count-dead.active');
  const dead = await page.$$eval('tbody tr', trs => trs.map(tr => tr.dataset.job).filter(Boolean));
  check(dead.length === 1, 'the dead filter shows the dead job');
  await shot(page, 'queue');
  await page.click('tbody tr button.act-retry');
  await page.waitForFunction(() => !document.querySelector('#count-dead.active') ||
    document.querySelectorAll('tbody tr[data-job]').length === 0);
  await page.click('#count-pending');
  await page.waitForSelector('#count-pending.active');
  const pend = await page.$$eval('tbody tr', trs => trs.map(tr => tr.dataset.job));
  check(pend.includes(dead[0]), 'retry made the dead job pending');

  await page.goto(base + '/#/recipients');
  await page.waitForSelector('#recipient-add');
  await page.fill('#recipient-add input[name=email]', 'baru@example.go.id');
  await page.fill('#recipient-add input[name=province]', '53');
  await page.click('#recipient-add button[type=submit]');
  await page.waitForSelector('td:has-text("baru@example.go.id")');
  check(true, 'a recipient added on the page is listed');
  await shot(page, 'recipients');

  await browser.close();
  console.log(failures ? failures + ' failed' : 'all passed');
  process.exit(failures ? 1 : 0);
}

main().catch(e => { console.log('FAIL ' + e.stack); process.exit(1); });
