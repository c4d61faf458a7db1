'use strict';
// Takes the README's screenshots of the demo (docs/screenshots/*.png) in headless Chromium, against
// the real stack: the example app on http://localhost:P and the tokenizer on http://127.0.0.1:Q.
// Usage (after the release builds): node scripts/screenshots.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startStack } = require('../test-support/stack');
const { launchEngine } = require('../test-support/browsers');

const OUT = path.join(__dirname, '..', 'docs', 'screenshots');

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const stack = await startStack({ appHost: 'localhost' });
  const engine = await launchEngine('chromium');
  try {
    const page = await engine.newPage();
    await page.goto(`${stack.appUrl}/`);
    await page.fill('#signup-username', 'ada');
    await page.fill('#signup-password', 'correct horse battery staple');
    await page.click('form[action="/signup"] button[type="submit"]');
    await page.waitFor(() => document.body.dataset.profileState === 'ready', { timeout: 30000 });
    await page.frame('#ssn-slot iframe').fill('#lsc', '123456789');
    await page.frame('#note-slot iframe').fill('#lsc', 'Prefers to be called in the morning.');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lunasec-shot-')), 'passport.pdf');
    fs.writeFileSync(file, '%PDF-1.4 demo\n');
    await page.frame('#documents-slot iframe').setInputFiles('#lsc', [file]);
    await page.waitFor(() => document.querySelector('#documents-slot iframe') !== null, { timeout: 10000 });
    await new Promise((r) => setTimeout(r, 1500)); // let the upload finish and the frame resize
    await page.screenshot(path.join(OUT, 'profile-edit.png'));
    await page.click('#save');
    await page.waitFor(() => document.body.dataset.profileState === 'saved', { timeout: 30000 });
    await page.reload();
    await page.waitFor(() => document.body.dataset.profileState === 'ready', { timeout: 30000 });
    await page.waitFor(() => document.querySelector('#saved-documents iframe') !== null, { timeout: 10000 });
    // The saved values are below the form: bring them into view (frames off screen do not paint).
    await page.evaluate(() => document.querySelector('#saved-ssn').closest('section, div').scrollIntoView());
    await new Promise((r) => setTimeout(r, 1500));
    await page.screenshot(path.join(OUT, 'profile-saved.png'));
    await page.goto(`${stack.appUrl}/rows`);
    await page.screenshot(path.join(OUT, 'rows.png'));
    await page.close();
  } finally {
    await engine.close();
    await stack.stop();
  }
  process.stdout.write(`screenshots written to ${OUT}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
