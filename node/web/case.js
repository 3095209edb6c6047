/* case.js - the district office's workspace: the home page's work queues
 * (P cases awaiting a response, cases without an outcome, records the hub
 * refused) and the case page (the report, its follow-ups and outcome, the
 * SMS about it, its sync state, and forms to record a visit or the
 * outcome). Loaded before app.js, whose helpers (el, t, api, ...) it uses
 * when its functions run. Texts are in app.js's table T. */
'use strict';

/* ------------------------------------------------------------------ home: work queues */

/* The record kinds' tables by the page texts that name them. */
const TABLE_TEXT = { case_report: 'new_case', case_followup: 'followup', vaccination: 'vaccination',
  treatment: 'treatment', movement_permit: 'movement', slaughter_report: 'slaughter', population_report: 'population' };

function queueTable(id, heads, rows, cells) {
  return el('div', { class: 'scroll', tabindex: '0' }, el('table', { id },
    el('thead', {}, el('tr', {}, heads.map(h => el('th', { text: h })))),
    el('tbody', {}, rows.map(cells))));
}

function queueHead(title, q) {
  const n = q.capped ? q.count + '+' : String(q.count);
  return el('h2', {}, title + ' ', el('span', { class: 'count' + (q.count ? ' hot' : ''), text: n }));
}

function signsOrSyndrome(x) {
  return x.syndrome ? codeLabel('syndrome', x.syndrome) : 'U: ' + (x.signs || []).join(', ');
}

async function showHome(seq) {
  const r = await api('GET', '/api/v1/queues');
  const dr = await draftsSection();
  if (stale(seq)) return;
  const ok = sessionStorage.getItem('flash');
  sessionStorage.removeItem('flash');
  clear(main).append(
    el('div', { class: 'notice ok', role: 'status', id: 'flash', text: ok || '' }),
    el('h1', { text: t('work') }), dr || '');
  if (r.status !== 200) { main.append(el('p', { class: 'notice bad', text: t('offline_page') })); return; }
  const d = r.data;

  const aw = d.awaiting;
  main.append(queueHead(t('awaiting'), aw), el('p', { class: 'muted',
    text: t('target') + ': ' + d.target_h + ' ' + t('hours') }));
  if (!aw.rows.length) main.append(el('p', { class: 'muted', text: t('awaiting_none') }));
  else main.append(queueTable('queue-awaiting', [t('ref'), t('age'), t('syndrome'), t('village'), t('animals')],
    aw.rows, x => {
      const late = x.age_h >= d.target_h;
      return el('tr', { class: late ? 'late' : null, 'data-ref': x.ref },
        el('td', {}, caseLink(x.ref)),
        el('td', { class: 'age' }, x.age_h + ' ' + t('hours'), late ? el('span', { class: 'badge rejected', text: t('late') }) : null),
        el('td', { text: codeLabel('syndrome', x.syndrome) }),
        el('td', { text: x.village_name || x.village }), el('td', { text: animalsText(x.animals) }));
    }));

  const no = d.no_outcome;
  main.append(queueHead(t('no_outcome'), no));
  if (!no.rows.length) main.append(el('p', { class: 'muted', text: t('no_outcome_none') }));
  else main.append(queueTable('queue-no-outcome', [t('ref'), t('age'), t('event_date'), t('village'), t('kind')],
    no.rows, x => el('tr', { 'data-ref': x.ref },
      el('td', {}, caseLink(x.ref)), el('td', { class: 'age', text: x.age_d + ' ' + t('days') }),
      el('td', { text: x.event_date }),
      el('td', { text: x.village_name || x.village }), el('td', { text: signsOrSyndrome(x) }))));

  const rj = d.rejected;
  main.append(queueHead(t('rejected_q'), rj));
  if (!rj.rows.length) { main.append(el('p', { class: 'muted', text: t('rejected_none') })); return; }
  main.append(queueTable('queue-rejected', [t('record'), t('reason'), ''], rj.rows, x => {
    const btn = session.may.entry ? el('button', { type: 'button', class: 'secondary', text: t('resend'),
      onclick: async () => {
        btn.disabled = true;
        const s = await api('POST', '/api/v1/resend', { row_id: x.row_id });
        if (s.status === 200) { flash(t('resent')); route(); }
        else { btn.disabled = false; alertText(s); }
      } }) : null;
    /* a refused case report may be corrected in its form */
    const fix = session.may.entry && x.tbl === 'case_report' && x.ref
      ? el('a', { class: 'button secondary', href: '#case?fix=' + encodeURIComponent(x.ref), text: t('correct') }) : null;
    return el('tr', { 'data-row': x.row_id },
      el('td', {}, x.ref ? caseLink(x.ref) : '', el('div', { class: 'muted', text: TABLE_TEXT[x.tbl] ? t(TABLE_TEXT[x.tbl]) : x.tbl })),
      el('td', { text: x.error || '' }), el('td', {}, fix, ' ', btn));
  }));
}

