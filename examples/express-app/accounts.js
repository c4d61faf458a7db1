'use strict';
// The demo's users and sessions, in memory (a restart forgets them).
//
// - Users: username + scrypt hash of the password (random salt per user), compared in constant time.
//   A log-in with an unknown username still runs scrypt, so both failures take the same time and
//   get the same message.
// - Sessions: a random id (256 bits) in an HttpOnly cookie `demo_session`. Log-in always starts a new
//   session (no fixation). The id given to LunaSec is never this cookie: it is
//   HMAC-SHA256(app secret, session id), base64url — opaque, and useless as a cookie if it leaks
//   (it travels in JWTs handed to the page and to the tokenizer).
const crypto = require('node:crypto');
const { promisify } = require('node:util');

const scrypt = promisify(crypto.scrypt);
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LEN = 32;
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

class AccountError extends Error {}

class Accounts {
  #users = new Map(); // lower-case username -> { username, salt, hash }
  #sessions = new Map(); // session id -> { username, guest, expires }
  #secret;
  #dummy;

  /** `secret`: the app secret the LunaSec session ids are derived with (32+ random bytes). */
  constructor(secret) {
    this.#secret = secret;
    const salt = crypto.randomBytes(16);
    this.#dummy = { salt, hash: crypto.scryptSync('not a password', salt, KEY_LEN, SCRYPT) };
  }

  /** Creates a user; throws an AccountError whose message can be shown to the person. */
  async signUp(username, password) {
    if (typeof username !== 'string' || !USERNAME_RE.test(username)) {
      throw new AccountError('Choose a username of 3 to 32 letters, digits, dots, dashes or underscores.');
    }
    if (typeof password !== 'string' || password.length < 8 || password.length > 128) {
      throw new AccountError('Choose a password of 8 to 128 characters.');
    }
    const key = username.toLowerCase();
    if (this.#users.has(key)) throw new AccountError('That username is taken. Choose another one, or log in.');
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(password, salt, KEY_LEN, SCRYPT);
    if (this.#users.has(key)) throw new AccountError('That username is taken. Choose another one, or log in.');
    this.#users.set(key, { username, salt, hash });
    return username;
  }

  /** The user's display name when the password is right; otherwise an AccountError with one generic message. */
  async logIn(username, password) {
    const generic = new AccountError('Incorrect username or password.');
    const user = typeof username === 'string' ? this.#users.get(username.toLowerCase()) : undefined;
    const candidate = typeof password === 'string' && password.length <= 128 ? password : '';
    const { salt, hash } = user || this.#dummy;
    const got = await scrypt(candidate, salt, KEY_LEN, SCRYPT);
    const match = crypto.timingSafeEqual(got, hash);
    if (!user || !match || candidate === '') throw generic;
    return user.username;
  }

  /** Starts a session for `username` (or a guest); returns its id (the cookie value). */
  startSession(username, { guest = false } = {}) {
    const id = crypto.randomBytes(32).toString('base64url');
    this.#sessions.set(id, { username, guest, expires: Date.now() + SESSION_TTL_MS });
    return id;
  }

  endSession(id) {
    if (typeof id === 'string') this.#sessions.delete(id);
  }

  /** The live session `{ id, username, guest }` for a cookie value, or null. */
  session(id) {
    if (typeof id !== 'string' || !SESSION_ID_RE.test(id)) return null;
    const s = this.#sessions.get(id);
    if (!s) return null;
    if (s.expires < Date.now()) {
      this.#sessions.delete(id);
      return null;
    }
    return { id, username: s.username, guest: s.guest };
  }

  /** The opaque id LunaSec knows this session by: HMAC-SHA256(app secret, session id), base64url. */
  lunaSecId(sessionId) {
    return crypto.createHmac('sha256', this.#secret).update(sessionId).digest('base64url');
  }
}

module.exports = { Accounts, AccountError };
