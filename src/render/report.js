// ctiscope report: draws the capture data embedded in this file (JSON in #ctiscope-data).
// No library and no request: every picture is SVG built here, and long lists, the ladder,
// the Gantt and the call rows create elements only for the rows on screen.
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var DATA = JSON.parse(document.getElementById('ctiscope-data').textContent);
  // Lists up to this many rows are drawn whole; longer ones are drawn for the window shown.
  var WHOLE_ROWS = 200;
  var PRINT_ROWS = 2000;

  // ---- small helpers -------------------------------------------------------------------
  function h(tag, attrs) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function s(tag, attrs) {
    var e = document.createElementNS(NS, tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (var k in attrs) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, String(v));
    }
  }
  function add(e, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(e, x); }); return; }
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function title(text) { return s('title', { text: text }); }
  function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
  // A time of the capture (microseconds after its first event) as UTC time of day.
  function clock(cap, us, digits) {
    var abs = cap.t0_us + us;
    var sec = Math.floor(abs / 1e6);
    var frac = abs - sec * 1e6;
    var d = new Date(sec * 1000);
    var t = pad(d.getUTCHours(), 2) + ':' + pad(d.getUTCMinutes(), 2) + ':' + pad(d.getUTCSeconds(), 2);
    if (digits === undefined) digits = 6;
    if (digits > 0) t += '.' + pad(Math.floor(frac), 6).slice(0, digits);
    return t;
  }
  function dur(ns) {
    if (ns === null || ns === undefined) return '–';
    var a = Math.abs(ns);
    if (a < 1e3) return ns + ' ns';
    if (a < 1e6) return (ns / 1e3).toFixed(1) + ' µs';
    if (a < 1e9) return (ns / 1e6).toFixed(a < 1e7 ? 2 : 1) + ' ms';
    if (a < 60e9) return (ns / 1e9).toFixed(2) + ' s';
    if (a < 3600e9) return Math.floor(ns / 60e9) + ' min ' + Math.round((ns % 60e9) / 1e9) + ' s';
    return Math.floor(ns / 3600e9) + ' h ' + Math.round((ns % 3600e9) / 60e9) + ' min';
  }
  function num(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }
  function fit(text, px, charPx) {
    var max = Math.max(0, Math.floor(px / (charPx || 6.7)));
    if (text.length <= max) return text;
    return max < 2 ? '' : text.slice(0, max - 1) + '…';
  }
  function sevClass(sev) { return 'sev sev-' + sev; }
  function lowerBound(arr, x) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function onFrame(fn) {
    var pending = false;
    return function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; fn(); });
    };
  }
  var printing = false;
  var redrawers = [];

  // ---- a list whose rows are created for the window shown -------------------------------
  function vlist(host, cls, headers, count, rowH, fill) {
    var box = h('div', { 'class': cls });
    box.appendChild(h('div', { 'class': 'vhead' }, headers.map(function (x) { return h('span', { text: x }); })));
    var scroller = h('div', { 'class': 'vlist' });
    var spacer = h('div', { 'class': 'spacer' });
    scroller.appendChild(spacer);
    box.appendChild(scroller);
    host.appendChild(box);
    var whole = count <= WHOLE_ROWS;
    spacer.style.height = count * rowH + 'px';
    scroller.style.height = Math.min(count * rowH + 2, 420) + 'px';
    if (whole) scroller.style.height = (count * rowH + 2) + 'px';
    function draw() {
      var all = whole || printing;
      var first = all ? 0 : Math.max(0, Math.floor(scroller.scrollTop / rowH) - 5);
      var last = all ? Math.min(count, printing ? PRINT_ROWS : count) : Math.min(count, Math.ceil((scroller.scrollTop + scroller.clientHeight) / rowH) + 5);
      spacer.textContent = '';
      for (var i = first; i < last; i++) {
        var row = h('div', { 'class': 'vrow' });
        row.style.top = i * rowH + 'px';
        row.style.height = rowH + 'px';
        fill(row, i);
        spacer.appendChild(row);
      }
      if (printing && count > PRINT_ROWS) spacer.appendChild(h('div', { 'class': 'muted', text: (count - PRINT_ROWS) + ' more rows are in the report on screen' }));
    }
    scroller.addEventListener('scroll', onFrame(draw));
    redrawers.push(draw);
    draw();
    return { scroller: scroller, rowH: rowH };
  }

  // ---- the detail panel: a message's decode tree ------------------------------------------
  var treeCache = {};
  function b64bytes(b64) {
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function treeChunk(ci, k) {
    var key = ci + ':' + k;
    if (treeCache[key]) return treeCache[key];
    var L = DATA.captures[ci].ladder;
    var stream = new Blob([b64bytes(L.trees[k])]).stream().pipeThrough(new DecompressionStream('gzip'));
    treeCache[key] = new Response(stream).text().then(function (t) { return JSON.parse(t); });
    return treeCache[key];
  }
  function treeOf(ci, row) {
    var L = DATA.captures[ci].ladder;
    return treeChunk(ci, Math.floor(row / L.chunk)).then(function (arr) { return arr[row % L.chunk]; });
  }
  function rowName(L, row) {
    return L.kind[row] === 0 ? L.types[L.ty[row]] : L.label[row];
  }
  var shown = null;
  function showRow(ci, row) {
    var cap = DATA.captures[ci], L = cap.ladder;
    var panel = document.getElementById('detail');
    panel.hidden = false;
    // Not data-cap / data-row: those make an element a link to a tree.
    panel.dataset.shownCap = ci;
    panel.dataset.shownRow = row;
    panel.dataset.frame = L.frame[row];
    document.getElementById('detail-title').textContent = 'Frame ' + L.frame[row] + ' · ' + fit(rowName(L, row), 360) + ' · connection ' + L.conn[row];
    var extra = document.getElementById('detail-extra');
    extra.textContent = '';
    extra.appendChild(h('div', { 'class': 'muted', text: clock(cap, L.t[row]) + ' UTC · ' + L.addrs[L.src[row]] + ' → ' + L.addrs[L.dst[row]] }));
    if (L.link[row] >= 0) {
      var other = L.link[row];
      var answers = other < row;
      extra.appendChild(h('div', null, answers ? 'answers ' : 'answered by ',
        h('a', { 'class': 'frame', 'data-cap': ci, 'data-row': other, 'data-goto': 1, 'data-frame': L.frame[other], text: L.types[L.ty[other]] + ' (frame ' + L.frame[other] + ')' }),
        ' after ' + dur(L.lat[row])));
    }
    (cap.rowFindings[row] || []).forEach(function (fi) {
      var f = cap.findings[fi];
      extra.appendChild(h('div', null, h('span', { 'class': sevClass(f.severity), text: f.severity }), ' ' + f.message + ' ', h('span', { 'class': 'muted', text: '(' + f.rule + ')' })));
    });
    var pre = document.getElementById('detail-tree');
    pre.textContent = '…';
    var token = {};
    shown = token;
    treeOf(ci, row).then(function (t) {
      if (shown !== token) return;
      pre.textContent = t || L.label[row];
      panel.dataset.loaded = '1';
    }, function (err) {
      if (shown !== token) return;
      pre.textContent = 'This browser cannot unpack the tree (' + err + '); `ctiscope decode -V` prints it.';
    });
    panel.dataset.loaded = '';
    document.querySelectorAll('svg .msg.selected').forEach(function (e) { e.classList.remove('selected'); });
    document.querySelectorAll('svg [data-cap="' + ci + '"][data-row="' + row + '"]').forEach(function (e) { e.classList.add('selected'); });
  }
  function showText(titleText, lines) {
    var panel = document.getElementById('detail');
    panel.hidden = false;
    panel.dataset.shownRow = '';
    panel.dataset.frame = '';
    document.getElementById('detail-title').textContent = titleText;
    document.getElementById('detail-extra').textContent = '';
    document.getElementById('detail-tree').textContent = lines.join('\n');
  }
  document.getElementById('detail-close').addEventListener('click', function () { document.getElementById('detail').hidden = true; });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') document.getElementById('detail').hidden = true; });
  document.addEventListener('click', function (e) {
    var t = e.target.closest('[data-cap][data-row]');
    if (!t) {
      var info = e.target.closest('[data-info]');
      if (info) showText(info.getAttribute('data-title') || 'Not in the ladder', [info.getAttribute('data-info')]);
      return;
    }
    var ci = Number(t.getAttribute('data-cap')), row = Number(t.getAttribute('data-row'));
    e.preventDefault();
    if (row < 0) {
      showText('Frame ' + t.getAttribute('data-frame'), [t.getAttribute('data-info') || 'This message is not in the ladder: ' + DATA.captures[ci].ladder.hint]);
      return;
    }
    if (t.hasAttribute('data-goto')) DATA.captures[ci].ladderView.goto(row);
    showRow(ci, row);
  });

  // ---- overview ------------------------------------------------------------------------
  function overview(host, cap, ci) {
    var st = cap.stats;
    var kv = h('dl', { 'class': 'kv' });
    function item(k, v) { kv.appendChild(h('dt', { text: k })); kv.appendChild(h('dd', null, v)); }
    item('File', cap.file);
    item('Time span', cap.first_time + ' – ' + cap.last_time + ' (' + dur(cap.span * 1000) + ')');
    if (st) {
      item('Packets', num(st.packets) + ' packets, ' + num(st.tcp_segments) + ' TCP segments');
      item('CTI messages', num(st.messages) + ' (' + bytes(st.message_bytes) + ')');
      item('Bytes never captured', st.gap_bytes ? num(st.gap_bytes) + ' bytes in ' + num(st.gaps) + ' gaps' : 'none');
      if (st.skipped_bytes) item('Bytes skipped to resynchronise', num(st.skipped_bytes));
      if (st.packet_issues) item('Packets not sliced', num(st.packet_issues));
    } else {
      item('CTI messages', num(cap.messages));
    }
    item('Sessions', cap.sessions.filter(function (x) { return x.cti; }).length + ' CTI connections' + (cap.refused + cap.empty ? ', ' + (cap.refused + cap.empty) + ' attempts without CTI' : ''));
    item('Findings', cap.counts.error + ' errors, ' + cap.counts.warning + ' warnings, ' + cap.counts.note + ' notes');
    host.appendChild(kv);
    if (cap.cut_short) host.appendChild(h('p', { 'class': 'note', text: 'The capture could not be read to its end; the report covers what was read: ' + cap.cut_short }));
    var lines = cap.headline.concat([cap.summary]);
    host.appendChild(h('pre', { 'class': 'headline', text: lines.join('\n') }));
    host.appendChild(h('h3', { text: 'Sessions' }));
    var S = cap.sessions;
    vlist(host, 'sessions', ['conn', 'client', 'server', 'ClientID', 'agent', 'version', 'services', 'messages', 'how it ended', 'ladder'], S.length, 24, function (row, i) {
      var x = S[i];
      row.setAttribute('data-conn', x.conn);
      row.setAttribute('data-frame', x.first_frame);
      var end = x.end + (x.end_by ? ' by ' + x.end_by : '') + (x.lost ? ' (lost)' : '') + (x.follows !== null ? ' · reopens conn ' + x.follows : '');
      if (!x.cti) end = 'no CTI: ' + end;
      add(row, [
        h('span', { text: x.conn }), h('span', { text: x.client || '–', title: x.client }), h('span', { text: x.server || '–' }),
        h('span', { text: x.client_id || '–', title: x.client_id }), h('span', { text: x.agent || x.extension || x.instrument || '–', title: x.agent }),
        h('span', { text: x.version === null ? '?' : x.version }), h('span', { text: x.services || '–', title: x.services }),
        h('span', { text: num(x.messages[0]) + ' / ' + num(x.messages[1]), title: 'client → server / server → client' }),
        h('span', { text: end, title: end }),
        x.drawn ? h('button', { 'class': 'link', type: 'button', text: 'ladder', onclick: function () { cap.ladderView.show('conn:' + x.conn); cap.ladderView.host.scrollIntoView(); } }) : h('span', { 'class': 'muted', text: '–' })
      ]);
    });
  }

  // ---- findings ------------------------------------------------------------------------
  function frameLink(cap, ci, frame, conn, known) {
    var row = known !== undefined && known !== null && cap.ladder.frame[known] === frame ? known : cap.rowOf(frame, conn);
    var a = h('a', { 'class': 'frame' + (row < 0 ? ' absent' : ''), 'data-cap': ci, 'data-row': row, 'data-frame': frame, 'data-goto': 1, text: frame });
    if (row < 0) a.setAttribute('title', 'not in the ladder: ' + cap.ladder.hint);
    return a;
  }
  function findingsView(host, cap, ci) {
    if (!cap.groups.length) {
      host.appendChild(h('p', { text: 'No findings: the capture follows the protocol as far as the rules see.' }));
      return;
    }
    var t = h('table', null, h('tr', null, ['severity', 'count', 'conns', 'frames', 'what', 'rule'].map(function (x) { return h('th', { text: x }); })));
    cap.groups.forEach(function (g) {
      var what = g.count === 1 && g.example ? g.example : g.cause + (g.ids.length ? ': ' + g.ids.slice(0, 12).join(', ') + (g.ids.length > 12 || !g.ids_complete ? ', …' : '') : '');
      var frames = h('td');
      if (g.first_frame !== null) {
        var conn = null;
        for (var k = 0; k < cap.findings.length; k++) { var f = cap.findings[k]; if (f.rule === g.rule && f.frames.indexOf(g.first_frame) >= 0) { conn = f.conn; break; } }
        add(frames, frameLink(cap, ci, g.first_frame, conn));
        if (g.last_frame !== g.first_frame) add(frames, ['–', frameLink(cap, ci, g.last_frame, null)]);
      }
      t.appendChild(h('tr', { 'data-rule': g.rule, 'data-frame': g.first_frame },
        h('td', null, h('span', { 'class': sevClass(g.severity), text: g.severity })), h('td', { 'class': 'num', text: num(g.count) }),
        h('td', { 'class': 'num', text: g.connections + (g.connections_more ? '+' : '') }), frames, h('td', { text: what }), h('td', { text: g.rule })));
    });
    host.appendChild(t);
    var F = cap.findings;
    host.appendChild(h('h3', { text: 'Every finding listed (' + num(F.length) + ')' }));
    vlist(host, 'findings', ['severity', 'rule', 'conn', 'frames', 'what'], F.length, 24, function (row, i) {
      var f = F[i];
      row.setAttribute('data-finding', i);
      row.setAttribute('data-frame', f.frames.length ? f.frames[0] : '');
      row.setAttribute('data-frames', f.frames.join(' '));
      var frames = h('span');
      f.frames.slice(0, 4).forEach(function (fr, k) { if (k) add(frames, ' '); add(frames, frameLink(cap, ci, fr, f.conn, f.row)); });
      if (f.frames.length > 4) add(frames, ' …');
      add(row, [h('span', { 'class': sevClass(f.severity), text: f.severity }), h('span', { text: f.rule }), h('span', { text: f.conn === null ? '–' : f.conn }), frames, h('span', { text: f.message, title: f.message })]);
    });
  }

  // ---- the ladder ------------------------------------------------------------------------
  var LANE_W = 290, TIME_W = 150, LINK_W = 70, ROW_H = 34, TOP = 14;
  var KIND = ['message', 'gap', 'resync', 'incomplete', 'implausible header', 'retransmission conflict', 'connection', 'connection end', 'limit'];
  var SEV_COLOR = { error: '#c62828', warning: '#d98200', note: '#2f7d9a' };
  function ladderView(host, cap, ci) {
    var L = cap.ladder, n = L.frame.length;
    var self = { host: host };
    cap.ladderView = self;
    var byConn = {};
    for (var i = 0; i < n; i++) (byConn[L.conn[i]] = byConn[L.conn[i]] || []).push(i);
    var servers = {};
    cap.sessions.forEach(function (x) { if (x.server) servers[x.server] = true; });
    var clientInfo = {};
    cap.sessions.forEach(function (x) {
      if (!x.client) return;
      var who = [];
      if (x.agent || x.extension) who.push('agent ' + (x.agent || x.extension));
      if (x.client_id) who.push(x.client_id);
      clientInfo[x.client] = 'conn ' + x.conn + (who.length ? ' · ' + who.join(' · ') : '');
    });

    var note = h('div');
    host.appendChild(note);
    if (L.left_out > 0) {
      var leftList = L.left.slice(0, 12).map(function (p) { return 'connection ' + p[0] + ' (' + num(p[1]) + ')'; }).join(', ');
      note.appendChild(h('p', { 'class': 'note', text: 'The ladder holds the first ' + num(n) + ' events of ' + L.selection + ' (at most ' + num(L.cap) + ', --max-messages); ' + num(L.left_out) + ' later ones are left out' + (leftList ? ': messages of ' + leftList + (L.left.length > 12 ? ', …' : '') : '') + '. Select a session, agent or call with --session CONN, --agent ID or --call ID (or -Y), or raise --max-messages, to draw them.' }));
    } else {
      note.appendChild(h('p', { 'class': 'muted', text: n ? num(n) + ' events of ' + L.selection + ' drawn; click an arrow for its decoded tree.' : 'No message of ' + L.selection + ' to draw.' }));
    }
    if (!n) return self;

    var bar = h('div', { 'class': 'toolbar no-print' });
    var sel = h('select', { 'aria-label': 'ladder view' });
    sel.appendChild(h('option', { value: 'all', text: 'All drawn sessions (' + num(n) + ' events)' }));
    Object.keys(byConn).map(Number).sort(function (a, b) { return a - b; }).forEach(function (c) {
      var info = cap.sessions.filter(function (x) { return x.conn === c; })[0];
      var who = info ? (info.client_id || info.agent || info.client || '') : '';
      sel.appendChild(h('option', { value: 'conn:' + c, text: 'Session ' + c + (who ? ' · ' + who : '') + ' (' + num(byConn[c].length) + ')' }));
    });
    var mode = h('select', { 'aria-label': 'vertical scale' },
      h('option', { value: 'seq', text: 'one row per message' }), h('option', { value: 'time', text: 'proportional to time' }));
    var zoomOut = h('button', { type: 'button', text: '−', title: 'zoom out' });
    var zoomIn = h('button', { type: 'button', text: '+', title: 'zoom in' });
    var find = h('input', { type: 'search', placeholder: 'frame or time (09:05:58)', size: 20 });
    var pos = h('span', { 'class': 'muted' });
    add(bar, ['View ', sel, ' Vertical scale ', mode, ' Zoom ', zoomOut, zoomIn, ' Go to ', find, pos]);
    host.appendChild(bar);
    var wrap = h('div', { 'class': 'ladder-wrap' });
    var lanesBox = h('div', { 'class': 'ladder-lanes' });
    var lanesSvg = s('svg', { height: 46 });
    lanesBox.appendChild(lanesSvg);
    lanesBox.appendChild(h('div', { 'class': 'lane-corner', text: 'frame · time (UTC)' }));
    var scroller = h('div', { 'class': 'ladder-scroll' });
    var spacer = h('div', { style: 'position:relative' });
    var svg = s('svg', { 'class': 'ladder' });
    spacer.appendChild(svg);
    scroller.appendChild(spacer);
    add(wrap, [lanesBox, scroller]);
    host.appendChild(wrap);

    var rows = [], ys = new Float64Array(0), lanes = [], laneX = {}, zoom = 1, width = 0, view = 'all', laneW = LANE_W;
    function layout() {
      var single = view.slice(0, 5) === 'conn:';
      rows = view === 'all' ? null : single ? byConn[Number(view.slice(5))] : custom[view];
      var count = rows ? rows.length : n;
      var at = function (k) { return rows ? rows[k] : k; };
      // Lanes: a session's client then server; several sessions: the servers, then each
      // client in order of appearance.
      var seen = {}, order = [];
      for (var k = 0; k < count; k++) {
        var r = at(k);
        [L.src[r], L.dst[r]].forEach(function (a) { if (!(a in seen)) { seen[a] = 1; order.push(a); } });
      }
      var srv = order.filter(function (a) { return servers[L.addrs[a]]; });
      var cli = order.filter(function (a) { return !servers[L.addrs[a]]; });
      lanes = single ? cli.concat(srv) : srv.concat(cli);
      // Lanes share the width shown, between LANE_W and twice that.
      laneW = Math.max(LANE_W, Math.min(2 * LANE_W, ((scroller.clientWidth || 1200) - TIME_W - LINK_W) / Math.max(1, lanes.length)));
      laneX = {};
      lanes.forEach(function (a, j) { laneX[a] = TIME_W + j * laneW + laneW / 2; });
      width = Math.max(TIME_W + lanes.length * laneW + LINK_W, 400);
      ys = new Float64Array(count);
      if (mode.value === 'seq') {
        for (var q = 0; q < count; q++) ys[q] = TOP + 18 + q * ROW_H * zoom;
      } else {
        var t0 = L.t[at(0)], span = Math.max(1, L.t[at(count - 1)] - t0);
        var pxPerUs = Math.min(count * ROW_H / span, 2) * zoom;
        for (var q2 = 0; q2 < count; q2++) ys[q2] = TOP + 18 + (L.t[at(q2)] - t0) * pxPerUs;
      }
      var total = (count ? ys[count - 1] : 0) + ROW_H + 20;
      spacer.style.height = total + 'px';
      spacer.style.width = width + 'px';
      svg.setAttribute('width', width);
      lanesSvg.setAttribute('width', width);
      drawLanes();
      draw();
    }
    function drawLanes() {
      lanesSvg.textContent = '';
      lanes.forEach(function (a) {
        var x = laneX[a], addr = L.addrs[a];
        var main = servers[addr] ? 'CTI server' : (clientInfo[addr] || 'client');
        lanesSvg.appendChild(s('text', { x: x, y: 18, 'text-anchor': 'middle', 'class': 'lane-label', 'data-lane': addr, text: fit(main, laneW - 10, 7) }, title(main + ' ' + addr)));
        lanesSvg.appendChild(s('text', { x: x, y: 35, 'text-anchor': 'middle', 'class': 'lane-sub', text: addr }));
      });
    }
    function draw() {
      var count = ys.length;
      var top = scroller.scrollTop, hgt = scroller.clientHeight || 600;
      lanesSvg.style.left = -scroller.scrollLeft + 'px';
      svg.textContent = '';
      svg.style.top = top + 'px';
      svg.setAttribute('height', hgt);
      var g0 = s('g', { transform: 'translate(0,' + (-top) + ')' });
      svg.appendChild(g0);
      lanes.forEach(function (a) {
        g0.appendChild(s('line', { x1: laneX[a], x2: laneX[a], y1: top, y2: top + hgt, stroke: '#9aa4b2', 'stroke-dasharray': '4 3' }));
      });
      var first = Math.max(0, lowerBound(ys, top - ROW_H) - 1);
      var last = Math.min(count, lowerBound(ys, top + hgt + ROW_H) + 1);
      pos.textContent = count ? ' ' + (first + 1) + '–' + last + ' of ' + num(count) : '';
      var at = function (k) { return rows ? rows[k] : k; };
      // More than one arrow per eight pixels would be a solid block.
      if (last - first > Math.max(60, hgt / 8)) { drawDense(g0, first, last, at); drawTimes(g0, first, last, at, top, hgt); return; }
      var lastLabel = -1e9;
      for (var k = first; k < last; k++) {
        var r = at(k), y = ys[k];
        var labelled = y - lastLabel >= ROW_H;
        if (labelled) lastLabel = y;
        drawRow(g0, r, y, labelled);
      }
      drawLinks(g0, first, last, at);
      drawTimes(g0, first, last, at, top, hgt);
    }
    // The frame and time column, which stays at the left edge when the lanes scroll sideways.
    function drawTimes(g0, first, last, at, top, hgt) {
      var times = s('g', { 'class': 'time-column' });
      var left = scroller.scrollLeft, lastLabel = -1e9;
      times.appendChild(s('rect', { x: left, y: top, width: TIME_W - 8, height: hgt, fill: '#ffffff', 'fill-opacity': 0.92 }));
      for (var k = first; k < last; k++) {
        var r = at(k), y = ys[k];
        if (y - lastLabel < ROW_H) continue;
        lastLabel = y;
        times.appendChild(s('text', { x: left + 8, y: y + 4, 'class': 'time', text: L.frame[r] + '  ' + clock(cap, L.t[r]) }));
      }
      g0.appendChild(times);
    }
    // Too many arrows for the height shown: one line per lane pair and band of pixels, its
    // width growing with the messages it stands for, and the count and main types beside.
    function drawDense(g0, first, last, at) {
      var BAND = 12, band = null, lastText = -1e9;
      function flush() {
        if (!band) return;
        var types = Object.keys(band.types).sort(function (p, q) { return band.types[q] - band.types[p]; });
        var tip = num(band.n) + ' messages ' + clock(cap, band.t0, 3) + ' – ' + clock(cap, band.t1, 3) + ': ' +
          types.slice(0, 4).map(function (t) { return t + ' ×' + band.types[t]; }).join(', ') + (types.length > 4 ? ', …' : '') + ' (zoom in to see each)';
        var g = s('g', { 'class': 'dense', 'data-count': band.n, 'data-frame': band.frame, 'data-cap': ci, 'data-row': band.row, 'data-goto': 1 });
        Object.keys(band.pairs).forEach(function (p) {
          var ab = p.split(','), x1 = laneX[ab[0]], x2 = laneX[ab[1]];
          g.appendChild(s('line', { x1: x1, x2: x2, y1: band.y, y2: band.y, stroke: '#46566e', 'stroke-width': Math.min(7, 1 + Math.log2(band.pairs[p])), 'stroke-opacity': 0.55 }));
        });
        var lo = Math.min.apply(null, Object.keys(band.pairs).map(function (p) { var ab = p.split(','); return Math.min(laneX[ab[0]], laneX[ab[1]]); }));
        if (band.y - lastText >= 36) {
          lastText = band.y;
          g.appendChild(s('rect', { x: lo + 4, y: band.y - 13, width: 460, height: 12, fill: '#ffffff', 'fill-opacity': 0.85 }));
          g.appendChild(s('text', { x: lo + 8, y: band.y - 3, 'class': 'time', text: num(band.n) + ' messages: ' + types.slice(0, 3).join(', ') + (types.length > 3 ? ', …' : '') }));
        }
        g.appendChild(title(tip));
        g0.appendChild(g);
        band = null;
      }
      for (var k = first; k < last; k++) {
        var b = Math.floor(ys[k] / BAND), r = at(k);
        if (band && band.b !== b) flush();
        if (!band) band = { b: b, y: ys[k], n: 0, pairs: {}, types: {}, t0: L.t[r], frame: L.frame[r], row: r };
        var key = L.src[r] + ',' + L.dst[r];
        band.pairs[key] = (band.pairs[key] || 0) + 1;
        var name = L.kind[r] === 0 ? L.types[L.ty[r]] : KIND[L.kind[r]];
        band.types[name] = (band.types[name] || 0) + 1;
        band.t1 = L.t[r];
        band.n++;
      }
      flush();
    }
    function drawRow(g0, r, y, labelled) {
      var x1 = laneX[L.src[r]], x2 = laneX[L.dst[r]], kind = L.kind[r];
      var g = s('g', { 'class': kind === 0 ? 'msg' : (kind >= 6 ? 'msg conn-event' : 'msg event'), 'data-cap': ci, 'data-row': r, 'data-frame': L.frame[r], 'data-kind': KIND[kind] });
      if (shownRow(r)) g.classList.add('selected');
      var lo = Math.min(x1, x2), span = Math.abs(x2 - x1);
      g.appendChild(s('rect', { 'class': 'hit', x: 0, y: y - 15, width: width, height: Math.max(4, Math.min(ROW_H * zoom, 30)) }));
      var full;
      if (kind === 0) {
        var name = L.types[L.ty[r]];
        var lat = L.link[r] >= 0 && L.link[r] < r ? '  ↩ ' + dur(L.lat[r]) : '';
        full = name + ' ' + L.label[r] + lat;
        g.appendChild(s('line', { 'class': 'arrow', x1: x1, x2: x2 + (x2 > x1 ? -6 : 6), y1: y, y2: y, stroke: '#2d3a4d', 'stroke-width': 1.5 }));
        g.appendChild(s('path', { d: 'M' + x2 + ',' + y + ' l' + (x2 > x1 ? -8 : 8) + ',-4 v8 z', fill: '#2d3a4d' }));
        if (labelled) {
          g.appendChild(s('text', { 'class': 'label', x: lo + 8, y: y - 4, style: 'font-weight:600', text: fit(name + lat, span - 12) }));
          g.appendChild(s('text', { 'class': 'label', x: lo + 8, y: y + 12, style: 'fill:#5c6675', text: fit(L.label[r], span - 12, 6.4) }));
        }
      } else {
        full = L.label[r];
        var colour = kind >= 6 ? '#7d8896' : '#c62828';
        g.appendChild(s('line', { x1: x1, x2: x2, y1: y, y2: y, stroke: colour, 'stroke-width': kind >= 6 ? 1.2 : 3, 'stroke-dasharray': kind >= 6 ? '2 3' : '7 4' }));
        if (labelled) g.appendChild(s('text', { x: lo + 8, y: y - 4, style: 'fill:' + colour, text: fit(full, Math.max(span, laneW * 1.6) - 12) }));
      }
      g.appendChild(title('frame ' + L.frame[r] + ', ' + clock(cap, L.t[r]) + ': ' + full));
      var fs = cap.rowFindings[r];
      if (fs) {
        var worst = fs.map(function (fi) { return cap.findings[fi].severity; }).sort(function (a, b) { return sevRank(b) - sevRank(a); })[0];
        var mx = x1 + (x2 > x1 ? -12 : 12);
        g.appendChild(s('circle', { 'class': 'mark finding', cx: mx, cy: y, r: 6, fill: SEV_COLOR[worst], 'data-cap': ci, 'data-row': r, 'data-frame': L.frame[r], 'data-severity': worst },
          title(fs.map(function (fi) { return cap.findings[fi].severity + ': ' + cap.findings[fi].message; }).join('\n'))));
      }
      g0.appendChild(g);
    }
    function drawLinks(g0, first, last, at) {
      // Just right of the last lane.
      var xr = TIME_W + (lanes.length - 0.5) * laneW + 18;
      var done = {};
      for (var k = first; k < last; k++) {
        var r = at(k), o = L.link[r];
        if (o < 0) continue;
        var req = Math.min(r, o), conf = Math.max(r, o);
        if (done[req]) continue;
        done[req] = 1;
        var yq = yOfRow(req), yc = yOfRow(conf);
        if (yq === null || yc === null) continue;
        var x = xr + (req % 4) * 8;
        g0.appendChild(s('path', { d: 'M' + (x - 6) + ',' + yq + ' H' + x + ' V' + yc + ' H' + (x - 6), fill: 'none', stroke: '#1f5fbf', 'stroke-opacity': 0.55 },
          title(L.types[L.ty[req]] + ' (frame ' + L.frame[req] + ') answered by ' + L.types[L.ty[conf]] + ' (frame ' + L.frame[conf] + ') after ' + dur(L.lat[req]))));
      }
    }
    function indexOfRow(r) {
      if (!rows) return r;
      var k = lowerBound(rows, r);
      return rows[k] === r ? k : -1;
    }
    function yOfRow(r) { var k = indexOfRow(r); return k < 0 ? null : ys[k]; }
    var selectedRow = -1;
    function shownRow(r) { return r === selectedRow; }
    self.show = function (v) { view = v; sel.value = v; scroller.scrollTop = 0; layout(); };
    // A view of chosen rows across sessions (a call, an agent), added to the view menu.
    var custom = {};
    self.showRows = function (key, label, list) {
      // The confirm of each request shown comes with it (it names only the InvokeID).
      var have = {};
      list.forEach(function (r) { have[r] = 1; });
      list.slice().forEach(function (r) { if (L.link[r] >= 0 && !have[L.link[r]]) { have[L.link[r]] = 1; list.push(L.link[r]); } });
      list.sort(function (a, b) { return a - b; });
      custom[key] = list;
      if (!sel.querySelector('option[value="' + key + '"]')) sel.appendChild(h('option', { value: key, text: label + ' (' + num(list.length) + ')' }));
      self.show(key);
      host.scrollIntoView({ block: 'start' });
    };
    // The rows of a call: messages naming one of its ids in a call id field.
    self.callRows = function (ids) {
      var want = {}, out = [];
      ids.forEach(function (x) { want[x] = 1; });
      var re = /CallID=(\d+)/g;
      for (var i = 0; i < n; i++) {
        if (L.kind[i] !== 0) continue;
        var m, label = L.label[i];
        re.lastIndex = 0;
        while ((m = re.exec(label))) if (want[m[1]]) { out.push(i); break; }
      }
      return out;
    };
    // The rows of an agent: its desktop sessions, and messages naming it elsewhere.
    self.agentRows = function (a) {
      var conns = {}, out = [], names = [a.id, a.extension, a.instrument].filter(function (x) { return x; });
      cap.sessions.forEach(function (x) {
        if (x.desktop && names.some(function (nm) { return nm === x.agent || nm === x.extension || nm === x.instrument; })) conns[x.conn] = 1;
      });
      var pats = [];
      names.forEach(function (nm) { ['AgentID=', 'AgentExtension=', 'AgentInstrument='].forEach(function (k) { pats.push(k + nm); }); });
      for (var i = 0; i < n; i++) {
        if (conns[L.conn[i]]) { out.push(i); continue; }
        if (L.kind[i] !== 0) continue;
        var lb = ' ' + L.label[i] + ' ';
        if (pats.some(function (p) { return lb.indexOf(' ' + p + ' ') >= 0; })) out.push(i);
      }
      return out;
    };
    self.goto = function (r) {
      if (indexOfRow(r) < 0) self.show('all');
      var k = indexOfRow(r);
      selectedRow = r;
      host.scrollIntoView({ block: 'start' });
      scroller.scrollTop = Math.max(0, ys[k] - scroller.clientHeight / 2);
      var xa = Math.min(laneX[L.src[r]], laneX[L.dst[r]]), xb = Math.max(laneX[L.src[r]], laneX[L.dst[r]]);
      if (xa < scroller.scrollLeft + TIME_W || xb > scroller.scrollLeft + scroller.clientWidth) scroller.scrollLeft = Math.max(0, xa - TIME_W - laneW / 2);
      draw();
      var g = svg.querySelector('[data-row="' + r + '"]');
      if (g) g.classList.add('flash');
    };
    sel.addEventListener('change', function () { self.show(sel.value); });
    mode.addEventListener('change', function () { zoom = 1; layout(); });
    function rezoom(f) {
      var mid = scroller.scrollTop + scroller.clientHeight / 2;
      var k = Math.min(ys.length - 1, lowerBound(ys, mid));
      zoom = Math.max(0.02, Math.min(zoom * f, mode.value === 'seq' ? 3 : 5000));
      layout();
      scroller.scrollTop = Math.max(0, ys[k] - scroller.clientHeight / 2);
      draw();
    }
    zoomIn.addEventListener('click', function () { rezoom(1.5); });
    zoomOut.addEventListener('click', function () { rezoom(1 / 1.5); });
    find.addEventListener('change', function () {
      var v = find.value.trim(), count = ys.length, at = function (k) { return rows ? rows[k] : k; }, k;
      if (/^\d+$/.test(v)) {
        var fr = Number(v);
        for (k = 0; k < count && L.frame[at(k)] < fr; k++);
      } else {
        for (k = 0; k < count && clock(cap, L.t[at(k)]) < v; k++);
      }
      if (k >= count) k = count - 1;
      self.goto(at(k));
      showRow(ci, at(k));
    });
    scroller.addEventListener('scroll', onFrame(draw));
    window.addEventListener('resize', onFrame(draw));
    // Many sessions side by side make a wide picture: then the first session is shown,
    // and the view menu offers every other one and all of them together.
    var conns = Object.keys(byConn).map(Number).sort(function (a, b) { return a - b; });
    self.show(conns.length > 8 || conns.length === 1 ? 'conn:' + conns[0] : 'all');
    return self;
  }
  // Show the ladder of a call or an agent across sessions, from the rows drawn.
  function ladderOf(cap, key, label, pick) {
    var v = cap.ladderView;
    var list = v.callRows ? pick(v) : [];
    if (!list.length) {
      showText(label, ['No message of ' + label.toLowerCase() + ' is in the ladder: ' + cap.ladder.hint + '.']);
      return;
    }
    v.showRows(key, label, list);
  }
  function sevRank(s0) { return s0 === 'error' ? 3 : s0 === 'warning' ? 2 : 1; }

  // ---- rows on a time axis (agents' states, calls) -----------------------------------------
  function niceStep(usPerPx) {
    var steps = [1e3, 5e3, 1e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1.5e7, 3e7, 6e7, 1.2e8, 3e8, 6e8, 9e8, 1.8e9, 3.6e9, 7.2e9, 1.44e10, 2.88e10, 8.64e10];
    for (var i = 0; i < steps.length; i++) if (steps[i] / usPerPx >= 110) return steps[i];
    return steps[steps.length - 1];
  }
  function timeRows(host, cap, opts) {
    var LABEL_W = opts.labelW || 190, RH = opts.rowH || 24, AXIS = 26;
    var count = opts.count;
    var bar = h('div', { 'class': 'toolbar no-print' });
    var zoomOut = h('button', { type: 'button', text: '−', title: 'zoom out' });
    var zoomIn = h('button', { type: 'button', text: '+', title: 'zoom in' });
    var fitBtn = h('button', { type: 'button', text: 'whole span' });
    add(bar, ['Zoom ', zoomOut, zoomIn, fitBtn, h('span', { 'class': 'muted', text: ' ' + num(count) + ' rows; hover a bar for its times, click it for its message' })]);
    host.appendChild(bar);
    var wrap = h('div', { 'class': 'gantt-wrap' });
    var spacer = h('div', { style: 'position:relative' });
    var svg = s('svg', { 'class': opts.cls });
    svg.style.position = 'absolute';
    svg.style.left = '0';
    spacer.appendChild(svg);
    wrap.appendChild(spacer);
    host.appendChild(wrap);
    var span = Math.max(1, opts.span), zoom = 1, pxPerUs = 1, width = 0;
    function layout() {
      var avail = Math.max(400, (wrap.clientWidth || 1000) - LABEL_W - 20);
      pxPerUs = avail / span * zoom;
      width = LABEL_W + span * pxPerUs + 20;
      spacer.style.width = width + 'px';
      var full = AXIS + count * RH + 6;
      spacer.style.height = full + 'px';
      wrap.style.height = (count <= WHOLE_ROWS || printing ? full + 18 : Math.min(full + 18, window.innerHeight * 0.7)) + 'px';
      svg.setAttribute('width', width);
      draw();
    }
    function x(us) { return LABEL_W + us * pxPerUs; }
    function draw() {
      var top = wrap.scrollTop, left = wrap.scrollLeft, hgt = wrap.clientHeight || 600;
      var all = count <= WHOLE_ROWS || printing;
      var first = all ? 0 : Math.max(0, Math.floor((top - AXIS) / RH) - 3);
      var last = all ? Math.min(count, printing ? PRINT_ROWS : count) : Math.min(count, Math.ceil((top + hgt) / RH) + 3);
      var vtop = all ? 0 : top;
      svg.style.top = vtop + 'px';
      svg.setAttribute('height', all ? AXIS + (last - first) * RH + 6 : hgt);
      svg.textContent = '';
      var g0 = s('g', { transform: 'translate(0,' + (-vtop) + ')' });
      svg.appendChild(g0);
      // Grid and axis.
      var step = niceStep(1 / pxPerUs);
      var u0 = Math.max(0, Math.floor(((left - LABEL_W) / pxPerUs) / step) * step);
      var u1 = (left + (wrap.clientWidth || 1200)) / pxPerUs;
      var axisY = vtop + 16;
      for (var u = u0; u <= Math.min(u1, span + step); u += step) {
        if (u > span) break;
        g0.appendChild(s('line', { x1: x(u), x2: x(u), y1: vtop + AXIS - 4, y2: vtop + hgt + AXIS + count * RH, stroke: '#e3e7ec' }));
        g0.appendChild(s('text', { x: x(u) + 3, y: axisY, 'class': 'time', text: clock(cap, u, step < 1e6 ? 3 : 0) }));
      }
      for (var i = first; i < last; i++) {
        var y = AXIS + i * RH;
        var g = s('g', { 'class': 'trow' });
        if (i % 2) g.appendChild(s('rect', { x: left, y: y, width: wrap.clientWidth || width, height: RH, fill: '#f8f9fb' }));
        opts.drawRow(g, i, y, RH, x, [(left - LABEL_W) / pxPerUs, (left + (wrap.clientWidth || width)) / pxPerUs]);
        g0.appendChild(g);
      }
      // The label column stays at the left edge.
      var lab = s('g');
      lab.appendChild(s('rect', { x: left, y: vtop, width: LABEL_W - 4, height: all ? AXIS + count * RH + 6 : hgt, fill: '#ffffff' }));
      lab.appendChild(s('text', { x: left + 6, y: axisY, 'class': 'lane-sub', text: opts.axisLabel }));
      for (var j = first; j < last; j++) {
        var lt = opts.label(j);
        lab.appendChild(s('text', { x: left + 6, y: AXIS + j * RH + RH / 2 + 4, 'class': 'lane-label row-label', 'data-i': j, text: fit(lt, LABEL_W - 12, 6.8) }, title(lt + (opts.onLabel ? '\n(click: its messages in the ladder)' : ''))));
      }
      g0.appendChild(lab);
      if (opts.after) opts.after(g0, first, last, AXIS, RH, x);
    }
    function rezoom(f) {
      var mid = (wrap.scrollLeft + wrap.clientWidth / 2 - LABEL_W) / pxPerUs;
      zoom = Math.max(1, Math.min(zoom * f, 1e5));
      layout();
      wrap.scrollLeft = Math.max(0, x(mid) - wrap.clientWidth / 2);
      draw();
    }
    zoomIn.addEventListener('click', function () { rezoom(2); });
    zoomOut.addEventListener('click', function () { rezoom(0.5); });
    fitBtn.addEventListener('click', function () { zoom = 1; layout(); });
    wrap.addEventListener('scroll', onFrame(draw));
    if (opts.onLabel) svg.addEventListener('click', function (e) {
      var t = e.target.closest('.row-label');
      if (t) opts.onLabel(Number(t.getAttribute('data-i')));
    });
    window.addEventListener('resize', onFrame(layout));
    redrawers.push(layout);
    layout();
  }

  // Colours of the agent states (names as `stats` prints them: without AGENT_STATE_).
  var STATE_COLOURS = {
    LOGIN: '#9ecae1', LOGOUT: '#bdbdbd', NOT_READY: '#e6550d', AVAILABLE: '#31a354', READY: '#31a354',
    TALKING: '#3182bd', WORK_NOT_READY: '#fd8d3c', WORK_READY: '#a1d99b', BUSY_OTHER: '#756bb1',
    RESERVED: '#fdd0a2', UNKNOWN: '#d9d9d9', HOLD: '#9e9ac8', ACTIVE: '#6baed6', PAUSED: '#fdae6b',
    INTERRUPTED: '#e377c2', NOT_ACTIVE: '#cccccc'
  };
  var EXTRA = ['#8c564b', '#17becf', '#bcbd22', '#e377c2', '#7f7f7f', '#393b79', '#637939', '#843c39'];
  function stateColour(st, extra) {
    if (STATE_COLOURS[st]) return STATE_COLOURS[st];
    if (!(st in extra)) extra[st] = EXTRA[Object.keys(extra).length % EXTRA.length];
    return extra[st];
  }
  function ganttView(host, cap, ci) {
    var A = cap.agents;
    if (!A.length) { host.appendChild(h('p', { text: 'No agent state was seen (AGENT_STATE_EVENT, QUERY_AGENT_STATE_CONF or AGENT_TEAM_CONFIG_EVENT).' })); return; }
    var extra = {}, used = {};
    A.forEach(function (a) { a.states.forEach(function (st) { used[st[3]] = stateColour(st[3], extra); }); });
    var legend = h('div', { 'class': 'legend' });
    Object.keys(used).sort().forEach(function (k) {
      var sw = h('span', { 'class': 'swatch' });
      sw.style.background = used[k];
      legend.appendChild(h('span', { 'data-state': k }, sw, k));
    });
    host.appendChild(legend);
    var dropped = A.filter(function (a) { return a.dropped > 0; });
    if (dropped.length) host.appendChild(h('p', { 'class': 'note', text: dropped.length + ' agents changed state more often than the analysis keeps (1,000 changes per agent, and the agents\' share of --max-analysis-memory): after the last change kept, their rows show a grey band with the number of changes not kept and the final state.' }));
    timeRows(host, cap, {
      cls: 'gantt', count: A.length, span: cap.span, axisLabel: 'agent · time (UTC)',
      onLabel: function (i) { ladderOf(cap, 'agent:' + A[i].id, 'Agent ' + A[i].id, function (v) { return v.agentRows(A[i]); }); },
      label: function (i) { var a = A[i]; return a.id + (a.extension && a.extension !== a.id ? ' (ext ' + a.extension + ')' : ''); },
      drawRow: function (g, i, y, RH, x, vis) {
        var a = A[i], n = a.states.length;
        g.setAttribute('data-agent', a.id);
        if (!a.starts) a.starts = a.states.map(function (st) { return st[0]; });
        // Past the changes kept, the next change is not known: the last kept state ends
        // where it began, and a grey band says how many later changes were not kept.
        var end = function (k) { return k + 1 < n ? a.states[k + 1][0] : a.dropped ? a.states[k][0] : cap.span; };
        if (a.dropped && n && a.starts[n - 1] <= vis[1]) {
          var t0 = a.starts[n - 1];
          var tip0 = a.id + ': ' + num(a.dropped) + ' later state changes not kept (the analysis keeps 1,000 per agent, within its memory budget) from ' + clock(cap, t0, 3) + '; final state ' + (a.final || '?');
          g.appendChild(s('rect', { 'class': 'bar dropped', x: x(t0), y: y + 8, width: Math.max(1.5, x(cap.span) - x(t0)), height: RH - 16, fill: '#d0d4da', 'data-info': tip0, 'data-title': 'States not kept' }, title(tip0)));
        }
        // Bars narrower than two pixels are gathered into one, coloured by the state that
        // held longest in it: zoomed out, a busy agent is not a solid smear of slivers.
        var acc = null;
        function flush() {
          if (!acc) return;
          var best = Object.keys(acc.time).sort(function (p, q) { return acc.time[q] - acc.time[p]; })[0];
          var tip = a.id + ': ' + acc.frames.length + ' states ' + clock(cap, acc.t0, 3) + ' – ' + clock(cap, acc.t1, 3) + ', mostly ' + best + ' (zoom in to see each), frames ' + acc.frames[0] + '–' + acc.frames[acc.frames.length - 1];
          g.appendChild(s('rect', { 'class': 'bar agg', x: acc.x0, y: y + 3, width: Math.max(1.5, acc.x1 - acc.x0), height: RH - 6, fill: used[best], 'data-cap': ci, 'data-row': acc.row, 'data-frame': acc.frames[0], 'data-frames': acc.frames.join(' '), 'data-state': best, 'data-info': tip }, title(tip)));
          acc = null;
        }
        for (var k = Math.max(0, lowerBound(a.starts, vis[0]) - 1); k < n && a.starts[k] <= vis[1]; k++) {
          var st = a.states[k], e = end(k), x0 = x(st[0]), x1 = x(e);
          if (x1 - x0 < 2) {
            if (!acc) acc = { x0: x0, x1: x1, t0: st[0], t1: e, time: {}, frames: [], row: st[5] === null ? -1 : st[5] };
            acc.x1 = x1;
            acc.t1 = e;
            acc.time[st[3]] = (acc.time[st[3]] || 0) + (e - st[0]);
            acc.frames.push(st[1]);
            if (acc.x1 - acc.x0 >= 2) flush();
            continue;
          }
          flush();
          var tip = a.id + ': ' + st[3] + ' ' + clock(cap, st[0], 3) + ' – ' + clock(cap, e, 3) + ' (' + dur((e - st[0]) * 1000) + ')' +
            (st[4] !== null ? ', reason code ' + st[4] : '') + ', frame ' + st[1] + ', connection ' + st[2];
          g.appendChild(s('rect', { 'class': 'bar', x: x0, y: y + 3, width: x1 - x0, height: RH - 6, fill: used[st[3]], 'data-cap': ci, 'data-row': st[5] === null ? -1 : st[5], 'data-frame': st[1], 'data-frames': st[1], 'data-state': st[3], 'data-info': tip }, title(tip)));
        }
        flush();
      }
    });
  }
  var SEG = { ring: '#f2b134', talk: '#2e9d5b', hold: '#8e6bbf' };
  function callsView(host, cap, ci) {
    var C = cap.calls;
    if (!C.length) { host.appendChild(h('p', { text: 'No call was seen.' })); return; }
    var legend = h('div', { 'class': 'legend' });
    [['call (first to last event)', '#cfd6df'], ['ringing', SEG.ring], ['talking', SEG.talk], ['on hold', SEG.hold], ['event', '#1d2430'], ['transfer / conference', '#c2185b']].forEach(function (p) {
      var sw = h('span', { 'class': 'swatch' });
      sw.style.background = p[1];
      legend.appendChild(h('span', null, sw, p[0]));
    });
    host.appendChild(legend);
    if (cap.calls_dropped) host.appendChild(h('p', { 'class': 'note', text: num(cap.calls_dropped) + ' further calls are counted but not kept (the analysis keeps 10,000).' }));
    timeRows(host, cap, {
      cls: 'calls', count: C.length, span: cap.span, axisLabel: 'call · time (UTC)', labelW: 230,
      onLabel: function (i) { ladderOf(cap, 'call:' + C[i].ids.join('/'), 'Call ' + C[i].ids.join('/'), function (v) { return v.callRows(C[i].ids.map(String)); }); },
      label: function (i) {
        var c = C[i];
        var j = c.joined.map(function (p) { return (p[1] === 'transfer' ? '⇄ ' : '⊕ ') + C[p[0]].ids[0]; }).join(' ');
        return 'call ' + c.ids.join('/') + (c.device ? ' · ' + c.device : '') + (j ? ' ' + j : '');
      },
      drawRow: function (g, i, y, RH, x) {
        var c = C[i];
        g.setAttribute('data-call', c.ids[0]);
        g.setAttribute('data-frame', c.first_frame);
        var tip = 'call ' + c.ids.join('/') + ' on ' + (c.device || '?') + ', connections ' + c.conns.join(', ') + ': ' + clock(cap, c.first, 3) + ' – ' + clock(cap, c.last, 3) +
          ', ring ' + dur(c.ring_ns) + ', talk ' + dur(c.talk_ns) + ', hold ' + dur(c.hold_ns) + (c.ended ? '' : ', not ended in the capture');
        var vars = Object.keys(c.vars).map(function (k) { return k + '=' + c.vars[k]; });
        if (vars.length) tip += '\n' + vars.join('\n');
        g.appendChild(s('rect', { 'class': 'bar', x: x(c.first), y: y + 4, width: Math.max(2, x(c.last) - x(c.first)), height: RH - 8, fill: '#cfd6df', 'data-cap': ci, 'data-row': c.events.length ? (c.events[0][3] === null ? -1 : c.events[0][3]) : -1, 'data-frame': c.first_frame, 'data-info': tip }, title(tip)));
        c.segments.forEach(function (sg) {
          g.appendChild(s('rect', { x: x(sg[1]), y: y + (sg[0] === 'hold' ? 8 : 6), width: Math.max(1.5, x(sg[2]) - x(sg[1])), height: RH - (sg[0] === 'hold' ? 16 : 12), fill: SEG[sg[0]], 'pointer-events': 'none' }));
        });
        c.events.forEach(function (ev) {
          var joinEv = ev[2] === 'CALL_TRANSFERRED_EVENT' || ev[2] === 'CALL_CONFERENCED_EVENT';
          var info = ev[2] + ' ' + clock(cap, ev[0]) + ', frame ' + ev[1];
          g.appendChild(s('rect', { 'class': 'mark', x: x(ev[0]) - 1, y: y + 2, width: 2.5, height: RH - 4, fill: joinEv ? '#c2185b' : '#1d2430', 'data-cap': ci, 'data-row': ev[3] === null ? -1 : ev[3], 'data-frame': ev[1], 'data-event': ev[2], 'data-info': info }, title(info)));
        });
      },
      after: function (g0, first, last, AXIS, RH, x) {
        for (var i = first; i < last; i++) {
          C[i].joined.forEach(function (p) {
            var j = p[0];
            if (j <= i || j >= last) return;
            var ev = C[i].events.filter(function (e) { return e[2] === 'CALL_TRANSFERRED_EVENT' || e[2] === 'CALL_CONFERENCED_EVENT'; })[0];
            if (!ev) return;
            g0.appendChild(s('line', { x1: x(ev[0]), x2: x(ev[0]), y1: AXIS + i * RH + RH / 2, y2: AXIS + j * RH + RH / 2, stroke: '#c2185b', 'stroke-width': 1.5, 'stroke-dasharray': '3 2' }, title(p[1] + ' joins call ' + C[i].ids[0] + ' and call ' + C[j].ids[0])));
          });
        }
      }
    });
  }

  // ---- latency -------------------------------------------------------------------------
  var PCTS = [['p50', 'p50_ns', '#2e7d32'], ['p90', 'p90_ns', '#d98200'], ['p99', 'p99_ns', '#c62828']];
  function binPos(ns) { return ns < 1000 ? 0 : 1 + Math.log10(ns / 1000) * 5; }
  var DECADES = [[1e3, '1µs'], [1e4, '10µs'], [1e5, '100µs'], [1e6, '1ms'], [1e7, '10ms'], [1e8, '100ms'], [1e9, '1s'], [1e10, '10s'], [1e11, '100s'], [1e12, '1000s']];
  function latencyView(host, cap) {
    var Lt = cap.latency;
    if (!Lt.length) { host.appendChild(h('p', { text: 'No request was answered or left unanswered.' })); return; }
    var lo = Infinity, hi = -Infinity;
    Lt.forEach(function (l) { l.histogram.forEach(function (b) { lo = Math.min(lo, binPos(b[0])); hi = Math.max(hi, binPos(Math.min(b[1], 1e13))); }); });
    if (lo === Infinity) { lo = 16; hi = 26; }
    lo = Math.max(0, Math.floor(lo) - 1); hi = Math.ceil(hi) + 1;
    // At least two decades, so that the axis names two of them.
    while (hi - lo < 11) { if (lo > 0) lo--; hi++; }
    var cards = h('div', { 'class': 'cards' });
    Lt.forEach(function (l) {
      var W = 360, H = 130, PADL = 34, PADB = 22, PADT = 16;
      var xs = function (p) { return PADL + (p - lo) / (hi - lo) * (W - PADL - 6); };
      var maxc = 1;
      l.histogram.forEach(function (b) { maxc = Math.max(maxc, b[2]); });
      var g = s('svg', { width: W, height: H, 'class': 'histogram', 'data-request': l.request, role: 'img' });
      g.appendChild(s('line', { x1: PADL, x2: W - 6, y1: H - PADB, y2: H - PADB, stroke: '#9aa4b2' }));
      DECADES.forEach(function (d) {
        var p = binPos(d[0]);
        if (p < lo || p > hi) return;
        g.appendChild(s('line', { x1: xs(p), x2: xs(p), y1: PADT, y2: H - PADB + 3, stroke: '#e3e7ec' }));
        g.appendChild(s('text', { x: xs(p), y: H - 6, 'text-anchor': 'middle', 'class': 'time', text: d[1] }));
      });
      g.appendChild(s('text', { x: PADL - 4, y: PADT + 4, 'text-anchor': 'end', 'class': 'time', text: num(maxc) }));
      g.appendChild(s('text', { x: PADL - 4, y: H - PADB, 'text-anchor': 'end', 'class': 'time', text: '0' }));
      l.histogram.forEach(function (b) {
        var p0 = binPos(b[0]), p1 = b[1] > 1e13 ? p0 + 1 : binPos(b[1]);
        var bh = (H - PADB - PADT) * b[2] / maxc;
        g.appendChild(s('rect', { x: xs(p0) + 0.5, y: H - PADB - bh, width: Math.max(1, xs(p1) - xs(p0) - 1), height: bh, fill: '#5b8fd6', 'data-count': b[2] },
          title(dur(b[0]) + ' – ' + (b[1] > 1e13 ? '∞' : dur(b[1])) + ': ' + num(b[2]) + ' requests')));
      });
      if (l.count) {
        PCTS.forEach(function (q) {
          var px = xs(binPos(Math.max(l[q[1]], 1)));
          g.appendChild(s('line', { x1: px, x2: px, y1: PADT - 4, y2: H - PADB, stroke: q[2], 'stroke-dasharray': '3 2', 'stroke-width': 1.5 }, title(q[0] + ' ' + dur(l[q[1]]))));
        });
      }
      var line = h('div', { 'class': 'stats' });
      if (l.count) {
        add(line, num(l.count) + ' answered');
        PCTS.forEach(function (q) { add(line, [' · ', h('span', { style: 'color:' + q[2] + ';font-weight:600', text: q[0] }), ' ' + dur(l[q[1]])]); });
        add(line, ' · max ' + dur(l.max_ns));
      } else {
        add(line, 'none answered');
      }
      add(line, l.unanswered ? h('span', { 'class': 'sev sev-warning', text: ' · ' + num(l.unanswered) + ' unanswered' }) : ' · 0 unanswered');
      cards.appendChild(h('div', { 'class': 'card', 'data-request': l.request, 'data-unanswered': l.unanswered }, h('h3', { text: l.request }), line, g));
    });
    host.appendChild(cards);
  }

  // ---- one capture ---------------------------------------------------------------------
  function capture(main, cap, ci) {
    var L = cap.ladder;
    // Ladder rows by (frame, connection) and the findings on each row.
    var byFrame = {};
    for (var i = 0; i < L.frame.length; i++) {
      var key = L.frame[i] + ':' + L.conn[i];
      if (!(key in byFrame) || (L.kind[byFrame[key]] !== 0 && L.kind[i] === 0)) byFrame[key] = i;
    }
    cap.rowOf = function (frame, conn) {
      if (conn !== null && conn !== undefined) { var r = byFrame[frame + ':' + conn]; return r === undefined ? -1 : r; }
      for (var k in byFrame) if (k.split(':')[0] === String(frame)) return byFrame[k];
      return -1;
    };
    cap.rowFindings = {};
    cap.findings.forEach(function (f, fi) {
      if (f.row !== null) (cap.rowFindings[f.row] = cap.rowFindings[f.row] || []).push(fi);
    });
    L.hint = 'select its session with --session, --agent or --call (or raise --max-messages)';
    var id = 'c' + ci + '-';
    var sec = h('section', { 'class': 'capture', id: id + 'capture', 'data-file': cap.file });
    main.appendChild(sec);
    var parts = [['overview', 'Overview'], ['findings', 'Findings'], ['ladder', 'Ladder'], ['agents', 'Agent states'], ['calls', 'Calls'], ['latency', 'Request latency']];
    sec.appendChild(h('h2', { text: (DATA.captures.length > 1 ? cap.file + ' · ' : '') + 'Overview', id: id + 'overview' }));
    var nav = document.getElementById('nav');
    parts.forEach(function (p) { nav.appendChild(h('a', { href: '#' + id + p[0], text: (DATA.captures.length > 1 ? (ci + 1) + ': ' : '') + p[1] })); });
    var views = {};
    parts.forEach(function (p, k) {
      var v = h('section', { 'class': 'view ' + p[0], id: k ? id + p[0] : null });
      if (k) v.appendChild(h('h2', { text: p[1] }));
      sec.appendChild(v);
      views[p[0]] = v;
    });
    overview(views.overview, cap, ci);
    findingsView(views.findings, cap, ci);
    views.ladder.appendChild(h('p', { 'class': 'muted', text: 'Client and server as lanes, one arrow per message (type above, identifiers below, ↩ the latency of the request a confirm answers); the brackets on the right pair each request with its confirm; red dashes are bytes never captured and resyncs; dots mark findings. Scroll in time, zoom with − and +, click an arrow for its decoded tree.' }));
    ladderView(views.ladder, cap, ci);
    views.agents.appendChild(h('p', { 'class': 'muted', text: 'One row per agent, one bar per state interval, from the state changes the sessions reported or answered queries with (as `stats` counts them); a bar ends at the next change or at the end of the capture. Click an agent for its messages across sessions in the ladder.' }));
    ganttView(views.agents, cap, ci);
    views.calls.appendChild(h('p', { 'class': 'muted', text: 'One row per call from its first to its last event, with its ringing, talking and hold intervals and a mark per event; calls joined by a transfer or conference are linked. Click a call for its messages on every session that reported it in the ladder.' }));
    callsView(views.calls, cap, ci);
    views.latency.appendChild(h('p', { 'class': 'muted', text: 'Per request type: how long confirms took (log scale, five bins per decade; every request counted), the 50th, 90th and 99th percentiles, and requests never answered.' }));
    latencyView(views.latency, cap);
  }

  var main = document.getElementById('report');
  main.textContent = '';
  DATA.captures.forEach(function (cap, ci) { capture(main, cap, ci); });
  main.appendChild(h('p', { 'class': 'muted', text: 'Written by ' + DATA.generator + '. This file needs nothing else: it loads no font, script or style from anywhere.' }));
  window.addEventListener('beforeprint', function () { printing = true; redrawers.forEach(function (f) { f(); }); });
  window.addEventListener('afterprint', function () { printing = false; redrawers.forEach(function (f) { f(); }); });
  document.body.setAttribute('data-ready', '1');
})();
