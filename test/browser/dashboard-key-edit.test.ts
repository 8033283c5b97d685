// The dashboard's key edit form in Chromium: saving one changed field leaves every other setting as
// the admin API stored it. The form used to re-send all of them, an expiry cut to the minute (up to
// 59 s earlier) and models split at commas, so a model name holding a comma could not be kept.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser, signInToDashboard, withScreenshot, type Browser } from '../support/browser.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey } from '../support/key-support.js';

const COMMA_MODEL = 'vendor/model,v2';
const skip = browserUnavailable();
if (skip !== undefined) console.log(`# ${skip}`);

describe('dashboard key edit form in Chromium', { skip: skip ?? false }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let browser: Browser;
  let page: Page;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4'] });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    browser = await launchBrowser();
    page = await browser.page();
    await signInToDashboard(page, gateway.url, MASTER_KEY);
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Keys' }).waitFor();
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  async function stored(id: string): Promise<Record<string, unknown>> {
    const response = await callJson(gateway.url, 'GET', `/admin/keys/${id}`, MASTER_KEY);
    assert.equal(response.status, 200, response.text);
    return response.body;
  }

  /** Opens the key's row for editing (the list loads after the key was made through the API). */
  async function editKey(name: string): Promise<void> {
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.getByRole('row').filter({ hasText: name }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('heading', { level: 2, name: `Edit ${name}` }).waitFor();
  }

  async function saveAndWait(name: string, shows: string): Promise<void> {
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('row').filter({ hasText: name }).filter({ hasText: shows }).waitFor();
  }

  test('changing the budget keeps the expiry to the millisecond and a model name with a comma', async () => {
    await withScreenshot(page, 'key-edit-budget', async () => {
      // Seconds and milliseconds that a minute-wide input cannot show.
      const expires = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30 * 86_400_000 + 37_123).toISOString();
      const key = await createKey(gateway.url, { name: 'edit-budget', models: ['gpt-4', COMMA_MODEL], max_budget: 5, expires_at: expires });
      const before = await stored(key.id);
      assert.equal(before.expires_at, expires);

      await editKey('edit-budget');
      await page.getByLabel('Budget (USD)').fill('12');
      await saveAndWait('edit-budget', '$12');

      const after = await stored(key.id);
      assert.equal(after.max_budget, 12);
      assert.equal(after.expires_at, expires);
      assert.deepEqual(after.models, ['gpt-4', COMMA_MODEL]);
    });
  });

  test('models are one per line: an added name with a comma is kept whole, and a typed expiry keeps its seconds', async () => {
    await withScreenshot(page, 'key-edit-models', async () => {
      const key = await createKey(gateway.url, { name: 'edit-models', models: ['gpt-4'] });
      await editKey('edit-models');
      const models = page.getByLabel(/^Models/);
      await models.fill(`gpt-4\n${COMMA_MODEL}\n`);
      await page.getByLabel('Expires').fill('2031-01-02T03:04:05');
      await saveAndWait('edit-models', COMMA_MODEL);

      const after = await stored(key.id);
      assert.deepEqual(after.models, ['gpt-4', COMMA_MODEL]);
      // The page's local time, as the input means it.
      assert.equal(after.expires_at, await page.evaluate("new Date('2031-01-02T03:04:05').toISOString()"));

      // The form shows the stored list, one per line, and saving it untouched changes nothing.
      await editKey('edit-models');
      assert.equal(await models.inputValue(), `gpt-4\n${COMMA_MODEL}`);
      assert.equal(await page.getByLabel('Expires').inputValue(), '2031-01-02T03:04:05');
      await page.getByLabel('Requests / min').fill('7');
      await saveAndWait('edit-models', '7');
      assert.deepEqual((await stored(key.id)).models, ['gpt-4', COMMA_MODEL]);
    });
  });
});
