/* app.js - the officers' pages: plain JavaScript, no build step, no CDN.
 * Every screen talks to the JSON API under /api/v1/ (docs/api.md); the
 * server validates everything and its per-field errors are shown inline,
 * in the officer's language. Text is set with textContent only. */
'use strict';

/* ------------------------------------------------------------------ i18n */

/* Every text of the pages once: [Indonesian, English]. */
const T = {
  login: ['Masuk', 'Log in'],
  phone: ['Nomor HP', 'Mobile number'],
  password: ['Kata sandi', 'Password'],
  logout: ['Keluar', 'Log out'],
  reports: ['Laporan', 'Reports'],
  new_case: ['Laporan kasus', 'Case report'],
  followup: ['Tindak lanjut', 'Follow-up'],
  vaccination: ['Vaksinasi', 'Vaccination'],
  treatment: ['Pengobatan', 'Treatment'],
  movement: ['Izin lalu lintas', 'Movement permit'],
  slaughter: ['Pemotongan', 'Slaughter'],
  population: ['Populasi', 'Population'],
  dashboard: ['Ringkasan', 'Dashboard'],
  map: ['Peta', 'Map'],
  kind: ['Jenis laporan', 'Report type'],
  kind_U: ['U - tanda klinis', 'U - clinical signs'],
  kind_P: ['P - sindrom prioritas', 'P - priority syndrome'],
  subdistrict: ['Kecamatan', 'Sub-district'],
  village: ['Desa', 'Village'],
  choose: ['- pilih -', '- choose -'],
  syndrome: ['Sindrom', 'Syndrome'],
  signs: ['Tanda klinis', 'Clinical signs'],
  animals: ['Hewan', 'Animals'],
  species: ['Jenis hewan', 'Species'],
  sick: ['Sakit', 'Sick'],
  dead: ['Mati', 'Dead'],
  at_risk: ['Terancam', 'At risk'],
  culled: ['Dimusnahkan', 'Culled'],
  primary: ['Dosis pertama', 'Primary'],
  booster: ['Ulangan', 'Booster'],
  n: ['Jumlah ekor', 'Head'],
  add_animal: ['+ Tambah hewan', '+ Add animals'],
  remove: ['Hapus', 'Remove'],
  event_date: ['Tanggal kejadian', 'Event date'],
  issue_date: ['Tanggal terbit', 'Issue date'],
  pin: ['Titik lokasi (boleh kosong)', 'Map pin (optional)'],
  lat: ['Lintang (lat)', 'Latitude'],
  lon: ['Bujur (lon)', 'Longitude'],
  use_gps: ['Pakai lokasi saya', 'Use my location'],
  note: ['Catatan', 'Note'],
  save: ['Simpan', 'Save'],
  saving: ['Menyimpan...', 'Saving...'],
  saved: ['Tersimpan dengan nomor', 'Saved as'],
  queued: ['antri', 'queued'],
  synced: ['terkirim', 'synced'],
  rejected: ['ditolak', 'rejected'],
  conflict: ['konflik', 'conflict'],
  ref: ['Nomor', 'Reference'],
  date: ['Tanggal', 'Date'],
  sync: ['Sinkron', 'Sync'],
  search: ['Cari nomor laporan', 'Search by reference'],
  search_btn: ['Cari', 'Search'],
  no_rows: ['Belum ada laporan.', 'No reports yet.'],
  case_ref: ['Nomor laporan kasus', 'Case report reference'],
  outcome: ['Hasil akhir', 'Outcome'],
  escalate: ['Perlu tindakan lanjut?', 'Needs further action?'],
  yes: ['Ya', 'Yes'],
  no: ['Tidak', 'No'],
  not_given: ['- tidak diisi -', '- not given -'],
  program: ['Program vaksinasi', 'Vaccination programme'],
  disease: ['Penyakit', 'Disease'],
  drug: ['Obat', 'Drug'],
  n_animals: ['Jumlah ekor', 'Head'],
  permit_no: ['Nomor izin (boleh kosong)', 'Permit number (optional)'],
  owner_id: ['ID pemilik', 'Owner ID'],
  owner_phone: ['HP pemilik', 'Owner mobile'],
  from_area: ['Desa asal', 'Village of origin'],
  to_area: ['Tujuan (kode wilayah)', 'Destination (area code)'],
  abattoir: ['RPH (kode)', 'Abattoir (code)'],
  week: ['Minggu ini sejak', 'This week since'],
  by_syndrome: ['Kasus per sindrom', 'Cases by syndrome'],
  by_species: ['Kasus per jenis hewan', 'Cases by species'],
  outbox: ['Antrian kirim', 'Outbox'],
  last_sync: ['Sinkron terakhir', 'Last sync'],
  link: ['Koneksi ke pusat', 'Link to the hub'],
  link_up: ['tersambung', 'up'],
  link_down: ['terputus', 'down'],
  link_never: ['belum pernah', 'never synced'],
  never: ['belum pernah', 'never'],
  reports_n: ['Laporan', 'Reports'],
  total: ['Total laporan', 'All reports'],
  map_title: ['Peta laporan kasus (90 hari)', 'Map of case reports (90 days)'],
  map_none: ['Belum ada laporan dengan titik lokasi.', 'No reports with a map pin yet.'],
  placed_gps: ['dengan GPS', 'with GPS'],
  placed_village: ['di titik desanya (tanpa GPS)', 'at their village (no GPS)'],
  placed_kecamatan: ['di titik kecamatannya (tanpa GPS)', 'at their sub-district (no GPS)'],
  unplaced: ['tanpa lokasi yang diketahui', 'with no known place'],
  map_truncated: ['Hanya 1500 laporan terbaru yang ditampilkan.', 'Only the newest 1500 reports are shown.'],
  map_label: ['Peta laporan kasus; titik berkelompok menunjukkan jumlah laporan', 'Map of case reports; grouped dots show how many'],
  not_allowed: ['Peran Anda tidak boleh membuka halaman ini.', 'Your role may not open this page.'],
  net_error: ['Tidak dapat menghubungi server node.', 'Cannot reach the node.'],
  form_error: ['Periksa isian yang ditandai.', 'Check the marked fields.'],
  unknown_sign: ['U - tanda klinis (tanpa sindrom)', 'U - clinical signs (no syndrome)'],
  recent: ['Catatan terbaru', 'Newest records'],
  saved_plain: ['Tersimpan', 'Saved'],
  role_vet: ['dokter hewan', 'district vet'],
  role_clerk: ['petugas data', 'data clerk'],
  role_reporter: ['pelapor desa', 'village reporter'],
  role_viewer: ['pengamat', 'viewer'],
  error: ['Kesalahan', 'Error'],
  home: ['Beranda', 'Home'],
  work: ['Pekerjaan hari ini', 'Work to do'],
  awaiting: ['Kasus P menunggu tanggapan', 'P cases awaiting a response'],
  awaiting_none: ['Semua kasus P sudah ditanggapi.', 'Every P case has a response.'],
  age: ['Umur', 'Age'],
  hours: ['jam', 'h'],
  days: ['hari', 'days'],
  target: ['Target tanggapan', 'Response target'],
  late: ['terlambat', 'late'],
  no_outcome: ['Kasus tanpa hasil akhir setelah 14 hari', 'Cases without an outcome after 14 days'],
  no_outcome_none: ['Semua kasus lama sudah punya hasil akhir.', 'Every older case has an outcome.'],
  rejected_q: ['Data yang ditolak pusat', 'Records the hub refused'],
  rejected_none: ['Tidak ada data yang ditolak.', 'Nothing refused.'],
  reason: ['Alasan', 'Reason'],
  record: ['Data', 'Record'],
  resend: ['Kirim ulang', 'Send again'],
  resent: ['Masuk antrian kirim lagi.', 'Queued to send again.'],
  correct: ['Perbaiki', 'Correct'],
  correct_title: ['Perbaiki laporan', 'Correct report'],
  hub_reason: ['Ditolak pusat', 'Refused by the hub'],
  corrected: ['Diperbaiki; masuk antrian kirim lagi.', 'Corrected; queued to send again.'],
  open_case: ['Buka kasus', 'Open case'],
  more: ['dan lainnya', 'and more'],
  case_title: ['Kasus', 'Case'],
  case_report: ['Laporan', 'Report'],
  reporter: ['Pelapor', 'Reporter'],
  created: ['Dicatat', 'Recorded'],
  location: ['Lokasi', 'Location'],
  ddx: ['Dugaan penyakit', 'Suspected diseases'],
  followups: ['Tindak lanjut dan hasil', 'Follow-ups and outcome'],
  no_followups: ['Belum ada tindak lanjut.', 'No follow-up yet.'],
  culled: ['Dimusnahkan', 'Culled'],
  sms_about: ['SMS tentang kasus ini', 'SMS about this case'],
  no_sms: ['Tidak ada SMS tentang kasus ini.', 'No SMS about this case.'],
  reply: ['Balasan', 'Reply'],
  alert: ['Peringatan', 'Alert'],
  from: ['Dari', 'From'],
  to: ['Kepada', 'To'],
  corrected: ['dikoreksi pusat', 'corrected centrally'],
  corrected_note: ['Data ini dikoreksi oleh pusat', 'The hub corrected this record'],
  record_visit: ['Catat kunjungan / tindak lanjut', 'Record a visit / follow-up'],
  record_outcome: ['Catat hasil akhir', 'Record the outcome'],
  case_missing: ['Laporan kasus tidak ditemukan.', 'No such case report.'],
  back: ['Kembali', 'Back'],
  state: ['Status', 'State'],
  kecamatan: ['Kecamatan', 'Sub-district'],
  officers: ['Petugas', 'Officers'],
  name: ['Nama', 'Name'],
  role: ['Peran', 'Role'],
  last_sms: ['SMS terakhir', 'Last SMS'],
  active: ['Aktif', 'Active'],
  inactive: ['nonaktif', 'deactivated'],
  add_officer: ['Tambah petugas', 'Add an officer'],
  edit_officer: ['Ubah petugas', 'Edit officer'],
  edit: ['Ubah', 'Edit'],
  cancel: ['Batal', 'Cancel'],
  web_login: ['Login web', 'Web login'],
  has_pw: ['ada', 'set'],
  no_pw: ['belum', 'none'],
  new_password: ['Kata sandi baru (min. 8 karakter)', 'New password (8 characters or more)'],
  set_password: ['Atur kata sandi', 'Set password'],
  password_set: ['Kata sandi baru tersimpan; sesi lama petugas ini berakhir.', 'New password saved; this officer\'s old sessions ended.'],
  phone_hint: ['08..., 628... atau +628...', '08..., 628... or +628...'],
  village_reporter_hint: ['Wajib untuk pelapor desa.', 'Required for a village reporter.'],
  other: ['lainnya', 'other'],
  week_of: ['Minggu', 'Week of'],
  numbers: ['Angka', 'Numbers'],
  this_week: ['Minggu ini', 'This week'],
  last_week: ['Minggu lalu', 'Last week'],
  avg_prev4: ['Rata-rata 4 minggu sebelumnya', 'Average of the 4 weeks before'],
  p_this_week: ['Kasus P minggu ini', 'P cases this week'],
  prev4: ['4 minggu sebelumnya', 'The 4 weeks before'],
  weeks12: ['12 minggu', '12 weeks'],
  weeks_n: ['12 minggu terakhir', 'last 12 weeks'],
  epi_curve: ['Kurva epidemi', 'Epidemic curve'],
  by_syndrome_sign: ['Kasus per sindrom / tanda', 'Cases by syndrome / sign'],
  by_kecamatan: ['Kasus per kecamatan', 'Cases by sub-district'],
  silent: ['Desa yang biasanya melapor tetapi diam minggu ini', 'Villages that usually report and are silent this week'],
  silent_rule: ['Melapor kasus pada 3 minggu atau lebih dari 8 minggu sebelumnya, tanpa laporan minggu ini.',
                'Case reports in 3 or more of the 8 weeks before, none this week.'],
  weeks_reported: ['Minggu dengan laporan', 'Weeks with reports'],
  last_report: ['Laporan terakhir', 'Last report'],
  print_summary: ['Ringkasan mingguan untuk dicetak', 'Weekly summary to print'],
  weekly_title: ['Ringkasan mingguan surveilans', 'Weekly surveillance summary'],
  printed: ['dicetak', 'printed'],
  p_cases_week: ['Kasus P minggu ini', 'P cases this week'],
  responded: ['sudah ditanggapi', 'responded'],
  awaiting_short: ['menunggu tanggapan', 'awaiting a response'],
  print: ['Cetak', 'Print'],
  offline: ['Offline', 'Offline'],
  drafts_waiting: ['draf menunggu dikirim', 'drafts waiting to be sent'],
  draft_saved: ['Tidak tersambung ke server: disimpan sebagai draf di tablet ini, akan dikirim otomatis saat tersambung lagi.',
                'The node is out of reach: saved as a draft on this tablet, sent by itself when back on the LAN.'],
  drafts_here: ['Draf di tablet ini', 'Drafts on this tablet'],
  waiting_for_lan: ['menunggu jaringan kantor', 'waiting for the office LAN'],
  refused_by_node: ['ditolak server', 'refused by the node'],
  send_now: ['Kirim sekarang', 'Send now'],
  offline_page: ['Tablet sedang offline: formulir tetap bisa diisi dan disimpan sebagai draf.',
                 'The tablet is offline: forms still work and are kept as drafts.'],
};

