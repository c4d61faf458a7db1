'use strict';
// `npm run bench`: every benchmark, in one run. Results also go to bench/results/<name>.json.
const fs = require('node:fs');
const path = require('node:path');

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const suites = { jwt: require('./jwt'), presign: require('./presign'), grants: require('./grants'), frames: require('./frames'), graphql: require('./graphql') };

(async () => {
  const only = process.argv.slice(2);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  for (const [name, run] of Object.entries(suites)) {
    if (only.length && !only.includes(name)) continue;
    process.stdout.write(`\n# ${name}\n`);
    const result = await run();
    fs.writeFileSync(path.join(__dirname, 'results', `${name}.json`), JSON.stringify(result, null, 2));
  }
})().catch((e) => {
  process.stderr.write(`benchmark failed: ${e && e.message}\n`);
  process.exit(1);
});