function alertText(r) {
  const m = (r.data && r.data.error && r.data.error.message) || t('error') + ' ' + r.status;
  main.prepend(el('div', { class: 'notice bad', role: 'alert', text: m }));
}

/* ------------------------------------------------------------------ the case page */

function dl(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(p => p[1] !== null && p[1] !== undefined && p[1] !== '')
    .map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]).flat());
}

function herdText(list, keys) {
  return (list || []).map(a => codeLabel('species', a.species) + ': ' +
    keys.filter(k => a[k] !== undefined).map(k => a[k] + ' ' + t(k).toLowerCase()).join(', ')).join('; ');
}

function correctedBadge(x) {
  return x.origin === 'central' ? el('span', { class: 'badge conflict', title: t('corrected_note'),
                                                text: t('corrected') }) : null;
}

function caseFacts(c) {
  return dl([
    [t('kind'), c.kind === 'P' ? t('kind_P') : t('kind_U')],
    [c.kind === 'P' ? t('syndrome') : t('signs'), c.kind === 'P' ? codeLabel('syndrome', c.syndrome)
      : (c.signs || []).map(s => codeLabel('sign', s)).join(', ')],
    [t('animals'), herdText(c.animals, ['sick', 'dead', 'at_risk'])],
    [t('village'), (c.village_name || '') + ' (' + c.village + ')'],
    [t('kecamatan'), c.kecamatan_name],
    [t('event_date'), c.event_date],
    [t('ddx'), (c.ddx || []).map(x => codeLabel('disease', x)).join(', ')],
    [t('reporter'), c.reporter ? (c.reporter_name ? c.reporter_name + ' ' : '') + c.reporter : null],
    [t('location'), c.lat !== undefined ? Number(c.lat).toFixed(5) + ', ' + Number(c.lon).toFixed(5) : null],
    [t('note'), c.note],
    [t('created'), localTime(c.created_at)],
    [t('sync'), el('span', {}, badge(c.sync, c.sync_error), c.sync_error ? ' ' + c.sync_error : '')],
  ]);
}

function followupTable(rows) {
  if (!rows.length) return el('p', { class: 'muted', id: 'no-followups', text: t('no_followups') });
  return queueTable('case-followups', [t('date'), t('outcome'), t('animals'), t('escalate'), t('reporter'), t('sync')],
    rows, f => el('tr', {},
      el('td', { text: f.event_date }),
      el('td', {}, f.outcome ? codeLabel('outcome', f.outcome) : '', correctedBadge(f)),
      el('td', { text: herdText(f.animals, ['sick', 'dead', 'culled', 'at_risk']) }),
      el('td', { text: f.escalate === 1 ? t('yes') : f.escalate === 0 ? t('no') : '' }),
      el('td', { text: (f.reporter_name || '') + ' ' + (f.reporter || '') }),
      el('td', {}, badge(f.sync, f.sync_error))));
}

