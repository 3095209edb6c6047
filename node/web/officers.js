/* officers.js - the officers' page (vet and clerk): the district's officers
 * with each reporter's last SMS; add one; edit, bind a reporter to a
 * village, deactivate or reactivate; set a new web password. The server
 * decides who may manage whom (a clerk: reporters and viewers) and checks
 * every field; all of a form's refusals are shown at once. Loaded before
 * app.js, whose helpers it uses when its functions run. */
'use strict';

const ROLES = ['reporter', 'viewer', 'clerk', 'vet'];

function rolesFor() {
  return session.officer.role === 'vet' ? ROLES : ['reporter', 'viewer'];
}

/* The add form (o null) or the edit form of officer o. */
function officerForm(o) {
  const id = o ? 'officer-edit' : 'officer-add';
  const form = el('form', { class: 'card', id, novalidate: true });
  const name = el('input', { type: 'text', name: 'name', maxlength: '100', value: o ? o.name : null,
                             autocomplete: 'off' });
  const phone = el('input', { type: 'tel', name: 'phone', inputmode: 'tel', value: o ? o.phone : null,
                              autocomplete: 'off', 'aria-describedby': id + '-phone-hint' });
  const role = el('select', { name: 'role' }, rolesFor().map(r =>
    el('option', { value: r, text: t('role_' + r), selected: o && o.role === r })));
  const active = o ? el('input', { type: 'checkbox', name: 'active', id: id + '-active', checked: !!o.active }) : null;
  form.append(...[
    el('h2', { text: o ? t('edit_officer') + ': ' + o.name : t('add_officer') }),
    el('div', { class: 'notice bad', role: 'alert' }),
    field('name', t('name'), name),
    field('phone', t('phone'), phone),
    el('div', { class: 'muted', id: id + '-phone-hint', text: t('phone_hint') }),
    field('role', t('role'), role),
    villagePicker('village', t('village'), o && o.village ? o.village : null),
    el('div', { class: 'muted', text: t('village_reporter_hint') }),
    active ? el('label', { class: 'choice', for: active.id }, active, t('active')) : null,
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit', text: t('save') }),
       o ? el('button', { type: 'button', class: 'secondary', text: t('cancel'), onclick: () => route() }) : null),
  ].filter(Boolean));
  prefixIds(form, id);
  form.addEventListener('submit', e => {
    e.preventDefault();
    const body = { name: name.value.trim(), phone: phone.value.trim(), role: role.value,
                   village: form.querySelector('[name=village]').value };
    if (o) { body.id = o.id; body.active = active.checked; }
    submitForm(form, o ? '/api/v1/officers/update' : '/api/v1/officers', body, () => {
      flash(t('saved_plain') + ': ' + body.name);
      route();
    });
  });
  return form;
}

function passwordForm(o) {
  const form = el('form', { class: 'card', id: 'officer-password', novalidate: true });
  const pw = el('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: '8' });
  form.append(el('h2', { text: t('set_password') + ': ' + o.name }),
    el('div', { class: 'notice bad', role: 'alert' }),
    field('password', t('new_password'), pw),
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit', text: t('set_password') })));
  prefixIds(form, 'officer-password');
  form.addEventListener('submit', e => {
    e.preventDefault();
    submitForm(form, '/api/v1/officers/password', { id: o.id, password: pw.value }, () => {
      pw.value = '';
      flash(t('password_set'));
      route();
    });
  });
  return form;
}

function lastSms(x) {
  if (!x.last_sms) return '';
  return el('div', {}, el('div', { class: 'muted', text: localTime(x.last_sms.received_at) }),
            el('div', { class: 'sms-in', text: x.last_sms.text }));
}

async function showOfficers(seq) {
  const r = await api('GET', '/api/v1/officers');
  if (stale(seq) || r.status !== 200) return;
  const ok = sessionStorage.getItem('flash');
  sessionStorage.removeItem('flash');
  const manageable = new Set(rolesFor());
  const edit = el('div', { id: 'officer-forms' }, officerForm(null));
  clear(main).append(
    el('div', { class: 'notice ok', role: 'status', id: 'flash', text: ok || '' }),
    el('h1', { text: t('officers') }),
    el('div', { class: 'scroll', tabindex: '0' }, el('table', { id: 'officers-table' },
      el('thead', {}, el('tr', {}, [t('name'), t('role'), t('phone'), t('village'), t('last_sms'),
        t('web_login'), ''].map(h => el('th', { text: h })))),
      el('tbody', {}, r.data.map(x => el('tr', { 'data-phone': x.phone, class: x.active ? null : 'inactive' },
        el('td', {}, x.name, x.active ? null : el('span', { class: 'badge never', text: t('inactive') })),
        el('td', { text: t('role_' + x.role) }),
        el('td', { text: x.phone }),
        el('td', { text: x.village ? (x.village_name || '') + ' (' + x.village + ')' : '' }),
        el('td', {}, lastSms(x)),
        el('td', { text: x.has_password ? t('has_pw') : t('no_pw') }),
        el('td', {}, manageable.has(x.role) ? el('button', { type: 'button', class: 'secondary',
          'aria-label': t('edit') + ' ' + x.name, text: t('edit'), onclick: () => {
            clear(edit).append(officerForm(x), passwordForm(x));
            edit.scrollIntoView();
          } }) : null)))))),
    edit);
}
