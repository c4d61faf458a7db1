'use strict';

/**
 * The JSON body of a request: `req.body` when a body parser already ran, otherwise read from the
 * stream (at most `limit` bytes). Resolves `undefined` for an empty body; rejects with a
 * `{ status, name, message }` object for a malformed or oversized one.
 */
function readJsonBody(req, limit = 64 * 1024) {
  if (req.body !== undefined && (typeof req.body !== 'object' || !Buffer.isBuffer(req.body))) {
    return Promise.resolve(req.body);
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
        reject({ status: 413, name: 'payloadTooLarge', message: `request body is larger than ${limit} bytes` });
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (size > limit) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject({ status: 400, name: 'badRequest', message: 'request body is not valid JSON' });
      }
    });
    req.on('error', () => reject({ status: 400, name: 'badRequest', message: 'request body could not be read' }));
  });
}

module.exports = { readJsonBody };
