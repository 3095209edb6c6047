/* ops.js - the operators' pages of sikhnas-web (issue 12): the fleet of
 * district nodes (sortable, filterable, problems highlighted), a node's
 * page with its history as a chart and the revoke action, the job queue
 * of sikhnas-worker with retry and cancel, and the recipients of its
 * emails. Over /api/v1/ops/ (web_ops.c); actions carry the CSRF token.
 * Uses the helpers app.js exports as window.SikhnasApp. */
'use strict';
(function () {
  var A = window.SikhnasApp;
  if (!A || !window.TEXTS) return;      /* app.js or i18n.js did not load: nothing to add to */
  Object.assign(window.TEXTS.id, {
    nav_fleet: 'Armada node', nav_queue: 'Antrean tugas', nav_recipients: 'Penerima email',
    fleet_title: 'Armada node kabupaten', node_title: 'Node', queue_title: 'Antrean tugas pekerja',
    recipients_title: 'Penerima email', problem: 'masalah', any_problem: 'semua',
    silent: 'diam > 72 jam', queue: 'antrean > 24 jam', cert: 'sertifikat < 14 hari',
    clock: 'jam meleset > 5 menit', nodes_n: 'node', with_problems: 'bermasalah',
    name: 'nama', district: 'kabupaten', version: 'versi', last_contact: 'kontak terakhir',
    last_push: 'kirim terakhir', outbox_depth: 'antrean', outbox_oldest_s: 'tertua (s)',
    rows_rejected: 'ditolak', clock_skew_s: 'selisih jam (s)', cert_not_after: 'sertifikat s.d.',
    bytes_7d: 'byte naik/turun 7 hari', last_sms: 'SMS terakhir masuk/keluar', disk: 'disk bebas',
    problems: 'masalah', history: 'Riwayat', contacts: 'kontak per hari', outbox_max: 'antrean maks.',
    revoke: 'Cabut node', revoke_confirm: 'Cabut node ini? Permintaan berikutnya akan ditolak.',
    done_ok: 'Selesai.', state: 'status', kind: 'jenis', idem_key: 'kunci', attempts: 'percobaan',
    run_at: 'dijalankan', last_error: 'galat terakhir', retry: 'Ulangi', cancel: 'Batalkan',
    jobs: 'tugas', oldest_s: 'tertua (s)', email: 'email', role: 'peran', province: 'provinsi',
    national: 'nasional', add: 'Tambah', remove: 'Hapus', opened_at: 'mulai', closed_at: 'selesai',
    st_pending: 'menunggu', st_running: 'berjalan', st_failed: 'gagal, diulang', st_dead: 'mati (berhenti)',
    st_done: 'selesai', st_cancelled: 'dibatalkan'
  });
  Object.assign(window.TEXTS.en, {
    nav_fleet: 'Node fleet', nav_queue: 'Job queue', nav_recipients: 'Email recipients',
    fleet_title: 'District node fleet', node_title: 'Node', queue_title: 'Workers\' job queue',
    recipients_title: 'Email recipients', problem: 'problem', any_problem: 'any',
    silent: 'silent > 72 h', queue: 'queue > 24 h', cert: 'certificate < 14 days',
    clock: 'clock off > 5 min', nodes_n: 'nodes', with_problems: 'with problems',
    name: 'name', district: 'district', version: 'version', last_contact: 'last contact',
    last_push: 'last push', outbox_depth: 'outbox', outbox_oldest_s: 'oldest (s)',
    rows_rejected: 'rejected', clock_skew_s: 'clock skew (s)', cert_not_after: 'certificate until',
    bytes_7d: 'bytes up/down 7 days', last_sms: 'last SMS in/out', disk: 'free disk',
    problems: 'problems', history: 'History', contacts: 'contacts per day', outbox_max: 'outbox max.',
    revoke: 'Revoke node', revoke_confirm: 'Revoke this node? Its next request will be refused.',
    done_ok: 'Done.', state: 'state', kind: 'kind', idem_key: 'key', attempts: 'attempts',
    run_at: 'run at', last_error: 'last error', retry: 'Retry', cancel: 'Cancel',
    jobs: 'jobs', oldest_s: 'oldest (s)', email: 'email', role: 'role', province: 'province',
    national: 'national', add: 'Add', remove: 'Remove', opened_at: 'opened', closed_at: 'closed',
    st_pending: 'pending', st_running: 'running', st_failed: 'failed, retrying', st_dead: 'dead (stopped)',
    st_done: 'done', st_cancelled: 'cancelled'
  });
  var t = A.t, el = A.el;
  var PROBLEMS = ['silent', 'queue', 'cert', 'clock'];

  function get(name, params) {
    var q = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) { if (params[k]) q.set(k, params[k]); });
    return fetch('/api/v1/ops/' + name + '?' + q.toString(), { credentials: 'same-origin' })
      .then(function (r) {
        return r.json().then(function (b) { if (!r.ok) throw new Error(b.message || b.error); return b; });
      });
  }
  function post(name, body) {
    return fetch('/api/v1/ops/' + name, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': A.who().csrf },
      body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (b) { if (!r.ok) throw new Error(b.message || b.error); return b; });
      });
  }
  function bytes(v) {
    if (v === null || v === undefined) return '';
    var u = ['B', 'kB', 'MB', 'GB', 'TB'], i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(1) : v) + ' ' + u[i];
  }
  function when(v) { return v ? String(v).replace('T', ' ').slice(0, 16) : ''; }
  function hasProblem(r, p) { return (' ' + (r.problems || '') + ' ').indexOf(' ' + p + ' ') >= 0; }
  function mark(p) {       /* a cell highlighted when its node has problem p */
    return function (r) { return hasProblem(r, p) ? 'bad' : ''; };
  }

  /* a sortable table: cols [{key, label, value, link, num, cls(r)}] */
  function sortable(cols, rows, state, redraw) {
    var tbl = A.table(cols, rows, function (r) { return r.problems ? 'problem' : ''; });
    tbl.querySelectorAll('th').forEach(function (th, i) {
      var c = cols[i];
      if (!c.sort) return;
      th.classList.add('sort');
      if (state.sort === c.sort) th.classList.add(state.desc ? 'desc' : 'asc');
      th.onclick = function () {
        state.desc = state.sort === c.sort ? !state.desc : false;
        state.sort = c.sort;
        redraw();
      };
    });
    tbl.querySelectorAll('tbody tr').forEach(function (tr, i) {
      var r = rows[i];
      if (!r) return;
      tr.dataset.node = r.node_id;
      tr.querySelectorAll('td').forEach(function (td, j) {
        if (cols[j].cls) { var k = cols[j].cls(r); if (k) td.classList.add(k); }
      });
    });
    return tbl;
  }

  var fleetState = { sort: 'problems', desc: true, area: '', problem: '' };
  function fleet() {
    var p = A.page(t('fleet_title'));
    var area = el('input', { id: 'fleet-area', size: 6, inputmode: 'numeric', value: fleetState.area });
    var sel = el('select', { id: 'fleet-problem' }, [el('option', { value: '', text: t('any_problem') })]
      .concat(PROBLEMS.map(function (x) { return el('option', { value: x, text: t(x) }); })));
    sel.value = fleetState.problem;
    var apply = el('button', { type: 'button', id: 'fleet-apply', text: t('apply') });
    apply.onclick = function () { fleetState.area = area.value; fleetState.problem = sel.value; fleet(); };
    p.appendChild(el('div', { class: 'opsbar' }, [el('label', { text: t('area') + ' ' }, [area]),
      el('label', { text: t('problem') + ' ' }, [sel]), apply]));
    get('fleet', { area: fleetState.area, problem: fleetState.problem, sort: fleetState.sort,
                   desc: fleetState.desc ? '1' : '' }).then(function (rows) {
      var bad = rows.filter(function (r) { return r.problems; }).length;
      p.appendChild(el('p', { id: 'fleet-summary', text: rows.length + ' ' + t('nodes_n') + ', ' +
                                                          bad + ' ' + t('with_problems') }));
      p.appendChild(sortable([
        { key: 'district', sort: 'district', value: function (r) { return r.district + ' ' + (r.district_name || ''); } },
        { key: 'name', sort: 'name', link: function (r) { return '#/node/' + encodeURIComponent(r.node_id); } },
        { key: 'version', sort: 'version' },
        { key: 'last_contact', sort: 'last_contact', value: function (r) { return when(r.last_contact); }, cls: mark('silent') },
        { key: 'last_push', sort: 'last_push', value: function (r) { return when(r.last_push); } },
        { key: 'outbox_depth', sort: 'outbox_depth', num: 1 },
        { key: 'outbox_oldest_s', sort: 'outbox_oldest_s', num: 1, cls: mark('queue') },
        { key: 'rows_rejected', sort: 'rows_rejected', num: 1 },
        { key: 'clock_skew_s', sort: 'clock_skew_s', num: 1, cls: mark('clock') },
        { key: 'cert_not_after', sort: 'cert_not_after', value: function (r) { return when(r.cert_not_after).slice(0, 10); }, cls: mark('cert') },
        { key: 'bytes_7d', value: function (r) { return bytes(r.bytes_up_7d) + ' / ' + bytes(r.bytes_down_7d); } },
        { key: 'last_sms', value: function (r) { return when(r.last_sms_in) + ' / ' + when(r.last_sms_out); } },
        { key: 'disk', sort: 'disk_free', value: function (r) { return bytes(r.disk_free); } },
        { key: 'problems', sort: 'problems', value: function (r) {
          return (r.problems || '').split(' ').filter(Boolean).map(t).join(', '); } }
      ], rows, fleetState, fleet));
    }).catch(function (e) { A.fail(p, e); });
  }

  function nodePage(args) {
    var id = decodeURIComponent((args && args[0]) || '');
    var p = A.page(t('node_title') + ' ' + id);
    Promise.all([get('fleet', { node: id }), get('node_history', { id: id, days: 365 }),
                 get('node_problems', { id: id })]).then(function (res) {
      var n = res[0][0];
      if (!n) { A.fail(p, new Error(t('no_data'))); return; }
      p.querySelector('h1').textContent = t('node_title') + ' ' + n.name + ' (' + n.district + ' ' + (n.district_name || '') + ')';
      var facts = ['version', 'last_contact', 'last_push', 'outbox_depth', 'outbox_oldest_s', 'rows_rejected',
                   'clock_skew_s', 'cert_not_after', 'problems'];
      p.appendChild(A.table([{ key: 'k', label: 'name' }, { key: 'v', label: 'value' }],
        facts.map(function (k) { return { k: t(k), v: n[k] }; })
          .concat([{ k: t('bytes_7d'), v: bytes(n.bytes_up_7d) + ' / ' + bytes(n.bytes_down_7d) },
                   { k: t('last_sms'), v: when(n.last_sms_in) + ' / ' + when(n.last_sms_out) },
                   { k: t('disk'), v: bytes(n.disk_free) + ' / ' + bytes(n.disk_total) }])));
      p.appendChild(el('h2', { text: t('history') }));
      var box = el('div', { class: 'chart' }, [el('canvas', { id: 'node-chart' })]);
      p.appendChild(box);
      var h = res[1];
      A.chart(new window.Chart(box.querySelector('canvas'), {
        type: 'bar',
        data: { labels: h.map(function (r) { return r.day; }),
                datasets: [{ label: t('contacts'), data: h.map(function (r) { return r.contacts; }), backgroundColor: '#1f4e79', yAxisID: 'y' },
                           { label: t('outbox_max'), data: h.map(function (r) { return r.outbox_max; }), borderColor: '#b00020', type: 'line', yAxisID: 'y1', pointRadius: 0 }] },
        options: { maintainAspectRatio: false, animation: false,
                   scales: { y: { position: 'left' }, y1: { position: 'right', grid: { drawOnChartArea: false } } } }
      }));
      p.appendChild(A.table([{ key: 'problem' }, { key: 'opened_at', value: function (r) { return when(r.opened_at); } },
                             { key: 'closed_at', value: function (r) { return when(r.closed_at); } }], res[2]));
      var rv = el('button', { type: 'button', id: 'node-revoke', class: 'danger', text: t('revoke') });
      rv.onclick = function () {
        if (!window.confirm(t('revoke_confirm'))) return;
        post('node_revoke', { node: id }).then(function () { location.hash = '#/fleet'; })
          .catch(function (e) { A.fail(p, e); });
      };
      p.appendChild(rv);
    }).catch(function (e) { A.fail(p, e); });
  }

  var queueState = { state: '' };
  function queuePage() {
    var p = A.page(t('queue_title'));
    Promise.all([get('queue_counts'), get('queue', { state: queueState.state })]).then(function (res) {
      var cards = el('div', { class: 'cards' });
      res[0].forEach(function (c) {
        var card = el('a', { class: 'card state-' + c.state + (queueState.state === c.state ? ' active' : ''),
                             href: '#/queue', id: 'count-' + c.state },
                      [el('div', { text: t('st_' + c.state) }), el('div', { class: 'n', text: A.fmt(c.jobs) })]);
        card.onclick = function (ev) {
          ev.preventDefault();
          queueState.state = queueState.state === c.state ? '' : c.state;
          queuePage();
        };
        cards.appendChild(card);
      });
      p.appendChild(cards);
      var rows = res[1];
      var tbl = A.table([{ key: 'id', num: 1 }, { key: 'kind' }, { key: 'idem_key' }, { key: 'state', value: function (r) { return t('st_' + r.state); } },
        { key: 'attempts', num: 1 }, { key: 'run_at', value: function (r) { return when(r.run_at); } },
        { key: 'last_error' }, { key: 'actions', label: ' ' }], rows,
        function (r) { return 'job-' + r.state; });
      tbl.querySelectorAll('tbody tr').forEach(function (tr, i) {
        var r = rows[i], td = tr.querySelector('td[data-key=actions]');
        if (!r || !td) return;
        tr.dataset.job = r.id;
        [['retry', ['failed', 'dead', 'cancelled'], 'job_retry'],
         ['cancel', ['pending', 'failed', 'dead'], 'job_cancel']].forEach(function (a) {
          if (a[1].indexOf(r.state) < 0) return;
          var b = el('button', { type: 'button', class: 'act-' + a[0], text: t(a[0]) });
          b.onclick = function () {
            b.disabled = true;
            post(a[2], { id: r.id }).then(queuePage).catch(function (e) { A.fail(p, e); });
          };
          td.appendChild(b);
        });
      });
      p.appendChild(tbl);
    }).catch(function (e) { A.fail(p, e); });
  }

  function recipients() {
    var p = A.page(t('recipients_title'));
    var f = el('form', { id: 'recipient-add', class: 'opsbar' }, [
      el('input', { name: 'email', type: 'email', required: '', placeholder: 'nama@example.go.id' }),
      el('select', { name: 'role' }, ['vet', 'analyst', 'operator'].map(function (x) {
        return el('option', { value: x, text: x }); })),
      el('input', { name: 'province', size: 3, inputmode: 'numeric', placeholder: t('national') }),
      el('input', { name: 'name', placeholder: t('name') }),
      el('button', { type: 'submit', text: t('add') })]);
    f.onsubmit = function (ev) {
      ev.preventDefault();
      var d = new FormData(f);
      post('recipient_add', { email: d.get('email'), role: d.get('role'), province: d.get('province'),
                              name: d.get('name') }).then(recipients).catch(function (e) { A.fail(p, e); });
    };
    p.appendChild(f);
    get('recipients').then(function (rows) {
      var tbl = A.table([{ key: 'email' }, { key: 'name' }, { key: 'role' },
        { key: 'province', value: function (r) { return r.province || t('national'); } },
        { key: 'actions', label: ' ' }], rows);
      tbl.querySelectorAll('tbody tr').forEach(function (tr, i) {
        var r = rows[i], td = tr.querySelector('td[data-key=actions]');
        if (!r || !td) return;
        var b = el('button', { type: 'button', class: 'act-remove', text: t('remove') });
        b.onclick = function () { post('recipient_remove', { id: r.id }).then(recipients).catch(function (e) { A.fail(p, e); }); };
        td.appendChild(b);
      });
      p.appendChild(tbl);
    }).catch(function (e) { A.fail(p, e); });
  }

  Object.assign(A.pages, { fleet: fleet, node: nodePage, queue: queuePage, recipients: recipients });
})();
