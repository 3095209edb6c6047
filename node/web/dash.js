/* dash.js - the dashboard (the week at a glance, 12 weeks of epi curves by
 * species and by syndrome or sign, cases by kecamatan, villages gone
 * silent) and the one-page weekly summary to print for the district
 * head's meeting. Charts are drawn by Chart.js from Debian, served by the
 * node and loaded only on these pages; each chart has its numbers in a
 * table beside it too. Loaded before app.js, whose helpers it uses. */
'use strict';

const loaded = {};
/* Loads one of the node's scripts once; resolves when it ran. */
function loadScript(src) {
  if (!loaded[src]) loaded[src] = new Promise((ok, fail) => {
    const s = el('script', { src });
    s.addEventListener('load', ok);
    s.addEventListener('error', fail);
    document.head.append(s);
  });
  return loaded[src];
}
function loadCss(href) {
  if (!loaded[href]) {
    loaded[href] = true;
    document.head.append(el('link', { rel: 'stylesheet', href }));
  }
}

const PALETTE = ['#1f5f3b', '#c0392b', '#d68910', '#2e86c1', '#7d3c98', '#5d6d7e', '#b7950b', '#148f77'];

function weekLabel(w) { return w.slice(8, 10) + '/' + w.slice(5, 7); }

/* The largest series first; beyond max, one "other" series. */
function topSeries(series, max, list) {
  const sorted = series.slice().sort((a, b) => b.counts.reduce((x, y) => x + y, 0) - a.counts.reduce((x, y) => x + y, 0));
  const out = sorted.slice(0, max).map(s => ({ label: codeLabel(list, s.code), counts: s.counts, code: s.code }));
  if (sorted.length > max) {
    const rest = sorted.slice(max).reduce((acc, s) => acc.map((v, i) => v + s.counts[i]), new Array(12).fill(0));
    out.push({ label: t('other'), counts: rest, code: '' });
  }
  return out;
}

/* A stacked bar chart of weekly counts, with its table for readers and printers. */
function epiChart(id, title, weeks, series) {
  const canvas = el('canvas', { id, role: 'img', 'aria-label': title });
  const table = el('table', { class: 'small', id: id + '-table' },
    el('thead', {}, el('tr', {}, el('th', { text: t('week_of') }), series.map(s => el('th', { text: s.label })))),
    el('tbody', {}, weeks.map((w, i) => el('tr', {}, el('td', { text: weekLabel(w) }),
      series.map(s => el('td', { text: s.counts[i] }))))));
  const box = el('figure', { class: 'chart' }, el('figcaption', { text: title }),
    el('div', { class: 'canvas' }, canvas),
    el('details', {}, el('summary', { text: t('numbers') }), el('div', { class: 'scroll', tabindex: '0' }, table)));
  loadScript('chart.min.js').then(() => {
    if (!canvas.isConnected) return;
    new window.Chart(canvas, {
      type: 'bar',
      data: { labels: weeks.map(weekLabel), datasets: series.map((s, i) => ({
        label: s.label, data: s.counts, backgroundColor: PALETTE[i % PALETTE.length] })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } },
    });
  });
  return box;
}

function smallTable(id, heads, rows, cells) {
  if (!rows.length) return el('p', { class: 'muted', text: t('no_rows') });
  return el('div', { class: 'scroll', tabindex: '0' }, el('table', { id },
    el('thead', {}, el('tr', {}, heads.map(h => el('th', { text: h })))),
    el('tbody', {}, rows.map(x => el('tr', {}, cells(x).map(c => el('td', {}, c)))))));
}

function totalsLine(tot) {
  return el('div', { class: 'stats', id: 'week-totals' },
    el('div', { class: 'stat' }, el('b', { text: tot.this_week || 0 }), t('this_week')),
    el('div', { class: 'stat' }, el('b', { text: tot.last_week || 0 }), t('last_week')),
    el('div', { class: 'stat' }, el('b', { text: tot.avg_prev4 || 0 }), t('avg_prev4')),
    el('div', { class: 'stat' }, el('b', { text: tot.p_this_week || 0 }), t('p_this_week')));
}

function kecamatanTable(d) {
  return smallTable('by-kecamatan', [t('kecamatan'), t('this_week'), t('prev4'), t('weeks12')], d.by_kecamatan,
    x => [x.name || x.code, String(x.this_week), String(x.prev4), String(x.weeks12)]);
}

