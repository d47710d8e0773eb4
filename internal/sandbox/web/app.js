// okrbot sandbox page. Plain JavaScript, no dependencies.
//
// Everything that comes from the server (messages, cards, traffic) reaches
// the DOM through createElement/textContent only: card markdown is parsed
// by the small renderer below, which builds nodes and never assigns HTML.
'use strict';

(() => {
  // ---------- state ----------
  const ui = {
    state: null,
    version: 0,
    lang: readPref('okrbot.lang', 'en_us', ['en_us', 'zh_cn']),
    me: readPref('okrbot.me', '', null),
    chat: readPref('okrbot.chat', 'p2p', ['p2p', 'group']),
    mention: true,
    rendered: new Map(), // message id → {node, sig}
    threadKey: '',
    seenTraffic: 0,
    trafficSig: '',
    peopleSig: '',
    history: [],
    historyAt: 0,
    toastTimer: 0,
    panel: '', // the side panel open as a drawer: '', 'sidebar' or 'inspector'
  };

  // MAX_TEXT is the server's limit on one message, in characters (code
  // points, after trimming), until the state says otherwise.
  const MAX_TEXT = 2000;
  // Below these widths the side panels are drawers (see app.css).
  const drawerMedia = {
    sidebar: window.matchMedia('(max-width: 719.98px)'),
    inspector: window.matchMedia('(max-width: 1179.98px)'),
  };

  function readPref(key, def, allowed) {
    try {
      const v = localStorage.getItem(key);
      if (v !== null && (!allowed || allowed.includes(v))) return v;
    } catch (e) { /* storage unavailable */ }
    return def;
  }
  function writePref(key, v) {
    try { localStorage.setItem(key, v); } catch (e) { /* storage unavailable */ }
  }

  const $ = (id) => document.getElementById(id);

  // h builds an element: h('div', {class: 'x', text: 'y', onclick: f}, child…).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  // ---------- server ----------
  async function post(path, body) {
    const res = await fetch(path, {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty answer */ }
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    return data;
  }

  async function poll() {
    for (;;) {
      try {
        const url = ui.state ? `/sandbox/api/state?after=${ui.version}` : '/sandbox/api/state';
        const res = await fetch(url, {cache: 'no-store'});
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const st = await res.json();
        ui.version = st.version;
        ui.state = st;
        $('conn').hidden = true;
        render();
      } catch (e) {
        $('conn').hidden = false;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  // ---------- helpers ----------
  function me() {
    const ps = ui.state ? ui.state.people : [];
    return ps.find((p) => p.open_id === ui.me) || ps[0] || null;
  }
  function chatId() {
    if (!ui.state) return '';
    if (ui.chat === 'group') return ui.state.group.id;
    const p = me();
    return p ? p.p2p_chat : '';
  }
  function personName(openID) {
    const st = ui.state;
    if (!st) return openID;
    if (openID === st.bot.open_id) return st.bot.name;
    const p = st.people.find((x) => x.open_id === openID);
    return p ? p.name : openID;
  }
  function personIndex(openID) {
    return ui.state ? ui.state.people.findIndex((x) => x.open_id === openID) : -1;
  }
  function initials(name) {
    const parts = name.split(/\s+/).filter(Boolean);
    return ((parts[0] || '?')[0] + (parts[1] ? parts[1][0] : '')).toUpperCase();
  }
  function clock(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false});
  }
  function clockSec(ms) {
    const d = new Date(ms);
    const p = (n, w) => String(n).padStart(w, '0');
    return `${p(d.getHours(), 2)}:${p(d.getMinutes(), 2)}:${p(d.getSeconds(), 2)}`;
  }
  // i18n returns a text object's string in the page's card language,
  // falling back to content (what Feishu clients do).
  function i18n(obj) {
    if (!obj || typeof obj !== 'object') return '';
    const t = obj.i18n_content;
    if (t && typeof t === 'object' && typeof t[ui.lang] === 'string' && t[ui.lang] !== '') return t[ui.lang];
    return typeof obj.content === 'string' ? obj.content : '';
  }

  // ---------- markdown (Feishu card subset) ----------
  const ENTITIES = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0'};
  function decodeEntities(s) {
    return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,6});/g, (m, e) => {
      if (e[0] === '#') {
        const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        const ok = n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff);
        return ok ? String.fromCodePoint(n) : m;
      }
      return Object.prototype.hasOwnProperty.call(ENTITIES, e) ? ENTITIES[e] : m;
    });
  }
  const FONT_COLORS = ['red', 'green', 'grey', 'gray', 'blue', 'orange', 'yellow', 'purple', 'violet', 'carmine', 'wathet', 'turquoise', 'indigo'];
  const AT_RE = /^<at\s+(?:id|open_id|user_id|email)\s*=\s*["']?([^"'\s>]*)["']?\s*>([^<]*)<\/at>/;
  const FONT_RE = /^<font\s+color\s*=\s*["']?([a-zA-Z-]+)["']?\s*>/;
  const LINK_RE = /^\[([^\]\n]+)\]\(([^)\s]+)\)/;

  // markdown renders card markdown into a fragment: **bold**, ~~strike~~,
  // `code`, line breaks, <at id=…></at> mentions, <font color=…>, and
  // [text](http…) links. Plain runs are entity-decoded and added as text
  // nodes, so nothing in the card can become markup.
  function markdown(src) {
    const frag = document.createDocumentFragment();
    inline(String(src), frag, 0);
    return frag;
  }
  function inline(s, parent, depth) {
    let text = '';
    const flush = () => {
      if (text) parent.appendChild(document.createTextNode(decodeEntities(text)));
      text = '';
    };
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '\n') { flush(); parent.appendChild(h('br')); i++; continue; }
      if (depth < 6 && (s.startsWith('**', i) || s.startsWith('~~', i))) {
        const mark = s.slice(i, i + 2);
        const j = s.indexOf(mark, i + 2);
        if (j > i + 2) {
          flush();
          const el = h(mark === '**' ? 'strong' : 'del');
          inline(s.slice(i + 2, j), el, depth + 1);
          parent.appendChild(el);
          i = j + 2;
          continue;
        }
      }
      if (c === '`') {
        const j = s.indexOf('`', i + 1);
        if (j > i + 1) {
          flush();
          parent.appendChild(h('code', {text: decodeEntities(s.slice(i + 1, j))}));
          i = j + 1;
          continue;
        }
      }
      if (c === '<') {
        const rest = s.slice(i);
        const at = AT_RE.exec(rest);
        if (at) {
          flush();
          parent.appendChild(mentionChip(at[1], at[2]));
          i += at[0].length;
          continue;
        }
        const font = depth < 6 && FONT_RE.exec(rest);
        if (font) {
          const close = s.indexOf('</font>', i + font[0].length);
          if (close >= 0) {
            flush();
            const color = font[1].toLowerCase();
            const span = h('span', {class: FONT_COLORS.includes(color) ? `font-${color === 'gray' ? 'grey' : color}` : ''});
            inline(s.slice(i + font[0].length, close), span, depth + 1);
            parent.appendChild(span);
            i = close + '</font>'.length;
            continue;
          }
        }
      }
      if (c === '[' && depth < 6) {
        const link = LINK_RE.exec(s.slice(i));
        if (link) {
          flush();
          const url = decodeEntities(link[2]);
          const el = /^https?:\/\//i.test(url)
            ? h('a', {href: url, target: '_blank', rel: 'noopener noreferrer'})
            : h('span');
          inline(link[1], el, depth + 1);
          parent.appendChild(el);
          i += link[0].length;
          continue;
        }
      }
      text += c;
      i++;
    }
    flush();
  }
  function mentionChip(id, inner) {
    let name = id === 'all' ? (ui.lang === 'zh_cn' ? '所有人' : 'Everyone') : personName(id);
    if (name === id && inner) name = decodeEntities(inner);
    return h('span', {class: 'at-chip', title: id, text: '@' + name});
  }

  // ---------- card (Card JSON 2.0) ----------
  function renderCard(card, msg) {
    // The card says which language it is in: screen readers read it so,
    // and the browser picks the Simplified Chinese forms of the glyphs.
    const root = h('div', {class: 'card', lang: ui.lang === 'zh_cn' ? 'zh-CN' : 'en'});
    const header = card.header;
    if (header && typeof header === 'object') {
      const tpl = typeof header.template === 'string' ? header.template : 'default';
      root.appendChild(h('div', {class: `card-header tpl-${tpl.replace(/[^a-z-]/g, '')}`},
        h('div', {class: 'card-title', text: i18n(header.title)}),
        i18n(header.subtitle) ? h('div', {class: 'card-subtitle', text: i18n(header.subtitle)}) : null));
    }
    const body = h('div', {class: 'card-body'});
    const els = card.body && Array.isArray(card.body.elements) ? card.body.elements : (Array.isArray(card.elements) ? card.elements : []);
    for (const el of els) body.appendChild(renderElement(el, msg, 0));
    root.appendChild(body);
    return root;
  }

  function renderElement(el, msg, depth) {
    if (!el || typeof el !== 'object' || depth > 8) return document.createTextNode('');
    switch (el.tag) {
      case 'markdown':
      case 'lark_md': {
        const div = h('div', {class: 'md' + (el.text_size === 'notation' ? ' notation' : '')});
        div.appendChild(markdown(i18n(el)));
        return div;
      }
      case 'plain_text':
        return h('div', {class: 'md' + (el.text_size === 'notation' ? ' notation' : ''), text: i18n(el)});
      case 'div': {
        const wrap = h('div', {class: 'col'});
        if (el.text) wrap.appendChild(renderText(el.text));
        if (Array.isArray(el.fields)) {
          const grid = h('div', {class: 'fields'});
          for (const f of el.fields) {
            const cell = renderText(f && f.text);
            if (!(f && f.is_short)) cell.classList.add('full');
            grid.appendChild(cell);
          }
          wrap.appendChild(grid);
        }
        return wrap;
      }
      case 'hr':
        return h('hr', {class: 'el-hr'});
      case 'column_set': {
        const row = h('div', {class: 'cols'});
        row.style.gap = spacing(el.horizontal_spacing, 8);
        for (const col of Array.isArray(el.columns) ? el.columns : []) {
          const c = h('div', {class: 'col'});
          if (col.width === 'auto') c.classList.add('col-auto');
          else c.style.flex = `${Math.max(1, Math.min(5, Number(col.weight) || 1))} 1 0`;
          for (const child of Array.isArray(col.elements) ? col.elements : []) c.appendChild(renderElement(child, msg, depth + 1));
          row.appendChild(c);
        }
        return row;
      }
      case 'button':
        return renderButton(el, msg);
      case 'img':
        return h('div', {class: 'unknown', text: '[image]'});
      default:
        if (Array.isArray(el.elements)) {
          const c = h('div', {class: 'col'});
          for (const child of el.elements) c.appendChild(renderElement(child, msg, depth + 1));
          return c;
        }
        return h('div', {class: 'unknown', text: `[${String(el.tag || 'element')} not shown by the sandbox]`});
    }
  }
  function renderText(t) {
    if (!t || typeof t !== 'object') return h('div', {class: 'md'});
    if (t.tag === 'lark_md' || t.tag === 'markdown') {
      const d = h('div', {class: 'md'});
      d.appendChild(markdown(i18n(t)));
      return d;
    }
    return h('div', {class: 'md', text: i18n(t)});
  }
  function spacing(v, def) {
    const px = {small: 4, medium: 8, large: 12, extra_large: 16};
    if (typeof v === 'string' && px[v] !== undefined) return `${px[v]}px`;
    const m = typeof v === 'string' && /^([0-9]{1,2})px$/.exec(v);
    return `${m ? m[1] : def}px`;
  }

  function renderButton(el, msg) {
    const type = typeof el.type === 'string' ? el.type.replace(/[^a-z_]/g, '') : 'default';
    const btn = h('button', {type: 'button', class: `btn btn-${type || 'default'}${el.width === 'fill' ? ' fill' : ''}`, text: i18n(el.text), disabled: !!el.disabled});
    if (typeof el.name === 'string') btn.dataset.name = el.name;
    const behaviors = Array.isArray(el.behaviors) ? el.behaviors : [];
    const cb = behaviors.find((b) => b && b.type === 'callback');
    const open = behaviors.find((b) => b && b.type === 'open_url');
    let value = cb && cb.value && typeof cb.value === 'object' ? cb.value : null;
    if (!value && !open && el.value && typeof el.value === 'object') value = el.value; // JSON 1.0 style
    btn.addEventListener('click', () => {
      if (value) clickButton(btn, msg, value, el.name);
      else if (open && typeof open.default_url === 'string' && /^https?:\/\//i.test(open.default_url)) {
        window.open(open.default_url, '_blank', 'noopener,noreferrer');
      }
    });
    return btn;
  }

  async function clickButton(btn, msg, value, name) {
    const who = me();
    if (!who) return;
    btn.disabled = true;
    btn.classList.add('loading');
    try {
      const r = await post('/sandbox/api/click', {message_id: msg.id, value, name: typeof name === 'string' ? name : '', as: who.open_id});
      if (r.toast) showToast(r.toast);
      else if (r.error) showToast({type: 'error', content: `Feishu client error ${r.error}: ${r.detail || ''}`});
    } catch (e) {
      showToast({type: 'error', content: e.message});
    } finally {
      btn.disabled = false;
      btn.classList.remove('loading');
    }
  }

  function showToast(t) {
    const el = $('toast');
    const kind = ['success', 'error', 'warning', 'info'].includes(t.type) ? t.type : 'info';
    el.className = `toast ${kind}`;
    el.textContent = i18n(t) || t.content || '';
    el.hidden = false;
    clearTimeout(ui.toastTimer);
    ui.toastTimer = setTimeout(() => { el.hidden = true; }, 3000);
  }

  // ---------- rendering ----------
  function render() {
    renderSidebar();
    renderHeader();
    renderThread();
    renderTraffic();
    renderFaults();
  }

  function renderSidebar() {
    const st = ui.state;
    const who = me();
    if (who && ui.me !== who.open_id) ui.me = who.open_id;
    $('chat-p2p').classList.toggle('active', ui.chat === 'p2p');
    $('chat-group').classList.toggle('active', ui.chat === 'group');
    $('chat-p2p').setAttribute('aria-selected', String(ui.chat === 'p2p'));
    $('chat-group').setAttribute('aria-selected', String(ui.chat === 'group'));
    $('preview-p2p').textContent = preview(who ? who.p2p_chat : '') || 'Direct message';
    $('preview-group').textContent = preview(st.group.id) || 'Group chat';

    const peopleSig = JSON.stringify([ui.me, st.people]);
    if (peopleSig !== ui.peopleSig) renderPeople(st, who);
    ui.peopleSig = peopleSig;

    $('lang-en').classList.toggle('active', ui.lang === 'en_us');
    $('lang-zh').classList.toggle('active', ui.lang === 'zh_cn');
    $('lang-en').setAttribute('aria-pressed', String(ui.lang === 'en_us'));
    $('lang-zh').setAttribute('aria-pressed', String(ui.lang === 'zh_cn'));

    const t = st.tenant;
    $('tenant').replaceChildren(
      h('dt', {text: 'App'}), h('dd', {class: 'mono', text: t.app_id, title: t.app_id}),
      h('dt', {text: 'Bot'}), h('dd', {text: st.bot.name}),
      h('dt', {text: 'Period rules'}), h('dd', {text: String(t.rules)}),
      h('dt', {text: 'Periods'}), h('dd', {text: String(t.periods)}),
      h('dt', {text: 'Default rule'}), h('dd', {class: t.default_rule ? 'mono' : '', text: t.default_rule || 'none: buttons'}));
  }

  function renderPeople(st, who) {
    $('people').replaceChildren(...st.people.map((p, i) => h('button', {
      type: 'button', class: 'person' + (who && p.open_id === who.open_id ? ' active' : ''),
      'aria-pressed': String(!!who && p.open_id === who.open_id), 'data-openid': p.open_id, title: `${p.role}\n${p.open_id}`,
      onclick: () => { ui.me = p.open_id; writePref('okrbot.me', p.open_id); render(); $('composer-input').focus(); },
    },
    h('span', {class: `avatar avatar-p${i % 2}`, text: initials(p.name)}),
    h('span', {class: 'person-text'},
      h('span', {class: 'person-name', text: p.name}),
      h('span', {class: 'role ' + (p.operator ? 'role-op' : 'role-no'), text: p.operator ? 'Operator' : 'Not an operator'}),
      h('span', {class: 'person-id', text: p.open_id})))));
  }

  function preview(chat) {
    const msgs = ui.state.messages.filter((m) => m.chat_id === chat);
    const last = msgs[msgs.length - 1];
    if (!last) return '';
    if (last.card) {
      const c = last.card;
      return (c.config && i18n(c.config.summary)) || (c.header && i18n(c.header.title)) || '[card]';
    }
    return `${personName(last.sender)}: ${last.text || ''}`;
  }

  function renderHeader() {
    const who = me();
    const group = ui.chat === 'group';
    $('chat-title').textContent = group ? ui.state.group.name : ui.state.bot.name;
    $('chat-avatar').textContent = group ? 'HR' : 'OK';
    $('chat-avatar').className = 'avatar avatar-lg ' + (group ? 'avatar-group' : 'avatar-bot');
    // The parts in .hint-more give way on a phone.
    $('chat-sub').replaceChildren(...(group
      ? [`Group · ${ui.state.people.length + 1} members`, h('span', {class: 'hint-more', text: ' · the bot answers only when @mentioned'})]
      : ['Direct message', h('span', {class: 'hint-more', text: ' with the bot'}), ` · you are ${who ? who.name : ''}`]));
    $('mention-switch').hidden = !group;
    $('composer-mention').hidden = !(group && ui.mention);
    $('composer-hint').replaceChildren(...(who
      ? [`Sending as ${who.name} (${who.operator ? 'operator' : 'not an operator'})`,
        h('span', {class: 'hint-more', text: ui.state.mode === 'websocket'
          ? ' · delivered to the bot over its long connection, as Feishu does'
          : ' · delivered to the bot signed and encrypted, as Feishu does'})]
      : []));
    renderCount();
  }

  // ---------- message length ----------
  function maxText() {
    return ui.state && ui.state.max_text > 0 ? ui.state.max_text : MAX_TEXT;
  }
  // textLength counts what the server counts: code points after trimming.
  function textLength(s) {
    return [...s.trim()].length;
  }
  const fmt = (n) => n.toLocaleString('en-US');
  // renderCount shows the length of the message being typed once it nears
  // the limit, and says plainly when it is over: nothing is cut, the
  // message is not sent until it fits.
  function renderCount() {
    const n = textLength($('composer-input').value);
    const max = maxText();
    const el = $('composer-count');
    const over = n > max;
    el.className = 'composer-count' + (over ? ' over' : (n >= max * 0.8 ? ' near' : ''));
    el.textContent = over
      ? `${fmt(n)} / ${fmt(max)} characters: ${fmt(n - max)} too many to send`
      : (n >= max * 0.8 ? `${fmt(n)} / ${fmt(max)} characters` : '');
    $('composer-box').classList.toggle('over', over);
    $('send').disabled = over;
    $('send').title = over ? `A message can have at most ${fmt(max)} characters` : '';
  }

  function renderThread() {
    const thread = $('thread');
    const st = ui.state;
    const chat = chatId();
    const who = me();
    const key = [chat, ui.lang, who ? who.open_id : ''].join('|');
    if (key !== ui.threadKey) {
      thread.replaceChildren();
      ui.rendered.clear();
      ui.threadKey = key;
    }
    const msgs = st.messages.filter((m) => m.chat_id === chat);
    const byID = new Map(st.messages.map((m) => [m.id, m]));
    const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    let added = false;

    let empty = thread.querySelector('.empty');
    if (msgs.length === 0) {
      if (!empty) thread.appendChild(emptyState());
      return;
    }
    if (empty) empty.remove();

    let typing = thread.querySelector('.typing-row');
    for (const m of msgs) {
      const sig = JSON.stringify([m.card, m.updates, m.delivery, m.text, m.awaiting]);
      const have = ui.rendered.get(m.id);
      if (have && have.sig === sig) continue;
      const node = renderMessage(m, byID);
      if (have) have.node.replaceWith(node);
      else { thread.insertBefore(node, typing); added = true; }
      ui.rendered.set(m.id, {node, sig});
    }
    const awaiting = msgs.some((m) => m.awaiting);
    if (awaiting && !typing) {
      typing = h('div', {class: 'msg typing-row'},
        h('span', {class: 'avatar avatar-bot', text: 'OK'}),
        h('div', {class: 'typing', title: `${st.bot.name} is working…`}, h('i'), h('i'), h('i')));
      thread.appendChild(typing);
      added = true;
    } else if (!awaiting && typing) {
      typing.remove();
    }
    if (added || nearBottom) thread.scrollTop = thread.scrollHeight;
  }

  function emptyState() {
    const group = ui.chat === 'group';
    return h('div', {class: 'empty'},
      h('h2', {text: group ? 'HR Operations' : `Chat with ${ui.state.bot.name}`}),
      h('p', {text: group
        ? 'In a group the bot answers only when @mentioned; the switch above adds the mention.'
        : 'Type a command below, or pick one of the suggestions. Try /newperiod 2022-01; a whole year with /newperiod 2023 and the quarterly rule; then /closeperiod 2023-04 and confirm.'}),
      h('p', {text: ui.state.mode === 'websocket'
        ? 'Every message goes through the emulated Feishu Open Platform to the real bot, as frames over the long connection the bot opened.'
        : 'Every message goes through the emulated Feishu Open Platform to the real bot, signed and encrypted.'}));
  }

  function renderMessage(m, byID) {
    const who = me();
    const mine = !m.from_bot && who && m.sender === who.open_id;
    const name = personName(m.sender);
    const idx = personIndex(m.sender);
    const avatar = m.from_bot
      ? h('span', {class: 'avatar avatar-bot', text: 'OK'})
      : h('span', {class: `avatar avatar-p${Math.max(idx, 0) % 2}`, text: initials(name)});
    const meta = h('div', {class: 'msg-meta'},
      h('span', {class: 'name', text: mine ? 'You' : name}),
      m.from_bot ? h('span', {class: 'bot-tag', text: 'Bot'}) : null,
      h('span', {text: clock(m.time)}),
      m.updates ? h('span', {class: 'edited', text: '· updated'}) : null);
    const main = h('div', {class: 'msg-main'}, meta);
    if (m.from_bot && m.parent_id && byID.has(m.parent_id)) {
      const p = byID.get(m.parent_id);
      main.appendChild(h('div', {class: 'quote', text: `Reply to ${personName(p.sender)}: ${p.text || ''}`}));
    }
    if (m.card) {
      main.appendChild(renderCard(m.card, m));
    } else {
      main.appendChild(renderBubble(m));
    }
    if (!m.from_bot && m.delivery && m.delivery !== 'ok') {
      const failed = m.delivery !== 'sending';
      main.appendChild(h('div', {class: 'delivery' + (failed ? ' failed' : ''), text: failed ? m.delivery : 'Sending…'}));
    }
    return h('div', {class: 'msg' + (mine ? ' mine' : ''), 'data-id': m.id, 'data-from': m.from_bot ? 'bot' : 'user'}, avatar, main);
  }

  // renderBubble shows a user's text, with its @mentions highlighted.
  function renderBubble(m) {
    const b = h('div', {class: 'bubble'});
    const names = (m.mentions || []).map((x) => '@' + x.name).filter((x) => x.length > 1);
    let s = m.text || '';
    while (s) {
      let at = -1;
      let hit = '';
      for (const n of names) {
        const i = s.indexOf(n);
        if (i >= 0 && (at < 0 || i < at)) { at = i; hit = n; }
      }
      if (at < 0) { b.appendChild(document.createTextNode(s)); break; }
      if (at > 0) b.appendChild(document.createTextNode(s.slice(0, at)));
      b.appendChild(h('span', {class: 'at', text: hit}));
      s = s.slice(at + hit.length);
    }
    return b;
  }

  function renderTraffic() {
    const list = $('traffic');
    const items = ui.state.traffic;
    const sig = JSON.stringify(items);
    if (sig === ui.trafficSig) return;
    ui.trafficSig = sig;
    if (ui.state.mode === 'websocket') {
      // The legend's second entry names the pushes; here they are frames.
      const legend = document.querySelector('.traffic-panel .legend');
      const spans = legend ? legend.querySelectorAll(':scope > span') : [];
      if (spans.length === 4) {
        spans[2].textContent = 'WS';
        spans[3].textContent = 'frames over the long connection the bot opened (→ to the bot, ← its ACKs)';
      }
    }
    $('traffic-count').textContent = String(items.length);
    $('toggle-count').textContent = String(items.length);
    const nodes = [];
    for (let i = items.length - 1; i >= 0; i--) nodes.push(renderTrafficItem(items[i], i));
    if (nodes.length === 0) nodes.push(h('li', {class: 'traffic-empty', text: 'No calls yet.'}));
    const fresh = items.length - ui.seenTraffic;
    list.replaceChildren(...nodes);
    if (ui.seenTraffic > 0 && fresh > 0) {
      for (let i = 0; i < Math.min(fresh, nodes.length); i++) nodes[i].classList.add('fresh');
    }
    ui.seenTraffic = items.length;
  }

  // shortPath drops the /open-apis prefix (the legend says it) and
  // shortens message and chat ids.
  function shortPath(p) {
    return p.replace(/^\/open-apis(?=\/)/, '').replace(/\/(om_|oc_)([0-9a-f]{4})[0-9a-f]{20,}/g, '/$1$2…');
  }
  function millis(ms) {
    return ms < 1 ? '<1 ms' : `${ms} ms`;
  }

  // renderFrameItem is one long-connection entry (websocket mode): a data
  // frame to the bot, its ACK, or a connection opened, closed or refused.
  function renderFrameItem(t) {
    const arrow = t.dir === 'out' ? '→ ' : (t.dir === 'in' ? '← ' : '');
    let what = t.frame;
    if (t.frame === 'event' && t.parts > 1) what += ` part ${t.part + 1}/${t.parts}`;
    const status = t.status
      ? h('span', {class: `status st-${String(t.status)[0]}`, text: String(t.status)})
      : h('span', {class: `status ${t.frame === 'close' ? 'st-x' : 'st-0'}`, text: {close: 'closed', open: 'open', event: 'sent'}[t.frame] || '…'});
    const sub = h('div', {class: 'tr-sub'});
    const bits = [];
    if (t.size) bits.push(`${t.size} B`);
    if (t.conn) bits.push(`conn …${t.conn.slice(-6)}`);
    bits.push(clockSec(t.time));
    sub.append(bits.join(' · '));
    if (t.note || t.error) sub.append(' · ', h('span', {class: t.frame === 'open' ? '' : 'code-bad', text: t.note || t.error}));
    const title = `WebSocket ${t.path}\n${arrow}${what}${t.ws_message_id ? `, message ${t.ws_message_id}` : ''}\n${new Date(t.time).toISOString()}`;
    return h('li', {class: 'tr', title},
      h('span', {class: 'kind kind-push', text: 'WS'}),
      h('div', {class: 'tr-path'}, h('span', {class: 'method', text: arrow.trim() || '•'}), what),
      status, sub);
  }

  function renderTrafficItem(t) {
    if (t.kind === 'frame') return renderFrameItem(t);
    const push = t.kind !== 'api';
    const status = t.status
      ? h('span', {class: `status st-${String(t.status)[0]}`, text: String(t.status)})
      : h('span', {class: `status ${t.pending ? 'st-0' : 'st-x'}`, text: t.pending ? '…' : (push ? 'fail' : 'reset')});
    const sub = h('div', {class: 'tr-sub'});
    if (push) {
      sub.append(`${t.event}${t.attempt > 1 ? ` · attempt ${t.attempt}` : ''} · ${millis(t.ms)} · ${clockSec(t.time)}`);
      if (t.error) sub.append(' · ', h('span', {class: 'code-bad', text: t.error}));
    } else {
      sub.append(`${t.api} · `);
      if (t.code !== undefined && t.code !== null) {
        sub.append(h('span', {class: t.code === 0 ? 'code-ok' : 'code-bad', text: `code ${t.code}`}), ' · ');
      }
      sub.append(t.pending ? `in flight · ${clockSec(t.time)}` : `${millis(t.ms)} · ${clockSec(t.time)}`);
    }
    const at = new Date(t.time).toISOString();
    const title = push
      ? `${t.method} ${t.path}\n${t.event}, message ${t.message_id || ''}\n${at}`
      : `${t.method} ${t.path}\nlog_id ${t.log_id || ''}\n${at}`;
    return h('li', {class: 'tr', title},
      h('span', {class: 'kind ' + (push ? 'kind-push' : 'kind-api'), text: push ? 'PUSH' : 'API'}),
      h('div', {class: 'tr-path'}, h('span', {class: 'method', text: t.method}), shortPath(t.path)),
      status, sub);
  }

  // renderFaults says everything the fault switches have armed: failing
  // creates, a revoked token, slow answers.
  function renderFaults() {
    const f = ui.state.faults;
    const el = $('fault-status');
    const txt = $('fault-text');
    const parts = [];
    if (f.armed.length) parts.push(`Next create${f.armed.length > 1 ? 's' : ''} will fail: ${f.armed.join(', then ')}`);
    if (f.revoked) parts.push("Tenant token revoked: the bot's next API call answers 99991663, then it fetches a new token");
    if (f.slow) parts.push('Every API answers 3 s late');
    txt.textContent = parts.length ? parts.join('. ') + '.' : 'No faults armed: the tenant behaves normally.';
    el.classList.toggle('armed', parts.length > 0);
    $('fault-slow').setAttribute('aria-pressed', String(f.slow));
    $('fault-revoke').classList.toggle('engaged', !!f.revoked); // until the bot has a new token
    $('toggle-fault').hidden = parts.length === 0;
    $('toggle-inspector').setAttribute('aria-label',
      `Fault injection and Open Platform traffic: ${ui.state.traffic.length} calls${parts.length ? ', faults armed' : ''}`);
  }

  // ---------- actions ----------
  // send posts a message; it reports whether the server took it.
  async function send(text) {
    const who = me();
    text = text.trim();
    if (!text || !who) return false;
    if (textLength(text) > maxText()) {
      showToast({type: 'error', content: `Not sent: the message has ${fmt(textLength(text))} characters, at most ${fmt(maxText())} are allowed.`});
      return false;
    }
    ui.history.push(text);
    ui.historyAt = ui.history.length;
    try {
      await post('/sandbox/api/send', {text, as: who.open_id, chat: ui.chat, mention: ui.chat === 'group' && ui.mention});
      return true;
    } catch (e) {
      showToast({type: 'error', content: `Not sent: ${e.message}`});
      return false;
    }
  }

  async function fault(body) {
    try { await post('/sandbox/api/fault', body); } catch (e) { showToast({type: 'error', content: e.message}); }
  }

  function wire() {
    $('composer').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const input = $('composer-input');
      const text = input.value;
      if (textLength(text) > maxText()) { // kept as typed: nothing is cut or sent
        renderCount();
        showToast({type: 'error', content: `Not sent: the message has ${fmt(textLength(text))} characters, at most ${fmt(maxText())} are allowed.`});
        return;
      }
      input.value = '';
      renderCount();
      if (!(await send(text)) && input.value === '') { // give it back to fix and resend
        input.value = text.trim();
        renderCount();
      }
    });
    $('composer-input').addEventListener('input', renderCount);
    $('composer-input').addEventListener('keydown', (ev) => {
      const input = ev.target;
      if (ev.key === 'ArrowUp' && ui.historyAt > 0) {
        ui.historyAt--;
        input.value = ui.history[ui.historyAt];
        renderCount();
        ev.preventDefault();
      } else if (ev.key === 'ArrowDown' && ui.historyAt < ui.history.length) {
        ui.historyAt++;
        input.value = ui.history[ui.historyAt] || '';
        renderCount();
        ev.preventDefault();
      }
    });
    for (const chip of document.querySelectorAll('#suggestions .chip')) {
      chip.addEventListener('click', () => send(chip.dataset.cmd || ''));
    }
    for (const b of document.querySelectorAll('.chat-item')) {
      b.addEventListener('click', () => {
        ui.chat = b.dataset.chat === 'group' ? 'group' : 'p2p';
        writePref('okrbot.chat', ui.chat);
        if (ui.state) render();
        if (ui.panel === 'sidebar') closePanel(false); // back to the chat on a phone
        $('composer-input').focus();
      });
    }
    for (const b of document.querySelectorAll('.segmented button')) {
      b.addEventListener('click', () => {
        ui.lang = b.dataset.lang === 'zh_cn' ? 'zh_cn' : 'en_us';
        writePref('okrbot.lang', ui.lang);
        if (ui.state) render();
      });
    }
    $('mention').addEventListener('change', (ev) => {
      ui.mention = ev.target.checked;
      if (ui.state) renderHeader();
    });
    $('fault-arm').addEventListener('click', () => {
      const v = $('fault-code').value;
      fault(v === 'hangup' ? {action: 'hangup'} : {action: 'fail', code: Number(v)});
    });
    $('fault-revoke').addEventListener('click', () => fault({action: 'revoke'})); // the fault line says what it did
    $('fault-slow').addEventListener('click', () => {
      fault({action: 'slow', on: $('fault-slow').getAttribute('aria-pressed') !== 'true'});
    });
    $('fault-clear').addEventListener('click', () => fault({action: 'clear'}));
    wirePanels();
  }

  // ---------- drawers (narrow screens) ----------
  // Below desktop width the side panels are drawers over the chat: a
  // toggle in the chat header opens one, the toggle again, the close
  // button, the scrim or Esc closes it.
  function openPanel(name) {
    if (!drawerMedia[name].matches) return;
    ui.panel = name;
    syncPanels();
    const close = $(name).querySelector('.drawer-close');
    if (close) close.focus({preventScroll: true});
  }
  function closePanel(refocus) {
    const was = ui.panel;
    if (!was) return;
    ui.panel = '';
    syncPanels();
    if (refocus) $(`toggle-${was}`).focus({preventScroll: true});
  }
  function syncPanels() {
    if (ui.panel && !drawerMedia[ui.panel].matches) ui.panel = ''; // the window grew: it is a column again
    const app = $('app');
    for (const name of ['sidebar', 'inspector']) {
      const open = ui.panel === name;
      app.classList.toggle(`show-${name}`, open);
      $(`toggle-${name}`).setAttribute('aria-expanded', String(open));
    }
  }
  function wirePanels() {
    for (const name of ['sidebar', 'inspector']) {
      $(`toggle-${name}`).addEventListener('click', () => {
        if (ui.panel === name) closePanel(true);
        else openPanel(name);
      });
      drawerMedia[name].addEventListener('change', syncPanels);
    }
    for (const b of document.querySelectorAll('.drawer-close')) b.addEventListener('click', () => closePanel(true));
    $('scrim').addEventListener('click', () => closePanel(true));
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && ui.panel) {
        ev.preventDefault();
        closePanel(true);
      }
    });
  }

  wire();
  poll();
  $('composer-input').focus();
})();
