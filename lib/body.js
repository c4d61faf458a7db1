'use strict';

const badJson = () => ({ status: 400, name: 'badRequest', message: 'request body is not valid JSON' });
const tooLarge = (limit) => ({ status: 413, name: 'payloadTooLarge', message: `request body is larger than ${limit} bytes` });

/** JSON text → value; `undefined` for an empty body. */
function parseJson(text) {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badJson();
  }
}

/**
 * The JSON body of a request. Resolves `undefined` for an empty body; rejects with a
 * `{ status, name, message }` object for a malformed or oversized one.
 *
 * - A body parser already ran: its `req.body` is used — an object as it is (except Express 4's
 *   placeholder `{}` on a stream it did not read), a Buffer
 *   (`express.raw()`) or a string (`express.text()`) parsed as JSON (at most `limit` bytes).
 * - The stream was already consumed by something that left no `req.body` (a parser for another
 *   content type that read it anyway, a signature-checking middleware…): rejects 400
 *   `bodyAlreadyRead` at once instead of waiting for an `end` that will never come.
 * - Otherwise the stream is read here (at most `limit` bytes).
 */
function readJsonBody(req, limit = 64 * 1024) {
  const body = req.body;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    // An empty Buffer is what express.raw() leaves for a request it did not read (other type, no body).
    if (!(Buffer.isBuffer(body) && body.length === 0 && !req.readableEnded)) {
      const size = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(body, 'utf8');
      if (size > limit) return Promise.reject(tooLarge(limit));
      try {
        return Promise.resolve(parseJson(body.toString('utf8')));
      } catch (e) {
        return Promise.reject(e);
      }
    }
  } else if (body !== undefined) {
    // Express 4's parsers set `req.body = {}` even for a request they do not read (another content
    // type): then the stream is still there to read. Anything else is the parsed body.
    const untouched = body !== null && typeof body === 'object' && Object.getPrototypeOf(body) === Object.prototype && Object.keys(body).length === 0 && req._body !== true && !req.readableEnded;
    if (!untouched) return Promise.resolve(body);
  }
  // `readableEnded`: 'end' was emitted; `complete` with nothing left to read: the same, for a stream
  // read through `read()` without 'end' yet; `_body`: body-parser's "I read it" flag.
  if (req.readableEnded || req._body === true || (req.complete === true && req.readable === false)) {
    return Promise.reject({ status: 400, name: 'bodyAlreadyRead', message: 'the request body was already read by another middleware, which left no req.body' });
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (c) => {
      size += c.length;
      if (size > limit) {
        // Stop buffering and discard the rest; the 413 is sent with `Connection: close`.
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (size > limit) return;
      try {
        resolve(parseJson(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', () => reject({ status: 400, name: 'badRequest', message: 'request body could not be read' }));
  });
}

module.exports = { readJsonBody };
