/* wsio chat demo page. Speaks the seed's four Socket.IO events on the default namespace:
 *
 *   emit join(room)                   server -> others in the room: user-joined(socketId)
 *   emit message({room, message})     server -> everyone in the room, sender included:
 *                                     message(message)
 *   emit typing(room)                 server -> others in the room: typing(socketId)
 *
 *   server -> this client, with --jwt-*: user(name), the token's name (else sub)
 *
 * Names travel inside the message objects, which are ours to define:
 *   {v: 1, kind, id, from, sid, user, text?, time}
 *     kind  "chat" (shown), "hello" (I just joined), "here" (answer to a hello, so the
 *           newcomer learns who is in the room) or "bye" (I am leaving)
 *     from  a random id per tab (stable across reconnects), sid the current socket id
 *           (what user-joined and typing carry), time milliseconds since the epoch.
 * Messages from other clients that send plain strings or other shapes are shown as text
 * from "someone". Everything received is rendered with textContent, never as HTML. */
(function () {
  'use strict';

  var NAME_MAX = 32;
  var ROOM_MAX = 64;
  var TEXT_MAX = 1000;
  var TYPING_SEND_EVERY_MS = 1500; /* at most one typing event per this while typing */
  var TYPING_SHOW_MS = 3000;       /* how long "X is typing..." lasts without news */
  var MAX_ROWS = 500;              /* messages kept in the page */

  function $(id) { return document.getElementById(id); }

  var el = {
    conn: $('conn'), connText: $('conn-text'), fatal: $('fatal'),
    joinView: $('join-view'), joinForm: $('join-form'), name: $('name'), room: $('room'),
    chatView: $('chat-view'), roomTitle: $('room-title'), leave: $('leave'), drop: $('drop'),
    people: $('people'), peopleCount: $('people-count'),
    messages: $('messages'), typing: $('typing'), composer: $('composer'), text: $('text')
  };

  function randomId() {
    var a = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  var me = { from: randomId(), name: '', room: '' };
  var joined = false;
  var seq = 0;
  var members = new Map();   /* from (or "sid:" + socket id for unknown joiners) -> {name, sid} */
  var pending = new Map();   /* message id -> <li> shown until the server echoes it */
  var typers = new Map();    /* display name -> timer */
  var lastTypingSent = 0;
  var unread = 0;
  var everConnected = false;
  var recoveredTimer = null;

  /* ---- helpers ------------------------------------------------------------------------ */

  function clean(s, max) {
    return typeof s === 'string' ? s.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, max) : '';
  }

  function hue(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return 'hue-' + (h % 8);
  }

  function avatar(name) {
    var a = document.createElement('span');
    a.className = 'avatar ' + hue(name);
    a.setAttribute('aria-hidden', 'true');
    a.textContent = (Array.from(name)[0] || '?').toUpperCase();
    return a;
  }

  function clockTime(ms) {
    var d = new Date(ms);
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function nearBottom() {
    var m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function append(li) {
    var stick = nearBottom();
    var empty = el.messages.querySelector('.empty');
    if (empty) empty.remove();
    el.messages.appendChild(li);
    while (el.messages.children.length > MAX_ROWS) el.messages.firstElementChild.remove();
    if (stick) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function system(text, tone) {
    var li = document.createElement('li');
    li.className = 'sys' + (tone ? ' ' + tone : '');
    li.textContent = text;
    append(li);
  }

  function messageRow(msg, mine) {
    var li = document.createElement('li');
    li.className = 'msg' + (mine ? ' mine' : '');
    var bubble = document.createElement('div');
    bubble.className = 'bubble';
    var meta = document.createElement('div');
    meta.className = 'meta';
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = mine ? 'You' : msg.user;
    var time = document.createElement('time');
    var when = new Date(msg.time);
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = clockTime(msg.time);
    meta.append(who, time);
    var p = document.createElement('p');
    p.className = 'text';
    p.textContent = msg.text;
    bubble.append(meta, p);
    li.append(avatar(msg.user), bubble);
    return li;
  }

  /* ---- connection indicator ----------------------------------------------------------- */

  function setConn(state, text) {
    el.conn.dataset.state = state;
    el.connText.textContent = text;
    el.conn.title = text;
  }

  function fatal(text) {
    el.fatal.textContent = text;
    el.fatal.hidden = false;
  }

  if (typeof window.io !== 'function') {
    setConn('disconnected', 'No client');
    fatal('The Socket.IO client (/socket.io.min.js) did not load, so the chat cannot connect. ' +
          'Rebuild wsio so that it copies socket.io-client into the static folder.');
    el.joinForm.querySelector('button').disabled = true;
    return;
  }

  /* A server started with --jwt-* wants a token (docs/security.md): open the page as
   * /?token=<jwt>. The server then says which name the token gives ("user"). */
  var token = new URLSearchParams(location.search).get('token');
  var ioOpts = { transports: ['polling', 'websocket'] };
  if (token) ioOpts.auth = { token: token };
  var socket = window.io(ioOpts);

  socket.on('user', function (name) {
    if (typeof name !== 'string' || !name) return;
    el.name.value = clean(name, NAME_MAX);
    el.name.readOnly = true; /* the token's name, not one to edit */
  });

  socket.on('connect', function () {
    clearTimeout(recoveredTimer);
    if (!everConnected) {
      everConnected = true;
      setConn('connected', 'Connected');
      if (joined) enterRoom(); /* joined before the first connection completed */
      return;
    }
    if (socket.recovered) {
      /* Connection state recovery: same socket id, rooms kept, missed events replayed. */
      setConn('recovered', 'Recovered');
      if (joined) system('Reconnected and recovered: no messages were missed.', 'good');
      recoveredTimer = setTimeout(function () {
        if (socket.connected) setConn('connected', 'Connected');
      }, 6000);
      return;
    }
    setConn('connected', 'Reconnected');
    recoveredTimer = setTimeout(function () {
      if (socket.connected) setConn('connected', 'Connected');
    }, 4000);
    if (joined) {
      /* A new session: the server forgot our room, so join it again. */
      system('Reconnected with a new session; messages sent meanwhile may be missing.', 'warn');
      pending.forEach(function (row) {
        row.classList.remove('pending');
        row.title = 'Sent while reconnecting: delivery not confirmed';
      });
      pending.clear();
      enterRoom();
    }
  });

  socket.on('disconnect', function (reason) {
    clearTimeout(recoveredTimer);
    if (socket.active) setConn('reconnecting', 'Reconnecting…');
    else setConn('disconnected', 'Disconnected');
    if (joined) system('Connection lost (' + reason + ').', 'warn');
  });

  socket.on('connect_error', function () {
    if (socket.active) setConn('reconnecting', everConnected ? 'Reconnecting…' : 'Connecting…');
    else setConn('disconnected', 'Refused');
  });

  socket.io.on('reconnect_attempt', function (n) {
    setConn('reconnecting', 'Reconnecting… (' + n + ')');
  });

  socket.io.on('reconnect_failed', function () {
    setConn('disconnected', 'Disconnected');
  });

  /* ---- people ------------------------------------------------------------------------- */

  function renderPeople() {
    el.people.textContent = '';
    var list = Array.from(members.entries()).sort(function (a, b) {
      if (a[0] === me.from) return -1;
      if (b[0] === me.from) return 1;
      return a[1].name.localeCompare(b[1].name);
    });
    list.forEach(function (entry) {
      var key = entry[0], p = entry[1];
      var li = document.createElement('li');
      li.className = 'person' + (p.unknown ? ' unknown' : '');
      var name = document.createElement('span');
      name.className = 'person-name';
      name.textContent = p.name;
      li.append(avatar(p.name), name);
      if (key === me.from) {
        var you = document.createElement('span');
        you.className = 'you';
        you.textContent = '(you)';
        li.append(you);
      }
      el.people.append(li);
    });
    el.peopleCount.textContent = String(members.size);
  }

  function nameOfSid(sid) {
    var found = null;
    members.forEach(function (p) { if (p.sid === sid && !p.unknown) found = p.name; });
    return found;
  }

  /* Records (from, name, sid); returns true when this person was not known yet. */
  function remember(from, name, sid) {
    var isNew = !members.has(from);
    members.forEach(function (p, key) { if (p.unknown && p.sid === sid) members.delete(key); });
    members.set(from, { name: name, sid: sid });
    renderPeople();
    return isNew;
  }

  /* ---- typing ------------------------------------------------------------------------- */

  function renderTyping() {
    var names = Array.from(typers.keys());
    if (!names.length) {
      el.typing.classList.remove('show'); /* fades out; the last text stays while it fades */
      return;
    }
    var text;
    if (names.length === 1) text = names[0] + ' is typing…';
    else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
    else text = 'Several people are typing…';
    el.typing.textContent = text;
    el.typing.classList.add('show');
  }

  function stopTyping(name) {
    if (!typers.has(name)) return;
    clearTimeout(typers.get(name));
    typers.delete(name);
    renderTyping();
  }

  socket.on('typing', function (sid) {
    if (!joined || sid === socket.id) return;
    var name = nameOfSid(sid) || 'Someone';
    clearTimeout(typers.get(name));
    typers.set(name, setTimeout(function () { stopTyping(name); }, TYPING_SHOW_MS));
    renderTyping();
  });

  el.text.addEventListener('input', function () {
    var now = Date.now();
    if (!joined || !el.text.value || now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
    lastTypingSent = now;
    socket.emit('typing', me.room);
  });

  /* ---- messages ----------------------------------------------------------------------- */

  function envelope(kind, extra) {
    var m = { v: 1, kind: kind, id: me.from + '-' + (++seq), from: me.from, sid: socket.id || '',
              user: me.name, time: Date.now() };
    if (extra) Object.keys(extra).forEach(function (k) { m[k] = extra[k]; });
    return m;
  }

  function send(kind, extra) {
    var m = envelope(kind, extra);
    socket.emit('message', { room: me.room, message: m });
    return m;
  }

  /* What a received message means, whatever shape another client gave it. */
  function normalise(raw) {
    if (typeof raw === 'string') return { kind: 'chat', user: 'someone', text: clean(raw, TEXT_MAX), time: Date.now() };
    if (!raw || typeof raw !== 'object') return null;
    var kind = ['chat', 'hello', 'here', 'bye'].indexOf(raw.kind) >= 0 ? raw.kind : 'chat';
    var time = typeof raw.time === 'number' && isFinite(raw.time) ? raw.time : Date.now();
    if (Math.abs(time - Date.now()) > 864e5) time = Date.now(); /* a wild clock */
    return {
      kind: kind,
      id: typeof raw.id === 'string' ? raw.id : '',
      from: clean(raw.from, 64),
      sid: clean(raw.sid, 64),
      user: clean(raw.user, NAME_MAX) || 'someone',
      text: clean(raw.text !== undefined ? raw.text : raw.message, TEXT_MAX),
      time: time
    };
  }

  socket.on('message', function (raw) {
    if (!joined) return;
    var m = normalise(raw);
    if (!m) return;
    var mine = m.from === me.from;
    if (m.kind === 'hello') {
      if (mine) return;
      if (remember(m.from || 'sid:' + m.sid, m.user, m.sid)) system(m.user + ' joined');
      send('here'); /* so the newcomer learns we are here */
      return;
    }
    if (m.kind === 'here') {
      if (!mine) remember(m.from || 'sid:' + m.sid, m.user, m.sid);
      return;
    }
    if (m.kind === 'bye') {
      if (mine || !members.has(m.from)) return;
      members.delete(m.from);
      renderPeople();
      stopTyping(m.user);
      system(m.user + ' left');
      return;
    }
    if (!m.text) return;
    if (m.from && !mine && !members.has(m.from)) remember(m.from, m.user, m.sid);
    stopTyping(m.user);
    var row = messageRow(m, mine);
    var waiting = mine && pending.get(m.id);
    if (waiting) {
      pending.delete(m.id);
      waiting.replaceWith(row);
    } else {
      append(row);
    }
    if (!mine && document.hidden) {
      unread++;
      document.title = '(' + unread + ') #' + me.room + ' · wsio chat';
    }
  });

  socket.on('user-joined', function (sid) {
    if (!joined || typeof sid !== 'string' || nameOfSid(sid)) return;
    /* The hello with the name usually follows at once; if it does not (another kind of
     * client), the joiner stays listed as "someone". */
    var key = 'sid:' + sid;
    members.set(key, { name: 'someone', sid: sid, unknown: true });
    renderPeople();
    setTimeout(function () {
      if (members.has(key)) system('Someone joined');
    }, 1500);
  });

  el.composer.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = clean(el.text.value, TEXT_MAX);
    if (!text || !joined) return;
    var m = send('chat', { text: text });
    var row = messageRow(m, true);
    row.classList.add('pending');
    row.title = 'Sending…';
    pending.set(m.id, row);
    append(row);
    el.messages.scrollTop = el.messages.scrollHeight;
    el.text.value = '';
    lastTypingSent = 0;
  });

  /* ---- joining and leaving ---------------------------------------------------------- */

  function enterRoom() {
    socket.emit('join', me.room);
    remember(me.from, me.name, socket.id || '');
    send('hello');
  }

  function join(name, room) {
    me.name = name;
    me.room = room;
    joined = true;
    members.clear();
    el.messages.textContent = '';
    var hint = document.createElement('li');
    hint.className = 'empty';
    hint.textContent = 'No messages yet. Say hello!';
    el.messages.append(hint);
    el.roomTitle.textContent = room;
    document.title = '#' + room + ' · wsio chat';
    el.joinView.hidden = true;
    el.chatView.hidden = false;
    try {
      localStorage.setItem('wsio.name', name);
      sessionStorage.setItem('wsio.joined', '1');
    } catch (e) { /* storage disabled: fine */ }
    history.replaceState(null, '', '#' + encodeURIComponent(room));
    if (socket.connected) enterRoom(); /* else the connect handler does it */
    else remember(me.from, me.name, '');
    el.text.focus();
  }

  el.joinForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var name = clean(el.name.value, NAME_MAX);
    var room = clean(el.room.value, ROOM_MAX);
    if (!name || !room) return;
    join(name, room);
  });

  el.leave.addEventListener('click', function () {
    send('bye');
    try { sessionStorage.removeItem('wsio.joined'); } catch (e) { /* ignore */ }
    /* The seed has no leave event: a fresh page and session leave the room. */
    setTimeout(function () { location.reload(); }, 100);
  });

  el.drop.addEventListener('click', function () {
    /* Closes the transport as a network failure would: the client reconnects and the
     * server recovers the session (same id, rooms, missed messages). */
    if (socket.io.engine) socket.io.engine.close();
  });

  window.addEventListener('pagehide', function () {
    if (joined && socket.connected) send('bye');
  });

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && unread) {
      unread = 0;
      document.title = '#' + me.room + ' · wsio chat';
    }
  });

  /* ---- start -------------------------------------------------------------------------- */

  (function restore() {
    var name = '', again = false;
    try {
      name = localStorage.getItem('wsio.name') || '';
      again = sessionStorage.getItem('wsio.joined') === '1';
    } catch (e) { /* ignore */ }
    var room = '';
    try { room = clean(decodeURIComponent(location.hash.slice(1)), ROOM_MAX); } catch (e) { /* bad escape */ }
    if (name) el.name.value = name;
    if (room) el.room.value = room;
    if (again && name && room) join(name, room);
    else (name ? el.room : el.name).focus();
  })();
})();
