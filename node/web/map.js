/* map.js - the map of case reports: Leaflet and its marker clusters from
 * Debian, served by the node and loaded on this page only, with no tiles
 * (nothing from the internet): the kecamatan names are the map's labels.
 * Reports without a GPS point (every SMS report) sit at their village's
 * point, or their kecamatan's (GET /api/v1/map, "placed"); reports on one
 * spot cluster into one circle with their count; a dot's popup links to
 * its case. Loaded before app.js, whose helpers it uses. */
'use strict';

function loadLeaflet() {
  ['leaflet.css', 'MarkerCluster.css', 'MarkerCluster.Default.css'].forEach(loadCss);
  return loadScript('leaflet.min.js').then(() => loadScript('leaflet.markercluster.min.js'));
}

function popupOf(p) {
  return el('div', {},
    el('a', { href: caseHref(p.ref), text: p.ref }), el('br'),
    p.event_date + ' - ' + (p.village_name || p.village), el('br'),
    p.syndrome ? codeLabel('syndrome', p.syndrome) : t('kind_U'),
    p.placed !== 'gps' ? el('div', { class: 'muted', text: t('placed_' + p.placed) }) : null);
}

async function showMap(seq) {
  const [r] = await Promise.all([api('GET', '/api/v1/map?days=90'), loadLeaflet()]);
  if (stale(seq) || r.status !== 200) return;
  const feats = r.data.features.filter(f => f.geometry && f.geometry.type === 'Point');
  const n = k => feats.filter(f => f.properties.placed === k).length;
  const box = el('div', { id: 'leaflet-map', class: 'leaflet-box', role: 'region', 'aria-label': t('map_label') });
  clear(main).append(el('h1', { text: t('map_title') }),
    el('p', { class: 'legend' }, el('span', {}, el('span', { class: 'dot P' }), ' ', t('kind_P')),
                                 el('span', {}, el('span', { class: 'dot U' }), ' ', t('kind_U'))),
    box,
    el('p', { class: 'muted', id: 'map-counts', text: feats.length + ' ' + t('reports_n').toLowerCase() + ': ' +
      n('gps') + ' ' + t('placed_gps') + ', ' + n('village') + ' ' + t('placed_village') + ', ' +
      n('kecamatan') + ' ' + t('placed_kecamatan') +
      (r.data.unplaced ? '; ' + r.data.unplaced + ' ' + t('unplaced') : '') +
      (r.data.truncated ? '. ' + t('map_truncated') : '') }));
  if (!feats.length) { box.append(el('p', { class: 'muted', text: t('map_none') })); return; }
  const L = window.L;
  const map = L.map(box, { attributionControl: false, zoomSnap: 0.5, minZoom: 5, maxZoom: 17 });
  const cluster = L.markerClusterGroup({ maxClusterRadius: 40, spiderfyOnMaxZoom: true,
                                         showCoverageOnHover: false });
  for (const f of feats) {
    const [lon, lat] = f.geometry.coordinates;
    const m = L.circleMarker([lat, lon], { radius: 7, weight: 1.5, color: '#fff', fillOpacity: 0.9,
      fillColor: f.properties.kind === 'P' ? '#c0392b' : '#d68910',
      dashArray: f.properties.placed === 'gps' ? null : '2' });
    m.bindPopup(() => popupOf(f.properties));
    m.feature = f;
    cluster.addLayer(m);
  }
  for (const a of r.data.areas || [])
    L.marker([a.lat, a.lon], { interactive: false, keyboard: false,
      icon: L.divIcon({ className: 'area-label', html: el('span', { text: a.name }), iconSize: null }) }).addTo(map);
  map.addLayer(cluster);
  map.fitBounds(cluster.getBounds().pad(0.2), { maxZoom: 14 });
  window.sikhnasMap = { map, cluster };        /* for the browser tests */
}
