#!/usr/bin/env node
// Makes docs/dashboard.png, the README's picture of the dashboard: the real gateway in front of the
// fake OpenAI upstream (test/support), a day of usage written as the usage writer would, a few real
// chats, and the overview page in Debian's Chromium at 1280×800.
//
//   npm run build && node scripts/dashboard-screenshot.mjs [out.png] [--dark]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startFakeOpenAi } from '../dist/test/support/fake-openai.js';
import { MASTER_KEY, startGateway, UPSTREAM_KEY } from '../dist/test/support/gateway-harness.js';
import { chat, createKey } from '../dist/test/support/key-support.js';

const args = process.argv.slice(2);
const out = args.find((arg) => !arg.startsWith('--')) ?? 'docs/dashboard.png';
const HOUR = 3_600_000;
const PRICES = { 'gpt-4o-mini': [0.00015, 0.0006], 'gpt-4o': [0.0025, 0.01], 'gpt-4.1-mini': [0.0004, 0.0016] };

const upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
const gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_LOG_LEVEL: 'warn' });
const profile = mkdtempSync(join(tmpdir(), 'llm-proxy-screenshot-'));
try {
  const web = await createKey(gateway.url, { name: 'web-app' });
  const batch = await createKey(gateway.url, { name: 'batch-jobs' });
  for (let index = 0; index < 6; index++) await chat(gateway.url, index % 2 ? web.key : batch.key, { model: index % 3 ? 'gpt-4o-mini' : 'gpt-4o' });

  // The day before, with a daily rhythm and a few upstream errors (deterministic, no randomness).
  const now = Date.now();
  const records = [];
  for (let hour = 23; hour >= 1; hour--) {
    const load = Math.round(20 + 25 * Math.sin((hour / 24) * Math.PI * 2) ** 2 + (hour % 5) * 3);
    for (let index = 0; index < load; index++) {
      const model = Object.keys(PRICES)[index % 3];
      const [input, output] = PRICES[model];
      const prompt = 200 + ((index * 37) % 900);
      const completion = 50 + ((index * 53) % 400);
      const failed = (index + hour) % 23 === 0;
      records.push({
        id: `screenshot-${hour}-${index}`,
        requestId: `screenshot-${hour}-${index}`,
        keyId: index % 3 ? web.id : batch.id,
        endpoint: 'chat.completions',
        model,
        provider: 'openai',
        upstreamModel: model,
        promptTokens: failed ? 0 : prompt,
        completionTokens: failed ? 0 : completion,
        cachedTokens: 0,
        cost: failed ? undefined : (prompt * input + completion * output) / 1000,
        latencyMs: 300 + ((index * 97 + hour * 31) % 900),
        status: failed ? 'error' : 'ok',
        httpStatus: failed ? 502 : 200,
        stream: index % 2 === 0,
        cacheHit: false,
        estimated: false,
        createdAt: now - hour * HOUR - ((index * 7919) % HOUR),
      });
    }
  }
  await gateway.app.services.store.usage.insertBatch(records);

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    colorScheme: args.includes('--dark') ? 'dark' : 'light',
  });
  try {
    const page = await context.newPage();
    await page.goto(`${gateway.url}/ui`);
    await page.getByLabel('Master key').fill(MASTER_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-chart="latency"] canvas').first().waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: out });
    console.log(`wrote ${out}`);
  } finally {
    await context.close();
  }
} finally {
  await gateway.close();
  await upstream.close();
  rmSync(profile, { recursive: true, force: true });
}
