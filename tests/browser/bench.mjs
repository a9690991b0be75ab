// Browser timings of OHIF on Tessera (information, not a test): from navigation to the first
// image cornerstone rendered, and to the last of the 40 CT frames received, for a deep link
// into the study of make_study.py. Cold: a fresh browser profile (OHIF's bundles downloaded
// too). Warm: the same deep link again in that profile (bundles from the HTTP cache, metadata
// and frames fetched again). Run by `BROWSER_BENCH=1 tests/browser/run.sh`.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const BASE = process.env.TESSERA_URL;
const expected = JSON.parse(fs.readFileSync(process.env.EXPECTED, 'utf8'));
const RUNS = Number(process.env.BENCH_RUNS || 5);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function measure(page) {
  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${expected.study}`);
  const marker = `/series/${expected.ct_series}/instances/`;
  const deadline = Date.now() + 120000;
  for (;;) {
    const r = await page.evaluate(([marker, n]) => {
      const e = performance.getEntriesByType('resource').filter(x => x.name.includes(marker) && x.name.includes('/frames/'));
      const done = new Set(e.map(x => x.name)).size >= n;
      return { first: window.__firstRendered, all: done ? Math.max(...e.map(x => x.responseEnd)) : null };
    }, [marker, expected.slices]);
    if (r.first !== null && r.all !== null) return r;
    if (Date.now() > deadline) throw new Error('timed out');
    await page.waitForTimeout(50);
  }
}

const rows = { cold_first: [], cold_all: [], warm_first: [], warm_all: [] };
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => {
    performance.setResourceTimingBufferSize(5000);
    window.__firstRendered = null;
    document.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => {
      if (window.__firstRendered === null) window.__firstRendered = performance.now();
    }, true);
  });
  const page = await context.newPage();
  const cold = await measure(page);
  const warm = await measure(page);
  rows.cold_first.push(cold.first); rows.cold_all.push(cold.all);
  rows.warm_first.push(warm.first); rows.warm_all.push(warm.all);
  console.log(`run ${i + 1}: cold first ${cold.first.toFixed(0)} ms, all ${expected.slices} ${cold.all.toFixed(0)} ms; ` +
    `warm first ${warm.first.toFixed(0)} ms, all ${warm.all.toFixed(0)} ms`);
  await context.close();
}
await browser.close();
const median = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const summary = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Math.round(median(v))]));
console.log(`median of ${RUNS}: ${JSON.stringify(summary)}`);
if (process.env.ARTIFACTS) fs.writeFileSync(`${process.env.ARTIFACTS}/bench.json`, JSON.stringify({ runs: rows, median: summary }, null, 1));
