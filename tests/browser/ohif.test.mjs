// End-to-end browser test: Debian's chromium, headless, driven by playwright-core, against
// a running Tessera holding the study of make_study.py (run by tests/browser/run.sh).
//
// Environment: TESSERA_URL (the archive, serving the viewer at /viewer), TESSERA_VIEWER_ONLY_URL
// (a second Tessera serving only the viewer, its app-config pointing at TESSERA_URL: another
// origin), EXPECTED (expected.json), ARTIFACTS (folder for screenshots and timings).
// Exits non-zero with a message on the first failed check.

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, check, checksPassed, dicomResponsesOk, dismissNotices, expectCtSlice, expectMfFrame, expected,
  fail, launch, need, newPage as openPage, regionStats, shot, viewportState, waitFor, wheelSteps,
} from './support.mjs';

const BASE = need('TESSERA_URL');
const OTHER = need('TESSERA_VIEWER_ONLY_URL');
const timings = {};
const browser = await launch();
const newPage = name => openPage(browser, name, [BASE, OTHER]);

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
console.log(`browser test: ${checksPassed()} checks passed; screenshots in ${ARTIFACTS}`);
