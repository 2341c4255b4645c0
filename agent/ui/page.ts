// The rack status page as served: one HTML shell, one stylesheet, one script with no framework
// and nothing from a CDN. The script builds every element with textContent and attributes, never
// innerHTML: node facts, hostnames and console lines come from the provisioning network.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>maskin-agent</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header><h1>maskin-agent <span id="agent"></span></h1><span id="live" class="dim">connecting…</span><button id="logout" hidden>log out</button></header>
<main id="main"><noscript>The status page needs JavaScript; the same data is at /v1/status and /v1/nodes.</noscript></main>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: center; padding: 0.6em 1.2em; background: #1d232a; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; flex: 1; }
main { padding: 1em 1.2em; }
a { color: #0b5cad; }
.dim { color: #6b7480; }
header .dim { color: #aab3bd; }
.cards { display: flex; flex-wrap: wrap; gap: 0.6em; margin-bottom: 1em; }
.card { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 0.5em 0.8em; min-width: 7em; }
.card b { display: block; font-size: 1.4em; }
.panel { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 0.6em 0.9em; margin-bottom: 1em; }
.panel h2 { font-size: 1em; margin: 0 0 0.4em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid #eceff2; white-space: nowrap; }
td.wrap { white-space: normal; }
.state { font-weight: 600; }
.state-failed, .state-held, .problem { color: #b3261e; }
.state-installed, .state-handed-over, .state-decommissioned { color: #1e7b34; }
.state-never-seen, .state-discovered { color: #6b7480; }
.state-provisioning, .state-installing, .state-reprovisioning, .state-rescue, .state-decommissioning, .state-verified { color: #9a6700; }
.warn { background: #fff4e5; border-color: #f0c36d; }
form.login { max-width: 24em; }
input[type=password] { width: 100%; padding: 0.4em; margin: 0.4em 0; box-sizing: border-box; }
button { padding: 0.3em 0.8em; cursor: pointer; }
.actions button { margin-right: 0.4em; }
svg.timeline { width: 100%; background: #fbfcfd; border: 1px solid #eceff2; }
svg.timeline text { font-size: 11px; fill: #1d232a; }
pre.console { background: #111820; color: #d8dee4; padding: 0.6em; max-height: 24em; overflow: auto; font-size: 12px; }
`;

export const PAGE_SCRIPT = `'use strict';
(function () {
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var csrf = '';
  var rack = null;
  var source = null;
  // Where an operator is needed first, then nodes at work, then the rest.
  var ORDER = ['failed', 'held', 'provisioning', 'installing', 'reprovisioning', 'decommissioning', 'rescue', 'verified', 'discovered', 'never-seen', 'installed', 'handed-over', 'decommissioned'];
  var ACTIONS = ['provision', 'reprovision', 'power-off', 'rescue', 'exit-rescue'];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function age(iso) {
    if (!iso) return '-';
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 120 ? s + 's' : s < 7200 ? Math.round(s / 60) + 'm' : Math.round(s / 3600) + 'h';
  }
  function stateCell(state) { return el('span', { class: 'state state-' + state, text: state }); }
  function api(path, body) {
    var init = { headers: { 'x-maskin-csrf': csrf }, credentials: 'same-origin' };
    if (body !== undefined) { init.method = 'POST'; init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      if (r.status === 401) { showLogin('your session ended; log in again'); throw new Error('unauthorized'); }
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.reason || j.error || ('HTTP ' + r.status)); return j; });
    });
  }

  function showLogin(why) {
    if (source) { source.close(); source = null; }
    document.getElementById('logout').hidden = true;
    live.textContent = 'not logged in';
    var input = el('input', { type: 'password', id: 'token', autocomplete: 'current-password', placeholder: 'admin token' });
    var error = el('p', { class: 'problem', id: 'login-error', text: why || '' });
    var form = el('form', { class: 'login panel' }, [el('h2', { text: 'Log in with the admin token' }), input, el('button', { type: 'submit', id: 'login', text: 'log in' }), error]);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      fetch('/ui/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }), credentials: 'same-origin' })
        .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.reason || 'refused'); return j; }); })
        .then(function (j) { csrf = j.csrf; start(); })
        .catch(function (err) { error.textContent = 'login refused: ' + err.message; });
    });
    main.replaceChildren(form);
    input.focus();
  }

  function start() {
    document.getElementById('logout').hidden = false;
    source = new EventSource('/ui/events');
    source.addEventListener('rack', function (e) {
      rack = JSON.parse(e.data);
      window.maskinUpdates = (window.maskinUpdates || 0) + 1;
      live.textContent = 'live, updated ' + new Date().toLocaleTimeString();
      render();
    });
    source.onerror = function () { live.textContent = 'reconnecting…'; fetch('/ui/session', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (s) { if (!s.loggedIn) showLogin('your session ended; log in again'); }); };
  }
  window.addEventListener('hashchange', render);

  function render() {
    if (!rack) return;
    var id = decodeURIComponent((location.hash.match(/^#node=(.+)$/) || [])[1] || '');
    if (id) renderNode(id); else renderRack();
  }

  function renderRack() {
    var s = rack.status;
    var nodes = rack.nodes.slice().sort(function (a, b) {
      var d = ORDER.indexOf(a.state) - ORDER.indexOf(b.state);
      if (d) return d;
      // Longest in its step first.
      return Date.parse((a.lifecycle && a.lifecycle.since) || (a.lastStep && a.lastStep.at) || 0) - Date.parse((b.lifecycle && b.lifecycle.since) || (b.lastStep && b.lastStep.at) || 0);
    });
    var counts = {};
    nodes.forEach(function (n) { counts[n.state] = (counts[n.state] || 0) + 1; });
    var cards = el('div', { class: 'cards', id: 'states' }, ORDER.filter(function (st) { return counts[st]; }).map(function (st) {
      return el('div', { class: 'card', 'data-state': st }, [el('b', { text: String(counts[st]) }), stateCell(st)]);
    }));
    var m = s.manifest;
    var facts = el('div', { class: 'panel', id: 'agent-facts' }, [
      el('h2', { text: 'Agent ' + s.agentId + (s.rackId ? ', rack ' + s.rackId : '') }),
      el('div', { text: m ? 'manifest ' + (m.version !== undefined ? 'version ' + m.version : 'unversioned') + ' from ' + m.source + ', ' + m.nodes + ' node(s), applied ' + age(m.appliedAt) + ' ago' : 'manifest: none' }),
      s.pull ? el('div', { text: 'pull: last ' + (s.pull.lastResult || 'none yet') + ', last success ' + age(s.pull.lastSuccessAt ? new Date(s.pull.lastSuccessAt).toISOString() : undefined) + ' ago' }) : null,
      s.outbox ? el('div', { text: 'outbox: ' + s.outbox.depth + ' report(s) queued' }) : null,
      s.cache ? el('div', { text: 'cache: ' + Object.keys(s.cache.readiness).map(function (p) { return p + ' ' + (s.cache.readiness[p] ? 'ready' : 'not ready'); }).join(', ') }) : null,
    ]);
    var warnings = [];
    if (s.dhcp && s.dhcp.foreignServers.length) {
      warnings.push(el('div', { class: 'panel warn', id: 'dhcp-warning' }, [el('h2', { text: 'Other DHCP servers on the provisioning segment' })].concat(s.dhcp.foreignServers.map(function (f) {
        return el('div', { text: f.serverId + ' at ' + f.address + ' (' + (f.mac || 'MAC unknown') + '), ' + (f.offersAddresses ? 'hands out addresses' : 'proxyDHCP') + (s.dhcp.inForce === 'full' ? ': CONFLICT with full mode' : '') });
      }))));
    }
    if (s.cache) s.cache.assets.filter(function (a) { return a.state === 'failed'; }).forEach(function (a) {
      warnings.push(el('div', { class: 'panel warn' }, [el('b', { class: 'problem', text: 'failed: ' + a.assetPath.split('/').pop() + ': ' + (a.error || '') + (a.permanent ? ', operator action needed' : ', retrying') })]));
    });
    var rows = nodes.map(function (n) {
      var l = n.lifecycle || {};
      var err = (l.failure && l.failure.reason) || l.lastError || '';
      return el('tr', { 'data-node': n.id }, [
        el('td', {}, [el('a', { href: '#node=' + encodeURIComponent(n.id), text: n.id + (n.known ? '' : ' (unknown)') })]),
        el('td', {}, [stateCell(n.state)]),
        el('td', { text: n.ip || '-' }),
        el('td', { text: (n.macs && n.macs[0]) || '-' }),
        el('td', { text: l.step ? l.step + (l.attempt > 1 ? ' (try ' + l.attempt + ')' : '') + ', ' + age(l.since) : '-' }),
        el('td', { text: n.lastStep ? n.lastStep.step + ', ' + age(n.lastStep.at) + ' ago' : '-' }),
        el('td', { class: 'wrap problem', text: err }),
      ]);
    });
    var table = el('table', { id: 'nodes' }, [el('tr', {}, ['node', 'state', 'IP', 'MAC', 'step', 'last step', 'last error'].map(function (h) { return el('th', { text: h }); }))].concat(rows));
    main.replaceChildren.apply(main, [cards].concat(warnings, [facts, el('div', { class: 'panel' }, [el('h2', { text: 'Nodes' }), table])]));
  }

  var nodeToken = 0;
  function renderNode(id) {
    var mine = ++nodeToken;
    Promise.all([api('/v1/nodes/' + encodeURIComponent(id)), api('/v1/nodes/' + encodeURIComponent(id) + '/console?limit=200').catch(function () { return null; })]).then(function (got) {
      if (mine !== nodeToken) return;
      var n = got[0];
      var consoleLines = got[1];
      var facts = Object.keys(n.facts || {}).map(function (k) { return el('tr', {}, [el('th', { text: k }), el('td', { text: String(n.facts[k]) })]); });
      var l = n.lifecycle;
      var status = el('div', { class: 'panel' }, [
        el('h2', {}, ['node ' + n.id + ' ', stateCell(n.state)]),
        el('div', { text: 'generation ' + n.generation + ', MACs ' + n.macs.join(', ') + (n.leases && n.leases.length ? ', leases ' + n.leases.map(function (x) { return x.ip; }).join(', ') : '') }),
        l ? el('div', { class: l.failure ? 'problem' : '', text: 'lifecycle: ' + (l.step ? 'step ' + l.step + ', try ' + l.attempt + ', since ' + age(l.since) : 'idle') + (l.failure ? '; ' + n.state + (l.failure.step ? ' at ' + l.failure.step : '') + ': ' + l.failure.reason : l.lastError ? '; last error: ' + l.lastError : '') }) : null,
        n.state === 'never-seen' ? el('div', { class: 'dim', text: 'in the manifest; no DHCP request from any of its MACs yet' }) : null,
      ]);
      var result = el('span', { id: 'action-result' });
      var actions = el('div', { class: 'panel actions', id: 'actions' }, [el('h2', { text: 'Actions' })].concat(ACTIONS.map(function (a) {
        return el('button', { 'data-action': a, text: a, onclick: function () {
          if (!window.confirm(a + ' node ' + n.id + '?')) return;
          api('/v1/nodes/' + encodeURIComponent(n.id) + '/actions', { action: a }).then(function () { result.textContent = a + ' accepted'; result.className = ''; }, function (err) { result.textContent = a + ' refused: ' + err.message; result.className = 'problem'; });
        } });
      }), [result]));
      var parts = [el('p', {}, [el('a', { href: '#', text: '← rack' })]), status, actions, el('div', { class: 'panel' }, [el('h2', { text: 'Timeline' }), chart(n.timeline || [], n.state)])];
      if (facts.length) parts.push(el('div', { class: 'panel' }, [el('h2', { text: 'Facts' }), el('table', { id: 'facts' }, facts)]));
      if (consoleLines && consoleLines.lines.length) parts.push(el('div', { class: 'panel' }, [el('h2', { text: 'Console' }), el('pre', { class: 'console', id: 'console', text: consoleLines.lines.map(function (c) { return c.at + ' ' + c.source + ' ' + c.level + ': ' + c.msg; }).join('\\n') })]));
      main.replaceChildren.apply(main, parts);
    }, function (err) {
      if (mine === nodeToken) main.replaceChildren(el('p', {}, [el('a', { href: '#', text: '← rack' })]), el('p', { class: 'problem', text: 'node ' + id + ': ' + err.message }));
    });
  }

  // The boot as a time chart: one bar per step, from the step to the next (the last one, on a node
  // at work, to now), so a long gap or a stuck step is the widest bar.
  var BUSY = ['provisioning', 'installing', 'reprovisioning', 'decommissioning', 'verified', 'discovered'];
  function label(s) {
    var d = s.detail || {};
    var what = d.kind || d.step || d.operation || d.to || d.type || '';
    return s.step + (what ? ' ' + what : '');
  }
  function chart(timeline, state) {
    var steps = timeline.filter(function (s) { return s.step !== 'state-changed'; });
    var W = 900, ROW = 18, LEFT = 230, H = Math.max(1, steps.length) * ROW + 24;
    var root = svg('svg', { class: 'timeline', id: 'timeline', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'boot timeline' });
    if (!steps.length) { root.appendChild(svg('text', { x: 8, y: 16 }, 'no boot steps yet')); return root; }
    var t0 = Date.parse(steps[0].at);
    var lastAt = Date.parse(steps[steps.length - 1].at);
    var lastEnd = BUSY.indexOf(state) >= 0 && Date.now() - lastAt < 3600000 ? Math.max(lastAt + 1000, Date.now()) : lastAt;
    var ends = steps.map(function (s, i) { return i + 1 < steps.length ? Date.parse(steps[i + 1].at) : lastEnd; });
    var span = Math.max(1000, ends[ends.length - 1] - t0);
    var scale = (W - LEFT - 70) / span;
    steps.forEach(function (s, i) {
      var start = Date.parse(s.at) - t0, len = ends[i] - Date.parse(s.at), y = i * ROW + 4;
      root.appendChild(svg('text', { x: 4, y: y + 12 }, label(s)));
      var bar = svg('rect', { x: LEFT + start * scale, y: y, width: Math.max(2, len * scale), height: ROW - 6, rx: 2, fill: /refused|failed|error/.test(s.step) ? '#b3261e' : len > 10000 ? '#9a6700' : '#3b7dd8', class: 'step' });
      bar.appendChild(svg('title', {}, s.step + ' at ' + s.at + ', ' + (len / 1000).toFixed(1) + ' s until the next step'));
      root.appendChild(bar);
      root.appendChild(svg('text', { x: LEFT + start * scale + Math.max(2, len * scale) + 4, y: y + 12 }, (len / 1000).toFixed(1) + ' s'));
    });
    root.appendChild(svg('text', { x: LEFT, y: H - 4 }, 'from ' + steps[0].at + ', ' + (span / 1000).toFixed(1) + ' s in all'));
    return root;
  }

  document.getElementById('logout').addEventListener('click', function () {
    fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' }).then(function () { showLogin('logged out'); });
  });
  fetch('/ui/session', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (s) {
    document.getElementById('agent').textContent = s.agentId;
    if (s.loggedIn) { csrf = s.csrf; start(); } else showLogin('');
  });
})();
`;