function silentTable(d) {
  return smallTable('silent-villages', [t('village'), t('kecamatan'), t('weeks_reported'), t('last_report')], d.silent,
    x => [x.name || x.village, x.kecamatan_name || '', x.weeks_reported + ' / ' + d.silent_window_weeks, x.last_report]);
}

async function showDashboard(seq) {
  const [r, tr] = await Promise.all([api('GET', '/api/v1/dashboard'), api('GET', '/api/v1/trends')]);
  if (stale(seq) || r.status !== 200 || tr.status !== 200) return;
  const d = r.data, w = tr.data;
  const link = el('span', {}, badge(d.link, d.last_error));
  link.firstChild.textContent = t('link_' + d.link);
  const bySyndrome = topSeries(w.by_syndrome, 6, 'syndrome').concat(
    topSeries(w.by_sign, 3, 'sign').map(s => Object.assign(s, { label: 'U: ' + s.label })));
  clear(main).append(
    el('h1', { text: t('dashboard') }),
    ...(d.sms && d.sms.warning ? [el('div', { class: 'notice bad', role: 'alert', id: 'sms-warning', text: 'SMS: ' + d.sms.warning })] : []),
    el('div', { class: 'stats' },
      el('div', { class: 'stat', id: 'stat-outbox' }, el('b', { text: d.outbox }), t('outbox')),
      el('div', { class: 'stat' }, el('b', { text: d.reports_total }), t('total')),
      el('div', { class: 'stat' }, el('b', { id: 'last-sync', text: d.last_sync ? localTime(d.last_sync) : t('never') }), t('last_sync')),
      el('div', { class: 'stat' }, el('b', {}, link), t('link'), d.last_error ? el('div', { class: 'muted', text: d.last_error }) : null)),
    el('h2', { text: t('week') + ' ' + d.week_start }),
    totalsLine(w.totals),
    el('p', {}, el('a', { href: '#weekly', class: 'button', text: t('print_summary') })),
    el('h2', { text: t('epi_curve') }),
    el('div', { class: 'two' },
      epiChart('chart-species', t('by_species') + ' (' + t('weeks_n') + ')', w.weeks, topSeries(w.by_species, 6, 'species')),
      epiChart('chart-syndrome', t('by_syndrome_sign') + ' (' + t('weeks_n') + ')', w.weeks, bySyndrome)),
    el('h2', { text: t('by_kecamatan') }), kecamatanTable(w),
    el('h2', { text: t('silent') }), el('p', { class: 'muted', text: t('silent_rule') }), silentTable(w));
}

/* One page for the district head's meeting: print it from the browser. */
async function showWeekly(seq) {
  const r = await api('GET', '/api/v1/trends');
  if (stale(seq) || r.status !== 200) return;
  const w = r.data;
  const sunday = new Date(Date.parse(w.weeks[11] + 'T00:00:00Z') + 6 * 86400000).toISOString().slice(0, 10);
  clear(main).append(el('article', { class: 'weekly', id: 'weekly' },
    el('h1', { text: t('weekly_title') + ' - ' + (w.district_name || w.district) }),
    el('p', { class: 'muted', text: t('week') + ' ' + w.weeks[11] + ' - ' + sunday + ' (' + w.tz + '); ' +
      t('printed') + ' ' + localTime(new Date().toISOString()) }),
    totalsLine(w.totals),
    el('h2', { text: t('p_cases_week') }),
    smallTable('weekly-p', [t('ref'), t('date'), t('syndrome'), t('village'), t('state')], w.p_cases,
      x => [x.ref, x.event_date, codeLabel('syndrome', x.syndrome), x.village_name || x.village,
            x.outcome ? codeLabel('outcome', x.outcome) : x.responded ? t('responded') : t('awaiting_short')]),
    el('div', { class: 'two' },
      el('section', {}, el('h2', { text: t('by_kecamatan') }), kecamatanTable(w)),
      el('section', {}, el('h2', { text: t('silent') }), silentTable(w))),
    epiChart('chart-weekly', t('by_syndrome_sign') + ' (' + t('weeks_n') + ')', w.weeks,
      topSeries(w.by_syndrome, 6, 'syndrome').concat(topSeries(w.by_sign, 2, 'sign')
        .map(s => Object.assign(s, { label: 'U: ' + s.label })))),
    el('p', { class: 'no-print' }, el('button', { type: 'button', class: 'primary', text: t('print'),
      onclick: () => window.print() }))));
}
