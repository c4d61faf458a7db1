// The Secure Frame: the script of GET /frame, served by the tokenizer inside a cross-origin iframe.
// Contract: browser/PROTOCOL.md. One classic script, no dependencies, no build step; compiled into the
// tokenizer binary. Rules kept throughout: the DOM is built with createElement/textContent only,
// styles go through the CSSOM only, and no message to the parent ever carries a value or a token
// other than the ones the frame itself was asked to produce (ReceiveCommittedToken, NotifyOnToken).
(function () {
  'use strict';

  // ---------------------------------------------------------------------------------------------
  // Parameters (from <meta name="lunasec-frame">)

  var COMPONENTS = ['input', 'textarea', 'paragraph', 'upload', 'download'];
  var params = readParams();
  if (!params) return; // nobody to talk to: stay inert

  function readParams() {
    var meta = document.querySelector('meta[name="lunasec-frame"]');
    if (!meta) return null;
    var p;
    try {
      p = JSON.parse(meta.getAttribute('content') || '');
    } catch (e) {
      return null;
    }
    if (!p || typeof p.nonce !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(p.nonce)) return null;
    if (typeof p.origin !== 'string' || !/^https?:\/\/[^/?#\s]+$/.test(p.origin)) return null;
    if (COMPONENTS.indexOf(p.component) < 0) return null;
    if (window.parent === window) return null; // not framed
    return { nonce: p.nonce, origin: p.origin, component: p.component };
  }

  // Time-outs (ms).
  var API_TIMEOUT = 10000;
  var BLOB_TIMEOUT = 30000;
  var FILE_TIMEOUT = 300000;
  var SESSION_WAIT = 15000;
  var BLOB_URL_TTL = 60000;

  var NOT_AVAILABLE = 'This value is not available.';

  /** An error with a stable name and a short message free of values and tokens. */
  function FrameError(name, message) {
    this.name = name;
    this.message = message;
  }

  function errorData(e) {
    if (e instanceof FrameError) return { name: e.name, message: e.message };
    return { name: 'internalError', message: 'the secure frame failed' };
  }

  // ---------------------------------------------------------------------------------------------
  // Messaging: handshake, the port, legacy mode

  var channel = null; // { port } or { legacy: true } once Attributes were accepted
  var loaded = null; // promise: Attributes applied and pre-fill done

  function post(msg) {
    if (!channel) return;
    if (channel.port) channel.port.postMessage(msg);
    else window.parent.postMessage(msg, params.origin);
  }

  function notify(command, data) {
    post({ command: command, frameNonce: params.nonce, data: data || {} });
  }

  function reply(command, correlationToken, data) {
    post({ command: command, correlationToken: correlationToken, data: data });
  }

  function isRequest(msg) {
    return msg !== null && typeof msg === 'object' && typeof msg.command === 'string' && msg.command.length <= 64 &&
      typeof msg.correlationToken === 'string' && msg.correlationToken.length >= 1 && msg.correlationToken.length <= 128;
  }

  function onWindowMessage(ev) {
    if (channel && channel.port) return;
    if (ev.origin !== params.origin || ev.source !== window.parent) return;
    var msg = ev.data;
    if (!isRequest(msg)) return;
    if (!channel) {
      if (msg.command !== 'Attributes' || msg.frameNonce !== params.nonce) return;
      var ports = ev.ports || [];
      if (ports.length === 1) {
        channel = { port: ports[0] };
        window.removeEventListener('message', onWindowMessage);
        channel.port.onmessage = onPortMessage;
      } else if (ports.length === 0) {
        channel = { legacy: true };
      } else {
        return;
      }
      dispatch(msg);
      return;
    }
    if (msg.frameNonce !== undefined && msg.frameNonce !== params.nonce) return;
    dispatch(msg);
  }

  function onPortMessage(ev) {
    if (isRequest(ev.data)) dispatch(ev.data);
  }

  function dispatch(msg) {
    var data = msg.data !== null && typeof msg.data === 'object' ? msg.data : {};
    var c = msg.correlationToken;
    switch (msg.command) {
      case 'Attributes':
        onAttributes(data).then(function (r) { reply('ReceiveAttributesConfirmation', c, r); });
        break;
      case 'CommitToken':
        onCommit().then(function (r) { reply('ReceiveCommittedToken', c, r); });
        break;
      case 'SetSessionToken':
        onSetSessionToken(data).then(function (r) { reply('ReceiveSessionTokenConfirmation', c, r); });
        break;
      case 'EndSession':
        onEndSession().then(function (r) { reply('ReceiveEndSessionConfirmation', c, r); });
        break;
      case 'Focus':
        reply('ReceiveFocusConfirmation', c, { success: component ? component.focus() : false });
        break;
      default:
        // unknown commands are dropped
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Session and tokenizer API (PROTOCOL §4–5)

  var session = {
    mode: 'token',
    jwt: null, // token mode: the user JWT, in this closure only
    expiresAt: 0,
    hash: null, // lunasec-session-hash from the first answer
    stopped: false,
    stoppedAs: null, // the FrameError every later call fails with
    waiters: [], // pending requests for a fresh JWT
  };

  function timeoutSignal(ms) {
    if (typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function') return AbortSignal.timeout(ms);
    var ac = new AbortController();
    setTimeout(function () { ac.abort(); }, ms);
    return ac.signal;
  }

  function isJwt(s) {
    return typeof s === 'string' && s.length < 16384 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s);
  }

  /**
   * Stops the frame for good: forgets the JWT, clears any shown value, disables the control.
   * `sessionChanged` (the JWT now belongs to another session) or `sessionEnded` (the app said the
   * user has no session any more: logout).
   */
  function stopSession(reason) {
    if (session.stopped) return;
    var ended = reason === 'sessionEnded';
    var name = ended ? 'sessionEnded' : 'sessionChanged';
    var message = ended ? 'the session ended; log in again' : 'the session changed; reload the page';
    session.stopped = true;
    session.stoppedAs = new FrameError(name, message);
    session.jwt = null;
    flushWaiters(session.stoppedAs);
    if (component) component.stop(ended ? 'Your session ended. Log in again.' : 'Your session changed. Reload the page.');
    notify('NotifyOnError', { name: name, message: message });
    resized();
  }

  /** EndSession: the library learned that the user has no session any more (logout). */
  function onEndSession() {
    if (session.mode === 'token') stopSession('sessionEnded');
    return Promise.resolve({ success: session.stopped });
  }

  function flushWaiters(err) {
    var w = session.waiters;
    session.waiters = [];
    w.forEach(function (x) { x(err); });
  }

  /** Token mode: asks the library for a JWT and waits for SetSessionToken. */
  function requestSession(reason) {
    if (session.stopped) return Promise.reject(session.stoppedAs);
    return new Promise(function (resolve, reject) {
      var first = session.waiters.length === 0;
      var timer = setTimeout(function () {
        var i = session.waiters.indexOf(done);
        if (i >= 0) session.waiters.splice(i, 1);
        reject(reason === 'jwtExpired'
          ? new FrameError('sessionExpired', 'the session has expired')
          : new FrameError('sessionMissing', 'no session for the secure frame'));
      }, SESSION_WAIT);
      function done(err) {
        clearTimeout(timer);
        if (err) reject(err); else resolve();
      }
      session.waiters.push(done);
      if (first) notify('NotifyOnSessionRequired', { reason: reason });
    });
  }

  function authHeaders(h) {
    if (session.mode === 'token' && session.jwt) h.authorization = 'Bearer ' + session.jwt;
    if (session.hash) h['lunasec-session-hash'] = session.hash;
    return h;
  }

  function rememberHash(res) {
    var h = res.headers.get('lunasec-session-hash');
    if (!session.hash && h && /^[0-9a-f]{16,128}$/.test(h)) session.hash = h;
  }

  var binding = null; // promise: the /session/verify that learns the first credential's session hash

  /**
   * Binds the frame to the session of its first credential at once (not at its first tokenizer
   * call, which for an input may come only at commit): asks /session/verify for the hash. Does not
   * delay 'ready'. When it fails, the hash is learned from the first answer instead.
   */
  function bindSession() {
    if (binding || session.hash || session.stopped) return;
    if (session.mode === 'token' && !session.jwt) return;
    binding = fetch('/session/verify', {
      headers: authHeaders({}),
      credentials: session.mode === 'token' ? 'omit' : 'same-origin',
      cache: 'no-store',
      signal: timeoutSignal(API_TIMEOUT),
    }).then(function (res) {
      return res.json().then(function (env) {
        if (env && env.success === true) rememberHash(res);
      });
    }).catch(function () {
      // unreachable or refused: nothing learned
    }).then(function () {
      if (!session.hash) binding = null;
    });
  }

  function safeName(n) {
    return typeof n === 'string' && /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(n) ? n : 'tokenizerError';
  }

  /** Maps a failure envelope to a FrameError (our own messages only). */
  function apiError(status, name) {
    if (status === 403 && name === 'invalidGrant') return new FrameError('invalidGrant', NOT_AVAILABLE);
    if (name === 'tokenNotFound' || name === 'badToken') return new FrameError(name, NOT_AVAILABLE);
    if (name === 'sessionHashMismatch') return new FrameError('sessionChanged', 'the session changed; reload the page');
    if (name === 'jwtExpired') return new FrameError('sessionExpired', 'the session has expired');
    if (name === 'jwtMissing') return new FrameError('sessionMissing', 'no session for the secure frame');
    if (status === 401) return new FrameError('sessionInvalid', 'the session was not accepted');
    if (status >= 500 || status === 0) return new FrameError('tokenizerUnavailable', 'the tokenizer is unavailable');
    return new FrameError(safeName(name), 'the tokenizer refused the request');
  }

  /** POST a JSON route of the tokenizer (or GET /session/verify) with the session; returns `data`. */
  function api(path, body, retried) {
    if (session.stopped) return Promise.reject(session.stoppedAs);
    if (session.mode === 'token' && !session.jwt) {
      return requestSession('missing').then(function () { return api(path, body, true); });
    }
    var init = {
      method: body === undefined ? 'GET' : 'POST',
      headers: authHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
      credentials: session.mode === 'token' ? 'omit' : 'same-origin',
      cache: 'no-store',
      signal: timeoutSignal(API_TIMEOUT),
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(path, init).then(function (res) {
      rememberHash(res);
      return res.json().catch(function () { return null; }).then(function (env) {
        if (res.ok && env && env.success === true) return env.data || {};
        var name = env && env.error && typeof env.error.name === 'string' ? env.error.name : '';
        if (name === 'sessionHashMismatch') {
          stopSession();
          throw apiError(401, name);
        }
        if (res.status === 401 && session.mode === 'token' && !retried && (name === 'jwtExpired' || name === 'jwtMissing')) {
          session.jwt = null;
          return requestSession(name === 'jwtExpired' ? 'jwtExpired' : 'missing').then(function () {
            return api(path, body, true);
          });
        }
        throw apiError(res.ok ? 500 : res.status, name);
      });
    }, function (e) {
      if (e instanceof FrameError) throw e;
      throw new FrameError('tokenizerUnavailable', 'the tokenizer is unavailable');
    });
  }

  function blobHeaders(headers) {
    var h = {};
    if (headers && typeof headers === 'object') {
      Object.keys(headers).forEach(function (k) {
        if (k.toLowerCase() !== 'host' && typeof headers[k] === 'string') h[k] = headers[k];
      });
    }
    return h;
  }

  function storageUrl(u) {
    if (typeof u !== 'string') throw new FrameError('tokenizerError', 'the tokenizer answered without a storage URL');
    var url = new URL(u, location.href);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new FrameError('tokenizerError', 'bad storage URL');
    return url.href;
  }

  function metadataFor(base) {
    if (attrs.metadata) base.customFields = attrs.metadata;
    return base;
  }

  /** Tokenizes a string: POST /tokenize, then PUT the bytes. Returns the token. */
  function tokenizeString(value) {
    return api('/tokenize', { metadata: metadataFor({ dataType: 'string' }) }).then(function (d) {
      return fetch(storageUrl(d.uploadUrl), {
        method: 'PUT',
        headers: blobHeaders(d.headers),
        body: new TextEncoder().encode(value),
        credentials: 'omit',
        cache: 'no-store',
        signal: timeoutSignal(BLOB_TIMEOUT),
      }).then(function (res) {
        if (!res.ok) throw new FrameError('storageUnavailable', 'the value could not be stored');
        return d.tokenId;
      }, function () {
        throw new FrameError('storageUnavailable', 'the value could not be stored');
      });
    });
  }

  /** Detokenizes: POST /detokenize, then GET the bytes (with progress when `onProgress`). */
  function detokenizeBytes(token, timeout, onProgress) {
    return api('/detokenize', { tokenId: token }).then(function (d) {
      return fetch(storageUrl(d.downloadUrl), {
        method: 'GET',
        headers: blobHeaders(d.headers),
        credentials: 'omit',
        cache: 'no-store',
        signal: timeoutSignal(timeout),
      }).then(function (res) {
        if (!res.ok) throw new FrameError('storageUnavailable', 'the value could not be read');
        if (!onProgress || !res.body || !res.body.getReader) return res.arrayBuffer();
        var total = Number(res.headers.get('content-length')) || 0;
        var reader = res.body.getReader();
        var chunks = [];
        var got = 0;
        var pump = function () {
          return reader.read().then(function (r) {
            if (r.done) return new Blob(chunks).arrayBuffer();
            chunks.push(r.value);
            got += r.value.byteLength;
            onProgress(got, total);
            return pump();
          });
        };
        return pump();
      }).catch(function (e) {
        if (e instanceof FrameError) throw e;
        throw new FrameError('storageUnavailable', 'the value could not be read');
      });
    });
  }

  function detokenizeString(token) {
    return detokenizeBytes(token, BLOB_TIMEOUT).then(function (buf) {
      return new TextDecoder().decode(buf);
    });
  }

  function onSetSessionToken(data) {
    if (session.mode !== 'token') {
      return Promise.resolve({ success: false, error: { name: 'badSession', message: 'this frame uses the cookie session' } });
    }
    if (session.stopped) {
      return Promise.resolve({ success: false, error: errorData(session.stoppedAs) });
    }
    if (!isJwt(data.token)) {
      return Promise.resolve({ success: false, error: { name: 'badSession', message: 'the session token is malformed' } });
    }
    if (!session.hash && binding) {
      // The first credential's session is still being learned: decide once it is known.
      return binding.then(function () { return onSetSessionToken(data); });
    }
    session.jwt = data.token;
    session.expiresAt = typeof data.expiresAt === 'number' ? data.expiresAt : 0;
    if (!session.hash) {
      // The first credential (or the first since a failed binding): it defines the session.
      flushWaiters(null);
      bindSession();
      return Promise.resolve({ success: true });
    }
    // A known session: check at once that the new JWT still belongs to it.
    return fetch('/session/verify', {
      headers: authHeaders({}),
      credentials: 'omit',
      cache: 'no-store',
      signal: timeoutSignal(API_TIMEOUT),
    }).then(function (res) {
      return res.json();
    }).then(function (env) {
      if (env && env.success === true) {
        flushWaiters(null);
        return { success: true };
      }
      var name = env && env.error && env.error.name;
      if (name === 'sessionHashMismatch') {
        stopSession();
        return { success: false, error: { name: 'sessionChanged', message: 'the session changed; reload the page' } };
      }
      session.jwt = null;
      return { success: false, error: errorData(apiError(401, name)) };
    }, function () {
      // Unreachable tokenizer: keep the JWT; the next call reports the failure.
      flushWaiters(null);
      return { success: false, error: { name: 'tokenizerUnavailable', message: 'the tokenizer is unavailable' } };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Validators

  var EIN_PREFIXES = ('01 02 03 04 05 06 10 11 12 13 14 15 16 20 21 22 23 24 25 26 27 30 31 32 33 34 35 36 37 38 39 ' +
    '40 41 42 43 44 45 46 47 48 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 71 72 73 74 75 76 77 ' +
    '80 81 82 83 84 85 86 87 88 90 91 92 93 94 95 98 99').split(' ');

  function validSsn(v) {
    var m = /^(\d{3})[- ]?(\d{2})[- ]?(\d{4})$/.exec(v.trim());
    if (!m) return false;
    var area = m[1];
    return area !== '000' && area !== '666' && area[0] !== '9' && m[2] !== '00' && m[3] !== '0000';
  }

  function validEin(v) {
    var m = /^(\d{2})-?(\d{7})$/.exec(v.trim());
    return !!m && EIN_PREFIXES.indexOf(m[1]) >= 0;
  }

  function validCard(v) {
    var d = v.replace(/[\s-]/g, '');
    if (!/^\d{12,19}$/.test(d)) return false;
    var sum = 0;
    for (var i = 0; i < d.length; i++) {
      var n = d.charCodeAt(d.length - 1 - i) - 48;
      if (i % 2 === 1) {
        n *= 2;
        if (n > 9) n -= 9;
      }
      sum += n;
    }
    return sum % 10 === 0;
  }

  var EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

  var VALIDATORS = {
    Email: function (v) { return v.length <= 254 && EMAIL.test(v.trim()); },
    SSN: validSsn,
    EIN: validEin,
    SSN_EIN: function (v) { return validSsn(v) || validEin(v); },
    CardNumber: validCard,
  };

  var DEFAULT_INVALID = {
    Email: 'Enter a valid email address.',
    SSN: 'Enter a valid Social Security number.',
    EIN: 'Enter a valid Employer Identification number.',
    SSN_EIN: 'Enter a valid SSN or EIN.',
    CardNumber: 'Enter a valid card number.',
  };

  /** { empty, valid, complete } of a value under the current attributes (never the value). */
  function check(value) {
    var empty = value.length === 0;
    var valid;
    if (empty) valid = !attrs.required;
    else valid = (!attrs.validator || VALIDATORS[attrs.validator](value)) && (!patternRe || patternRe.test(value));
    return { empty: empty, valid: valid, complete: !empty && valid };
  }

  // ---------------------------------------------------------------------------------------------
  // Display formats (input): digits regrouped as typed, the caret kept after the same digit

  var FORMATS = {
    ssn: {
      max: 9,
      apply: function (d) {
        if (d.length > 5) return d.slice(0, 3) + '-' + d.slice(3, 5) + '-' + d.slice(5);
        if (d.length > 3) return d.slice(0, 3) + '-' + d.slice(3);
        return d;
      },
    },
    card: {
      max: 19,
      apply: function (d) { return d.replace(/(\d{4})(?=\d)/g, '$1 '); },
    },
  };

  function reformat(el, fmt) {
    var raw = el.value;
    var caret = el.selectionEnd === null ? raw.length : el.selectionEnd;
    var before = raw.slice(0, caret).replace(/\D/g, '').length;
    var digits = raw.replace(/\D/g, '').slice(0, fmt.max);
    var out = fmt.apply(digits);
    if (out === raw) return;
    el.value = out;
    var pos = 0;
    if (before > 0) {
      var seen = 0;
      for (pos = 0; pos < out.length && seen < before; pos++) if (/\d/.test(out[pos])) seen++;
    }
    try {
      if (document.activeElement === el) el.setSelectionRange(pos, pos);
    } catch (e) {
      // types without selection support
    }
  }

  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  var root = document.getElementById('root') || document.body.appendChild(document.createElement('div'));
  var CONTROL_ID = 'lsc';
  var MESSAGE_ID = 'lsc-msg';

  function h(tag, props, text) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (props[k] === false || props[k] === undefined || props[k] === null) return;
        if (k === 'className') el.className = props[k];
        else el.setAttribute(k, props[k] === true ? '' : String(props[k]));
      });
    }
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function labelFor(forId, fallback) {
    var text = attrs.label || fallback;
    var label = h('label', { for: forId, className: 'ls-label' + (attrs.labelHidden ? ' ls-visually-hidden' : '') }, text);
    if (attrs.required && attrs.label) label.appendChild(h('span', { className: 'ls-required', 'aria-hidden': 'true' }, ' *'));
    return label;
  }

  /** Paragraph and download: the label names the frame's content as a group. */
  function groupLabel() {
    if (!attrs.label) return;
    root.appendChild(h('div', { id: 'lsc-label', className: 'ls-label' + (attrs.labelHidden ? ' ls-visually-hidden' : '') }, attrs.label));
    root.setAttribute('role', 'group');
    root.setAttribute('aria-labelledby', 'lsc-label');
  }

  function messageEl() {
    return h('div', { id: MESSAGE_ID, className: 'ls-message', 'aria-live': 'polite' });
  }

  function showMessage(el, text, kind) {
    el.textContent = text || '';
    el.className = 'ls-message' + (kind ? ' ls-' + kind : '');
    resized();
  }

  // ---------------------------------------------------------------------------------------------
  // Attributes

  var attrs = {};
  var patternRe = null;
  var component = null;

  function str(v, max) {
    return typeof v === 'string' && v.length <= max ? v : undefined;
  }

  /** Checks and normalises Attributes; throws FrameError('badAttributes'). */
  function parseAttributes(d) {
    var bad = function (what) { throw new FrameError('badAttributes', what); };
    if (d.component !== undefined && d.component !== params.component) bad('component does not match the frame URL');
    var a = {
      session: d.session === undefined ? (channel && channel.legacy ? 'cookie' : 'token') : d.session,
      label: str(d.label, 200),
      labelHidden: d.labelHidden === true,
      name: str(d.name, 200),
      placeholder: str(d.placeholder, 200),
      required: d.required === true,
      type: d.type === undefined ? 'text' : d.type,
      validator: d.validator === undefined || d.validator === null || d.validator === '' ? undefined : d.validator,
      pattern: str(d.pattern, 1000),
      format: d.format === undefined || d.format === null || d.format === '' ? undefined : d.format,
      token: d.token === undefined || d.token === null || d.token === '' ? undefined : str(d.token, 200),
      copyButton: d.copyButton === true,
      multiple: d.multiple === true,
      accept: str(d.accept, 500),
      metadata: d.metadata,
      style: d.style,
      errorMessages: d.errorMessages !== null && typeof d.errorMessages === 'object' ? d.errorMessages : {},
    };
    if (a.session !== 'token' && a.session !== 'cookie') bad('session must be token or cookie');
    if (['text', 'email', 'tel', 'password'].indexOf(a.type) < 0) bad('type must be text, email, tel or password');
    if (a.validator !== undefined && !Object.prototype.hasOwnProperty.call(VALIDATORS, a.validator)) bad('unknown validator');
    if (a.format !== undefined && !Object.prototype.hasOwnProperty.call(FORMATS, a.format)) bad('format must be ssn or card');
    if (d.token !== undefined && d.token !== null && d.token !== '' && a.token === undefined) bad('token must be a string');
    if (d.pattern !== undefined && a.pattern === undefined) bad('pattern must be a string');
    if (a.metadata !== undefined) {
      if (a.metadata === null || typeof a.metadata !== 'object' || Array.isArray(a.metadata)) bad('metadata must be an object');
      if (JSON.stringify(a.metadata).length > 16384) bad('metadata is too large');
    }
    if (a.pattern !== undefined) {
      try {
        patternRe = new RegExp('^(?:' + a.pattern + ')$', 'u');
      } catch (e) {
        bad('pattern is not a valid regular expression');
      }
    }
    ['invalid', 'required'].forEach(function (k) {
      if (a.errorMessages[k] !== undefined && str(a.errorMessages[k], 200) === undefined) bad('errorMessages.' + k + ' must be a short string');
    });
    return a;
  }

  function onAttributes(d) {
    if (component) {
      // A repeated Attributes (an old parent re-renders): styles and texts only.
      if (d.component !== undefined && d.component !== params.component) {
        return Promise.resolve({ success: false, error: { name: 'badAttributes', message: 'component does not match the frame URL' } });
      }
      applyStyle(d.style);
      return Promise.resolve({ success: true });
    }
    var a;
    patternRe = null;
    try {
      a = parseAttributes(d);
    } catch (e) {
      loaded = Promise.reject(e);
      loaded.catch(function () {});
      notify('NotifyOnError', errorData(e));
      return Promise.resolve({ success: false, error: errorData(e) });
    }
    attrs = a;
    session.mode = a.session;
    if (a.session === 'token' && d.sessionToken && isJwt(d.sessionToken.token)) {
      session.jwt = d.sessionToken.token;
      session.expiresAt = typeof d.sessionToken.expiresAt === 'number' ? d.sessionToken.expiresAt : 0;
    }
    component = BUILDERS[params.component]();
    applyStyle(a.style);
    startResizeObserver();
    if (session.mode === 'token' && !session.jwt) requestSession('missing').catch(function () {});
    else bindSession();
    loaded = component.load();
    // Confirm first, then (once loaded) NotifyOnFullyLoaded; a load failure is an error, not ready.
    setTimeout(function () {
      loaded.then(function () {
        notify('NotifyOnFullyLoaded', {});
        resized();
      }, function (e) {
        notify('NotifyOnError', errorData(e));
        resized();
      });
    }, 0);
    return Promise.resolve({ success: true });
  }

  function onCommit() {
    if (!component || !loaded) return Promise.resolve({ success: false, error: { name: 'notReady', message: 'the frame has no attributes yet' } });
    return loaded.then(function () {
      // A stopped frame hands out nothing, not even '' for an empty field.
      if (session.stopped) throw session.stoppedAs;
      return component.commit();
    }).then(function (r) {
      return r;
    }, function (e) {
      return { success: false, error: errorData(e) };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Components: input and textarea

  function buildField() {
    var isInput = params.component === 'input';
    var el = isInput ? h('input', { type: attrs.type }) : h('textarea', { rows: 3 });
    el.id = CONTROL_ID;
    el.className = 'ls-control';
    var fmt = isInput && attrs.format && (attrs.type === 'text' || attrs.type === 'tel') ? FORMATS[attrs.format] : null;
    if (attrs.name) el.name = attrs.name;
    if (attrs.placeholder) el.placeholder = attrs.placeholder;
    if (attrs.required) {
      el.required = true;
      el.setAttribute('aria-required', 'true');
    }
    el.setAttribute('aria-describedby', MESSAGE_ID);
    el.setAttribute('autocomplete', attrs.validator === 'CardNumber' || attrs.format === 'card' ? 'cc-number' : 'off');
    el.setAttribute('spellcheck', 'false');
    if (fmt || attrs.validator === 'SSN' || attrs.validator === 'EIN' || attrs.validator === 'SSN_EIN' || attrs.validator === 'CardNumber') {
      el.setAttribute('inputmode', 'numeric');
    }
    if (fmt) el.maxLength = fmt.apply('9'.repeat(fmt.max)).length;
    if (!attrs.label) el.setAttribute('aria-label', attrs.placeholder || 'Secure field');
    var msg = messageEl();
    if (attrs.label) root.appendChild(labelFor(CONTROL_ID));
    root.appendChild(el);
    root.appendChild(msg);

    var shown = false; // whether the invalid state is being shown (after blur or commit)

    // What is validated and tokenized: card numbers as digits only, validated values trimmed,
    // anything else exactly as typed.
    function value() {
      var v = el.value;
      if (attrs.format === 'card' || attrs.validator === 'CardNumber') return v.replace(/[\s-]/g, '');
      return attrs.validator ? v.trim() : v;
    }

    function invalidText(state) {
      if (state.empty) return attrs.errorMessages.required || 'This field is required.';
      return attrs.errorMessages.invalid || DEFAULT_INVALID[attrs.validator] || 'Enter a valid value.';
    }

    function render(state) {
      if (session.stopped) return; // keep the stop message (disabling the control blurs it)
      var invalid = shown && !state.valid;
      if (invalid) el.setAttribute('aria-invalid', 'true');
      else el.removeAttribute('aria-invalid');
      showMessage(msg, invalid ? invalidText(state) : '', invalid ? 'error' : '');
    }

    // Reward early, punish late: the invalid state shows after blur or commit and clears as soon as
    // the value becomes valid.
    function changed() {
      var state = check(value());
      if (state.valid) shown = false;
      render(state);
      notify('NotifyOnValidate', state);
    }

    el.addEventListener('input', function () {
      if (fmt) reformat(el, fmt);
      changed();
    });
    el.addEventListener('blur', function () {
      var state = check(value());
      if (!state.empty && !state.valid) shown = true;
      render(state);
      notify('NotifyOnBlur', {});
    });
    el.addEventListener('focus', function () { notify('NotifyOnFocus', {}); });
    if (isInput) {
      el.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && !ev.isComposing) {
          ev.preventDefault();
          notify('NotifyOnSubmit', {});
        }
      });
    }

    return {
      load: function () {
        if (!attrs.token) return Promise.resolve();
        el.readOnly = true;
        el.setAttribute('aria-busy', 'true');
        return detokenizeString(attrs.token).then(function (v) {
          if (session.stopped) return;
          el.value = fmt ? fmt.apply(v.replace(/\D/g, '').slice(0, fmt.max)) : v;
          changed();
        }).finally(function () {
          el.readOnly = false;
          el.removeAttribute('aria-busy');
        });
      },
      commit: function () {
        if (session.stopped) throw session.stoppedAs;
        var v = value();
        var state = check(v);
        if (!state.valid) {
          shown = true;
          render(state);
          return state.empty
            ? { success: false, error: { name: 'required', message: 'a value is required' } }
            : { success: false, error: { name: 'invalid', message: 'the value is not valid' } };
        }
        if (state.empty) return { success: true, token: '' };
        return tokenizeString(v).then(function (token) { return { success: true, token: token }; });
      },
      focus: function () {
        if (el.disabled) return false;
        el.focus();
        return true;
      },
      stop: function (text) {
        el.value = '';
        el.disabled = true;
        el.removeAttribute('aria-invalid');
        showMessage(msg, text, 'error');
      },
      styleTarget: el,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Component: paragraph

  function buildParagraph() {
    var p = h('p', { id: CONTROL_ID, className: 'ls-control ls-paragraph' });
    groupLabel();
    root.appendChild(p);
    var copy = null;
    var status = h('span', { className: 'ls-status', role: 'status', 'aria-live': 'polite' });
    if (attrs.copyButton) {
      var row = h('div', { className: 'ls-actions' });
      copy = h('button', { type: 'button', className: 'ls-button', disabled: true }, 'Copy');
      if (attrs.label) copy.setAttribute('aria-label', 'Copy ' + attrs.label);
      copy.addEventListener('click', function () { copyText(p, status); });
      row.appendChild(copy);
      row.appendChild(status);
      root.appendChild(row);
    }
    var msg = messageEl();
    root.appendChild(msg);
    return {
      load: function () {
        if (!attrs.token) return Promise.resolve();
        p.setAttribute('aria-busy', 'true');
        return detokenizeString(attrs.token).then(function (v) {
          if (session.stopped) return;
          p.textContent = v;
          if (copy) copy.disabled = false;
          resized();
        }, function (e) {
          showMessage(msg, e instanceof FrameError && e.name !== 'tokenizerUnavailable' ? shortText(e) : 'The value could not be loaded.', 'error');
          throw e;
        }).finally(function () {
          p.removeAttribute('aria-busy');
        });
      },
      commit: unsupportedCommit,
      focus: function () {
        if (!copy || copy.disabled) return false;
        copy.focus();
        return true;
      },
      stop: function (text) {
        p.textContent = '';
        if (copy) copy.disabled = true;
        status.textContent = '';
        showMessage(msg, text, 'error');
      },
      styleTarget: p,
    };
  }

  function shortText(e) {
    if (e.name === 'invalidGrant' || e.name === 'tokenNotFound' || e.name === 'badToken') return NOT_AVAILABLE;
    if (e.name === 'sessionChanged') return 'Your session changed. Reload the page.';
    if (e.name === 'sessionExpired' || e.name === 'sessionMissing' || e.name === 'sessionInvalid') return 'Your session has expired. Reload the page.';
    return 'This value could not be loaded.';
  }

  function copyText(p, status) {
    var text = p.textContent;
    var done = function () {
      status.textContent = 'Copied';
      setTimeout(function () { status.textContent = ''; resized(); }, 2000);
      resized();
    };
    var fallback = function () {
      var sel = window.getSelection();
      var range = document.createRange();
      range.selectNodeContents(p);
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try {
        ok = document.execCommand('copy');
      } catch (e) {
        ok = false;
      }
      sel.removeAllRanges();
      if (ok) {
        done();
      } else {
        status.textContent = 'Copy failed';
        notify('NotifyOnError', { name: 'copyFailed', message: 'the value could not be copied' });
      }
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  function unsupportedCommit() {
    return { success: false, error: { name: 'unsupported', message: 'this component does not tokenize' } };
  }

  // ---------------------------------------------------------------------------------------------
  // Component: upload

  function buildUpload() {
    var input = h('input', { type: 'file', id: CONTROL_ID, className: 'ls-control ls-file' });
    if (attrs.multiple) input.multiple = true;
    if (attrs.accept) input.accept = attrs.accept;
    if (attrs.required) {
      input.required = true;
      input.setAttribute('aria-required', 'true');
    }
    input.setAttribute('aria-describedby', MESSAGE_ID);
    root.appendChild(labelFor(CONTROL_ID, attrs.multiple ? 'Upload files' : 'Upload a file'));
    root.appendChild(input);
    var progress = h('progress', { className: 'ls-progress', max: 100, value: 0, 'aria-label': 'Upload progress', hidden: true });
    root.appendChild(progress);
    var list = h('ul', { className: 'ls-files', 'aria-label': 'Uploaded files' });
    root.appendChild(list);
    var msg = messageEl();
    root.appendChild(msg);

    var files = []; // { token, name, li }
    var busy = Promise.resolve();

    function tokens() {
      return files.map(function (f) { return f.token; });
    }

    function announceTokens() {
      notify('NotifyOnToken', { tokens: tokens() });
      resized();
    }

    function addFile(name, token) {
      if (!attrs.multiple) files.slice().forEach(removeEntry);
      var li = h('li', { className: 'ls-file-item' });
      li.appendChild(h('span', { className: 'ls-file-name' }, name));
      var rm = h('button', { type: 'button', className: 'ls-button ls-remove', 'aria-label': 'Remove ' + name }, 'Remove');
      var entry = { token: token, name: name, li: li };
      rm.addEventListener('click', function () {
        removeEntry(entry);
        input.focus();
        announceTokens();
      });
      li.appendChild(rm);
      list.appendChild(li);
      files.push(entry);
    }

    function removeEntry(entry) {
      var i = files.indexOf(entry);
      if (i >= 0) files.splice(i, 1);
      if (entry.li.parentNode) entry.li.parentNode.removeChild(entry.li);
    }

    function uploadOne(file, base, grand, onProgress) {
      var meta = metadataFor({
        dataType: 'file',
        fileinfo: { filename: file.name, type: file.type || 'application/octet-stream', lastModified: file.lastModified },
      });
      return api('/tokenize', { metadata: meta }).then(function (d) {
        var url = storageUrl(d.uploadUrl);
        return new Promise(function (resolve, reject) {
          var xhr = new XMLHttpRequest();
          xhr.open('PUT', url);
          var hs = blobHeaders(d.headers);
          Object.keys(hs).forEach(function (k) { xhr.setRequestHeader(k, hs[k]); });
          xhr.timeout = 60000 + Math.ceil(file.size / 65536) * 1000;
          xhr.upload.onprogress = function (ev) { onProgress(base + ev.loaded, grand); };
          xhr.onload = function () {
            if (xhr.status >= 200 && xhr.status < 300) resolve(d.tokenId);
            else reject(new FrameError('uploadFailed', 'the file could not be uploaded'));
          };
          xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
            reject(new FrameError('uploadFailed', 'the file could not be uploaded'));
          };
          xhr.send(file);
        });
      });
    }

    function uploadAll(list_) {
      var grand = list_.reduce(function (s, f) { return s + f.size; }, 0);
      var base = 0;
      var last = 0;
      input.disabled = true;
      progress.hidden = false;
      progress.value = 0;
      showMessage(msg, list_.length > 1 ? 'Uploading ' + list_.length + ' files…' : 'Uploading…', 'info');
      var onProgress = function (loaded, total) {
        progress.value = total > 0 ? Math.round((loaded / total) * 100) : 100;
        var now = Date.now();
        if (now - last > 100 || loaded >= total) {
          last = now;
          notify('NotifyOnProgress', { loaded: loaded, total: total });
        }
      };
      var seq = Promise.resolve();
      var failed = null;
      list_.forEach(function (file) {
        seq = seq.then(function () {
          if (failed) return null;
          return uploadOne(file, base, grand, onProgress).then(function (token) {
            base += file.size;
            onProgress(base, grand);
            addFile(file.name, token);
            announceTokens();
          }, function (e) {
            failed = e;
          });
        });
      });
      return seq.then(function () {
        progress.hidden = true;
        input.disabled = session.stopped;
        input.value = '';
        if (failed) {
          var e = failed instanceof FrameError && failed.name !== 'internalError' ? failed : new FrameError('uploadFailed', 'the file could not be uploaded');
          if (e.name === 'tokenizerUnavailable' || e.name === 'storageUnavailable') e = new FrameError('uploadFailed', 'the file could not be uploaded');
          showMessage(msg, e.name === 'sessionChanged' ? 'Your session changed. Reload the page.' : 'The upload failed. Try again.', 'error');
          if (e.name !== 'sessionChanged') notify('NotifyOnError', errorData(e));
        } else {
          showMessage(msg, list_.length > 1 ? 'Uploaded ' + list_.length + ' files.' : 'Uploaded.', 'info');
        }
        resized();
      });
    }

    input.addEventListener('change', function () {
      var chosen = Array.prototype.slice.call(input.files || []);
      if (!chosen.length) return;
      if (!attrs.multiple) chosen = chosen.slice(0, 1);
      busy = busy.then(function () { return uploadAll(chosen); });
    });
    input.addEventListener('focus', function () { notify('NotifyOnFocus', {}); });
    input.addEventListener('blur', function () { notify('NotifyOnBlur', {}); });

    return {
      load: function () { return Promise.resolve(); },
      commit: function () {
        return busy.then(function () {
          if (session.stopped) throw session.stoppedAs;
          if (attrs.required && files.length === 0) {
            showMessage(msg, attrs.errorMessages.required || 'Choose a file.', 'error');
            return { success: false, error: { name: 'required', message: 'a file is required' } };
          }
          return { success: true, token: files.length ? files[0].token : '', tokens: tokens() };
        });
      },
      focus: function () {
        if (input.disabled) return false;
        input.focus();
        return true;
      },
      stop: function (text) {
        files.slice().forEach(removeEntry);
        input.disabled = true;
        progress.hidden = true;
        showMessage(msg, text, 'error');
      },
      styleTarget: input,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Component: download

  function safeFilename(n) {
    var s = typeof n === 'string' ? n.replace(/[\u0000-\u001f\u007f/\\]/g, '_').trim().slice(0, 255) : '';
    return s && s !== '.' && s !== '..' ? s : 'download';
  }

  function safeType(t) {
    return typeof t === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(t) && t.length <= 200 ? t : 'application/octet-stream';
  }

  function buildDownload() {
    var a = h('a', { id: CONTROL_ID, className: 'ls-control ls-download', href: '#' }, 'Loading…');
    a.setAttribute('aria-disabled', 'true');
    groupLabel();
    root.appendChild(a);
    var status = h('span', { className: 'ls-status', role: 'status', 'aria-live': 'polite' });
    root.appendChild(status);
    var msg = messageEl();
    root.appendChild(msg);
    var info = null; // { filename, type }
    var busy = false;
    var revokeTimer = null;

    a.addEventListener('click', function (ev) {
      if (a.href.indexOf('blob:') === 0) return; // a fresh object URL: let the browser download it
      ev.preventDefault();
      if (!info || busy || session.stopped) return;
      busy = true;
      status.textContent = 'Downloading…';
      a.setAttribute('aria-busy', 'true');
      detokenizeBytes(attrs.token, FILE_TIMEOUT, function (loaded, total) {
        notify('NotifyOnProgress', { loaded: loaded, total: total });
      }).then(function (buf) {
        if (session.stopped) return;
        var url = URL.createObjectURL(new Blob([buf], { type: info.type }));
        if (revokeTimer) clearTimeout(revokeTimer);
        var old = a.href;
        a.href = url;
        a.download = info.filename;
        if (old.indexOf('blob:') === 0) URL.revokeObjectURL(old);
        revokeTimer = setTimeout(function () {
          URL.revokeObjectURL(url);
          if (a.href === url) {
            a.href = '#';
            a.removeAttribute('download');
          }
        }, BLOB_URL_TTL);
        a.click();
        status.textContent = 'Downloaded';
      }, function (e) {
        status.textContent = '';
        var fe = e instanceof FrameError ? e : new FrameError('downloadFailed', 'the file could not be downloaded');
        if (fe.name === 'tokenizerUnavailable' || fe.name === 'storageUnavailable') fe = new FrameError('downloadFailed', 'the file could not be downloaded');
        showMessage(msg, fe.name === 'downloadFailed' ? 'The download failed. Try again.' : shortText(fe), 'error');
        if (fe.name !== 'sessionChanged') notify('NotifyOnError', errorData(fe));
      }).finally(function () {
        busy = false;
        a.removeAttribute('aria-busy');
        resized();
      });
    });

    return {
      load: function () {
        if (!attrs.token) {
          a.textContent = 'No file';
          return Promise.resolve();
        }
        return api('/metadata/get', { tokenId: attrs.token }).then(function (d) {
          var fi = d && d.metadata && d.metadata.fileinfo ? d.metadata.fileinfo : {};
          info = { filename: safeFilename(fi.filename), type: safeType(fi.type) };
          a.textContent = info.filename;
          a.setAttribute('aria-label', 'Download ' + info.filename);
          a.removeAttribute('aria-disabled');
          resized();
        }, function (e) {
          a.textContent = 'File';
          showMessage(msg, shortText(e), 'error');
          throw e;
        });
      },
      commit: unsupportedCommit,
      focus: function () {
        a.focus();
        return true;
      },
      stop: function (text) {
        info = null;
        a.textContent = 'File';
        a.href = '#';
        a.setAttribute('aria-disabled', 'true');
        showMessage(msg, text, 'error');
      },
      styleTarget: a,
    };
  }

  var BUILDERS = {
    input: buildField,
    textarea: buildField,
    paragraph: buildParagraph,
    upload: buildUpload,
    download: buildDownload,
  };

  // ---------------------------------------------------------------------------------------------
  // Styling from the parent: allow-listed properties through the CSSOM

  var ALLOWED_STYLE = ['color', 'background-color', 'background', 'font-family', 'font-size', 'font-weight',
    'font-style', 'line-height', 'letter-spacing', 'text-align', 'padding', 'padding-top', 'padding-right',
    'padding-bottom', 'padding-left', 'border', 'border-color', 'border-width', 'border-style', 'border-radius',
    'box-shadow', 'outline', 'width', 'height', 'text-transform'];
  // Inherited typography also given to the body, so label and messages match the control.
  var BODY_STYLE = ['color', 'font-family', 'font-size', 'font-style', 'font-weight', 'letter-spacing'];

  function kebab(p) {
    return p.replace(/[A-Z]/g, function (c) { return '-' + c.toLowerCase(); });
  }

  function safeValue(v) {
    if (typeof v === 'number' && isFinite(v)) v = String(v);
    if (typeof v !== 'string' || v.length === 0 || v.length > 300) return null;
    if (/[;{}<>\\`\u0000-\u001f\u007f]|url\(|expression\(|@|\/\*/i.test(v)) return null;
    return v.trim();
  }

  function sanitizeStyle(obj) {
    var out = [];
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return out;
    Object.keys(obj).forEach(function (k) {
      var prop = kebab(k);
      if (ALLOWED_STYLE.indexOf(prop) < 0) return;
      var v = safeValue(obj[k]);
      if (v !== null) out.push([prop, v]);
    });
    return out;
  }

  var styleRules = {};

  function rule(selector) {
    if (styleRules[selector]) return styleRules[selector];
    var el = document.querySelector('style');
    var sheet = el && el.sheet;
    if (!sheet) return null;
    var i = sheet.insertRule(selector + ' {}', sheet.cssRules.length);
    styleRules[selector] = sheet.cssRules[i];
    return styleRules[selector];
  }

  function setRule(selector, decls) {
    var r = rule(selector);
    if (!r) return;
    decls.forEach(function (d) { r.style.setProperty(d[0], d[1]); });
  }

  function applyStyle(style) {
    if (!style || typeof style !== 'object' || !component) return;
    var id = '#' + CONTROL_ID;
    var base = sanitizeStyle(style.base);
    // Rules (not inline styles), so the focus and invalid variants can override the base.
    setRule(id, base);
    setRule('body', base.filter(function (d) { return BODY_STYLE.indexOf(d[0]) >= 0; }));
    setRule(id + ':focus', sanitizeStyle(style.focus));
    setRule(id + '::placeholder', sanitizeStyle(style.placeholder));
    setRule(id + '[aria-invalid="true"]', sanitizeStyle(style.invalid));
    resized();
  }

  // ---------------------------------------------------------------------------------------------
  // Resize: report the content height to the parent

  var lastHeight = -1;
  var resizeQueued = false;

  function resized() {
    if (resizeQueued) return;
    resizeQueued = true;
    // A microtask, not requestAnimationFrame: Chromium pauses animation frames in cross-origin
    // iframes that are off screen, which would leave a frame below the fold at the default height.
    Promise.resolve().then(function () {
      resizeQueued = false;
      var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (height !== lastHeight && channel) {
        lastHeight = height;
        notify('NotifyOnResize', { height: height });
      }
    });
  }

  function startResizeObserver() {
    if (typeof ResizeObserver === 'function') new ResizeObserver(resized).observe(document.documentElement);
    resized();
  }

  // ---------------------------------------------------------------------------------------------
  // Start: listen, then tell the parent we are here

  window.addEventListener('message', onWindowMessage);
  window.parent.postMessage({ command: 'NotifyOnStart', frameNonce: params.nonce, data: {} }, params.origin);
})();
