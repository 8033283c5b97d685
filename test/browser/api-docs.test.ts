// The API reference page (/docs) in Chromium (as dashboard.test.ts): keyed like the API, so a
// browser that has not signed in is refused, and one signed in to the dashboard at /ui opens it with
// the session cookie, the page fetching its document the same way and listing the operations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser, signInToDashboard, withScreenshot, type Browser } from '../support/browser.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const skip = browserUnavailable();
if (skip !== undefined) console.log(`# ${skip}`);

describe('API reference page in Chromium', { skip: skip ?? false }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let browser: Browser;
  let page: Page;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    browser = await launchBrowser();
    page = await browser.page();
    // Every Content-Security-Policy violation a page reports, by directive and what was blocked.
    await page.addInitScript(
      "window.__violations = []; document.addEventListener('securitypolicyviolation', (event) => window.__violations.push(event.effectiveDirective + ' ' + event.blockedURI));",
    );
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  test('not signed in: /docs is refused with a 401 that points to /ui', async () => {
    await withScreenshot(page, 'docs-refused', async () => {
      const response = await page.goto(`${gateway.url}/docs`);
      assert.equal(response?.status(), 401);
      const body = JSON.parse((await response?.text()) ?? '') as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'invalid_api_key');
      assert.match(body.error.message, /dashboard at \/ui/);
      assert.equal(await page.locator('.opblock').count(), 0);
    });
  });

  test('signed in at /ui: /docs opens in the same browser and lists the operations from /docs/json', async () => {
    await withScreenshot(page, 'docs-signed-in', async () => {
      await signInToDashboard(page, gateway.url, MASTER_KEY);

      const spec = page.waitForResponse((response) => new URL(response.url()).pathname === '/docs/json');
      const response = await page.goto(`${gateway.url}/docs`);
      assert.equal(response?.status(), 200);
      assert.equal((await spec).status(), 200);
      // Swagger UI renders one block per operation once it has the document.
      await page.locator('.opblock', { hasText: '/v1/chat/completions' }).first().waitFor();
      assert.ok((await page.locator('.opblock').count()) >= 30);
      assert.equal(await page.getByText('Failed to load API definition').count(), 0);
      // It renders under its Content-Security-Policy, which the browser enforces, and trips none of it.
      assert.match((await response?.allHeaders())?.['content-security-policy'] ?? '', /script-src 'self'/);
      assert.deepEqual(await page.evaluate('window.__violations'), []);
      // The document at its own address opens the same way.
      const document = await page.goto(`${gateway.url}/openapi.json`);
      assert.equal(document?.status(), 200);
      assert.deepEqual(browser.external, []);
    });
  });
});