let lang = localStorage.getItem('lang') === 'en' ? 'en' : 'id';
let session = null;     /* GET /api/v1/session */
let codes = null;       /* GET /api/v1/codes */
const main = document.getElementById('main');

function t(k) { return T[k] ? T[k][lang === 'en' ? 1 : 0] : k; }
function label(c) { return c ? (lang === 'en' ? c.en : c.id) : ''; }
function codeLabel(list, code) {
  const c = codes && codes[list] && codes[list].find(x => x.code === code);
  return c ? code + ' - ' + label(c) : code;
}

/* ------------------------------------------------------------------ DOM */

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false)
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function clear(e) { while (e.firstChild) e.firstChild.remove(); return e; }
function today() {
  const d = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 10);
}
/* A UTC time from the API ("2026-11-28T02:15:00Z") in the district's zone,
 * labelled: "2026-11-28 09:15 WIB". */
function localTime(iso) {
  if (!iso) return '';
  const ms = Date.parse(/Z$|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + 'Z');
  if (isNaN(ms)) return iso;
  const off = session && session.tz_offset_min !== undefined ? session.tz_offset_min : 420;
  return new Date(ms + off * 60000).toISOString().slice(0, 16).replace('T', ' ') + ' ' +
    ((session && session.tz) || 'WIB');
}
function caseHref(ref) { return '#casepage?ref=' + encodeURIComponent(ref); }
function caseLink(ref) { return ref ? el('a', { href: caseHref(ref), text: ref }) : ''; }
function badge(state, reason) {
  return el('span', { class: 'badge ' + state, title: reason || null, text: t(state) || state });
}

