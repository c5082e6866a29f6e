// 門番 Monban — web console.
// Plain JavaScript, no framework. All text is inserted with textContent (never innerHTML), and
// every UI string comes from the dictionary below (Japanese first, English switchable).
'use strict';

(function () {
  // ---------------------------------------------------------------------------------------------
  // Strings
  // ---------------------------------------------------------------------------------------------
  const I18N = {
    ja: {
      skipToContent: '本文へ移動',
      productSubtitle: '入退室管理',
      loading: '読み込み中…',
      loginTitle: 'ログイン',
      loginLead: 'オペレーターのユーザー名とパスワードを入力してください。',
      username: 'ユーザー名',
      password: 'パスワード',
      loginButton: 'ログイン',
      loggingIn: 'ログインしています…',
      loginMissing: 'ユーザー名とパスワードを入力してください。',
      passwordTitle: 'パスワードの変更',
      passwordLead: '初回ログインのため、新しいパスワードを設定してください。',
      currentPassword: '現在のパスワード',
      newPassword: '新しいパスワード（12文字以上）',
      confirmPassword: '確認',
      passwordButton: '変更して続ける',
      passwordTooShort: '新しいパスワードは12文字以上にしてください。',
      passwordMismatch: '新しいパスワードと確認が一致しません。',
      logout: 'ログアウト',
      presenceTitle: '在室状況',
      feedTitle: '入退室イベント（ライブ）',
      connConnecting: '接続しています…',
      connOpen: '接続中',
      connReconnecting: '再接続中…',
      colTime: '時刻',
      colDirection: '方向',
      colDoor: '扉',
      colPerson: '人物',
      colResult: '結果',
      dirIn: '入室',
      dirOut: '退室',
      unknownPerson: '不明',
      granted: '許可',
      denied: '拒否',
      feedEmpty: 'まだイベントはありません。',
      nobodyInside: '在室者なし',
      zonesEmpty: '区域が登録されていません。',
      personsUnit: '名',
      totalInside: '在室者合計 {n} 名',
      countLabel: '在室 {n} 名',
      countLimitLabel: '在室 {n} 名（定員 {limit} 名）',
      overLimit: '定員超過',
      updatedAt: '{time} 更新',
      sinceLabel: '{time} 入室',
      networkError: 'サーバーに接続できません。ネットワークを確認してください。',
      loadFailed: '読み込みに失敗しました：{detail}',
      langToggleLabel: '言語を切り替える（現在：日本語）',
    },
    en: {
      skipToContent: 'Skip to content',
      productSubtitle: 'Entry/exit management',
      loading: 'Loading…',
      loginTitle: 'Log in',
      loginLead: 'Enter your operator username and password.',
      username: 'Username',
      password: 'Password',
      loginButton: 'Log in',
      loggingIn: 'Logging in…',
      loginMissing: 'Enter your username and password.',
      passwordTitle: 'Change password',
      passwordLead: 'This is your first login. Please set a new password.',
      currentPassword: 'Current password',
      newPassword: 'New password (12+ characters)',
      confirmPassword: 'Confirm new password',
      passwordButton: 'Change and continue',
      passwordTooShort: 'The new password must be at least 12 characters.',
      passwordMismatch: 'The new password and its confirmation differ.',
      logout: 'Log out',
      presenceTitle: 'Presence',
      feedTitle: 'Entry/exit events (live)',
      connConnecting: 'Connecting…',
      connOpen: 'Connected',
      connReconnecting: 'Reconnecting…',
      colTime: 'Time',
      colDirection: 'Direction',
      colDoor: 'Door',
      colPerson: 'Person',
      colResult: 'Result',
      dirIn: 'Entry',
      dirOut: 'Exit',
      unknownPerson: 'Unknown',
      granted: 'Granted',
      denied: 'Denied',
      feedEmpty: 'No events yet.',
      nobodyInside: 'Nobody inside',
      zonesEmpty: 'No zones are registered.',
      personsUnit: '',
      totalInside: '{n} inside in total',
      countLabel: '{n} inside',
      countLimitLabel: '{n} inside (limit {limit})',
      overLimit: 'Over limit',
      updatedAt: 'Updated {time}',
      sinceLabel: 'entered {time}',
      networkError: 'Cannot reach the server. Check the network.',
      loadFailed: 'Loading failed: {detail}',
      langToggleLabel: 'Switch language (current: English)',
    },
  };

  const LANG_KEY = 'monban.lang';
  const MAX_EVENTS = 200;
  const PRESENCE_POLL_MS = 30000;
  const PRESENCE_DEBOUNCE_MS = 500;
  const STREAM_RETRY_MS = 5000;
  const TZ = 'Asia/Tokyo';
  const ZONE_CLASSES = ['general', 'handling', 'management'];

  // ---------------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------------
  const state = {
    lang: loadLang(),
    csrf: null,
    operator: null,
    events: [], // EventView, newest (largest id) first
    eventIds: new Set(),
    presence: null, // last /api/presence answer
    presenceAt: null, // Date of the last successful presence load
    source: null, // EventSource
    streamRetry: null,
    presenceTimer: null,
    presenceDebounce: null,
    conn: 'connConnecting',
    running: false, // main screen active
  };

  // Error messages currently shown, so they can be re-rendered in the other language.
  // element id -> { key, vars } or { detail }
  const shownErrors = new Map();

  function loadLang() {
    try {
      const v = window.localStorage.getItem(LANG_KEY);
      if (v === 'ja' || v === 'en') return v;
    } catch (_) {
      // localStorage can be unavailable (privacy mode); fall back to Japanese.
    }
    return 'ja';
  }

  function saveLang(lang) {
    try {
      window.localStorage.setItem(LANG_KEY, lang);
    } catch (_) {
      // ignore
    }
  }

  function t(key, vars) {
    const dict = I18N[state.lang] || I18N.ja;
    let s = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : I18N.ja[key];
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
      });
    }
    return s;
  }

  // Problem details are bilingual: "日本語 / English". Show the current language's part.
  function localizeDetail(detail) {
    if (typeof detail !== 'string' || detail === '') return '';
    const parts = detail.split(' / ');
    if (parts.length < 2) return detail;
    return state.lang === 'en' ? parts[parts.length - 1] : parts[0];
  }

  // ---------------------------------------------------------------------------------------------
  // DOM helpers
  // ---------------------------------------------------------------------------------------------
  const $ = function (id) {
    return document.getElementById(id);
  };

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function show(id, visible) {
    const e = $(id);
    if (e) e.hidden = !visible;
  }

  function showView(name) {
    ['loading', 'login', 'password', 'main'].forEach(function (v) {
      show('view-' + v, v === name);
    });
    const loggedIn = name === 'main' || name === 'password';
    show('logout', loggedIn);
    show('operator-info', loggedIn && state.operator !== null);
  }

  // An error shown in a message element; spec is { key, vars } (dictionary) or { detail } (server).
  function setError(id, spec) {
    const e = $(id);
    if (!e) return;
    if (!spec) {
      shownErrors.delete(id);
      e.textContent = '';
      e.hidden = true;
      return;
    }
    shownErrors.set(id, spec);
    e.textContent = renderErrorSpec(spec);
    e.hidden = false;
  }

  function renderErrorSpec(spec) {
    if (spec.detail !== undefined) {
      const d = localizeDetail(spec.detail);
      return spec.wrap ? t(spec.wrap, { detail: d }) : d;
    }
    return t(spec.key, spec.vars);
  }

  function errorSpecFrom(err, wrap) {
    if (err && err.network) return { key: 'networkError' };
    const detail = (err && err.problem && err.problem.detail) || (err && err.message) || '';
    return { detail: detail, wrap: wrap };
  }

  // ---------------------------------------------------------------------------------------------
  // Time formatting (always Japan time)
  // ---------------------------------------------------------------------------------------------
  function locale() {
    return state.lang === 'en' ? 'en-GB' : 'ja-JP';
  }

  function fmtTime(iso, withSeconds) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '--:--';
    const opts = { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (withSeconds) opts.second = '2-digit';
    return d.toLocaleTimeString(locale(), opts);
  }

  function fmtDateTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleString(locale(), {
      timeZone: TZ,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem, network) {
      super((problem && problem.detail) || (network ? 'network error' : 'HTTP ' + status));
      this.status = status;
      this.problem = problem || null;
      this.network = !!network;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const init = { method: method, credentials: 'same-origin', headers: headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD' && state.csrf) {
      headers['X-CSRF-Token'] = state.csrf;
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, null, true);
    }
    if (res.status === 204) return null;
    const type = res.headers.get('Content-Type') || '';
    let data = null;
    if (type.indexOf('json') !== -1) {
      try {
        data = await res.json();
      } catch (_) {
        data = null;
      }
    }
    if (!res.ok) {
      throw new ApiError(res.status, data && typeof data === 'object' ? data : null, false);
    }
    return data;
  }

  // A request made while logged in: a 401 means the session ended, so go back to the login form.
  async function authed(method, path, body) {
    try {
      return await api(method, path, body);
    } catch (err) {
      if (err.status === 401 && state.running) {
        sessionEnded();
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Static text and language
  // ---------------------------------------------------------------------------------------------
  function applyStaticText() {
    document.documentElement.lang = state.lang;
    document.title = state.lang === 'en' ? 'Monban — Entry/exit management' : '門番 Monban — 入退室管理';
    document.querySelectorAll('[data-i18n]').forEach(function (node) {
      node.textContent = t(node.getAttribute('data-i18n'));
    });
    document.querySelectorAll('[data-lang-opt]').forEach(function (node) {
      node.classList.toggle('is-active', node.getAttribute('data-lang-opt') === state.lang);
    });
    const toggle = $('lang-toggle');
    toggle.setAttribute('aria-label', t('langToggleLabel'));
    toggle.setAttribute('title', t('langToggleLabel'));
    shownErrors.forEach(function (spec, id) {
      const e = $(id);
      if (e) e.textContent = renderErrorSpec(spec);
    });
    renderConn();
    renderOperator();
  }

  function setLang(lang) {
    state.lang = lang;
    saveLang(lang);
    applyStaticText();
    if (state.running) {
      renderPresence();
      renderFeedAll();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Session flow
  // ---------------------------------------------------------------------------------------------
  async function boot() {
    applyStaticText();
    bindEvents();
    try {
      const me = await api('GET', '/api/auth/me');
      startSession(me);
    } catch (err) {
      if (err.status !== 401 && err.status !== 403) {
        setError('login-error', errorSpecFrom(err));
      }
      showLogin();
    }
  }

  function showLogin() {
    state.running = false;
    state.operator = null;
    state.csrf = null;
    renderOperator();
    showView('login');
    const form = $('login-form');
    form.reset();
    const submit = $('login-submit');
    submit.disabled = false;
    $('username').focus();
  }

  function startSession(session) {
    state.csrf = session.csrf_token || null;
    state.operator = session.operator || null;
    renderOperator();
    setError('login-error', null);
    if (state.operator && state.operator.must_change_password) {
      showView('password');
      $('password-form').reset();
      setError('password-error', null);
      $('current-password').focus();
      return;
    }
    startMain();
  }

  function renderOperator() {
    const op = state.operator;
    $('operator-name').textContent = op ? op.display_name || op.username : '';
    $('operator-role').textContent = op ? (state.lang === 'en' ? op.role_en : op.role_ja) || op.role : '';
    $('operator-role').hidden = !op;
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const username = $('username').value.trim();
    const password = $('password').value;
    if (!username || !password) {
      setError('login-error', { key: 'loginMissing' });
      return;
    }
    const submit = $('login-submit');
    submit.disabled = true;
    submit.textContent = t('loggingIn');
    setError('login-error', null);
    try {
      const session = await api('POST', '/api/auth/login', { username: username, password: password });
      $('password').value = '';
      startSession(session);
    } catch (err) {
      setError('login-error', errorSpecFrom(err));
      $('password').value = '';
      $('password').focus();
    } finally {
      submit.disabled = false;
      submit.textContent = t('loginButton');
    }
  }

  async function onPasswordChange(ev) {
    ev.preventDefault();
    const current = $('current-password').value;
    const next = $('new-password').value;
    const confirm = $('confirm-password').value;
    if (Array.from(next).length < 12) {
      setError('password-error', { key: 'passwordTooShort' });
      $('new-password').focus();
      return;
    }
    if (next !== confirm) {
      setError('password-error', { key: 'passwordMismatch' });
      $('confirm-password').focus();
      return;
    }
    setError('password-error', null);
    const form = $('password-form');
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await api('POST', '/api/auth/password', { current_password: current, new_password: next });
      form.reset();
      if (state.operator) state.operator.must_change_password = false;
      startMain();
    } catch (err) {
      if (err.status === 401) {
        showLogin();
        return;
      }
      setError('password-error', errorSpecFrom(err));
      const field = err.problem && err.problem.field;
      if (field === 'current_password') $('current-password').focus();
      else if (field === 'new_password') $('new-password').focus();
    } finally {
      submit.disabled = false;
    }
  }

  async function onLogout() {
    const btn = $('logout');
    btn.disabled = true;
    try {
      await api('POST', '/api/auth/logout');
    } catch (_) {
      // Whatever the server says, leave the screen: the session is useless to us now.
    } finally {
      btn.disabled = false;
      stopMain();
      setError('login-error', null);
      showLogin();
    }
  }

  function sessionEnded() {
    stopMain();
    showLogin();
  }

  // ---------------------------------------------------------------------------------------------
  // Main screen
  // ---------------------------------------------------------------------------------------------
  function startMain() {
    stopMain();
    state.running = true;
    state.events = [];
    state.eventIds = new Set();
    state.presence = null;
    state.presenceAt = null;
    $('event-feed').replaceChildren();
    $('presence').replaceChildren();
    $('presence').setAttribute('aria-busy', 'true');
    $('presence-total').textContent = '';
    $('presence-updated').textContent = '';
    setError('presence-error', null);
    setError('feed-error', null);
    show('feed-empty', false);
    setConn('connConnecting');
    showView('main');
    // Open the stream first so nothing falls between the initial fetch and the first live event;
    // duplicates are dropped by id.
    openStream();
    loadEvents();
    loadPresence();
    state.presenceTimer = window.setInterval(loadPresence, PRESENCE_POLL_MS);
  }

  function stopMain() {
    state.running = false;
    closeStream();
    if (state.presenceTimer) window.clearInterval(state.presenceTimer);
    if (state.presenceDebounce) window.clearTimeout(state.presenceDebounce);
    state.presenceTimer = null;
    state.presenceDebounce = null;
    state.events = [];
    state.eventIds = new Set();
    state.presence = null;
    $('event-feed').replaceChildren();
    $('presence').replaceChildren();
  }

  // ----- presence -----

  async function loadPresence() {
    if (!state.running) return;
    try {
      const zones = await authed('GET', '/api/presence');
      if (!state.running) return;
      state.presence = Array.isArray(zones) ? zones : [];
      state.presenceAt = new Date();
      setError('presence-error', null);
      renderPresence();
    } catch (err) {
      if (!state.running || err.status === 401) return;
      setError('presence-error', errorSpecFrom(err, 'loadFailed'));
    }
  }

  function schedulePresence() {
    if (state.presenceDebounce) window.clearTimeout(state.presenceDebounce);
    state.presenceDebounce = window.setTimeout(function () {
      state.presenceDebounce = null;
      loadPresence();
    }, PRESENCE_DEBOUNCE_MS);
  }

  function renderPresence() {
    const box = $('presence');
    const zones = state.presence;
    if (zones === null) return;
    box.setAttribute('aria-busy', 'false');
    const cards = zones.map(zoneCard);
    if (cards.length === 0) {
      cards.push(el('p', 'empty muted', t('zonesEmpty')));
    }
    box.replaceChildren.apply(box, cards);
    const total = zones.reduce(function (n, z) {
      return n + (Number(z.count) || 0);
    }, 0);
    $('presence-total').textContent = t('totalInside', { n: total });
    $('presence-updated').textContent = state.presenceAt
      ? t('updatedAt', { time: fmtTime(state.presenceAt.toISOString(), true) })
      : '';
  }

  function zoneCard(z) {
    const cls = ZONE_CLASSES.indexOf(z.class) !== -1 ? z.class : 'general';
    const count = Number(z.count) || 0;
    const limit = typeof z.occupancy_limit === 'number' ? z.occupancy_limit : null;
    const over = limit !== null && count > limit;
    const full = limit !== null && count >= limit;

    const card = el('article', 'zone-card zone-' + cls);
    card.setAttribute('data-zone-id', String(z.zone_id));
    if (over) card.classList.add('is-over');

    const head = el('header', 'zone-head');
    const title = el('h3', 'zone-name', z.zone_name);
    const titleId = 'zone-title-' + String(z.zone_id).replace(/[^0-9A-Za-z_-]/g, '');
    title.id = titleId;
    card.setAttribute('aria-labelledby', titleId);
    head.appendChild(title);
    head.appendChild(el('span', 'badge badge-' + cls, state.lang === 'en' ? z.class_en : z.class_ja));
    card.appendChild(head);

    const countRow = el('div', 'zone-count');
    const num = el('span', 'count-num');
    num.appendChild(el('span', 'count-value', count));
    if (limit !== null) {
      num.appendChild(el('span', 'count-limit', ' / ' + limit));
    }
    const unit = t('personsUnit');
    if (unit) num.appendChild(el('span', 'count-unit', unit));
    num.setAttribute(
      'aria-label',
      limit !== null ? t('countLimitLabel', { n: count, limit: limit }) : t('countLabel', { n: count })
    );
    countRow.appendChild(num);
    if (over) countRow.appendChild(el('span', 'badge badge-alert', t('overLimit')));
    card.appendChild(countRow);

    if (limit !== null && limit > 0) {
      const meter = el('div', 'meter' + (over ? ' is-over' : full ? ' is-full' : ''));
      meter.setAttribute('aria-hidden', 'true');
      const bar = el('div', 'meter-bar');
      // CSSOM (not a style attribute) — allowed by the Content-Security-Policy.
      bar.style.width = Math.min(100, Math.round((count / limit) * 100)) + '%';
      meter.appendChild(bar);
      card.appendChild(meter);
    }

    const persons = Array.isArray(z.persons) ? z.persons : [];
    if (persons.length === 0) {
      card.appendChild(el('p', 'zone-empty muted', t('nobodyInside')));
    } else {
      const list = el('ul', 'person-list');
      persons.forEach(function (p) {
        const li = el('li', 'person');
        li.setAttribute('data-person-id', String(p.person_id));
        const who = el('span', 'person-who');
        who.appendChild(el('span', 'person-name', p.name));
        if (p.department) who.appendChild(el('span', 'person-dept muted', p.department));
        li.appendChild(who);
        const time = el('time', 'person-since', fmtTime(p.since, false));
        time.setAttribute('datetime', p.since);
        time.setAttribute('title', fmtDateTime(p.since));
        time.setAttribute('aria-label', t('sinceLabel', { time: fmtTime(p.since, false) }));
        li.appendChild(time);
        list.appendChild(li);
      });
      card.appendChild(list);
    }
    return card;
  }

  // ----- events -----

  async function loadEvents() {
    if (!state.running) return;
    try {
      const list = await authed('GET', '/api/events?limit=50');
      if (!state.running) return;
      setError('feed-error', null);
      (Array.isArray(list) ? list : []).forEach(function (ev) {
        addEvent(ev, false);
      });
      updateFeedEmpty();
    } catch (err) {
      if (!state.running || err.status === 401) return;
      setError('feed-error', errorSpecFrom(err, 'loadFailed'));
    }
  }

  // Inserts an event in id order (newest first), dropping duplicates and the oldest beyond 200.
  function addEvent(ev, live) {
    if (!ev || typeof ev.id !== 'number' || state.eventIds.has(ev.id)) return;
    const feed = $('event-feed');
    let idx = 0;
    while (idx < state.events.length && state.events[idx].id > ev.id) idx++;
    if (idx >= MAX_EVENTS) return; // older than everything we keep
    state.events.splice(idx, 0, ev);
    state.eventIds.add(ev.id);
    const row = eventRow(ev);
    if (live) row.classList.add('is-new');
    feed.insertBefore(row, feed.children[idx] || null);
    while (state.events.length > MAX_EVENTS) {
      const old = state.events.pop();
      state.eventIds.delete(old.id);
      if (feed.lastElementChild) feed.removeChild(feed.lastElementChild);
    }
  }

  function renderFeedAll() {
    const feed = $('event-feed');
    feed.replaceChildren.apply(feed, state.events.map(eventRow));
    updateFeedEmpty();
  }

  function updateFeedEmpty() {
    show('feed-empty', state.running && state.events.length === 0);
  }

  function eventRow(ev) {
    const en = state.lang === 'en';
    const li = el('li', 'event-row ' + (ev.granted ? 'is-granted' : 'is-denied'));
    li.setAttribute('data-event-id', String(ev.id));

    const time = el('time', 'ev-time', fmtTime(ev.occurred_at, true));
    time.setAttribute('datetime', ev.occurred_at);
    time.setAttribute('title', fmtDateTime(ev.occurred_at));
    li.appendChild(time);

    const dirIn = ev.direction === 'in';
    li.appendChild(el('span', 'ev-dir ' + (dirIn ? 'dir-in' : 'dir-out'), t(dirIn ? 'dirIn' : 'dirOut')));

    li.appendChild(el('span', 'ev-door', ev.door_name));

    const hasName = typeof ev.person_name === 'string' && ev.person_name !== '';
    li.appendChild(el('span', 'ev-person' + (hasName ? '' : ' is-unknown'), hasName ? ev.person_name : t('unknownPerson')));

    const result = el('span', 'ev-result');
    result.appendChild(el('span', 'result-badge ' + (ev.granted ? 'result-granted' : 'result-denied'), t(ev.granted ? 'granted' : 'denied')));
    if (ev.reason && ev.reason !== 'granted') {
      result.appendChild(el('span', 'ev-reason', en ? ev.reason_en : ev.reason_ja));
    }
    li.appendChild(result);
    return li;
  }

  // ----- live stream -----

  function setConn(key) {
    state.conn = key;
    renderConn();
  }

  function renderConn() {
    const box = $('conn-status');
    const text = $('conn-text');
    if (!box || !text) return;
    text.textContent = t(state.conn);
    box.classList.toggle('conn-open', state.conn === 'connOpen');
    box.classList.toggle('conn-retry', state.conn === 'connReconnecting');
    box.classList.toggle('conn-connecting', state.conn === 'connConnecting');
  }

  function openStream() {
    closeStream();
    if (!state.running) return;
    let es;
    try {
      // Same-origin: the session cookie is sent.
      es = new EventSource('/api/events/stream');
    } catch (_) {
      scheduleStreamRetry();
      return;
    }
    state.source = es;
    let opened = false;
    es.onopen = function () {
      if (state.source !== es) return;
      // After a reconnection some events may have been missed: fill the gap.
      if (opened || state.conn === 'connReconnecting') {
        loadEvents();
        schedulePresence();
      }
      opened = true;
      setConn('connOpen');
    };
    es.onerror = function () {
      if (state.source !== es) return;
      setConn('connReconnecting');
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error such as 401): check the session, then retry.
        closeStream();
        checkSessionThenRetry();
      }
    };
    es.addEventListener('access', function (msg) {
      if (state.source !== es) return;
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (_) {
        return;
      }
      addEvent(ev, true);
      updateFeedEmpty();
      schedulePresence();
    });
    es.addEventListener('lagged', function () {
      if (state.source !== es) return;
      loadEvents();
      schedulePresence();
    });
  }

  function closeStream() {
    if (state.streamRetry) window.clearTimeout(state.streamRetry);
    state.streamRetry = null;
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function scheduleStreamRetry() {
    if (state.streamRetry) window.clearTimeout(state.streamRetry);
    state.streamRetry = window.setTimeout(function () {
      state.streamRetry = null;
      if (state.running) openStream();
    }, STREAM_RETRY_MS);
  }

  async function checkSessionThenRetry() {
    try {
      await authed('GET', '/api/auth/me');
    } catch (err) {
      if (err.status === 401) return; // authed() already went back to the login form
    }
    if (state.running) scheduleStreamRetry();
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------------
  function bindEvents() {
    $('login-form').addEventListener('submit', onLogin);
    $('password-form').addEventListener('submit', onPasswordChange);
    $('logout').addEventListener('click', onLogout);
    $('lang-toggle').addEventListener('click', function () {
      setLang(state.lang === 'ja' ? 'en' : 'ja');
    });
    window.addEventListener('pagehide', closeStream);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', boot);
  } else {
    boot();
  }
})();
