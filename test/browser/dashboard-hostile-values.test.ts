// Stored XSS, as an attacker would try it: every value an API client or an upstream controls that
// the dashboard shows (a virtual key's name and models, the `model` and `user` a client sends, a
// model answer, a playground link's model) holds markup, and every view is opened in Chromium. Nothing may run, and nothing may become an element: the page's
// CSP would block an inline handler, so the test also looks for the elements themselves and for
// any CSP report (a handler that reached the DOM is reported even when it is blocked).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser, signInToDashboard, withScreenshot, type Browser } from '../support/browser.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey } from '../support/key-support.js';

const PAYLOADS = {
  img: '<img src=x onerror="window.__pwned=\'img\'">',
  svg: '"><svg onload="window.__pwned=\'svg\'">',
  script: '</td><script>window.__pwned="script"</script>',
  link: 'javascript:window.__pwned="link"//',
};
/** An upstream's model (an id holding markup is no safe model name: discovery drops it). */
const HOSTILE_MODEL = 'gpt-hostile';
const skip = browserUnavailable();
if (skip !== undefined) console.log(`# ${skip}`);

describe('dashboard with hostile stored values in Chromium', { skip: skip ?? false }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let browser: Browser;
  let page: Page;

  before(async () => {
    upstream = await startFakeOpenAi({
      apiKey: UPSTREAM_KEY,
      models: ['gpt-4', HOSTILE_MODEL],
      answer: () => PAYLOADS.img,
    });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    await gateway.app.services.discovery.refreshAll();
    const key = await createKey(gateway.url, { name: `${PAYLOADS.img}${PAYLOADS.svg}`, models: ['gpt-4', HOSTILE_MODEL, PAYLOADS.script, PAYLOADS.link] });
    assert.equal((await chat(gateway.url, key.key, { model: HOSTILE_MODEL, user: PAYLOADS.svg })).status, 200);
    assert.equal((await chat(gateway.url, key.key, { user: PAYLOADS.img })).status, 200);
    // A model nobody serves: refused (and not recorded).
    assert.notEqual((await chat(gateway.url, key.key, { model: PAYLOADS.script })).status, 200);
    assert.notEqual((await callJson(gateway.url, 'POST', '/v1/chat/completions', MASTER_KEY, { model: PAYLOADS.link, messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    browser = await launchBrowser();
    page = await browser.page();
    await page.addInitScript(
      "window.__violations = []; document.addEventListener('securitypolicyviolation', (event) => window.__violations.push(event.effectiveDirective + ' ' + event.blockedURI));",
    );
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  /** Nothing ran, nothing was reported, and no element came from a stored value. */
  async function assertInert(view: string): Promise<void> {
    assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined', view);
    assert.deepEqual(await page.evaluate('window.__violations'), [], view);
    const planted = await page.evaluate(
      "[...document.querySelectorAll('main img, main svg, main script, main iframe, [onerror], [onload], a[href^=\"javascript:\" i]')].map((element) => element.outerHTML.slice(0, 120))",
    );
    assert.deepEqual(planted, [], view);
  }

  async function go(view: string): Promise<void> {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: view }).waitFor();
  }

  test('every view shows the stored markup as text and runs none of it', async () => {
    await withScreenshot(page, 'hostile-values', async () => {
      await signInToDashboard(page, gateway.url, MASTER_KEY);
      await page.locator('[data-metric]').first().waitFor();
      await assertInert('overview');

      await go('Models');
      await page.getByLabel('Search').fill(HOSTILE_MODEL);
      await page.getByText(HOSTILE_MODEL).first().waitFor();
      await assertInert('models');

      await go('Keys');
      await page.getByRole('row').filter({ hasText: PAYLOADS.img }).filter({ hasText: PAYLOADS.link }).waitFor();
      await assertInert('keys');

      await go('Usage');
      for (const groupBy of ['key', 'model', 'provider']) {
        await page.getByLabel('Group by').selectOption(groupBy);
        await page.getByRole('table', { name: new RegExp(`Usage by ${groupBy}`) }).waitFor();
      }
      await page.getByLabel('Group by').selectOption('model');
      await page.getByRole('table', { name: /Usage by model/ }).getByText(HOSTILE_MODEL).waitFor();
      await page.getByRole('table', { name: /Usage records/ }).getByText(`${PAYLOADS.img}${PAYLOADS.svg}`).first().waitFor();
      await assertInert('usage');

      // A link another site could send: the model comes from the address.
      await page.goto(`${gateway.url}/ui#/playground?${new URLSearchParams({ model: PAYLOADS.svg }).toString()}`);
      await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
      assert.equal(await page.getByLabel('Model').inputValue(), PAYLOADS.svg);
      await page.getByLabel('Model').fill(HOSTILE_MODEL);
      await page.getByLabel('Message').fill('hello');
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('[data-role="assistant"] .text', { hasText: '<img src=x' }).waitFor();
      await assertInert('playground');
      assert.deepEqual(browser.external, []);
    });
  });
});
