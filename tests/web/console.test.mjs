// Browser test of the Monban web console.
//
// Starts `monban demo` on a free port with a fresh data directory, then drives Debian's Chromium
// (/usr/bin/chromium) through playwright-core. No browser is downloaded.
//
//   cd tests/web && npm ci && MONBAN_BIN=/path/to/target/debug/monban npm test
//
// Optional: MONBAN_ARTIFACTS_DIR (where screenshots go; default: the OS temp dir),
//           CHROMIUM_PATH (default /usr/bin/chromium).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STARTUP_TIMEOUT_MS = 60_000;
const LIVE_TIMEOUT_MS = 30_000;
const ARTIFACTS_DIR = process.env.MONBAN_ARTIFACTS_DIR || os.tmpdir();

let demo = null; // ChildProcess
let demoOutput = ''; // everything the demo printed, for failure messages
let dataDir = null;
let baseUrl = null;
let login = null; // { username, password }
let browser = null;

function stripAnsi(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}

function tail(s, n = 4000) {
  return s.length > n ? '…' + s.slice(-n) : s;
}

// Starts the demo and resolves once it has printed its URL and login.
function startDemo(bin) {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'monban-web-test-'));
  const child = spawn(bin, ['demo', '--bind', '127.0.0.1:0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  demo = child;
  return new Promise((resolve, reject) => {
    let url = null;
    let creds = null;
    let buffer = '';
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      finish(
        new Error(
          `monban demo did not print "URL: …" and "ログイン / login: …" within ${STARTUP_TIMEOUT_MS / 1000} s.\n` +
            `Output so far:\n${tail(demoOutput)}`,
        ),
      );
    }, STARTUP_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      demoOutput += chunk;
      buffer += chunk;
      const lines = buffer.split(/\r?\n/);
      buffer = lines.pop();
      for (const raw of lines) {
        const line = stripAnsi(raw);
        const u = line.match(/URL:\s*(https?:\/\/\S+)/);
        if (u && !url) url = u[1].endsWith('/') ? u[1] : u[1] + '/';
        const l = line.match(/login: (\S+) \/ (\S+)/);
        if (l && !creds) creds = { username: l[1], password: l[2] };
      }
      if (url && creds) finish(null, { url, creds });
    });
    child.stderr.on('data', (chunk) => {
      demoOutput += chunk;
    });
    child.on('error', (err) => finish(new Error(`cannot start ${bin}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      finish(new Error(`monban demo exited early (code ${code}, signal ${signal}).\nOutput:\n${tail(demoOutput)}`));
    });
  });
}

// SIGTERM, then SIGKILL after 5 s.
async function stopDemo() {
  const child = demo;
  demo = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => {
    const killTimer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, 5_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      clearTimeout(killTimer);
      resolve();
    }
  });
}

// A fresh browser context and page that records script errors and CSP violations.
async function newPage() {
  const context = await browser.newContext({
    viewport: { width: 1366, height: 900 },
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content[- ]Security[- ]Policy/i.test(text)) problems.push(`CSP: ${text}`);
  });
  return { context, page, problems };
}

async function maxEventId(page) {
  return page.$$eval('#event-feed .event-row', (rows) =>
    rows.reduce((m, r) => Math.max(m, Number(r.getAttribute('data-event-id')) || 0), 0),
  );
}

async function apiStatus(page, path) {
  return page.evaluate(async (p) => (await fetch(p, { credentials: 'same-origin' })).status, path);
}

describe('Monban web console', () => {
  before(
    async () => {
      const bin = process.env.MONBAN_BIN;
      assert.ok(
        bin,
        'Set MONBAN_BIN to the built monban binary, e.g. MONBAN_BIN=/path/to/target/debug/monban node --test',
      );
      assert.ok(existsSync(bin), `MONBAN_BIN=${bin} does not exist`);
      assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
      const started = await startDemo(bin);
      baseUrl = started.url;
      login = started.creds;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    },
    { timeout: STARTUP_TIMEOUT_MS + 30_000 },
  );

  after(
    async () => {
      if (browser) {
        await browser.close().catch(() => {});
        browser = null;
      }
      await stopDemo();
      if (dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        dataDir = null;
      }
    },
    { timeout: 30_000 },
  );

  test('login, presence, live events, language switch and logout', { timeout: 120_000 }, async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(baseUrl);

      // Japanese login form by default.
      const form = page.locator('#login-form');
      await form.waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await page.getAttribute('html', 'lang'), 'ja');
      assert.match(await page.locator('#view-login').innerText(), /ログイン/);
      assert.match(await page.locator('label[for="username"]').innerText(), /ユーザー名/);
      assert.match(await page.locator('label[for="password"]').innerText(), /パスワード/);

      // Log in with the printed credentials.
      await page.fill('#username', login.username);
      await page.fill('#password', login.password);
      await page.click('#login-form button[type="submit"]');

      // Presence cards and the initial events.
      await page.locator('#presence .zone-card').first().waitFor({ state: 'visible', timeout: LIVE_TIMEOUT_MS });
      await page.locator('#event-feed .event-row').first().waitFor({ state: 'visible', timeout: LIVE_TIMEOUT_MS });
      assert.ok(await form.isHidden(), 'the login form is hidden after logging in');
      assert.ok(await page.locator('#logout').isVisible(), 'the logout button is shown');
      assert.match(await page.locator('#presence-title').innerText(), /在室状況/);

      const zoneIds = await page.$$eval('#presence .zone-card', (cards) => cards.map((c) => c.getAttribute('data-zone-id')));
      assert.ok(zoneIds.length > 0 && zoneIds.every((id) => /^\d+$/.test(id)), `zone cards carry data-zone-id: ${zoneIds}`);

      // A newer event arrives over SSE after the first ones.
      const firstMax = await maxEventId(page);
      assert.ok(firstMax > 0, 'event rows carry a numeric data-event-id');
      await page.waitForFunction(
        (max) =>
          Array.from(document.querySelectorAll('#event-feed .event-row')).some(
            (r) => Number(r.getAttribute('data-event-id')) > max,
          ),
        firstMax,
        { timeout: LIVE_TIMEOUT_MS },
      );
      // Newest first.
      const ids = await page.$$eval('#event-feed .event-row', (rows) => rows.map((r) => Number(r.getAttribute('data-event-id'))));
      assert.ok(ids[0] > firstMax, 'the live event is at the top of the feed');
      assert.ok(ids.length <= 200, 'the feed keeps at most 200 rows');
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'the feed is ordered newest first');
      assert.match(await page.locator('#conn-text').innerText(), /接続中/);
      assert.match(await page.locator('#event-feed .event-row .result-badge').first().innerText(), /^(許可|拒否)$/);

      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'console-ja.png'), fullPage: true });

      // Switch to English.
      await page.click('#lang-toggle');
      await page.waitForFunction(() => document.documentElement.lang === 'en');
      assert.match(await page.locator('#presence-title').innerText(), /Presence/);
      assert.match(await page.locator('#logout').innerText(), /Log out/);
      assert.match(await page.locator('#event-feed .event-row .result-badge').first().innerText(), /^(Granted|Denied)$/);
      assert.match(await page.locator('#event-feed .event-row .ev-dir').first().innerText(), /^(Entry|Exit)$/);

      const shot = path.join(ARTIFACTS_DIR, 'console.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot), `screenshot written to ${shot}`);

      // Log out: back to the login form, and the session is gone.
      await page.click('#logout');
      await form.waitFor({ state: 'visible', timeout: 15_000 });
      assert.ok(await page.locator('#view-main').isHidden(), 'the main screen is hidden after logout');
      assert.equal(await apiStatus(page, '/api/auth/me'), 401, 'the session ended');

      // The language choice is remembered.
      await page.reload();
      await form.waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      assert.match(await page.locator('#view-login').innerText(), /Log in/);

      assert.deepEqual(problems, [], 'no script errors or Content-Security-Policy violations');
    } finally {
      await context.close();
    }
  });

  test('a wrong password shows an error in the form and does not log in', { timeout: 60_000 }, async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(baseUrl);
      const form = page.locator('#login-form');
      await form.waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await page.getAttribute('html', 'lang'), 'ja');

      await page.fill('#username', login.username);
      await page.fill('#password', `${login.password}-wrong`);
      await page.click('#login-form button[type="submit"]');

      const error = page.locator('#login-error');
      await error.waitFor({ state: 'visible', timeout: 15_000 });
      const text = (await error.innerText()).trim();
      assert.ok(text.length > 0, 'an error message is shown');
      assert.match(text, /パスワード/, `the message is in Japanese: ${text}`);
      assert.ok(!text.includes(' / '), `only the Japanese half of the bilingual detail is shown: ${text}`);
      assert.ok(await form.isVisible(), 'the login form stays');
      assert.ok(await page.locator('#view-main').isHidden(), 'the main screen is not shown');
      assert.equal(await page.inputValue('#username'), login.username, 'the username is kept');
      assert.equal(await apiStatus(page, '/api/auth/me'), 401, 'not logged in');

      // The message follows the language switch.
      await page.click('#lang-toggle');
      await page.waitForFunction(() => document.documentElement.lang === 'en');
      assert.match(await error.innerText(), /password/i);

      assert.deepEqual(problems, [], 'no script errors or Content-Security-Policy violations');
    } finally {
      await context.close();
    }
  });
});