function smsList(rows) {
  if (!rows.length) return el('p', { class: 'muted', text: t('no_sms') });
  return el('ul', { class: 'sms', id: 'case-sms' }, rows.map(m => el('li', {},
    el('div', { class: 'muted', text: localTime(m.received_at) + ' - ' + t('from') + ' ' +
      (m.sender_name ? m.sender_name + ' ' : '') + m.sender }),
    el('div', { class: 'sms-in', text: m.text }),
    (m.replies || []).map(x => el('div', { class: 'sms-out' },
      el('span', { class: 'muted', text: t(x.kind) + ' ' + t('to').toLowerCase() + ' ' +
        (x.name ? x.name + ' ' : '') + x.phone + ': ' }), x.text)))));
}

/* A follow-up form on the case page: counts (a visit) or the outcome. */
function caseFollowupForm(ref, outcome) {
  const id = outcome ? 'outcome-form' : 'visit-form';
  const form = el('form', { class: 'card', id, novalidate: true });
  const date = el('input', { type: 'date', name: 'event_date', value: today(), max: today() });
  const oc = outcome ? codeSelect('outcome', { name: 'outcome' }) : null;
  const animals = outcome ? null : animalRows(['sick', 'dead', 'culled', 'at_risk']);
  const esc = outcome ? null : el('select', { name: 'escalate' }, el('option', { value: '', text: t('not_given') }),
    el('option', { value: 'Y', text: t('yes') }), el('option', { value: 'T', text: t('no') }));
  form.append(...[el('h2', { text: outcome ? t('record_outcome') : t('record_visit') }),
    el('div', { class: 'notice bad', role: 'alert' }),
    oc ? field('outcome', t('outcome'), oc) : animals.node,
    esc ? field('escalate', t('escalate'), esc) : null,
    field('event_date', t('event_date'), date),
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit', text: t('save') }))]
    .filter(Boolean));
  prefixIds(form, id);
  form.addEventListener('submit', e => {
    e.preventDefault();
    const body = { case_ref: ref, event_date: date.value };
    if (oc) { if (oc.value) body.outcome = oc.value; }
    else {
      body.animals = animals.value();
      if (esc.value) body.escalate = esc.value === 'Y';
    }
    submitForm(form, '/api/v1/followups', body, () => { flash(t('saved_plain')); route(); });
  });
  return form;
}

async function showCasePage(seq) {
  const ref = new URLSearchParams(location.hash.split('?')[1] || '').get('ref') || '';
  const r = await api('GET', '/api/v1/case?ref=' + encodeURIComponent(ref));
  if (stale(seq)) return;
  if (r.status === 404 || r.status === 400) {
    clear(main).append(el('p', { class: 'notice bad', text: t('case_missing') + ' ' + ref }));
    return;
  }
  if (r.status !== 200) return;
  const { report: c, followups, sms } = r.data;
  const ok = sessionStorage.getItem('flash');
  sessionStorage.removeItem('flash');
  const outcome = followups.filter(f => f.outcome).pop();
  clear(main).append(
    el('div', { class: 'notice ok', role: 'status', id: 'flash', text: ok || '' }),
    el('h1', { id: 'case-title' }, t('case_title') + ' ' + c.ref + ' ',
       el('span', { class: 'badge ' + (c.kind === 'P' ? 'rejected' : 'queued'), text: c.kind }), ' ',
       outcome ? el('span', { class: 'badge synced', id: 'case-outcome', text: codeLabel('outcome', outcome.outcome) }) : null,
       ' ', correctedBadge(c)),
    el('section', { class: 'card', 'aria-labelledby': 'h-report' },
      el('h2', { id: 'h-report', text: t('case_report') }), caseFacts(c)),
    el('h2', { text: t('followups') }), followupTable(followups),
    el('h2', { text: t('sms_about') }), smsList(sms));
  if (session.may.entry)
    main.append(el('div', { class: 'two' }, caseFollowupForm(c.ref, false), caseFollowupForm(c.ref, true)));
}
