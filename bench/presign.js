'use strict';
// S3 presigned URLs: ours (Rust aws-sigv4, through napi) vs @aws-sdk/s3-request-presigner, both its
// low-level S3RequestPresigner (what @lunasec/node-sdk's simple tokenizer used) and getSignedUrl.
const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');
const { S3RequestPresigner, getSignedUrl } = require('@aws-sdk/s3-request-presigner');
const { HttpRequest } = require('@smithy/core/protocols');
const nodeCrypto = require('node:crypto');
const native = require('../lib/native');
const { measure, printTable, fmtNs } = require('./harness');

/** The node:crypto SHA-256 the AWS SDK uses on Node (what @smithy/hash-node does). */
class Sha256 {
  constructor(secret) {
    this.h = secret ? nodeCrypto.createHmac('sha256', secret) : nodeCrypto.createHash('sha256');
  }
  update(data) {
    this.h.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

async function main() {
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const key = 'lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c';
  const ours = new native.S3Presigner({ bucket: 'example-bucket', region: 'us-west-2', credentials });
  const low = new S3RequestPresigner({ credentials, region: 'us-west-2', sha256: Sha256 });
  const client = new S3Client({ region: 'us-west-2', credentials });
  const rows = [];
  rows.push(await measure('ours: S3Presigner.presignGet (Rust, napi)', () => ours.presignGet(key)));
  rows.push(
    await measure(
      'aws-sdk S3RequestPresigner.presign (original simple tokenizer)',
      () =>
        low.presign(
          new HttpRequest({ method: 'GET', protocol: 'https:', hostname: 'example-bucket.s3.us-west-2.amazonaws.com', path: `/${key}`, headers: { host: 'example-bucket.s3.us-west-2.amazonaws.com' } }),
          { expiresIn: 900 },
        ),
      { async: true },
    ),
  );
  rows.push(await measure('aws-sdk getSignedUrl(GetObjectCommand)', () => getSignedUrl(client, new GetObjectCommand({ Bucket: 'example-bucket', Key: key }), { expiresIn: 900 }), { async: true }));
  printTable('Presign one S3 GET URL', rows, 'ours: S3Presigner.presignGet (Rust, napi)');
  process.stdout.write(`\n## Target\n- presign ≤ 10 µs per URL including the napi call: measured ${fmtNs(rows[0].nsPerOp)}\n`);
  client.destroy();
  return { rows };
}

module.exports = main;
if (require.main === module) main();
