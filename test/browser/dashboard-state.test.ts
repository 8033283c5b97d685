// The dashboard keeps what it shows and what it asks for in step (Chromium, as dashboard.test.ts):
// the usage pagers and the CSV export use the filters of the results shown, not filters typed but
// not applied, an older answer arriving after a newer one is not shown over it, and a page that
// fails to load says so and leaves the results shown;
// the playground sends exactly the conversation it shows, a failed question marked and left out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser, signInToDashboard, waitUntil, withScreenshot, type Browser } from '../support/browser.js';
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
    await signInToDashboard(page, gateway.url, MASTER_KEY);
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

  test('usage: an answer that arrives after a newer Apply is not shown; Export CSV exports the applied filters, not those typed since', async () => {
    await withScreenshot(page, 'usage-response-race', async () => {
      await go('Overview');
      // The page's first answers (every model) are held until the answers to a later Apply are shown.
      const held: Array<() => Promise<void>> = [];
      const hold = /\/admin\/usage\/(?:summary|records|timeseries)\?/;
      await page.route(hold, async (route) => {
        if (route.request().url().includes('model=') || held.length === 3) return route.continue();
        const response = await route.fetch();
        // The page may have given up on it (aborted) by the time it is released.
        held.push(() => route.fulfill({ response }).catch(() => undefined));
      });
      try {
        await go('Usage');
        while (held.length < 3) await new Promise((resolve) => setTimeout(resolve, 25));
        await page.getByLabel('Model').fill('model-07');
        await page.getByRole('button', { name: 'Apply' }).click();
        const groups = page.getByRole('table', { name: 'Usage by model (1 groups)' });
        await groups.waitFor();
        const records = page.getByRole('table', { name: 'Usage records' });
        await waitUntil(page, `document.querySelector('[data-chart="usage-requests"]')?.getAttribute('data-total') === '1'`);
        assert.equal(await records.locator('tbody tr').count(), 1);

        // The older answers arrive last: what is shown stays the newer one.
        await Promise.all(held.map((release) => release()));
        await page.waitForTimeout(300);
        assert.equal(await page.getByRole('table', { name: `Usage by model (${MODELS} groups)` }).count(), 0);
        assert.equal(await groups.locator('tbody tr').count(), 1);
        assert.equal(await records.locator('tbody tr').count(), 1);
        assert.equal(await page.locator('[data-chart="usage-requests"]').getAttribute('data-total'), '1');
        assert.match(await page.locator('section.panel > p[aria-live]').innerText(), /^1 requests/);
      } finally {
        await page.unroute(hold);
      }

      // Typed, not applied: the export is of model-07, as shown.
      await page.getByLabel('Model').fill('model-12');
      const exported = page.waitForRequest((request) => request.url().includes('format=csv'));
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export CSV' }).click();
      const url = (await exported).url();
      assert.ok(url.includes('model=model-07') && !url.includes('model-12'), url);
      const { readFileSync } = await import('node:fs');
      const csv = readFileSync(await (await download).path(), 'utf8');
      assert.ok(csv.includes(',model-07,') && !csv.includes('model-12'), csv);
    });
  });

  test('usage pagers: a page that fails to load says why in the status line and leaves the results and the pager as they were', async () => {
    await withScreenshot(page, 'usage-pager-failure', async () => {
      const pageErrors: Error[] = [];
      const onPageError = (error: Error) => void pageErrors.push(error);
      page.on('pageerror', onPageError);
      // Next of the groups and Older of the records answer 500, as the gateway's error handler writes it.
      const failing = /\/admin\/usage\/(?:summary\?.*offset=25|records\?.*before=)/;
      await page.route(failing, (route) =>
        route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { message: 'usage store unavailable', type: 'server_error', param: null, code: 'internal_error' } }) }),
      );
      try {
        await go('Overview');
        await go('Usage');
        const status = page.locator('section.panel > p[aria-live]');
        const groups = page.getByRole('table', { name: `Usage by model (${MODELS} groups)` });
        const records = page.getByRole('table', { name: 'Usage records' });
        const pagers = page.locator('.pager');
        await pagers.first().getByText(`1–25 of ${MODELS}`).waitFor();
        await pagers.nth(1).getByText('Page 1').waitFor();
        const totals = await status.innerText();
        assert.match(totals, new RegExp(`^${MODELS} requests`));
        const firstModels = await groups.locator('tbody tr').allInnerTexts();
        const firstRecords = await records.locator('tbody tr').allInnerTexts();

        for (const [pager, name] of [[pagers.first(), 'Next'], [pagers.nth(1), 'Older']] as const) {
          const failed = page.waitForResponse((response) => failing.test(response.url()));
          await pager.getByRole('button', { name }).click();
          assert.equal((await failed).status(), 500);
          await waitUntil(page, `document.querySelector('section.panel > p[aria-live]').textContent.includes('usage store unavailable')`);
          assert.deepEqual(pageErrors.map(String), [], name);
          assert.deepEqual(await groups.locator('tbody tr').allInnerTexts(), firstModels, name);
          assert.deepEqual(await records.locator('tbody tr').allInnerTexts(), firstRecords, name);
          assert.match(await pagers.first().innerText(), new RegExp(`1–25 of ${MODELS}`), name);
          assert.match(await pagers.nth(1).innerText(), /Page 1/, name);
        }

        // Once the request succeeds, the page turns and the status line shows the totals again.
        await page.unroute(failing);
        await pagers.nth(1).getByRole('button', { name: 'Older' }).click();
        await pagers.nth(1).getByText('Page 2').waitFor();
        assert.equal(await status.innerText(), totals);
        await page.waitForTimeout(100);
        assert.deepEqual(pageErrors.map(String), []);
      } finally {
        await page.unroute(failing);
        page.off('pageerror', onPageError);
      }
    });
  });

  /** The transcript as shown: role and text of each bubble, and whether it is marked failed. */
  async function transcript(): Promise<Array<{ role: string; content: string; failed: boolean }>> {
    // Page code as a string, as in dashboard.test.ts: the test build has no DOM types.
    return (await page.evaluate(
      "[...document.querySelectorAll('[data-transcript] [data-role]')].map((bubble) => ({ role: bubble.getAttribute('data-role'), content: bubble.querySelector('.text').textContent, failed: bubble.hasAttribute('data-failed') }))",
    )) as Array<{ role: string; content: string; failed: boolean }>;
  }

  /** The messages of the last chat request the upstream received. */
  function lastSent(): Array<{ role: string; content: string }> {
    const chats = upstream.requests.filter((request) => request.path.endsWith('/chat/completions'));
    return ((chats[chats.length - 1]?.body?.messages ?? []) as Array<{ role: string; content: string }>).map(({ role, content }) => ({ role, content }));
  }

  /** Sends a message from the playground and waits until its answer (or failure) is in. */
  async function ask(text: string): Promise<void> {
    const asked = (await page.locator('[data-transcript] [data-role="user"]').count()) + 1;
    await page.getByLabel('Message').fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
    // The question's bubble and the disabled Send come in the same task; Send is enabled again once the call is over.
    await waitUntil(page, `document.querySelectorAll('[data-transcript] [data-role="user"]').length === ${asked} && !document.querySelector('[data-transcript] ~ form button[type="submit"]').disabled`);
  }

  const answered = (text: string) => `Hello from the fake upstream. You said: ${text}`;
  const shownSent = async () => (await transcript()).filter((bubble) => !bubble.failed).map(({ role, content }) => ({ role, content }));

  test('the playground sends what it shows: a failed question stays marked and left out, Retry asks it again, Clear drops an answer in flight', async () => {
    await withScreenshot(page, 'playground-failed-turn', async () => {
      await go('Playground');
      await page.getByLabel('Model').fill('gpt-4');
      await ask('first question');
      assert.deepEqual(await transcript(), [
        { role: 'user', content: 'first question', failed: false },
        { role: 'assistant', content: answered('first question'), failed: false },
      ]);

      upstream.enqueue({ kind: 'status', status: 500 });
      await ask('this one fails');
      assert.notEqual((await page.locator('[data-transcript] ~ form [role="alert"]').innerText()).trim(), '');
      // The question stays, marked and explained; no empty answer bubble is left behind.
      assert.deepEqual(await transcript(), [
        { role: 'user', content: 'first question', failed: false },
        { role: 'assistant', content: answered('first question'), failed: false },
        { role: 'user', content: 'this one fails', failed: true },
      ]);
      const failed = page.locator('[data-transcript] [data-failed]');
      await failed.getByText('not part of the conversation').waitFor();

      // What is sent next is what is shown as the conversation: the failed question is left out.
      await ask('second question');
      assert.deepEqual(lastSent(), [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: answered('first question') },
        { role: 'user', content: 'second question' },
      ]);
      assert.deepEqual(await shownSent(), [...lastSent(), { role: 'assistant', content: answered('second question') }]);

      // Retry asks it again as the newest turn, and the failed bubble goes.
      await failed.getByRole('button', { name: 'Retry' }).click();
      await page.locator('[data-role="assistant"] .text', { hasText: answered('this one fails') }).waitFor();
      assert.equal(await failed.count(), 0);
      assert.deepEqual(lastSent().slice(-2), [
        { role: 'assistant', content: answered('second question') },
        { role: 'user', content: 'this one fails' },
      ]);
      assert.deepEqual(await shownSent(), [...lastSent(), { role: 'assistant', content: answered('this one fails') }]);
      await waitUntil(page, `!document.querySelector('[data-transcript] ~ form button[type="submit"]').disabled`);

      // Cleared while an answer streams: neither the question nor its partial answer comes back.
      upstream.enqueue({ kind: 'slow-stream', delayMs: 150 });
      await page.getByLabel('Message').fill('cleared mid-answer');
      await page.getByRole('button', { name: 'Send' }).click();
      await waitUntil(page, `(document.querySelector('[data-transcript] > [data-role="assistant"]:last-child .text')?.textContent ?? '') !== ''`);
      await page.getByRole('button', { name: 'Clear conversation' }).click();
      await waitUntil(page, `!document.querySelector('[data-transcript] ~ form button[type="submit"]').disabled`);
      assert.deepEqual(await transcript(), []);
      await ask('after clearing');
      assert.deepEqual(lastSent(), [{ role: 'user', content: 'after clearing' }]);
      assert.deepEqual(await shownSent(), [...lastSent(), { role: 'assistant', content: answered('after clearing') }]);
    });
  });
});
