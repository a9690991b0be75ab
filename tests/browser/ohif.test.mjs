// End-to-end browser test: Debian's chromium, headless, driven by playwright-core, against
// a running Tessera holding the study of make_study.py (run by tests/browser/run.sh).
//
// Environment: TESSERA_URL (the archive, serving the viewer at /viewer), TESSERA_VIEWER_ONLY_URL
// (a second Tessera serving only the viewer, its app-config pointing at TESSERA_URL: another
// origin), EXPECTED (expected.json), ARTIFACTS (folder for screenshots and timings).
// Exits non-zero with a message on the first failed check.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = need('TESSERA_URL');
const OTHER = need('TESSERA_VIEWER_ONLY_URL');
const expected = JSON.parse(fs.readFileSync(need('EXPECTED'), 'utf8'));
const ARTIFACTS = need('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(ARTIFACTS, { recursive: true });

const MEAN_TOLERANCE = 6; // grey levels (0..255)
const STD_TOLERANCE = 8;
const timings = {};
let checks = 0;

function need(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}
function fail(message) {
  console.error(`browser test: FAILED: ${message}`);
  process.exit(1);
}
function check(condition, message) {
  if (!condition) fail(message);
  checks += 1;
  console.log(`  ok - ${message}`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run',
  ],
}).catch(e => fail(`cannot start ${CHROMIUM}: ${e.message}`));

// A fresh context per scenario (its own profile: no cached files, no stored dismissals).
async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Resource timings for the benchmark; first rendered image by cornerstone's own event.
  await context.addInitScript(() => {
    performance.setResourceTimingBufferSize(5000);
    window.__firstRendered = null;
    document.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => {
      if (window.__firstRendered === null) window.__firstRendered = performance.now();
    }, true);
  });
  const page = await context.newPage();
  const log = { responses: [], external: [], errors: [] };
  page.on('response', r => {
    const url = r.url();
    if (url.includes('/dicom-web/')) log.responses.push({ url, status: r.status(), method: r.request().method() });
    if (!url.startsWith(BASE) && !url.startsWith(OTHER) && !/^(data|blob):/.test(url)) log.external.push(url);
  });
  page.on('requestfailed', r => {
    if (!/^(data|blob):/.test(r.url())) log.errors.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('pageerror', e => log.errors.push(`page error: ${e.message}`));
  page.__name = name;
  return { page, log, context };
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// OHIF's first-visit notices: the investigational-use banner and the onboarding tour.
async function dismissNotices(page) {
  for (const selector of ['[data-cy="confirm-and-hide-button"]', 'text=Skip all']) {
    const el = page.locator(selector).first();
    if (await el.isVisible().catch(() => false)) await el.click().catch(() => {});
  }
}

// Grey-level statistics of a page region, decoded from a PNG screenshot in the browser
// (no image library needed in Node). Returns mean and population standard deviation of the
// red channel and the largest |R-G|,|G-B| seen (0 for grey pixels).
async function regionStats(page, rawClip) {
  // Clipped to the page; null while the region is not on screen (e.g. during a layout change).
  const vp = page.viewportSize();
  const x = Math.max(0, rawClip.x), y = Math.max(0, rawClip.y);
  const clip = { x, y, width: Math.min(vp.width, rawClip.x + rawClip.width) - x, height: Math.min(vp.height, rawClip.y + rawClip.height) - y };
  if (!(clip.width >= 20 && clip.height >= 20)) return null;
  const png = await page.screenshot({ clip }).catch(() => null);
  if (!png) return null;
  return page.evaluate(async b64 => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0, sum = 0, sq = 0, chroma = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      n += 1; sum += r; sq += r * r;
      chroma = Math.max(chroma, Math.abs(r - g), Math.abs(g - b));
    }
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), chroma, n };
  }, png.toString('base64'));
}

// The first cornerstone viewport: its current imageId, and the page rectangle (CSS pixels)
// showing image pixels [x0,x1) x [y0,y1).
async function viewportState(page, imageRegion) {
  return page.evaluate(region => {
    const cs = window.cornerstone;
    const engine = cs && cs.getRenderingEngines && cs.getRenderingEngines()[0];
    const viewport = engine && engine.getViewports()[0];
    if (!viewport) return null;
    const imageId = viewport.getCurrentImageId && viewport.getCurrentImageId();
    if (!imageId) return null;
    const out = { imageId, index: viewport.getCurrentImageIdIndex() };
    if (region) {
      const u = cs.utilities;
      const a = viewport.worldToCanvas(u.imageToWorldCoords(imageId, [region[0], region[1]]));
      const b = viewport.worldToCanvas(u.imageToWorldCoords(imageId, [region[2], region[3]]));
      const box = viewport.canvas.getBoundingClientRect();
      const left = box.left + Math.min(a[0], b[0]);
      const top = box.top + Math.min(a[1], b[1]);
      out.rect = { x: left, y: top, width: Math.abs(b[0] - a[0]), height: Math.abs(b[1] - a[1]) };
    }
    return out;
  }, imageRegion);
}

