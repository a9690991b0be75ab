// End-to-end browser test of signing in: a Tessera started with --auth required, a real OpenID
// provider (scripts/test/oidc.sh: oidc-provider with test users), OHIF at /viewer and the built-in
// page at / (run by tests/browser/run.sh after ohif.test.mjs).
//
// Environment: TESSERA_AUTH_URL (the archive requiring sign-in, holding the study of make_study.py,
// serving the viewer, its pages signing in with the provider's public client), TESSERA_TEST_OIDC_ISSUER,
// TESSERA_TEST_OIDC_AUDIENCE, EXPECTED, ARTIFACTS. Exits non-zero on the first failed check.

import {
  check, checksPassed, dicomResponsesOk, dismissNotices, expectCtSlice, expected, fail, launch, need,
  newPage as openPage, shot, waitFor,
} from './support.mjs';

const BASE = need('TESSERA_AUTH_URL');
const ISSUER = need('TESSERA_TEST_OIDC_ISSUER');
const AUDIENCE = need('TESSERA_TEST_OIDC_AUDIENCE');
const USER = 'radiologist';
const PASSWORD = 'radiologist-pw';

const browser = await launch();
// Every page records, besides its DICOMweb responses, the Authorization header of each DICOMweb
// request it sends.
async function newPage(name) {
  const opened = await openPage(browser, name, [BASE, ISSUER]);
  opened.log.authorization = [];
  opened.page.on('request', r => {
    if (r.url().includes('/dicom-web/')) opened.log.authorization.push(r.headers().authorization || null);
  });
  return opened;
}
// Signing in leaves pages for the provider and back: the requests of a page left are aborted.
function dropAborted(log) {
  const kept = log.errors.filter(e => !e.endsWith('net::ERR_ABORTED'));
  log.errors.length = 0;
  log.errors.push(...kept);
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// Every DICOMweb request carried the same user's access token: a JWT for Tessera's audience,
// from the provider, with the user's roles.
function bearerOnEveryRequest(log, label) {
  const headers = log.authorization;
  check(headers.length > 0 && headers.every(h => h && h.startsWith('Bearer ')),
    `${label}: every one of ${headers.length} DICOMweb requests carried Authorization: Bearer`);
  const tokens = new Set(headers.map(h => h.slice('Bearer '.length)));
  const seen = [...tokens].map(claims);
  check(seen.every(c => c.sub === USER && c.iss === ISSUER && [].concat(c.aud).includes(AUDIENCE)),
    `${label}: the token is ${USER}'s access token from ${ISSUER} for ${AUDIENCE} ` +
    `(sub ${[...new Set(seen.map(c => c.sub))]}, roles ${JSON.stringify(seen[0].roles)})`);
}

// The provider's login form: fill it in and send it.
async function signInAtProvider(page, label) {
  await page.waitForURL(u => u.href.startsWith(`${ISSUER}/interaction/`), { timeout: 30000 })
    .catch(async () => { await shot(page, `${page.__name}-no-login`); fail(`${label}: not sent to the provider's login (at ${page.url()})`); });
  await page.fill('input[name=login]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
}

// ---------------------------------------------------------------------------------------------
console.log('1. without signing in: the archive answers 401, the pages show nothing of it');
{
  const r = await fetch(`${BASE}/dicom-web/studies`);
  check(r.status === 401 && /^Bearer\b/.test(r.headers.get('www-authenticate') || ''),
    `GET /dicom-web/studies without a token: ${r.status}, WWW-Authenticate ${r.headers.get('www-authenticate')}`);
  const health = await fetch(`${BASE}/healthz`);
  check(health.status === 200, `/healthz stays open (${health.status})`);

  const { page, log, context } = await newPage('auth-home-anonymous');
  await page.goto(`${BASE}/`);
  await page.locator('#sign-in-button').waitFor({ state: 'visible', timeout: 15000 })
    .catch(() => fail('the built-in page shows no sign-in button'));
  check(await page.locator('#app').isHidden(), 'home without signing in: the study list and search are hidden');
  check((await page.locator('tr.study').count()) === 0, 'home without signing in: no study is listed');
  check(log.authorization.length === 0, `home without signing in: no DICOMweb request was sent (${log.authorization.length})`);
  await shot(page, 'auth-home-anonymous');

  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${expected.study}`);
  await page.waitForURL(u => u.href.startsWith(`${ISSUER}/interaction/`), { timeout: 60000 })
    .catch(async () => { await shot(page, 'auth-viewer-anonymous'); fail(`OHIF without signing in did not go to the provider's login (at ${page.url()})`); });
  check(true, `OHIF without signing in: sent to the provider's login (${new URL(page.url()).pathname})`);
  check(await page.locator('input[name=login]').isVisible(), 'the provider shows its login form');
  const answered = log.responses.filter(x => x.status >= 200 && x.status < 300);
  check(answered.length === 0, `OHIF without signing in: no DICOMweb answer reached it (${log.responses.length} requests)`);
  await shot(page, 'auth-viewer-anonymous');
  await context.close();
}

console.log(`2. OHIF: signing in as ${USER}, the study list appears, the study opens and draws`);
{
  const { page, log, context } = await newPage('auth-ohif');
  await page.goto(`${BASE}/viewer/`);
  await signInAtProvider(page, 'OHIF');
  const row = page.locator('tr', { hasText: 'Browser, Tessera' }).first();
  await row.waitFor({ timeout: 60000 }).catch(async () => { await shot(page, 'auth-studylist-timeout'); fail(`OHIF study list did not show the patient after signing in (at ${page.url()})`); });
  check(new URL(page.url()).pathname.startsWith('/viewer'), `OHIF: back from the provider at ${new URL(page.url()).pathname}`);
  await dismissNotices(page);
  check((await row.textContent()).includes('Browser, Tessera'), 'OHIF study list after signing in: the row shows the patient');
  await shot(page, 'auth-ohif-study-list');
  bearerOnEveryRequest(log, 'OHIF study list');
  dropAborted(log);
  dicomResponsesOk(log, 'OHIF study list');

  // A deep link into the study: OHIF reloads, signs in again through the provider's session
  // (no form), comes back to the study and draws it.
  for (const key of ['responses', 'external', 'errors', 'authorization']) log[key].length = 0;
  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${expected.study}`);
  await waitFor(page, 'the viewport canvas', () => page.locator('canvas.cornerstone-canvas').count());
  await dismissNotices(page);
  await expectCtSlice(page, 'signed-in viewer');
  await shot(page, 'auth-ohif-viewer');
  check(new URL(page.url()).searchParams.get('StudyInstanceUIDs') === expected.study, 'OHIF: back at the deep link after signing in');
  bearerOnEveryRequest(log, 'OHIF viewer');
  dropAborted(log);
  dicomResponsesOk(log, 'OHIF viewer');
  check(log.responses.some(r => r.url.includes('/frames/')), `OHIF viewer: frames fetched with the token (${log.responses.filter(r => r.url.includes('/frames/')).length})`);
  await context.close();
}

console.log(`3. the built-in page: signing in as ${USER} lists the study with its thumbnail; signing out`);
{
  const { page, log, context } = await newPage('auth-home');
  await page.goto(`${BASE}/`);
  await page.click('#sign-in-button');
  await signInAtProvider(page, 'home');
  const row = page.locator(`tr.study[data-study="${expected.study}"]`);
  await row.waitFor({ timeout: 30000 }).catch(async () => {
    await shot(page, 'auth-home-timeout');
    fail(`the built-in page did not list the study after signing in (at ${page.url()}; ${await page.locator('#sign-in-error').textContent().catch(() => '')})`);
  });
  check(new URL(page.url()).search === '', `home: the code and state are gone from the address (${page.url()})`);
  check((await page.locator('#user').textContent()) === USER, `home: signed in as ${USER}`);
  check((await row.locator('.patient').textContent()) === 'Browser, Tessera', 'home after signing in: the row shows the patient name');
  check((await row.locator('.instances').textContent()) === String(expected.instances), `home after signing in: the row shows ${expected.instances} instances`);
  await waitFor(page, 'the thumbnail to load', () => row.locator('img').evaluate(img => img.complete && img.naturalWidth > 0));
  const [width, height, src] = await row.locator('img').evaluate(img => [img.naturalWidth, img.naturalHeight, img.src]);
  check(width > 0 && height > 0 && src.startsWith('blob:'), `home: the thumbnail, fetched with the token, shows (${width}x${height}, ${src.slice(0, 5)})`);
  await page.fill('#q', expected.patient_id);
  await page.click('#search button[type=submit]');
  await waitFor(page, 'the search by patient ID', async () => (await page.locator('#found').textContent()).startsWith('1 studies'));
  check(true, 'home: the search by patient ID finds the study');
  await shot(page, 'auth-home');
  bearerOnEveryRequest(log, 'home');
  dropAborted(log);
  dicomResponsesOk(log, 'home');

  // Signing out: the provider ends its session and sends the page back to the prompt.
  await page.click('#sign-out');
  await page.waitForURL(u => u.href.startsWith(ISSUER), { timeout: 15000 });
  const confirm = page.locator('button[name=logout][value=yes], button:has-text("Yes")').first();
  if (await confirm.isVisible().catch(() => false)) await confirm.click();
  await page.waitForURL(u => u.href.startsWith(BASE), { timeout: 15000 })
    .catch(() => fail(`signing out did not come back to the page (at ${page.url()})`));
  await page.locator('#sign-in-button').waitFor({ state: 'visible', timeout: 15000 })
    .catch(() => fail('after signing out the page does not ask to sign in'));
  check((await page.locator('tr.study').count()) === 0, 'home after signing out: only the sign-in prompt, no study');
  await page.click('#sign-in-button');
  await page.waitForURL(u => u.href.startsWith(`${ISSUER}/interaction/`), { timeout: 15000 })
    .catch(() => fail(`signing in again after signing out did not ask for the password (at ${page.url()})`));
  check(await page.locator('input[name=password]').isVisible(), 'signing in again after signing out asks for the password');
  await context.close();
}

await browser.close();
console.log(`browser auth test: ${checksPassed()} checks passed; screenshots in the artifacts folder`);