/* ------------------------------------------------------------------ API */

async function api(method, path, body, headers) {
  const h = Object.assign({ 'Accept-Language': lang }, headers || {});
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method !== 'GET' && session) h['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, { method, headers: h, credentials: 'same-origin',
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    setNet(true);
    return { status: 0, data: { error: { message: t('net_error') } } };
  }
  let data = null;
  if (res.status !== 204) { try { data = await res.json(); } catch (e) { data = null; } }
  /* the service worker marks what it answered from its cache: the node is out of reach */
  setNet(res.headers.get('X-Sikhnas-Offline') === '1');
  if (res.status === 401 && path !== '/api/v1/login') { session = null; showLogin(); }
  return { status: res.status, data };
}

/* ------------------------------------------------------------------ shell */

const PAGES = [
  ['home', 'read'], ['reports', 'read'], ['case', 'case'], ['followup', 'entry'], ['vaccination', 'entry'],
  ['treatment', 'entry'], ['movement', 'entry'], ['slaughter', 'entry'],
  ['population', 'entry'], ['dashboard', 'read'], ['map', 'read'], ['officers', 'entry'],
];

function navLabel(p) { return p === 'case' ? t('new_case') : t(p); }

function drawShell() {
  document.documentElement.lang = lang;
  document.getElementById('lang-btn').textContent = lang === 'id' ? 'EN' : 'ID';
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  document.getElementById('menu-btn').hidden = !session;
  if (!session) return;
  const page = (location.hash || '#home').slice(1).split('?')[0];
  for (const [p, perm] of PAGES)
    if (session.may[perm])
      nav.append(el('a', { href: '#' + p, class: p === page ? 'active' : null, text: navLabel(p) }));
  nav.append(el('a', { href: '#logout', id: 'logout', text: t('logout') }));
  who.textContent = session.officer.name + ' (' + t('role_' + session.officer.role) + ')';
}