async function waitFor(page, what, fn, timeoutMs = 60000, lastSeen = () => undefined) {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) {
      await shot(page, `${page.__name}-timeout`);
      const seen = lastSeen();
      fail(`timed out after ${timeoutMs} ms waiting for ${what}` + (seen ? `; last seen ${JSON.stringify(seen)}` : ''));
    }
    await page.waitForTimeout(100);
  }
}

// `n` notches of the mouse wheel over the viewport, one at a time as a user scrolls: each
// waits until the viewport has moved to another image (not for a fixed pause) before the next.
async function wheelSteps(page, n, what) {
  for (let i = 1; i <= n; i++) {
    const before = await viewportState(page);
    let now = null;
    await page.mouse.wheel(0, 120);
    await waitFor(page, `${what}: wheel notch ${i} of ${n} to show another image`, async () => {
      now = await viewportState(page);
      return now !== null && (before === null || now.imageId !== before.imageId);
    }, 15000, () => ({ before: before && before.imageId, now: now && now.imageId }));
  }
}

// CT slice index k (0-based) from a WADO-RS imageId naming instance <series>.<k+1>.
function ctSlice(imageId) {
  const m = imageId.match(new RegExp(`/instances/${expected.ct_series.replace(/\./g, '\\.')}\\.(\\d+)/frames/`));
  return m ? Number(m[1]) - 1 : null;
}

// Image pixels 64..192 of the 256x256 CT: exactly 4x4 checkerboard squares, half A, half B.
const CT_REGION = [64, 64, 192, 192];

// Wait until the CT slice shown has drawn pixels matching its expected window; returns the slice.
async function expectCtSlice(page, label, notSlice = null) {
  let last = null;
  const state = await waitFor(page, `${label}: a CT slice drawn as expected`, async () => {
    const s = await viewportState(page, CT_REGION);
    if (!s || ctSlice(s.imageId) === null || !s.rect || s.rect.width < 40) return null;
    const k = ctSlice(s.imageId);
    if (notSlice !== null && k === notSlice) return null;
    // 3 pixels in from each edge: no blending with the neighbouring squares outside.
    const clip = { x: s.rect.x + 3, y: s.rect.y + 3, width: s.rect.width - 6, height: s.rect.height - 6 };
    const stats = await regionStats(page, clip);
    if (!stats) return null;
    const want = expected.ct_grey[k];
    last = { k, stats, want, clip };
    const good = Math.abs(stats.mean - want.mean) <= MEAN_TOLERANCE && Math.abs(stats.std - want.std) <= STD_TOLERANCE;
    return good ? last : null;
  }, 60000, () => last);
  check(true, `${label}: slice ${state.k + 1}/${expected.slices} drawn with grey mean ${state.stats.mean.toFixed(1)} ` +
    `(expected ${state.want.mean.toFixed(1)} ± ${MEAN_TOLERANCE}) and spread ${state.stats.std.toFixed(1)} ` +
    `(expected ${state.want.std.toFixed(1)} ± ${STD_TOLERANCE}) over ${state.clip.width.toFixed(0)}x${state.clip.height.toFixed(0)} px`);
  check(state.stats.chroma <= 2, `${label}: the CT region is grey (largest channel difference ${state.stats.chroma})`);
  return state;
}

// Multi-frame image pixels 16..112 of 128: 6x6 squares of 16, half low, half high.
const MF_REGION = [16, 16, 112, 112];

// Wait until a frame of the multi-frame instance (other than notFrame, 0-based) is drawn as
// expected for that frame; returns it.
async function expectMfFrame(page, label, notFrame = null) {
  let last = null;
  const state = await waitFor(page, `${label}: a frame drawn as expected`, async () => {
    const s = await viewportState(page, MF_REGION);
    if (!s || !s.imageId.includes(`/series/${expected.mf_series}/`) || !s.rect || s.rect.width < 40) return null;
    const f = Number((s.imageId.match(/\/frames\/(\d+)/) || [])[1]) - 1;
    if (!(f >= 0) || f === notFrame) return null;
    const clip = { x: s.rect.x + 3, y: s.rect.y + 3, width: s.rect.width - 6, height: s.rect.height - 6 };
    const stats = await regionStats(page, clip);
    if (!stats) return null;
    const want = expected.mf_grey[f];
    last = { f, stats, want };
    return Math.abs(stats.mean - want.mean) <= MEAN_TOLERANCE && Math.abs(stats.std - want.std) <= STD_TOLERANCE ? last : null;
  }, 30000, () => last);
  check(true, `${label}: frame ${state.f + 1}/${expected.mf_frames} drawn with grey mean ${state.stats.mean.toFixed(1)} ` +
    `(expected ${state.want.mean.toFixed(1)}) and spread ${state.stats.std.toFixed(1)} (expected ${state.want.std.toFixed(1)})`);
  return state;
}

