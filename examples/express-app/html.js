'use strict';
// Server-rendered HTML for the demo: a tagged template that escapes every interpolated value, the
// page layout, and the Content-Security-Policy every HTML response carries.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Markup that is already safe (built by `html`); anything else is escaped when interpolated. */
class Safe {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

function escape(value) {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

function render(value) {
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escape(value);
}

/** html`<p>${untrusted}</p>`: every interpolation is escaped unless it is itself html`…` (or an array of those). */
function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Safe(out);
}

/** The CSP of every page: our own scripts and styles only; frames and API calls only to the tokenizer. */
function contentSecurityPolicy(tokenizerOrigin) {
  return [
    "default-src 'self'",
    `frame-src ${tokenizerOrigin}`,
    `connect-src 'self' ${tokenizerOrigin}`,
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Sends a whole page with the security headers. */
function sendPage(res, { status = 200, title, user, body, scripts = [], tokenizerOrigin, current }) {
  const nav = [
    ['/', 'Home'],
    ['/profile', 'Profile'],
    ['/rows', 'Stored rows'],
  ];
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · LunaSec demo</title>
<link rel="stylesheet" href="/static/app.css">
${scripts.map((src) => html`<script type="module" src="${src}"></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
  <p class="brand"><a href="/">LunaSec demo</a></p>
  <nav aria-label="Main">
    <ul>
      ${nav.map(([href, label]) => html`<li><a href="${href}"${current === href ? html` aria-current="page"` : ''}>${label}</a></li>`)}
    </ul>
  </nav>
  ${user
    ? html`<form class="account" method="post" action="/logout">
    <span>Signed in as <strong>${user.username}</strong></span>
    <button type="submit" class="link">Log out</button>
  </form>`
    : ''}
</header>
${body}
<footer class="site">
  <p>Sensitive values are typed into and shown by frames served by the Dedicated Tokenizer; this app only ever stores tokens.</p>
</footer>
</body>
</html>
`;
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy(tokenizerOrigin),
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    })
    .send(page.text);
}

module.exports = { html, escape, sendPage, contentSecurityPolicy, Safe };
