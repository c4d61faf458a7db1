'use strict';
// The browser harness itself (test-support/browsers.js), in each engine: a page on http://localhost:A
// embeds an iframe from http://127.0.0.1:B (a different site, as the app and the tokenizer are), with
// the same kind of CSP the secure frame has (nonce scripts, Trusted Types, frame-ancestors). Checks
// that the driver reads and types inside the iframe, that a MessageChannel handshake works, that Tab
// moves through the frame, that files reach a file input, and that every engine runs with its
// default privacy settings (third-party cookies and storage as the notes measured them).
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { launchEngine, ENGINES } = require('../test-support/browsers');

const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** The "tokenizer" site (http://127.0.0.1:B): a CSP-locked frame page and cookie probes. */
function frameSite(getAppOrigin) {
  return listen((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const appOrigin = getAppOrigin();
    if (url.pathname === '/frame') {
      const nonce = crypto.randomBytes(16).toString('base64');
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
          `frame-ancestors ${appOrigin}; base-uri 'none'; form-action 'none'; object-src 'none'; require-trusted-types-for 'script'`,
      });
      const n = JSON.stringify(url.searchParams.get('n'));
      res.end(`<!doctype html><html lang="en"><title>harness frame</title>
<p id="t">inside the frame</p><p id="state">starting</p>
<label for="i">Frame input</label><input id="i"><input id="file" type="file" aria-label="file">
<script nonce="${nonce}">
  const parentOrigin = ${JSON.stringify(appOrigin)};
  let port = null;
  window.addEventListener('message', (e) => {
    if (port || e.origin !== parentOrigin || e.source !== window.parent || e.ports.length !== 1) return;
    if (!e.data || e.data.command !== 'Attributes' || e.data.frameNonce !== ${n}) return;
    port = e.ports[0];
    document.getElementById('state').textContent = 'connected';
    port.postMessage({ command: 'ReceiveAttributesConfirmation', correlationToken: e.data.correlationToken, data: { success: true, echo: e.data.data.echo } });
  });
  window.parent.postMessage({ command: 'NotifyOnStart', frameNonce: ${n} }, parentOrigin);
</script>`);
      return;
    }
    if (url.pathname === '/plain') {
      // A frame with one control (the several-frames Tab test).
      const id = url.searchParams.get('id');
      const control = url.searchParams.get('kind') === 'textarea' ? `<textarea id="${id}"></textarea>` : `<input id="${id}">`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><title>${id}</title><label for="${id}">${id}</label>${control}`);
      return;
    }
    // Cookie probes: /set?name=..&partitioned=1 sets a SameSite=None; Secure cookie; /echo shows
    // the Cookie header this request carried.
    if (url.pathname === '/set') {
      const name = url.searchParams.get('name');
      const attrs = `${name}=1; Path=/; SameSite=None; Secure${url.searchParams.get('partitioned') ? '; Partitioned' : ''}`;
      res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': attrs });
      res.end('<!doctype html><p id="done">set</p>');
      return;
    }
    if (url.pathname === '/echo') {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      res.end(`<!doctype html><p id="cookies">[${(req.headers.cookie || '').replace(/[<>&]/g, '')}]</p>`);
      return;
    }
    res.writeHead(404).end();
  });
}

/** The "app" site (reached as http://localhost:A). */
function appSite(getFrameOrigin) {
  return listen((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const frameOrigin = getFrameOrigin();
    const appOrigin = `http://localhost:${req.socket.localPort}`;
    if (url.pathname === '/') {
      const nonce = crypto.randomBytes(16).toString('base64url');
      const src = `${frameOrigin}/frame?n=${nonce}&origin=${encodeURIComponent(appOrigin)}`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': 'app_session=abc; Path=/; SameSite=Lax; HttpOnly' });
      res.end(`<!doctype html><html lang="en"><title>harness app</title>
<p id="top">top document</p><p id="status">waiting</p>
<label for="before">Before</label><input id="before">
<iframe id="f" title="harness frame" src="${src}" style="height:160px;width:400px"></iframe>
<label for="after">After</label><input id="after">
<script>
  const frameOrigin = ${JSON.stringify(frameOrigin)};
  const iframe = document.getElementById('f');
  window.addEventListener('message', (e) => {
    if (e.origin !== frameOrigin || e.source !== iframe.contentWindow) return;
    if (!e.data || e.data.command !== 'NotifyOnStart' || e.data.frameNonce !== ${JSON.stringify(nonce)}) return;
    const ch = new MessageChannel();
    ch.port1.onmessage = (m) => {
      if (m.data.command === 'ReceiveAttributesConfirmation' && m.data.correlationToken === 'c-1') {
        document.getElementById('status').textContent = 'handshake ok: ' + m.data.data.echo;
      }
    };
    iframe.contentWindow.postMessage({ command: 'Attributes', frameNonce: ${JSON.stringify(nonce)}, correlationToken: 'c-1', data: { echo: 'ping' } }, frameOrigin, [ch.port2]);
  });
</script>`);
      return;
    }
    if (url.pathname === '/frames') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      const frame = (id, kind) => `<iframe id="f-${id}" title="${id}" src="${frameOrigin}/plain?id=${id}&kind=${kind}"></iframe>`;
      res.end(`<!doctype html><html lang="en"><title>frames</title><label for="before">Before</label><input id="before">
${frame('a', 'input')}${frame('b', 'textarea')}${frame('c', 'input')}<button id="after">After</button>`);
      return;
    }
    if (url.pathname === '/embed') {
      // An iframe to any path of the frame site (cookie and storage probes).
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>embed</title><iframe id="x" title="probe" src="${frameOrigin}${url.searchParams.get('path')}"></iframe>`);
      return;
    }
    if (url.pathname === '/whoami') {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      res.end(`<!doctype html><p id="c">[${(req.headers.cookie || '').replace(/[<>&]/g, '')}]</p>`);
      return;
    }
    res.writeHead(404).end();
  });
}

let frameServer;
let appServer;
let appUrl;
let frameUrl;
const timings = {};

beforeAll(async () => {
  frameServer = await frameSite(() => appUrl);
  appServer = await appSite(() => frameUrl);
  appUrl = `http://localhost:${appServer.address().port}`;
  frameUrl = `http://127.0.0.1:${frameServer.address().port}`;
});

afterAll(async () => {
  await Promise.all([frameServer, appServer].filter(Boolean).map((s) => new Promise((r) => s.close(r))));
  const line = Object.entries(timings)
    .map(([n, t]) => `${n}: launch ${t.launchMs} ms, first page ${t.firstPageMs} ms, suite ${t.totalMs} ms`)
    .join('; ');
  if (line) process.stderr.write(`browser harness timings: ${line}\n`);
});

// What the notes measured for a cookie set by a cross-site iframe's response (default settings).
const EXPECTED_COOKIES = {
  chromium: { unpartitioned: 'dropped', partitioned: 'partitioned' },
  firefox: { unpartitioned: 'partitioned', partitioned: 'partitioned' },
  webkit: { unpartitioned: 'dropped', partitioned: 'dropped' },
};

describe.each(ENGINES)('%s', (name) => {
  let engine;
  let page;
  let started;

  beforeAll(async () => {
    started = Date.now();
    engine = await launchEngine(name);
    const t = Date.now();
    page = await engine.newPage();
    timings[name] = { launchMs: engine.launchMs, firstPageMs: Date.now() - t };
  }, 90000);

  afterAll(async () => {
    if (engine) await engine.close();
    if (timings[name]) timings[name].totalMs = Date.now() - started;
  }, 60000);

  test('reads, evaluates and types inside a cross-site, CSP-locked iframe', async () => {
    expect(engine.name).toBe(name);
    await page.goto(`${appUrl}/`);
    expect(await page.url()).toBe(`${appUrl}/`);
    expect(await page.text('#top')).toBe('top document');
    const frame = page.frame('#f');
    expect(await frame.text('#t')).toBe('inside the frame');
    // evaluate runs in the frame's document, under its CSP (nonce scripts, Trusted Types).
    expect(await frame.evaluate(() => location.origin)).toBe(frameUrl);
    expect(await frame.evaluate((a, b) => Promise.resolve(a + b), 2, 3)).toBe(5);
    await frame.fill('#i', 'typed 123');
    expect(await frame.evaluate(() => document.getElementById('i').value)).toBe('typed 123');
    await frame.fill('#i', 'again');
    expect(await frame.evaluate(() => document.getElementById('i').value)).toBe('again');
    // The top document cannot see into the cross-origin frame.
    expect(await page.evaluate(() => {
      try {
        return String(document.getElementById('f').contentDocument);
      } catch (e) {
        return 'threw';
      }
    })).toMatch(/^(null|threw)$/);
    await expect(frame.evaluate(() => Promise.reject(new Error('boom')))).rejects.toThrow(/boom/);
  });

  test('MessageChannel handshake between the page and the frame', async () => {
    await page.goto(`${appUrl}/`);
    await page.waitFor(() => document.getElementById('status').textContent.startsWith('handshake'), { timeout: 10000 });
    expect(await page.text('#status')).toBe('handshake ok: ping');
    expect(await page.frame('#f').text('#state')).toBe('connected');
  });

  test('Tab moves into the frame and out again, in document order', async () => {
    await page.goto(`${appUrl}/`);
    await page.frame('#f').waitFor('#file');
    await page.click('#before');
    // Where the focus is: a control inside the frame, else the top document's active element.
    // WebKitGTK leaves the top document's activeElement on the last top-level control while the
    // focus is inside the cross-site frame (Chromium and Firefox report the iframe element).
    const focus = async () => {
      const inFrame = await page.frame('#f').evaluate(() => {
        const a = document.activeElement;
        return document.hasFocus() && a && a !== document.body ? a.id : null;
      });
      const top = await page.evaluate(() => document.activeElement && document.activeElement.id);
      if (inFrame) {
        if (name !== 'webkit') expect(top).toBe('f');
        return `frame:${inFrame}`;
      }
      return `top:${top}`;
    };
    const order = [await focus()];
    for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await page.press(key);
      order.push(await focus());
    }
    expect(order).toEqual(['top:before', 'frame:i', 'frame:file', 'top:after', 'frame:file', 'frame:i', 'top:before']);
  });

  test('Tab through several cross-site iframes in document order', async () => {
    await page.goto(`${appUrl}/frames`);
    const ids = ['a', 'b', 'c'];
    for (const id of ids) await page.frame(`#f-${id}`).waitFor(`#${id}`);
    const where = async () => {
      for (const id of ids) {
        const inFrame = await page.frame(`#f-${id}`).evaluate(() => {
          const a = document.activeElement;
          return document.hasFocus() && a && a !== document.body ? a.id : null;
        });
        if (inFrame) return `frame:${inFrame}`;
      }
      return `top:${await page.evaluate(() => document.activeElement && document.activeElement.id)}`;
    };
    const walk = async (keys) => {
      const order = [];
      for (const key of keys) {
        await page.press(key);
        order.push(await where());
      }
      return order;
    };
    await page.click('#before');
    const fromPage = await walk(['Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']);
    await page.frame('#f-a').click('#a');
    const fromFirstFrame = await walk(['Tab', 'Tab', 'Tab']);
    expect(fromPage).toEqual(['frame:a', 'frame:b', 'frame:c', 'top:after', 'frame:c', 'frame:b', 'frame:a', 'top:before']);
    expect(fromFirstFrame).toEqual(['frame:b', 'frame:c', 'top:after']);
  });

  test('a file reaches a file input inside the frame', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-'));
    const file = path.join(dir, 'id-card.txt');
    const content = `file ${crypto.randomBytes(8).toString('hex')}`;
    fs.writeFileSync(file, content);
    try {
      await page.goto(`${appUrl}/`);
      const frame = page.frame('#f');
      await frame.setInputFiles('#file', [file]);
      const got = await frame.waitFor(
        async () => {
          const f = document.getElementById('file').files[0];
          return f ? { name: f.name, text: await f.text() } : null;
        },
        { timeout: 5000 },
      );
      expect(got).toEqual({ name: 'id-card.txt', text: content });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('screenshots of the page and of one element', async () => {
    await page.goto(`${appUrl}/`);
    await page.frame('#f').waitFor('#t');
    const whole = await page.screenshot(path.join(ARTIFACTS, `harness-${name}.png`));
    const element = await page.screenshot(path.join(ARTIFACTS, `harness-${name}-iframe.png`), { selector: '#f' });
    for (const f of [whole, element]) {
      expect(fs.readFileSync(f).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(fs.statSync(f).size).toBeGreaterThan(1000);
    }
  });

  test('pages are isolated: own cookies', async () => {
    await page.goto(`${appUrl}/`); // sets app_session
    await page.goto(`${appUrl}/whoami`);
    expect(await page.text('#c')).toBe('[app_session=abc]');
    const other = await engine.newPage();
    try {
      await other.goto(`${appUrl}/whoami`);
      expect(await other.text('#c')).toBe('[]');
    } finally {
      await other.close();
    }
  });

  test('default privacy settings: third-party cookies and storage as measured in the notes', async () => {
    const p = await engine.newPage();
    try {
      const outcome = async (cookie, partitioned) => {
        await p.goto(`${appUrl}/embed?path=${encodeURIComponent(`/set?name=${cookie}${partitioned ? '&partitioned=1' : ''}`)}`);
        await p.frame('#x').waitFor('#done');
        await p.goto(`${appUrl}/embed?path=/echo`);
        const inFrame = (await p.frame('#x').text('#cookies')).includes(`${cookie}=1`);
        await p.goto(`${frameUrl}/echo`);
        const topLevel = (await p.text('#cookies')).includes(`${cookie}=1`);
        if (inFrame && !topLevel) return 'partitioned';
        if (inFrame && topLevel) return 'shared';
        return topLevel ? 'top-level only' : 'dropped';
      };
      expect(await outcome('tp_plain', false)).toBe(EXPECTED_COOKIES[name].unpartitioned);
      expect(await outcome('tp_chips', true)).toBe(EXPECTED_COOKIES[name].partitioned);

      // Storage: what the frame's origin stores at top level is not what its third-party iframe sees.
      await p.goto(`${frameUrl}/echo`);
      await p.evaluate(() => localStorage.setItem('where', 'top'));
      await p.goto(`${appUrl}/embed?path=/echo`);
      expect(await p.frame('#x').evaluate(() => localStorage.getItem('where'))).toBeNull();
    } finally {
      await p.close();
    }
  });
});