document.getElementById('lang-btn').addEventListener('click', () => {
  lang = lang === 'id' ? 'en' : 'id';
  localStorage.setItem('lang', lang);
  route();
});
document.getElementById('menu-btn').addEventListener('click', e => {
  const nav = document.getElementById('nav');
  nav.hidden = !nav.hidden;
  e.currentTarget.setAttribute('aria-expanded', String(!nav.hidden));
});

/* ------------------------------------------------------------------ login */

function showLogin() {
  drawShell();
  const msg = el('div', { class: 'notice bad', id: 'login-error', role: 'alert' });
  const phone = el('input', { id: 'phone', name: 'phone', type: 'tel', autocomplete: 'username',
                              required: true, inputmode: 'tel' });
  const pw = el('input', { id: 'password', name: 'password', type: 'password',
                           autocomplete: 'current-password', required: true });
  const btn = el('button', { class: 'primary', type: 'submit', text: t('login') });
  const form = el('form', { class: 'card login', id: 'login-form', onsubmit: async e => {
    e.preventDefault();
    btn.disabled = true;
    msg.textContent = '';
    const r = await api('POST', '/api/v1/login', { phone: phone.value, password: pw.value });
    btn.disabled = false;
    if (r.status === 200) {
      session = r.data;
      pw.value = '';
      if (!location.hash || location.hash === '#login') location.hash = '#home';
      route();
    } else {
      msg.textContent = (r.data && r.data.error && r.data.error.message) || t('error');
    }
  } },
    el('h1', { text: 'SIKHNAS Edge - ' + t('login') }), msg,
    el('label', { for: 'phone', text: t('phone') }), phone,
    el('label', { for: 'password', text: t('password') }), pw,
    el('div', { class: 'actions' }, btn));
  clear(main).append(form);
  phone.focus();
}

/* ------------------------------------------------------------------ form helpers */

/* Shows the server's refusals beside their fields: "animals[1].sick" goes
 * to that input, else to the slot of "animals", else above the form. All
 * of a submit's refusals ("errors") at once; the first marked field gets
 * the focus. */
