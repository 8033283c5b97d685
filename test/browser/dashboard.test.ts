// The admin dashboard (issue #10) in a real browser: Debian's Chromium driven by playwright-core,
// against the real gateway in front of the fake OpenAI upstream. One browser for the whole file;
// the steps build on each other (sign in, create a key, use it, see it, revoke it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { CONTENT_SECURITY_POLICY } from '../../src/http/routes/ui.js';
import { browserUnavailable, launchBrowser, waitUntil, withScreenshot, type Browser } from '../support/browser.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat } from '../support/key-support.js';

/** The upstream lists this many models besides its own few: the catalog pages must stay quick. */
const LISTED_MODELS = 5_000;
const XSS = '<script>window.__xss = "script"; alert(1)</script><img src="x" onerror="window.__xss = \'img\'; alert(2)">';
const skip = browserUnavailable();
if (skip !== undefined) console.log(`# ${skip}`);

describe('admin dashboard in Chromium', { skip: skip ?? false }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let browser: Browser;
  let page: Page;
  let base: string;
  /** The key made through the page. */
  let created: { id: string; key: string };
  /** Console reports of anything the Content-Security-Policy blocked, over the whole file. */
  const violations: string[] = [];

  before(async () => {
    const models = ['gpt-4', 'gpt-4o-mini', ...Array.from({ length: LISTED_MODELS }, (_, index) => `listed-model-${String(index).padStart(5, '0')}`)];
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models, answer: (body) => (JSON.stringify(body).includes('xss-probe') ? XSS : undefined) });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    await gateway.app.services.discovery.refreshAll();
    base = gateway.url;
    browser = await launchBrowser();
    page = await browser.page();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  async function signIn(target: Page, key: string): Promise<void> {
    await target.goto(`${base}/ui`);
    await target.getByLabel('Master key').fill(key);
    await target.getByRole('button', { name: 'Sign in' }).click();
  }

  async function go(view: string): Promise<void> {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: view }).waitFor();
  }

  test('the page arrives with its strict CSP and loads nothing from outside', async () => {
    await withScreenshot(page, 'csp', async () => {
      const response = await page.goto(`${base}/ui`);
      assert.equal(response?.status(), 200);
      const headers = (await response?.allHeaders()) ?? {};
      assert.equal(headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      await page.getByLabel('Master key').waitFor();
      // The page's own scripts ran under the policy (the sign-in form is theirs) without tripping it.
      assert.deepEqual(violations, []);
      assert.deepEqual(browser.external, []);
    });
  });

  test('a wrong master key is refused, in the page and by the API', async () => {
    await withScreenshot(page, 'wrong-key', async () => {
      await signIn(page, 'sk-not-the-master-key');
      await page.getByText('This is not the master key.').waitFor();
      assert.equal(await page.getByRole('navigation').isVisible(), false);
      // A client key is not the master key either.
      const asClient = await callJson(base, 'POST', '/ui/session', undefined, { master_key: 'your-api-key' });
      assert.equal(asClient.status, 401);
      assert.equal((await callJson(base, 'GET', '/admin/keys', undefined)).status, 401);
    });
  });

  test('signing in makes an HttpOnly session; the key is in no URL or storage; the cookie alone opens nothing', async () => {
    await withScreenshot(page, 'sign-in', async () => {
      const answer = page.waitForResponse((response) => response.url().endsWith('/ui/session') && response.request().method() === 'POST');
      await signIn(page, MASTER_KEY);
      const setCookie = (await (await answer).allHeaders())['set-cookie'] ?? '';
      assert.match(setCookie, /^llmp_ui=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      assert.ok(!page.url().includes(MASTER_KEY));
      // Page code runs as strings: the test build has no DOM types.
      const stored = String(await page.evaluate('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })'));
      assert.ok(!stored.includes(MASTER_KEY), stored);
      assert.ok(!stored.includes('llmp_ui'), 'the session cookie is HttpOnly');
      assert.equal(await page.getByLabel('Master key').inputValue(), '');

      const cookie = (await browser.context.cookies(base)).find((item) => item.name === 'llmp_ui');
      assert.ok(cookie !== undefined && cookie.httpOnly && cookie.sameSite === 'Strict');
      // What a cross-site form or image would send: the cookie without the CSRF header (more in dashboard-http.test.ts).
      assert.equal((await fetch(`${base}/admin/keys`, { headers: { cookie: `llmp_ui=${cookie.value}` } })).status, 401);
    });
  });

  test('a key created in the page is shown once and works for a chat', async () => {
    await withScreenshot(page, 'create-key', async () => {
      await go('Keys');
      await page.getByLabel('Name').fill('browser <b>key</b>');
      await page.getByLabel('Requests / min').fill('100');
      await page.getByRole('button', { name: 'Create key' }).click();
      const secret = page.locator('input[data-new-key]');
      await secret.waitFor();
      const key = await secret.inputValue();
      assert.match(key, /^sk-gw_[0-9a-f]{16}_/);
      created = { id: key.slice(6, 22), key };
      await page.getByText('It is shown only this once').waitFor();
      // The name is shown as typed, markup and all, and the list never holds the secret.
      const row = page.getByRole('row').filter({ hasText: 'browser <b>key</b>' });
      await row.waitFor();
      assert.ok(!(await page.locator('table').innerText()).includes(key));
      await page.getByRole('button', { name: 'Done' }).click();
      assert.equal(await secret.count(), 0);

      const answer = await chat(base, key, { messages: [{ role: 'user', content: 'hello from the dashboard test' }] });
      assert.equal(answer.status, 200, answer.text);

      // Edit: the limit changes in the list.
      await row.getByRole('button', { name: 'Edit' }).click();
      await page.getByLabel('Requests / min').fill('250');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('row').filter({ hasText: 'browser <b>key</b>' }).filter({ hasText: '250' }).waitFor();
    });
  });

  test('the request appears in usage (by key and model) and in the overview', async () => {
    await withScreenshot(page, 'usage', async () => {
      await go('Usage');
      await page.getByLabel('Group by').selectOption('key');
      const groups = page.getByRole('table', { name: /Usage by key/ });
      await groups.getByRole('row').filter({ hasText: 'browser <b>key</b>' }).waitFor();
      const records = page.getByRole('table', { name: 'Usage records' });
      await records.getByRole('row').filter({ hasText: 'gpt-4' }).filter({ hasText: 'browser <b>key</b>' }).first().waitFor();

      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export CSV' }).click();
      const file = await download;
      const path = await file.path();
      const { readFileSync } = await import('node:fs');
      const csv = readFileSync(path, 'utf8');
      assert.match(csv, /^date,key_id,model,requests,/);
      assert.ok(csv.includes(`,${created.id},gpt-4,1,`), csv);

      await go('Overview');
      const requests = page.locator('[data-metric="requests"] .value');
      await requests.waitFor();
      assert.ok(Number((await requests.innerText()).replace(/,/g, '')) >= 1);
      const figure = page.locator('[data-chart="requests"]');
      await figure.locator('canvas').first().waitFor();
      assert.ok(Number(await figure.getAttribute('data-total')) >= 1);
      // The chart's data table names the bucket with the request.
      await figure.getByText('Data table').click();
      const cells = await figure.locator('details tbody tr').first().locator('td').allInnerTexts();
      assert.ok(Number(cells[1]) >= 1, cells.join('|'));
      await page.getByRole('table', { name: 'Provider health from live traffic' }).getByRole('row').filter({ hasText: 'openai' }).waitFor();
    });
  });

  test('model search uses the API’s search and filters, one page at a time over 5,000 models', async () => {
    await withScreenshot(page, 'models', async () => {
      await go('Models');
      const table = page.getByRole('table', { name: /Models matching/ });
      await table.waitFor();
      const total = Number((await page.locator('.pager .muted').innerText()).replace(/^.* of /, '').replace(/,/g, ''));
      assert.ok(total > LISTED_MODELS, String(total));
      assert.equal(await table.locator('tbody tr').count(), 50);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.locator('.pager .muted').getByText(`51–100 of ${total.toLocaleString('en-US')}`).waitFor();
      const started = Date.now();
      await page.getByLabel('Search').fill('listed-model-04321');
      await table.getByRole('row').filter({ hasText: 'listed-model-04321' }).waitFor();
      assert.equal(await table.locator('tbody tr').count(), 1);
      // Typing pauses 200 ms before searching; the search and the render are the rest.
      assert.ok(Date.now() - started < 2_000, `search took ${Date.now() - started} ms`);
      await page.getByLabel('Search').fill('gpt-4o-mini');
      await table.getByRole('row').filter({ hasText: 'gpt-4o-mini' }).first().waitFor();
      await waitUntil(page, "[...document.querySelectorAll('tbody tr')].every((row) => row.textContent.includes('gpt-4o-mini'))");
      await page.getByLabel('Search').fill('no-such-model-anywhere');
      await page.getByText('No model matches.').waitFor();
      await page.getByLabel('Search').fill('');
      const filtered = page.waitForResponse((response) => response.url().includes('supports_chat=true') && response.url().includes('sort=-context_length'));
      await page.getByLabel('Sort').selectOption('-context_length');
      await page.getByLabel('Chat models only').check();
      const { count } = (await (await filtered).json()) as { count: number };
      assert.ok(count > 1);
      await table.getByText(`Models matching the filters (${count.toLocaleString('en-US')})`).waitFor();
      await waitUntil(page, `document.querySelector('.pager .muted')?.textContent === '1–${Math.min(50, count)} of ${count.toLocaleString('en-US')}'`);
      const contexts = (await table.locator('tbody tr td:nth-child(3)').allInnerTexts()).map((text) => Number(text.replace(/,/g, '')) || 0);
      assert.ok(contexts.length > 1);
      assert.deepEqual(contexts, [...contexts].sort((a, b) => b - a));

      // Price and deprecation filters narrow the same list, still sorted.
      const cheap = page.waitForResponse((response) => response.url().includes('max_input_cost=0.001') && response.url().includes('deprecated=false'));
      await page.getByLabel('Hide deprecated').check();
      await page.getByLabel('Max input $/1K').fill('0.001');
      const narrowed = (await (await cheap).json()) as { count: number };
      assert.ok(narrowed.count > 0 && narrowed.count < count, `${narrowed.count} of ${count}`);
      await table.getByText(`Models matching the filters (${narrowed.count.toLocaleString('en-US')})`).waitFor();
      const prices = (await table.locator('tbody tr td:nth-child(5)').allInnerTexts()).map((text) => Number(text.replace('$', '')));
      assert.ok(prices.every((price) => price <= 0.001), prices.join(' '));
      assert.ok(!(await table.locator('tbody').innerText()).includes('(deprecated)'));
    });
  });

  test('the playground streams an answer from a routable model', async () => {
    await withScreenshot(page, 'playground', async () => {
      await go('Playground');
      await page.getByLabel('Model').fill('gpt-4');
      await page.getByLabel('Message').fill('stream this please');
      upstream.enqueue({ kind: 'slow-stream', delayMs: 120 });
      await page.getByRole('button', { name: 'Send' }).click();
      const answer = page.locator('[data-role="assistant"] .text').last();
      // Mid-stream: some words are there, the last is not yet, and Stop is offered.
      await waitUntil(page, `(() => {
        const text = [...document.querySelectorAll('[data-role="assistant"] .text')].pop()?.textContent ?? '';
        return text.length > 0 && !text.includes('please');
      })()`);
      assert.equal(await page.getByRole('button', { name: 'Stop' }).isEnabled(), true);
      await page.locator('[data-stats]').getByText(/completion tokens/).waitFor();
      assert.equal(await answer.innerText(), 'Hello from the fake upstream. You said: stream this please');
      assert.equal(await page.getByRole('button', { name: 'Stop' }).isEnabled(), false);
    });
  });

  test('a model answer holding <script> and <img onerror> is shown as text and never runs', async () => {
    await withScreenshot(page, 'xss', async () => {
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.getByLabel('Message').fill('xss-probe');
      await page.getByRole('button', { name: 'Send' }).click();
      const answer = page.locator('[data-role="assistant"] .text').last();
      await page.locator('[data-role="assistant"] .text', { hasText: '<img src="x"' }).waitFor();
      assert.equal(await answer.innerText(), XSS);
      await page.waitForTimeout(300);
      assert.equal(await page.locator('[data-transcript] img, [data-transcript] script').count(), 0);
      assert.equal(await page.evaluate('typeof window.__xss'), 'undefined');
      assert.deepEqual(dialogs, []);
      // Not even blocked by the CSP: the answer was never parsed as HTML, so nothing tried to run.
      assert.deepEqual(violations, []);
    });
  });

  test('revoking the key in the page refuses it at once', async () => {
    await withScreenshot(page, 'revoke', async () => {
      await go('Keys');
      const row = page.getByRole('row').filter({ hasText: 'browser <b>key</b>' });
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await page.getByRole('row').filter({ hasText: 'browser <b>key</b>' }).filter({ hasText: 'revoked' }).waitFor();
      const refused = await chat(base, created.key);
      assert.ok(refused.status === 401 || refused.status === 403, refused.text);
    });
  });

  test('keyboard and phone width: sections are reachable by Tab, nothing overflows at 390 px', async () => {
    await withScreenshot(page, 'a11y', async () => {
      await page.goto(`${base}/ui#/overview`);
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      // From the top of the page (the skip link), Tab walks the sections in order; Enter opens one.
      await page.locator('a.skip').focus();
      const reached: string[] = [];
      for (let step = 0; step < 6; step++) {
        await page.keyboard.press('Tab');
        reached.push(String(await page.evaluate('document.activeElement.textContent.trim()')));
      }
      assert.deepEqual(reached, ['Overview', 'Models', 'Keys', 'Usage', 'Playground', 'Sign out']);
      // The focus ring is drawn (the :focus-visible outline).
      await page.keyboard.press('Shift+Tab');
      assert.notEqual(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle'), 'none');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
      assert.equal(await page.evaluate('document.activeElement.id'), 'view');

      const phone = await browser.page(390, 844);
      try {
        for (const view of ['overview', 'models', 'keys', 'usage', 'playground']) {
          await phone.goto(`${base}/ui#/${view}`);
          await phone.locator('#content h1').waitFor();
          await phone.waitForTimeout(150);
          const width = Number(await phone.evaluate('document.documentElement.scrollWidth'));
          assert.ok(width <= 392, `${view} is ${width}px wide at 390px`);
        }
      } finally {
        await phone.close();
      }
      assert.deepEqual(browser.external, []);
    });
  });

  test('signing out ends the session on the server', async () => {
    await withScreenshot(page, 'sign-out', async () => {
      const cookie = (await browser.context.cookies(base)).find((item) => item.name === 'llmp_ui');
      assert.ok(cookie !== undefined);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Master key').waitFor();
      assert.equal((await fetch(`${base}/ui/session`, { headers: { cookie: `llmp_ui=${cookie.value}` } })).status, 401);
    });
  });
});