function dicomResponsesOk(log, label) {
  const bad = log.responses.filter(r => r.status < 200 || r.status > 299);
  check(bad.length === 0, `${label}: every DICOMweb response was 2xx (${log.responses.length} responses` +
    (bad.length ? `; failures: ${JSON.stringify(bad.slice(0, 5))})` : ')'));
  check(log.external.length === 0, `${label}: nothing fetched from outside Tessera (${log.external.slice(0, 3).join(', ')})`);
  check(log.errors.length === 0, `${label}: no failed requests or page errors (${log.errors.slice(0, 3).join('; ')})`);
}

async function metricsSnapshot() {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const out = {};
  for (const m of text.matchAll(/^tessera_http_requests_total\{family="(\w+)",status="(\w+)"\} (\d+)$/gm)) {
    out[`${m[1]}.${m[2]}`] = Number(m[3]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
console.log('1. the built-in page at / lists the study with its thumbnail');
{
  const { page, log, context } = await newPage('home');
  await page.goto(`${BASE}/`);
  const row = page.locator(`tr.study[data-study="${expected.study}"]`);
  await row.waitFor({ timeout: 30000 }).catch(() => fail('the built-in page did not list the study'));
  check((await row.locator('.patient').textContent()) === 'Browser, Tessera', `home: the row shows the patient name (${expected.patient_name})`);
  check((await row.locator('.instances').textContent()) === String(expected.instances), `home: the row shows ${expected.instances} instances`);
  await waitFor(page, 'the thumbnail to load', () => row.locator('img').evaluate(img => img.complete && img.naturalWidth > 0));
  const size = await row.locator('img').evaluate(img => [img.naturalWidth, img.naturalHeight]);
  check(size[0] > 0 && size[1] > 0, `home: the study thumbnail loaded (${size[0]}x${size[1]})`);
  const href = await row.locator('a.open').getAttribute('href');
  check(href === `/viewer/viewer?StudyInstanceUIDs=${expected.study}`, `home: the row links into the viewer (${href})`);
  check((await page.locator('#health').textContent()) === 'ok', 'home: the server status says ok');
  await page.fill('#q', expected.patient_id);
  await page.click('button[type=submit]');
  await waitFor(page, 'the search by patient ID', async () => (await page.locator('#found').textContent()).startsWith('1 studies'));
  await page.fill('#q', 'Nobody');
  await page.click('button[type=submit]');
  await waitFor(page, 'the search for nobody', async () => (await page.locator('#found').textContent()).startsWith('0 studies'));
  await page.fill('#q', 'brow');
  await page.click('button[type=submit]');
  await waitFor(page, 'the search by name prefix', async () => (await page.locator('tr.study').count()) === 1);
  check(true, 'home: the search box finds the study by patient ID and name prefix, and nothing for another name');
  await shot(page, 'home');
  dicomResponsesOk(log, 'home');
  await context.close();
}

console.log('2. the OHIF study list shows the patient and the number of instances');
{
  const { page, log, context } = await newPage('studylist');
  await page.goto(`${BASE}/viewer/`);
  const row = page.locator('tr', { hasText: 'Browser, Tessera' }).first();
  await row.waitFor({ timeout: 60000 }).catch(async () => { await shot(page, 'studylist-timeout'); fail('OHIF study list did not show the patient'); });
  await dismissNotices(page);
  const text = await row.textContent();
  check(text.includes('Browser, Tessera'), 'OHIF study list: the row shows the patient');
  check(new RegExp(`(^|\\D)${expected.instances}(\\D|$)`).test(text), `OHIF study list: the row shows ${expected.instances} instances (${text})`);
  await shot(page, 'ohif-study-list');
  // The patient filter: OHIF sends PatientName=*text* with fuzzymatching=true (Tessera's
  // QIDO wildcards and fuzzy name matching).
  const filter = page.locator('input').first();
  const query = text => page.waitForResponse(
    r => decodeURIComponent(r.url()).includes(`/studies?PatientName=*${text}*`), { timeout: 20000 });
  let answer = query('essera');
  await filter.fill('essera');
  answer = await answer.catch(() => fail('OHIF sent no PatientName=*essera* query'));
  const found = await answer.json();
  check(answer.status() === 200 && found.length === 1,
    `OHIF study list: the patient filter "essera" queried ${decodeURIComponent(answer.url()).replace(BASE, '')}: ${answer.status()}, ${found.length} study`);
  await row.waitFor({ timeout: 15000 }).catch(() => fail('the OHIF patient filter "essera" lost the study'));
  answer = query('Nobody');
  await filter.fill('Nobody');
  answer = await answer.catch(() => fail('OHIF sent no PatientName=*Nobody* query'));
  const none = await answer.json();
  check(answer.status() === 200 && none.length === 0, `OHIF study list: the patient filter "Nobody": ${answer.status()}, ${none.length} studies`);
  await waitFor(page, 'the OHIF patient filter "Nobody" to empty the list',
    async () => (await page.locator('tr', { hasText: 'Browser, Tessera' }).count()) === 0, 15000);
  dicomResponsesOk(log, 'OHIF study list');
  await context.close();
}

console.log('3. opening the study draws, scrolls, plays the multi-frame instance; metrics agree');
{
  const before = await metricsSnapshot();
  const { page, log, context } = await newPage('viewer');
  const started = Date.now();
  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${expected.study}`);
  await waitFor(page, 'the viewport canvas', () => page.locator('canvas.cornerstone-canvas').count());
  await waitFor(page, 'a first rendered image', () => page.evaluate(() => window.__firstRendered !== null));
  const firstDrawn = await page.evaluate(() => window.__firstRendered);
  await dismissNotices(page);
  const first = await expectCtSlice(page, 'viewer');
  await shot(page, 'ohif-viewer-first');

  // All 40 CT frames loaded (OHIF prefetches the stack): time of the 40th frame response.
  const ctFrames = `/series/${expected.ct_series}/instances/`;
  const allLoaded = await waitFor(page, `all ${expected.slices} CT frames to load`, () => page.evaluate(([marker, n]) => {
    const entries = performance.getEntriesByType('resource').filter(e => e.name.includes(marker) && e.name.includes('/frames/'));
    const done = new Set(entries.map(e => e.name));
    return done.size >= n ? Math.max(...entries.map(e => e.responseEnd)) : null;
  }, [ctFrames, expected.slices]));
  timings.first_image_ms = Math.round(firstDrawn);
  timings.all_slices_ms = Math.round(allLoaded);
  timings.wall_first_check_ms = Date.now() - started;

  // Scroll: the mouse wheel over the viewport moves to another slice, which draws as expected.
  const canvas = page.locator('canvas.cornerstone-canvas').first();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await wheelSteps(page, 5, 'scrolling the CT stack');
  const scrolled = await expectCtSlice(page, 'after scrolling', first.k);
  check(Math.abs(scrolled.stats.mean - first.stats.mean) > 2, `scrolling changed the pixels (mean ${first.stats.mean.toFixed(1)} -> ${scrolled.stats.mean.toFixed(1)})`);
  await shot(page, 'ohif-viewer-scrolled');
  // And the keyboard: arrow keys step slices too.
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const keyed = await expectCtSlice(page, 'after two ArrowDown', scrolled.k);
  check(keyed.k !== scrolled.k, `the arrow keys moved from slice ${scrolled.k + 1} to ${keyed.k + 1}`);

  // The multi-frame instance: open its series (double-click its thumbnail), step its frames.
  const thumb = page.locator('[data-cy="study-browser-thumbnail"]', { hasText: 'multi-frame' }).first();
  await thumb.dblclick().catch(e => fail(`cannot open the multi-frame series: ${e.message}`));
  const mfShown = await expectMfFrame(page, 'multi-frame opened');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await wheelSteps(page, 3, 'stepping the multi-frame instance');
  const mfStepped = await expectMfFrame(page, 'multi-frame stepped by the wheel', mfShown.f);
  check(Math.abs(mfStepped.stats.mean - mfShown.stats.mean) > 2,
    `multi-frame: stepping changed the pixels (frame ${mfShown.f + 1} -> ${mfStepped.f + 1}, mean ${mfShown.stats.mean.toFixed(1)} -> ${mfStepped.stats.mean.toFixed(1)})`);
  // Cine: press play and see at least two more frames drawn as expected.
  const play = page.locator('[data-cy="cine-player-play-pause"]').first();
  await play.waitFor({ timeout: 15000 }).catch(() => fail('no cine player for the multi-frame instance'));
  await play.click();
  const seen = new Set();
  await waitFor(page, 'cine to show three different frames', async () => {
    const st = await viewportState(page);
    const m = st && st.imageId.match(/\/frames\/(\d+)/);
    if (m && st.imageId.includes(`/series/${expected.mf_series}/`)) seen.add(Number(m[1]));
    return seen.size >= 3;
  }, 20000);
  await play.click();
  check(seen.size >= 3, `multi-frame: cine played frames ${[...seen].join(', ')}`);
  await expectMfFrame(page, 'multi-frame paused after playing');
  await shot(page, 'ohif-viewer-multiframe');

  // The colour image: open it and see colour.
  const rgbThumb = page.locator('[data-cy="study-browser-thumbnail"]', { hasText: 'colour' }).first();
  await rgbThumb.dblclick();
  await waitFor(page, 'the colour image drawn in colour', async () => {
    const s = await viewportState(page, [0, 0, 128, 128]);
    if (!s || !s.imageId.includes(`/series/${expected.rgb_series}/`)) return false;
    const stats = await regionStats(page, { x: s.rect.x + 4, y: s.rect.y + 4, width: s.rect.width - 8, height: s.rect.height - 8 });
    return stats && stats.chroma > 200;
  });
  check(true, 'colour: the RGB image is drawn in colour (red, green and blue bands)');
  await shot(page, 'ohif-viewer-colour');

  dicomResponsesOk(log, 'viewer');
  const metadata = log.responses.filter(r => r.url.endsWith('/metadata'));
  const frames = log.responses.filter(r => r.url.includes('/frames/'));
  check(metadata.length >= 3, `viewer: it fetched series metadata (${metadata.length} requests)`);
  check(frames.length >= expected.slices + 2, `viewer: it fetched frames (${frames.length} requests)`);
  const after = await metricsSnapshot();
  const delta = key => (after[key] || 0) - (before[key] || 0);
  for (const family of ['qido', 'metadata', 'frames', 'thumbnail']) {
    const bad = ['3xx', '4xx', '5xx'].reduce((n, c) => n + delta(`${family}.${c}`), 0);
    check(bad === 0, `/metrics: no non-2xx ${family} answers during the viewer run (${delta(`${family}.2xx`)} 2xx)`);
  }
  check(delta('metadata.2xx') >= metadata.length, `/metrics counted the viewer's ${metadata.length} metadata requests as 2xx (${delta('metadata.2xx')})`);
  check(delta('frames.2xx') >= frames.length, `/metrics counted the viewer's ${frames.length} frame requests as 2xx (${delta('frames.2xx')})`);
  await context.close();
}

console.log('4. OHIF served from another origin (CORS) opens the study from the archive');
{
  const origin = new URL(OTHER).origin;
  const preflight = await fetch(`${BASE}/dicom-web/studies/${expected.study}/series/${expected.ct_series}/metadata`, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'accept,authorization',
    },
  });
  const allowOrigin = preflight.headers.get('access-control-allow-origin');
  check(preflight.status === 200 && (allowOrigin === '*' || allowOrigin === origin),
    `preflight from ${origin}: ${preflight.status}, Access-Control-Allow-Origin ${allowOrigin}`);
  const allowHeaders = (preflight.headers.get('access-control-allow-headers') || '').toLowerCase();
  // Named, not `*`: browsers never let `*` cover Authorization (sent by viewers behind OIDC).
  check(allowHeaders.includes('accept') && allowHeaders.includes('authorization'),
    `preflight allows the Accept and Authorization headers (${allowHeaders})`);
  const { page, log, context } = await newPage('cors');
  await page.goto(`${OTHER}/viewer/viewer?StudyInstanceUIDs=${expected.study}`);
  await waitFor(page, 'the viewport canvas', () => page.locator('canvas.cornerstone-canvas').count());
  await dismissNotices(page);
  await expectCtSlice(page, 'viewer on another origin');
  await shot(page, 'ohif-viewer-other-origin');
  check(log.responses.length > 0 && log.responses.every(r => r.url.startsWith(BASE)),
    `the viewer on ${origin} read DICOMweb from ${BASE} (${log.responses.length} responses)`);
  dicomResponsesOk(log, 'viewer on another origin');
  await context.close();
}

await browser.close();
fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify(timings, null, 1));
console.log(`timings (information only, ms from navigation): first image ${timings.first_image_ms}, ` +
  `all ${expected.slices} slices loaded ${timings.all_slices_ms}`);
console.log(`browser test: ${checks} checks passed; screenshots in ${ARTIFACTS}`);
