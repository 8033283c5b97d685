// The dashboard keeps what it shows and what it asks for in step (Chromium, as dashboard.test.ts):
// the usage pagers page through the filters of the results shown, not filters typed but not applied.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser, withScreenshot, type Browser } from '../support/browser.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { usageRecord } from '../support/usage-fixture.js';

/** More models than one page of groups (25) and more records than one page of records. */
const MODELS = 40;
const skip = browserUnavailable();
if (skip !== undefined) console.log(`# ${skip}`);

describe('dashboard state in Chromium', { skip: skip ?? false }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let browser: Browser;
  let page: Page;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    // No retries: a failure the test queues reaches the page.
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' }, { configure: (config) => void (config.routing.retries = 0) });
    const now = Date.now();
    const seeded = Array.from({ length: MODELS }, (_, index) => usageRecord(`seed-${index}`, 'master', `model-${String(index).padStart(2, '0')}`, now - (index + 1) * 60_000));
    await gateway.app.services.store.usage.insertBatch(seeded);
    browser = await launchBrowser();
    page = await browser.page();
    await page.goto(`${gateway.url}/ui`);
    await page.getByLabel('Master key').fill(MASTER_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  async function go(view: string): Promise<void> {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: view }).waitFor();
  }

  test('usage pagers keep the applied filters when a filter was typed but not applied', async () => {
    await withScreenshot(page, 'usage-pager-filters', async () => {
      await go('Usage');
      const groups = page.getByRole('table', { name: `Usage by model (${MODELS} groups)` });
      await groups.waitFor();
      const pagers = page.locator('.pager');
      await pagers.first().getByText(`1–25 of ${MODELS}`).waitFor();

      // Typed, not applied: the results shown are still for every model.
      await page.getByLabel('Model').fill('model-07');
      const nextGroups = page.waitForResponse((response) => response.url().includes('/admin/usage/summary') && response.url().includes('offset=25'));
      await pagers.first().getByRole('button', { name: 'Next' }).click();
      assert.ok(!(await nextGroups).url().includes('model='), (await nextGroups).url());
      await pagers.first().getByText(`26–${MODELS} of ${MODELS}`).waitFor();
      assert.equal(await groups.locator('tbody tr').count(), MODELS - 25);

      const older = page.waitForResponse((response) => response.url().includes('/admin/usage/records') && response.url().includes('before='));
      await pagers.nth(1).getByRole('button', { name: 'Older' }).click();
      assert.ok(!(await older).url().includes('model='), (await older).url());
      await pagers.nth(1).getByText('Page 2').waitFor();
      assert.equal(await page.getByRole('table', { name: 'Usage records' }).locator('tbody tr').count(), MODELS - 25);

      // Applied, the filter holds for the pages too.
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByRole('table', { name: 'Usage by model (1 groups)' }).waitFor();
    });
  });
});
