/* app.js - the analysts' pages of sikhnas-web: one page app over the JSON
 * API (/api/v1/data/NAME), with Chart.js for the curves and Leaflet (with
 * markercluster) for the map, both served by the app itself. Texts come
 * from i18n.js; the language is remembered in localStorage. */
'use strict';
(function () {
  var S = { who: null, lang: localStorage.getItem('lang') || 'id', chart: null, map: null };
  var $ = function (id) { return document.getElementById(id); };
  function t(k) { return (TEXTS[S.lang] && TEXTS[S.lang][k]) || k; }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') return v.toLocaleString(S.lang === 'id' ? 'id-ID' : 'en-GB');
    if (typeof v === 'boolean') return v ? '✓' : '';
    return String(v);
  }
  function iso(d) { return d.toISOString().slice(0, 10); }
  function daysAgo(n) { return iso(new Date(Date.now() - n * 86400000)); }

  function applyTexts() {
    document.documentElement.lang = S.lang;
    document.querySelectorAll('[data-t]').forEach(function (e) { e.textContent = t(e.dataset.t); });
    $('lang').textContent = S.lang === 'id' ? 'EN' : 'ID';
  }

  /* ------------------------------------------------------------ API */
  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== '' && params[k] !== undefined && params[k] !== null) q.set(k, params[k]);
    });
    return q.toString();
  }
  function api(name, params) {
    return fetch('/api/v1/data/' + name + '?' + query(params || {}), { credentials: 'same-origin' })
      .then(function (r) {
        if (r.status === 401) { showLogin(); throw new Error(t('login_title')); }
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(t(body.error) !== body.error ? t(body.error) : body.message);
          return body;
        });
      });
  }
  function filters(extra) {
    var f = { from: $('f-from').value, to: $('f-to').value, species: $('f-species').value.toUpperCase(),
              code: $('f-code').value.toUpperCase(), area: $('f-area').value };
    Object.keys(extra || {}).forEach(function (k) { f[k] = extra[k]; });
    return f;
  }
  /* download links; fileOnly: no JSON link (a table the page does not
   * read, such as the epi table of every area, species and code) */
  function exportLinks(name, params, geo, fileOnly) {
    var box = el('div', { class: 'exports' }, [el('span', { text: t('export') + ': ' })]);
    ['csv', 'xlsx'].concat(geo ? ['geojson'] : []).forEach(function (f) {
      var p = Object.assign({}, params, { format: f });
      box.appendChild(el('a', { href: '/api/v1/data/' + name + '?' + query(p), download: '',
                                'data-format': f, text: f.toUpperCase() }));
    });
    if (!fileOnly) box.appendChild(el('a', { href: '/api/v1/data/' + name + '?' + query(params), text: 'JSON' }));
    return box;
  }
  function table(cols, rows, rowClass) {
    var head = el('tr', {}, cols.map(function (c) {
      return el('th', { class: c.num ? 'num' : '', text: t(c.label || c.key) });
    }));
    var body = el('tbody', {}, rows.map(function (r, i) {
      var tr = el('tr', { class: rowClass ? rowClass(r) : '' }, cols.map(function (c) {
        var v = c.value ? c.value(r, i) : r[c.key];
        var td = el('td', { class: c.num ? 'num' : '', 'data-key': c.key });
        if (c.link) td.appendChild(el('a', { href: c.link(r), text: fmt(v) }));
        else td.textContent = fmt(v);
        return td;
      }));
      return tr;
    }));
    if (!rows.length) body.appendChild(el('tr', {}, [el('td', { colspan: cols.length, text: t('no_data') })]));
    return el('table', {}, [el('thead', {}, [head]), body]);
  }
  /* what a replaced version held that the next one changed: "field: old value" */
  var PROVENANCE = ['id', 'origin', 'hlc', 'created_at', 'updated_at', 'received_at', 'src_node', 'src_batch', 'src_hlc', 'geom', 'village_name', 'followups', 'conflicts', 'versions'];
  function changed(old, next) {
    return Object.keys(old || {}).filter(function (k) {
      return PROVENANCE.indexOf(k) < 0 && JSON.stringify(old[k]) !== JSON.stringify(next[k]);
    }).map(function (k) { return k + ': ' + JSON.stringify(old[k]); }).join('; ');
  }
  function page(title) {
    var p = $('page');
    p.innerHTML = '';
    p.appendChild(el('h1', { text: title }));
    if (S.chart) { S.chart.destroy(); S.chart = null; }
    if (S.map) { S.map.remove(); S.map = null; }
    return p;
  }
  function fail(p, e) {
    if (window.console) console.error(e);
    p.appendChild(el('p', { class: 'error', id: 'error', text: e.message || String(e) }));
  }

  /* the helpers the operators' pages (ops.js) use, and their pages */
  window.SikhnasApp = { el: el, t: t, fmt: fmt, table: table, page: page, fail: fail, pages: {},
                        who: function () { return S.who; },
                        chart: function (c) { S.chart = c; } };

  /* ------------------------------------------------------------ pages */
  function overview() {
    var p = page(t('nav_overview'));
    var cards = el('div', { class: 'cards' });
    p.appendChild(cards);
    function card(id, label, n, cls) {
      cards.appendChild(el('div', { class: 'card', id: id }, [
        el('div', { class: 'n ' + (cls || ''), text: fmt(n) }), el('div', { text: t(label) })]));
    }
    var f = filters({ from: daysAgo(35), to: daysAgo(0) });
    Promise.all([api('weekly', f), api('priority', filters({ open: '1', limit: 500 })), api('completeness', f)])
      .then(function (res) {
        var w = res[0], now = w.length ? w[w.length - 1].reports : 0;
        var prev = w.slice(-5, -1), avg = prev.reduce(function (a, r) { return a + r.reports; }, 0) / (prev.length || 1);
        card('c-this-week', 'this_week', now, now > avg ? 'up' : 'down');
        card('c-last-four', 'last_four', Math.round(avg * 10) / 10);
        card('c-open', 'open_events', res[1].length);
        var silent = res[2].filter(function (r) { return r.silent; });
        card('c-silent', 'silent', silent.length);
        p.appendChild(el('h2', { text: t('open_events') }));
        p.appendChild(priorityTable(res[1].slice(0, 20)));
        p.appendChild(el('h2', { text: t('silent') }));
        p.appendChild(table([{ key: 'district', label: 'district' }, { key: 'name' },
          { key: 'usual_reports', label: 'usual', num: 1 }, { key: 'weeks_reported_of_8', label: 'weeks_of_8', num: 1 }], silent));
      }).catch(function (e) { fail(p, e); });
  }

  function epi() {
    var p = page(t('nav_epi'));
    var f = filters();
    var box = el('div', { class: 'chart' }, [el('canvas', { id: 'epi-chart' })]);
    p.appendChild(box);
    api('weekly', f).then(function (rows) {
      S.chart = new Chart($('epi-chart'), {
        type: 'bar',
        data: { labels: rows.map(function (r) { return r.week; }),
                datasets: [{ label: t('reports'), data: rows.map(function (r) { return r.reports; }), backgroundColor: '#1f4e79' },
                           { label: t('dead'), data: rows.map(function (r) { return r.dead; }), backgroundColor: '#b00020', type: 'line' }] },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
      });
      p.appendChild(exportLinks('weekly', f));
      p.appendChild(table([{ key: 'week' }, { key: 'reports', num: 1 }, { key: 'villages', num: 1 },
        { key: 'sick', num: 1 }, { key: 'dead', num: 1 }, { key: 'at_risk', num: 1 },
        { key: 'attack_rate_pct', label: 'attack_rate', num: 1 }, { key: 'case_fatality_pct', label: 'cfr', num: 1 }],
        rows.filter(function (r) { return r.reports > 0; })));
      var by = S.who.scope.length === 4 ? 'district' : S.who.scope.length === 2 ? 'district' : 'province';
      p.appendChild(el('h2', { text: t('nav_epi') + ' (' + by + ')' }));
      p.appendChild(exportLinks('epi', Object.assign({ by: by }, f), false, true));
    }).catch(function (e) { fail(p, e); });
  }

  function map() {
    var p = page(t('nav_map'));
    var f = filters();
    p.appendChild(el('p', { id: 'map-note' }));
    p.appendChild(el('div', { id: 'map' }));
    /* no animations: a page left while one runs would leave it without its map */
    S.map = L.map('map', { maxZoom: 18, zoomAnimation: false, fadeAnimation: false,
                           markerZoomAnimation: false }).setView([-2.5, 118], 5);
    if (S.who.tile_url) L.tileLayer(S.who.tile_url, { maxZoom: 18, attribution: '&copy; OpenStreetMap' }).addTo(S.map);
    /* the points come as spots ([lon, lat, cases, ...]: no ids, no repeated
     * keys); a clicked point asks for the cases at its spot (map_at) */
    Promise.all([api('map_districts', f), api('map_points_compact', Object.assign({ limit: 20000 }, f))]).then(function (res) {
      var districts = res[0], pts = res[1][0] || { points: 0, xyn: [] }, max = 1, bounds = [];
      districts.forEach(function (d) { if (d.reports > max) max = d.reports; });
      var layer = L.layerGroup().addTo(S.map);
      districts.forEach(function (d) {
        if (!d.geom) return;
        var label = (d.name || d.district) + ': ' + fmt(d.reports) + ' ' + t('reports');
        if (d.boundary) {
          var g = L.geoJSON(d.geom, { style: { color: '#444', weight: 1, fillColor: '#b00020',
                                              fillOpacity: 0.1 + 0.7 * d.reports / max } });
          g.bindTooltip(label).addTo(layer);
          bounds.push(g.getBounds());
        } else {
          var ll = [d.geom.coordinates[1], d.geom.coordinates[0]];
          L.circleMarker(ll, { radius: 4 + 26 * Math.sqrt(d.reports / max), color: '#b00020',
                               className: 'district-circle' }).bindTooltip(label).addTo(layer);
          bounds.push(L.latLngBounds([ll, ll]));
        }
      });
      var cluster = L.markerClusterGroup({ animate: false, animateAddingMarkers: false });
      for (var i = 0; i + 2 < pts.xyn.length; i += 3) {
        for (var k = 0; k < pts.xyn[i + 2]; k++) cluster.addLayer(spotMarker(pts.xyn[i], pts.xyn[i + 1], f));
      }
      S.map.addLayer(cluster);
      if (bounds.length) S.map.fitBounds(bounds.reduce(function (a, b) { return a.extend(b); }), { animate: false });
      $('map-note').textContent = t('map_note_districts') + ' (' + districts.length + '); ' +
        t('map_note_points') + ' (' + pts.points + ')';
      $('map').dataset.districts = districts.length;
      $('map').dataset.points = pts.points;
      p.appendChild(exportLinks('map_points', f, true));
    }).catch(function (e) { fail(p, e); });
  }

  /* a case point at (lon, lat); its popup lists the newest cases there */
  function spotMarker(lon, lat, f) {
    var m = L.marker([lat, lon]).bindPopup(t('loading'));
    m.on('popupopen', function (ev) {
      api('map_at', Object.assign({}, f, { lon: String(lon), lat: String(lat), limit: 20 })).then(function (rows) {
        ev.popup.setContent(el('div', { class: 'map-at' }, rows.map(function (c) {
          return el('div', {}, [el('a', { href: '#/case/' + encodeURIComponent(c.id), text: c.ref || c.id }),
                                document.createTextNode(' ' + c.event_date + (c.syndrome ? ' ' + c.syndrome : ''))]);
        }).concat(rows.length ? [] : [el('div', { text: t('no_data') })])));
      }).catch(function (e) { ev.popup.setContent(e.message || String(e)); });
    });
    return m;
  }

  function drill(area) {
    var p = page(t('nav_table'));
    var f = filters({ area: area || '' });
    var crumbs = el('div', { class: 'crumbs' }, [el('a', { href: '#/table', text: t('national') })]);
    [2, 4, 10].forEach(function (n) {
      if (area && area.length >= n) crumbs.appendChild(el('a', { href: '#/table/' + area.slice(0, n), text: '› ' + area.slice(0, n) }));
    });
    p.appendChild(crumbs);
    if (area && area.length >= 10) {
      api('cases', f).then(function (rows) {
        p.appendChild(exportLinks('cases', f, true));
        p.appendChild(table([{ key: 'ref', link: function (r) { return '#/case/' + encodeURIComponent(r.id); } },
          { key: 'event_date', label: 'date' }, { key: 'kind' }, { key: 'syndrome' },
          { key: 'sick', num: 1 }, { key: 'dead', num: 1 }, { key: 'src_node' }], rows));
      }).catch(function (e) { fail(p, e); });
      return;
    }
    api('drill', f).then(function (rows) {
      p.appendChild(exportLinks('drill', f));
      p.appendChild(table([{ key: 'code', label: 'area', link: function (r) { return '#/table/' + r.code; } },
        { key: 'name' }, { key: 'reports', num: 1 }, { key: 'villages', num: 1 },
        { key: 'sick', num: 1 }, { key: 'dead', num: 1 }, { key: 'last_week', label: 'last_week' }], rows));
    }).catch(function (e) { fail(p, e); });
  }

  function casePage(id) {
    var p = page(t('case_title'));
    api('case', { id: id }).then(function (rows) {
      if (!rows.length) { p.appendChild(el('p', { text: t('no_data') })); return; }
      var c = rows[0];
      p.appendChild(table([{ key: 'ref' }, { key: 'kind' }, { key: 'village' }, { key: 'village_name', label: 'name' },
        { key: 'syndrome' }, { key: 'event_date', label: 'date' }, { key: 'signs', value: function (r) { return (r.signs || []).join(', '); } }], [c]));
      p.appendChild(table([{ key: 'species' }, { key: 'sick', num: 1 }, { key: 'dead', num: 1 }, { key: 'at_risk', num: 1 }], c.animals || []));
      p.appendChild(el('h2', { text: t('provenance') }));
      p.appendChild(table([{ key: 'origin' }, { key: 'src_node' }, { key: 'src_batch' }, { key: 'hlc' },
        { key: 'created_at' }, { key: 'updated_at' }, { key: 'received_at' }], [c]));
      p.appendChild(el('h2', { text: t('followups') }));
      p.appendChild(table([{ key: 'event_date', label: 'date' }, { key: 'outcome' }, { key: 'src_node' },
        { key: 'received_at' }, { key: 'note' }], c.followups || []));
      p.appendChild(el('h2', { text: t('conflicts') }));
      p.appendChild(table([{ key: 'logged_at' }, { key: 'winner_node' }, { key: 'winner_hlc' },
        { key: 'loser_node' }, { key: 'loser_hlc' }, { key: 'loser', value: function (r) { return JSON.stringify(r.loser); } }],
        c.conflicts || []));
      /* every version it replaced, with what changed against the next one */
      p.appendChild(el('h2', { text: t('versions') }));
      var vs = c.versions || [];
      p.appendChild(table([{ key: 'replaced_at' }, { key: 'src_node' }, { key: 'hlc' }, { key: 'received_at' },
        { key: 'version', label: 'changed', value: function (r, i) { return changed(r.version, i + 1 < vs.length ? vs[i + 1].version : c); } }],
        vs));
    }).catch(function (e) { fail(p, e); });
  }

  function completeness() {
    var p = page(t('nav_completeness'));
    var f = filters();
    Promise.all([api('completeness', f), api('silent_villages', f)]).then(function (res) {
      p.appendChild(exportLinks('completeness', f));
      p.appendChild(table([{ key: 'week' }, { key: 'district', link: function (r) { return '#/table/' + r.district; } },
        { key: 'name' }, { key: 'reports', num: 1 }, { key: 'villages', num: 1 },
        { key: 'usual_reports', label: 'usual', num: 1 }, { key: 'weeks_reported_of_8', label: 'weeks_of_8', num: 1 },
        { key: 'silent', label: 'status', value: function (r) { return r.silent ? t('silent_yes') : ''; } }],
        res[0], function (r) { return r.silent ? 'silent' : ''; }));
      p.appendChild(el('h2', { text: t('silent_villages') }));
      p.appendChild(exportLinks('silent_villages', f));
      p.appendChild(table([{ key: 'village' }, { key: 'name' }, { key: 'weeks_reported_of_8', label: 'weeks_of_8', num: 1 },
        { key: 'last_week' }], res[1]));
    }).catch(function (e) { fail(p, e); });
  }

  function vaccination() {
    var p = page(t('nav_vaccination'));
    var f = filters();
    api('vaccination', f).then(function (rows) {
      p.appendChild(exportLinks('vaccination', f));
      p.appendChild(table([{ key: 'district' }, { key: 'name' }, { key: 'species' }, { key: 'disease' },
        { key: 'vaccinated', num: 1 }, { key: 'population', num: 1 }, { key: 'coverage_pct', label: 'coverage', num: 1 }], rows));
    }).catch(function (e) { fail(p, e); });
  }

  function movements() {
    var p = page(t('nav_movements'));
    var f = filters();
    Promise.all([api('movements', f), api('slaughter', f)]).then(function (res) {
      p.appendChild(exportLinks('movements', f));
      p.appendChild(table([{ key: 'from_district', label: 'from_area' }, { key: 'from_name', label: 'name' },
        { key: 'to_district', label: 'to_area' }, { key: 'to_name', label: 'name' }, { key: 'species' },
        { key: 'permits', num: 1 }, { key: 'animals', num: 1 }], res[0]));
      p.appendChild(el('h2', { text: t('slaughter') }));
      p.appendChild(exportLinks('slaughter', f));
      p.appendChild(table([{ key: 'district' }, { key: 'name' }, { key: 'species' }, { key: 'reports', num: 1 },
        { key: 'animals', num: 1 }], res[1]));
    }).catch(function (e) { fail(p, e); });
  }

  function priorityTable(rows) {
    return table([{ key: 'ref', link: function (r) { return '#/case/' + encodeURIComponent(r.id); } },
      { key: 'district' }, { key: 'village_name', label: 'name' }, { key: 'syndrome' },
      { key: 'event_date', label: 'date' }, { key: 'sick', num: 1 }, { key: 'dead', num: 1 },
      { key: 'days_to_response', label: 'response_days', num: 1 }, { key: 'outcome' },
      { key: 'open', label: 'status', value: function (r) { return r.open ? t('open') : t('closed'); } }], rows);
  }
  function priority() {
    var p = page(t('nav_priority'));
    var f = filters();
    api('priority', Object.assign({ limit: 500 }, f)).then(function (rows) {
      p.appendChild(exportLinks('priority', f, true));
      p.appendChild(priorityTable(rows));
    }).catch(function (e) { fail(p, e); });
  }

  function ops() {
    var p = page(t('ops_title'));
    fetch('/api/v1/ops/status', { credentials: 'same-origin' }).then(function (r) {
      return r.json().then(function (b) { if (!r.ok) throw new Error(b.message); return b; });
    }).then(function (rows) {
      p.appendChild(table([{ key: 'dirty_keys', label: 'dirty_keys', num: 1 },
        { key: 'aggregates_lag_s', label: 'agg_lag', num: 1 }, { key: 'replica_lag_s', label: 'lag', num: 1 }], rows));
    }).catch(function (e) { fail(p, e); });
  }

  /* ------------------------------------------------------------ shell */
  function route() {
    if (!S.who) return;
    var h = location.hash.replace(/^#\/?/, '') || (S.who.role === 'operator' ? 'fleet' : 'overview');
    var parts = h.split('/');
    document.querySelectorAll('#nav a').forEach(function (a) {
      a.classList.toggle('active', a.getAttribute('href') === '#/' + parts[0]);
    });
    var pages = { overview: overview, epi: epi, map: map, completeness: completeness,
                  vaccination: vaccination, movements: movements, priority: priority, ops: ops };
    Object.assign(pages, window.SikhnasApp.pages);
    if (parts[0] === 'table') drill(parts[1] || '');
    else if (parts[0] === 'case') casePage(decodeURIComponent(parts[1] || ''));
    else (pages[parts[0]] || overview)(parts.slice(1));
  }
  function showLogin() {
    S.who = null;
    $('login').hidden = false;
    $('nav').hidden = $('filters').hidden = $('logout').hidden = true;
    $('page').innerHTML = '';
    $('who').textContent = '';
  }
  function loggedIn(who) {
    S.who = who;
    $('login').hidden = true;
    $('nav').hidden = $('logout').hidden = false;
    $('filters').hidden = who.role === 'operator';
    document.querySelectorAll('#nav-ops, .nav-op').forEach(function (a) { a.hidden = who.role !== 'operator'; });
    $('who').textContent = who.name + ' (' + who.role + (who.scope ? ' ' + who.scope : '') + ')';
    if (!$('f-area').value) $('f-area').value = who.scope;
    lagPoll();
    route();
  }
  function lagPoll() {        /* how far the replica (and the aggregates) lag */
    if (!S.who || S.who.role === 'operator') return;
    api('status', {}).then(function (rows) {
      var s = rows[0];
      $('lag').textContent = t('lag') + ': ' + fmt(s.replica_lag_s) + ' ' + t('seconds') +
        (s.aggregates_lag_s > 0 ? ' / ' + t('agg_lag') + ': ' + fmt(s.aggregates_lag_s) : '');
    }).catch(function () {});
    clearTimeout(S.lagTimer);
    S.lagTimer = setTimeout(lagPoll, 30000);
  }
  function init() {
    applyTexts();
    $('f-from').value = daysAgo(364);
    $('f-to').value = daysAgo(0);
    $('lang').onclick = function () {
      S.lang = S.lang === 'id' ? 'en' : 'id';
      localStorage.setItem('lang', S.lang);
      applyTexts();
      route();
    };
    $('f-apply').onclick = route;
    $('login').onsubmit = function (ev) {
      ev.preventDefault();
      var fd = new FormData($('login'));
      fetch('/api/login', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
                            body: JSON.stringify({ login: fd.get('login'), password: fd.get('password') }) })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, b: b }; }); })
        .then(function (x) {
          if (!x.ok) { $('login-error').textContent = t(x.b.error) !== x.b.error ? t(x.b.error) : x.b.message; return; }
          $('login-error').textContent = '';
          loggedIn(x.b);
        });
    };
    $('logout').onclick = function () {
      fetch('/api/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': S.who.csrf } })
        .then(showLogin);
    };
    window.addEventListener('hashchange', route);
    fetch('/api/me', { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) { showLogin(); return; }
      r.json().then(loggedIn);
    });
  }
  document.addEventListener('DOMContentLoaded', init);
})();