/* What to do about a refused field, after the node's reason. */
const HINTS = {
  village: ['Pilih kecamatan, lalu desa.', 'Choose the sub-district, then the village.'],
  from_area: ['Pilih kecamatan, lalu desa asal.', 'Choose the sub-district, then the village of origin.'],
  syndrome: ['Pilih satu sindrom dari daftar.', 'Choose one syndrome from the list.'],
  signs: ['Centang satu tanda klinis atau lebih.', 'Tick one or more clinical signs.'],
  animals: ['Pilih jenis hewan dan isi jumlahnya dengan angka bulat (sakit + mati minimal 1).',
            'Choose the species and give whole numbers (sick + dead at least 1).'],
  event_date: ['Isi tanggal kejadian: hari ini atau sebelumnya.', 'Give the date it happened: today or earlier.'],
  issue_date: ['Isi tanggal terbit: hari ini atau sebelumnya.', 'Give the issue date: today or earlier.'],
  case_ref: ['Tulis nomor laporan kasus, mis. 3201-000123.', 'Write the case report number, e.g. 3201-000123.'],
  lat: ['Isi lintang dan bujur di Indonesia, atau kosongkan keduanya.', 'Give a latitude and longitude in Indonesia, or leave both empty.'],
  lon: ['Isi lintang dan bujur di Indonesia, atau kosongkan keduanya.', 'Give a latitude and longitude in Indonesia, or leave both empty.'],
  outcome: ['Pilih hasil akhir: sembuh, masih sakit atau mati.', 'Choose the outcome: recovered, still sick or dead.'],
  phone: ['Tulis nomor HP Indonesia: 08..., 628... atau +628...', 'Write an Indonesian mobile number: 08..., 628... or +628...'],
  name: ['Tulis nama petugas (maks. 100 karakter).', 'Write the officer\'s name (100 characters at most).'],
  species: ['Pilih jenis hewan dari daftar.', 'Choose the species from the list.'],
  n_animals: ['Isi jumlah ekor dengan angka bulat.', 'Give the number of head as a whole number.'],
  program: ['Tulis kode program vaksinasi.', 'Write the vaccination programme\'s code.'],
};
function hintFor(field) {
  const h = HINTS[(field || '').split(/[\[.]/)[0]];
  return h ? ' ' + h[lang === 'en' ? 1 : 0] : '';
}

function showError(form, err, all) {
  const top = form.querySelector('.notice.bad');
  const tops = [];
  let placed = 0;
  for (const e of all && all.length ? all : [err]) {
    const field = e.field || '';
    const text = e.message + (e.detail ? ' (' + e.detail + ')' : '') + '.' + hintFor(field);
    let slot = null;
    for (let f = field; f; f = f.replace(/(\[\d+\]|\.[a-z_]+)$/, '')) {
      slot = form.querySelector('[data-err="' + CSS.escape(f) + '"]');
      const input = form.querySelector('[data-field="' + CSS.escape(f) + '"]');
      if (input) { input.classList.add('invalid'); input.setAttribute('aria-invalid', 'true'); }
      if (slot || !/[\[.]/.test(f)) break;
    }
    if (slot) { slot.textContent = slot.textContent ? slot.textContent + '; ' + text : text; placed++; }
    else tops.push((field ? field + ': ' : '') + text);
  }
  top.textContent = tops.length ? tops.join('; ') : placed ? t('form_error') : '';
  const first = form.querySelector('.invalid');
  if (first) first.focus();
}
function clearErrors(form) {
  form.querySelectorAll('.err').forEach(e => { e.textContent = ''; });
  form.querySelectorAll('.invalid').forEach(e => { e.classList.remove('invalid'); e.removeAttribute('aria-invalid'); });
  form.querySelectorAll('.notice').forEach(e => { e.textContent = ''; });
}
function errSlot(name) { return el('div', { class: 'err', 'data-err': name, role: 'alert' }); }
function field(name, labelText, input) {
  input.setAttribute('data-field', name);
  if (!input.id) input.id = 'f-' + name;
  return el('div', { class: 'field' }, el('label', { for: input.id, text: labelText }), input,
            errSlot(name));
}
/* Gives the fields of form ids of their own (prefix-f-NAME), for pages
 * with two forms of the same fields; their labels follow. */
function prefixIds(form, prefix) {
  form.querySelectorAll('[id^="f-"]').forEach(e => {
    const lbl = form.querySelector('label[for="' + e.id + '"]');
    e.id = prefix + '-' + e.id;
    if (lbl) lbl.setAttribute('for', e.id);
  });
}
function codeSelect(list, opts) {
  const s = el('select', opts || {});
  s.append(el('option', { value: '', text: t('choose') }));
  for (const c of (codes[list] || [])) s.append(el('option', { value: c.code, text: c.code + ' - ' + label(c) }));
  return s;
}
function numInput(name) { return el('input', { type: 'number', min: '0', step: '1', inputmode: 'numeric', name }); }

/* Sub-district then village: two selects; the village's code is the value. */
function villagePicker(name, labelText, fixed) {
  const sub = el('select', { id: 'f-' + name + '-sub', 'data-field': name + '_sub' });
  const vil = el('select', { id: 'f-' + name, 'data-field': name, name });
  vil.append(el('option', { value: '', text: t('choose') }));
  sub.append(el('option', { value: '', text: t('choose') }));
  api('GET', '/api/v1/areas').then(r => {
    if (r.status !== 200) return;
    for (const a of r.data) sub.append(el('option', { value: a.code, text: a.name }));
    if (fixed) { sub.value = fixed.slice(0, 6); sub.dispatchEvent(new Event('change')); }
  });
  sub.addEventListener('change', async () => {
    clear(vil).append(el('option', { value: '', text: t('choose') }));
    if (!sub.value) return;
    const r = await api('GET', '/api/v1/areas?parent=' + encodeURIComponent(sub.value));
    if (r.status !== 200) return;
    for (const a of r.data) vil.append(el('option', { value: a.code, text: a.name + ' (' + a.code + ')' }));
    if (fixed) vil.value = fixed;
  });
  return el('div', { class: 'row' },
    el('div', {}, el('label', { for: sub.id, text: t('subdistrict') }), sub),
    el('div', {}, el('label', { for: vil.id, text: labelText || t('village') }), vil, errSlot(name)));
}

/* Rows of species with counts; value() gives [{species, count...}]. */
function animalRows(counts) {
  const box = el('div', { class: 'animals' });
  const rows = [];
  function add() {
    const i = rows.length;
    const sp = codeSelect('species', { 'data-field': 'animals[' + i + '].species', id: 'f-animals-' + i + '-species' });
    const inputs = counts.map(c => {
      const n = numInput(c);
      n.setAttribute('data-field', 'animals[' + i + '].' + c);
      n.id = 'f-animals-' + i + '-' + c;
      return [c, n];
    });
    const row = el('div', { class: 'animal' },
      el('div', { class: 'row' },
        el('div', {}, el('label', { for: sp.id, text: t('species') }), sp),
        inputs.map(([c, n]) => el('div', {}, el('label', { for: n.id, text: t(c) }), n))),
      errSlot('animals[' + i + ']'));
    rows.push({ sp, inputs });
    box.append(row);
  }
  add();
  const more = el('button', { type: 'button', class: 'secondary', text: t('add_animal'), onclick: add });
  return {
    node: el('div', {}, el('label', { text: t('animals') }), box, errSlot('animals'), more),
    set(list) {               /* fills the rows from [{species, count...}] */
      list.forEach((a, i) => {
        if (i >= rows.length) add();
        rows[i].sp.value = a.species || '';
        for (const [c, n] of rows[i].inputs) n.value = a[c] === undefined ? '' : a[c];
      });
    },
    value() {
      return rows.filter(r => r.sp.value || r.inputs.some(([, n]) => n.value !== ''))
        .map(r => {
          const o = { species: r.sp.value };
          for (const [c, n] of r.inputs) if (n.value !== '') o[c] = Number(n.value);
          return o;
        });
    },
  };
}

/* Submits body to path and reports the outcome on the form. A record
 * (POST of a record kind) carries the form's idempotency key, made at its
 * first submit; when the node cannot be reached it is kept on the tablet
 * as a draft (offline.js) and sent once the node answers again. */
async function submitForm(form, path, body, done) {
  const btn = form.querySelector('button[type=submit]');
  const record = RECORD_PATHS.test(path);
  clearErrors(form);
  btn.disabled = true;
  btn.textContent = t('saving');
  if (record && !form.dataset.key) form.dataset.key = newKey();
  const r = await api('POST', path, body, record ? { 'Idempotency-Key': form.dataset.key } : undefined);
  btn.disabled = false;
  btn.textContent = t('save');
  if (r.status === 201 || r.status === 200 || r.status === 204) {
    delete form.dataset.key;
    done(r.data);
    return;
  }
  if (record && (r.status === 0 || (r.status === 503 && r.data && r.data.error && r.data.error.code === 'offline'))) {
    const title = form.querySelector('h1, h2');
    await saveDraft(path, body, form.dataset.key, title ? title.textContent : path);
    delete form.dataset.key;
    flash(t('draft_saved'));
    route();
    return;
  }
  const err = (r.data && r.data.error) || { message: t('error') + ' ' + r.status };
  showError(form, err, r.data && r.data.errors);
}
const RECORD_PATHS = /^\/api\/v1\/(reports|followups|vaccinations|treatments|movements|slaughters|populations)$/;

function flash(text) { sessionStorage.setItem('flash', text); }

/* ------------------------------------------------------------------ case report */

/* The case report form; fix (a refused report from GET /api/v1/case) opens
 * it filled in, with the hub's reason at its field, to save a correction. */
function showCase(fix) {
  const form = el('form', { class: 'card', id: 'case-form', novalidate: true });
  const kU = el('input', { type: 'radio', name: 'kind', value: 'U', id: 'kind-U' });
  const kP = el('input', { type: 'radio', name: 'kind', value: 'P', id: 'kind-P', checked: true });
  const fixed = fix ? fix.village : session.officer.role === 'reporter' ? session.officer.village : null;
  const syndrome = codeSelect('syndrome', { name: 'syndrome' });
  const synBox = field('syndrome', t('syndrome'), syndrome);
  const signs = el('div', { class: 'checks', 'data-field': 'signs' },
    (codes.sign || []).map(c => el('label', {}, el('input', { type: 'checkbox', value: c.code, name: 'signs' }),
                                    c.code + ' - ' + label(c))));
  const signBox = el('div', {}, el('label', { text: t('signs') }), signs, errSlot('signs'));
  const animals = animalRows(['sick', 'dead', 'at_risk']);
  const date = el('input', { type: 'date', name: 'event_date', value: today(), max: today() });
  const lat = el('input', { type: 'number', step: 'any', name: 'lat', inputmode: 'decimal' });
  const lon = el('input', { type: 'number', step: 'any', name: 'lon', inputmode: 'decimal' });
  const note = el('textarea', { name: 'note', maxlength: '1000' });
  function kindChanged() { synBox.hidden = !kP.checked; signBox.hidden = !kU.checked; }
  kU.addEventListener('change', kindChanged);
  kP.addEventListener('change', kindChanged);
  const gps = el('button', { type: 'button', class: 'secondary', text: t('use_gps'), onclick: () => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(p => {
      lat.value = p.coords.latitude.toFixed(6);
      lon.value = p.coords.longitude.toFixed(6);
    });
  } });
  form.append(
    el('h1', { text: fix ? t('correct_title') + ' ' + fix.ref : t('new_case') }),
    el('div', { class: 'notice bad', role: 'alert' }),
    el('label', { text: t('kind') }),
    el('div', {}, el('label', { class: 'choice', for: 'kind-P' }, kP, t('kind_P')),
                  el('label', { class: 'choice', for: 'kind-U' }, kU, t('kind_U'))),
    errSlot('kind'),
    villagePicker('village', t('village'), fixed),
    synBox, signBox, animals.node,
    field('event_date', t('event_date'), date),
    el('label', { text: t('pin') }),
    el('div', { class: 'row' },
      el('div', {}, el('label', { for: 'f-lat', text: t('lat') }), (lat.id = 'f-lat', lat), errSlot('lat')),
      el('div', {}, el('label', { for: 'f-lon', text: t('lon') }), (lon.id = 'f-lon', lon), errSlot('lon')),
      el('div', { class: 'end' }, gps)),
    field('note', t('note'), note),
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit', text: t('save') })));
  lat.setAttribute('data-field', 'lat');
  lon.setAttribute('data-field', 'lon');
  if (fix) {
    (fix.kind === 'U' ? kU : kP).checked = true;
    syndrome.value = fix.syndrome || '';
    signs.querySelectorAll('input').forEach(x => { x.checked = (fix.signs || []).includes(x.value); });
    animals.set(fix.animals || []);
    date.value = fix.event_date;
    if (fix.lat !== undefined) { lat.value = fix.lat; lon.value = fix.lon; }
    note.value = fix.note || '';
  }
  kindChanged();
  form.addEventListener('submit', e => {
    e.preventDefault();
    const body = {
      kind: kU.checked ? 'U' : 'P',
      village: form.querySelector('[name=village]').value,
      animals: animals.value(),
      event_date: date.value,
    };
    if (kU.checked) body.signs = [...signs.querySelectorAll('input:checked')].map(x => x.value);
    else body.syndrome = syndrome.value;
    if (lat.value !== '' || lon.value !== '') {
      if (lat.value !== '') body.lat = Number(lat.value);
      if (lon.value !== '') body.lon = Number(lon.value);
    }
    if (note.value.trim()) body.note = note.value;
    if (fix) {
      if ((fix.ddx || []).length) body.ddx = fix.ddx;
      submitForm(form, '/api/v1/correct', { row_id: fix.id, record: body }, () => {
        flash(t('corrected'));
        location.hash = caseHref(fix.ref);
      });
      return;
    }
    submitForm(form, '/api/v1/reports', body, d => {
      flash(t('saved') + ' ' + d.ref + ' (' + t(d.sync) + ')');
      location.hash = caseHref(d.ref);
    });
  });
  clear(main).append(form);
  if (fix && fix.sync_error) showError(form, { field: hubField(fix.sync_error),
                                              message: t('hub_reason') + ': ' + fix.sync_error });
  const fl = sessionStorage.getItem('flash');
  if (fl) { main.prepend(el('div', { class: 'notice ok', role: 'status', id: 'flash', text: fl })); sessionStorage.removeItem('flash'); }
}

/* The form field a hub's refusal names ("unknown village ...", "unknown
 * species code ..."), or '' (the reason then shows above the form). */
function hubField(reason) {
  const m = /\b(village|species|sign|syndrome|event_date|date)\b/.exec(reason || '');
  return !m ? '' : { village: 'village', species: 'animals', sign: 'signs', syndrome: 'syndrome',
                     event_date: 'event_date', date: 'event_date' }[m[1]];
}

/* The case form for correcting refused report ref (#case?fix=REF). */
async function showCorrection(seq, ref) {
  const r = await api('GET', '/api/v1/case?ref=' + encodeURIComponent(ref));
  if (stale(seq)) return;
  if (r.status !== 200) { clear(main).append(el('p', { class: 'notice bad', text: t('error') + ' ' + r.status })); return; }
  showCase(r.data.report);
}

/* ------------------------------------------------------------------ other forms */

/* The other record kinds share one builder: a list of fields, each sent
 * under its name. */
const FORMS = {
  followup: { path: '/api/v1/followups', fields: [
    ['case_ref', 'text'], ['outcome', 'code', 'outcome', true],
    ['animals', 'animals', ['sick', 'dead', 'culled', 'at_risk']], ['escalate', 'yesno'],
    ['event_date', 'date']] },
  vaccination: { path: '/api/v1/vaccinations', fields: [
    ['program', 'text'], ['village', 'village'],
    ['animals', 'animals', ['primary', 'booster']], ['event_date', 'date']] },
  treatment: { path: '/api/v1/treatments', fields: [
    ['case_ref', 'text', null, true], ['village', 'village'], ['species', 'code', 'species'],
    ['drug', 'text'], ['n_animals', 'number'], ['event_date', 'date'], ['note', 'note']] },
  movement: { path: '/api/v1/movements', fields: [
    ['owner_id', 'text'], ['owner_phone', 'text', null, true],
    ['from_area', 'village'], ['to_area', 'text'], ['animals', 'animals', ['n']],
    ['issue_date', 'date']] },
  slaughter: { path: '/api/v1/slaughters', fields: [
    ['abattoir', 'text', null, true], ['village', 'village'], ['species', 'code', 'species'],
    ['n_animals', 'number'], ['event_date', 'date'], ['note', 'note']] },
  population: { path: '/api/v1/populations', fields: [
    ['village', 'village'], ['animals', 'animals', ['n']], ['event_date', 'date']] },
};

function showForm(kind) {
  const spec = FORMS[kind];
  const form = el('form', { class: 'card', id: kind + '-form', novalidate: true });
  const getters = [];
  form.append(el('h1', { text: t(kind) }), el('div', { class: 'notice bad', role: 'alert' }));
  for (const [name, type, arg, optional] of spec.fields) {
    if (type === 'village') {
      form.append(villagePicker(name, t(name)));
      getters.push(b => { b[name] = form.querySelector('[name=' + name + ']').value; });
    } else if (type === 'animals') {
      const a = animalRows(arg);
      form.append(a.node);
      getters.push(b => { b[name] = a.value(); });
    } else {
      let input;
      if (type === 'code') input = codeSelect(arg, { name });
      else if (type === 'date') input = el('input', { type: 'date', name, value: today(), max: today() });
      else if (type === 'number') input = numInput(name);
      else if (type === 'note') input = el('textarea', { name, maxlength: '1000' });
      else if (type === 'yesno') {
        input = el('select', { name }, el('option', { value: '', text: t('not_given') }),
                   el('option', { value: 'Y', text: t('yes') }), el('option', { value: 'T', text: t('no') }));
      } else input = el('input', { type: 'text', name, maxlength: '100' });
      form.append(field(name, t(name), input));
      getters.push(b => {
        const v = input.value.trim();
        if (v === '' && (optional || type === 'note' || type === 'yesno')) return;
        if (type === 'number') b[name] = v === '' ? null : Number(v);
        else if (type === 'yesno') b[name] = v === 'Y';
        else b[name] = v;
      });
    }
  }
  form.append(el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit', text: t('save') })));
  form.addEventListener('submit', e => {
    e.preventDefault();
    const body = {};
    for (const g of getters) g(body);
    submitForm(form, spec.path, body, d => {
      flash((d.ref ? t('saved') + ' ' + d.ref : t('saved_plain')) + ' (' + t(d.sync) + ')');
      clear(main);
      showForm(kind);
      main.prepend(el('div', { class: 'notice ok', role: 'status', text: sessionStorage.getItem('flash') }));
      sessionStorage.removeItem('flash');
    });
  });
  clear(main).append(form);
  const fl = sessionStorage.getItem('flash');
  if (fl) { main.prepend(el('div', { class: 'notice ok', role: 'status', id: 'flash', text: fl })); sessionStorage.removeItem('flash'); }
  showRecent(kind, routeSeq);
}

/* The newest records of a kind under its form, with their sync state. */
async function showRecent(kind, seq) {
  const r = await api('GET', FORMS[kind].path + '?limit=10');
  if (stale(seq) || r.status !== 200 || !r.data.length) return;
  const what = x => (x.animals || []).map(a => a.species + ' ' +
      Object.keys(a).filter(k => k !== 'species').map(k => a[k]).join('/')).join(', ') ||
    [x.species, x.n_animals, x.drug].filter(v => v !== undefined && v !== null).join(' ');
  main.append(el('h2', { text: t('recent') }), el('div', { class: 'scroll', tabindex: '0' }, el('table', { id: kind + '-recent' },
    el('thead', {}, el('tr', {}, [t('date'), t('village'), t('animals'), t('case_title'), t('sync')].map(h => el('th', { text: h })))),
    el('tbody', {}, r.data.map(x => el('tr', {},
      el('td', { text: x.event_date || x.issue_date }),
      el('td', { text: (x.permit_no ? x.permit_no + ' ' : '') + (x.village || x.from_area + ' > ' + x.to_area) }),
      el('td', { text: (x.outcome ? x.outcome + ' ' : '') + what(x) }),
      el('td', {}, caseLink(x.case_ref)),
      el('td', {}, badge(x.sync, x.sync_error))))))));
}


/* ------------------------------------------------------------------ reports list */

function animalsText(list) {
  return (list || []).map(a => a.species + ' ' + (a.sick || 0) + '/' + (a.dead || 0) + '/' + (a.at_risk || 0)).join(', ');
}

async function showReports(seq) {
  const q = new URLSearchParams(location.hash.split('?')[1] || '').get('q') || '';
  const input = el('input', { type: 'search', id: 'search', name: 'q', value: q, placeholder: t('search') });
  const box = el('div', { class: 'scroll', tabindex: '0' });
  const ok = sessionStorage.getItem('flash');
  sessionStorage.removeItem('flash');
  clear(main).append(
    el('div', { class: 'notice ok', role: 'status', id: 'flash', text: ok || '' }),
    el('h1', { text: t('reports') }),
    el('form', { class: 'search', onsubmit: e => { e.preventDefault();
      location.hash = '#reports' + (input.value ? '?q=' + encodeURIComponent(input.value) : ''); } },
      input, el('button', { class: 'secondary', type: 'submit', text: t('search_btn') })),
    box);
  const r = await api('GET', '/api/v1/reports?limit=100' + (q ? '&q=' + encodeURIComponent(q) : ''));
  if (stale(seq) || r.status !== 200) return;
  if (!r.data.length) { box.append(el('p', { class: 'muted', text: t('no_rows') })); return; }
  box.append(el('table', { id: 'reports-table' },
    el('thead', {}, el('tr', {}, [t('ref'), t('date'), t('village'), t('kind'), t('animals') + ' (' +
      t('sick') + '/' + t('dead') + '/' + t('at_risk') + ')', t('sync')].map(h => el('th', { text: h })))),
    el('tbody', {}, r.data.map(x => el('tr', { 'data-ref': x.ref },
      el('td', {}, caseLink(x.ref)), el('td', { text: x.event_date }),
      el('td', { text: x.village_name || x.village }),
      el('td', { text: x.kind === 'P' ? codeLabel('syndrome', x.syndrome) : 'U: ' + (x.signs || []).join(', ') }),
      el('td', { text: animalsText(x.animals) }),
      el('td', {}, badge(x.sync, x.sync_error), x.sync_error ? el('div', { class: 'muted', text: x.sync_error }) : null))))));
}

/* ------------------------------------------------------------------ router */

/* Each navigation gets a number; a page whose data arrives after the officer
 * went elsewhere is not drawn. */
let routeSeq = 0;
const stale = seq => seq !== routeSeq;

async function route() {
  const seq = ++routeSeq;
  const page = (location.hash || '#home').slice(1).split('?')[0];
  if (page === 'logout') {
    await api('POST', '/api/v1/logout', {});
    if (window.caches) await caches.open('sikhnas-v2').then(c => c.delete('/api/v1/session')).catch(() => {});
    session = null;
    location.hash = '#login';
    return;
  }
  if (!session) {
    const r = await api('GET', '/api/v1/session');
    if (stale(seq)) return;
    if (r.status !== 200) { showLogin(); return; }
    session = r.data;
  }
  if (!codes) {
    const r = await api('GET', '/api/v1/codes');
    if (stale(seq) || r.status !== 200) return;
    codes = r.data;
  }
  drawShell();
  drawNet();
  sendDrafts();
  document.getElementById('nav').hidden = window.innerWidth < 860;
  const perm = (PAGES.find(p => p[0] === page) || [null, 'read'])[1];
  if (!session.may[perm]) { clear(main).append(el('p', { class: 'notice bad', text: t('not_allowed') })); return; }
  const fixRef = new URLSearchParams((location.hash.split('?')[1]) || '').get('fix');
  if (page === 'case' && fixRef) showCorrection(seq, fixRef);
  else if (page === 'case') showCase();
  else if (FORMS[page]) showForm(page);
  else if (page === 'dashboard') showDashboard(seq);
  else if (page === 'map') showMap(seq);
  else if (page === 'casepage') showCasePage(seq);
  else if (page === 'officers') showOfficers(seq);
  else if (page === 'weekly') showWeekly(seq);
  else if (page === 'reports') showReports(seq);
  else showHome(seq);
}

window.addEventListener('hashchange', route);
route();
