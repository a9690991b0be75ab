// What the browser tests share (ohif.test.mjs, auth.test.mjs): checks that stop at the first
// failure, chromium, a page per scenario with its DICOMweb responses recorded, screenshots, and
// the draw checks: the pixels a viewport shows compared with what make_study.py wrote.
//
// Environment: EXPECTED (expected.json of make_study.py), ARTIFACTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const expected = JSON.parse(fs.readFileSync(need('EXPECTED'), 'utf8'));
export const ARTIFACTS = need('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(ARTIFACTS, { recursive: true });

const MEAN_TOLERANCE = 6; // grey levels (0..255)
const STD_TOLERANCE = 8;
let checks = 0;

/** How many checks have passed. */
export function checksPassed() {
  return checks;
}

export function need(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}
export function fail(message) {
  console.error(`browser test: FAILED: ${message}`);
  process.exit(1);
}
export function check(condition, message) {
  if (!condition) fail(message);
  checks += 1;
  console.log(`  ok - ${message}`);
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run',
    ],
  }).catch(e => fail(`cannot start ${CHROMIUM}: ${e.message}`));
}

// A fresh context per scenario (its own profile: no cached files, no stored dismissals).
// `origins`: URL prefixes the page may fetch from; anything else is recorded as external.
export async function newPage(browser, name, origins) {
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
    if (!origins.some(o => url.startsWith(o)) && !/^(data|blob):/.test(url)) log.external.push(url);
  });
  page.on('requestfailed', r => {
    if (!/^(data|blob):/.test(r.url())) log.errors.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('pageerror', e => log.errors.push(`page error: ${e.message}`));
  page.__name = name;
  return { page, log, context };
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// OHIF's first-visit notices: the investigational-use banner and the onboarding tour.
export async function dismissNotices(page) {
  for (const selector of ['[data-cy="confirm-and-hide-button"]', 'text=Skip all']) {
    const el = page.locator(selector).first();
    if (await el.isVisible().catch(() => false)) await el.click().catch(() => {});
  }
}

// Grey-level statistics of a page region, decoded from a PNG screenshot in the browser
// (no image library needed in Node). Returns mean and population standard deviation of the
// red channel and the largest |R-G|,|G-B| seen (0 for grey pixels).
export async function regionStats(page, rawClip) {
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
export async function viewportState(page, imageRegion) {
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

export async function waitFor(page, what, fn, timeoutMs = 60000, lastSeen = () => undefined) {
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
export async function wheelSteps(page, n, what) {
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
export function ctSlice(imageId) {
  const m = imageId.match(new RegExp(`/instances/${expected.ct_series.replace(/\./g, '\\.')}\\.(\\d+)/frames/`));
  return m ? Number(m[1]) - 1 : null;
}

// Image pixels 64..192 of the 256x256 CT: exactly 4x4 checkerboard squares, half A, half B.
export const CT_REGION = [64, 64, 192, 192];

// Wait until the CT slice shown has drawn pixels matching its expected window; returns the slice.
export async function expectCtSlice(page, label, notSlice = null) {
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
export const MF_REGION = [16, 16, 112, 112];

// Wait until a frame of the multi-frame instance (other than notFrame, 0-based) is drawn as
// expected for that frame; returns it.
export async function expectMfFrame(page, label, notFrame = null) {
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

export function dicomResponsesOk(log, label) {
  const bad = log.responses.filter(r => r.status < 200 || r.status > 299);
  check(bad.length === 0, `${label}: every DICOMweb response was 2xx (${log.responses.length} responses` +
    (bad.length ? `; failures: ${JSON.stringify(bad.slice(0, 5))})` : ')'));
  check(log.external.length === 0, `${label}: nothing fetched from outside Tessera (${log.external.slice(0, 3).join(', ')})`);
  check(log.errors.length === 0, `${label}: no failed requests or page errors (${log.errors.slice(0, 3).join('; ')})`);
}
