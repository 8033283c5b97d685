// Debian's Chromium driven by playwright-core for the dashboard's browser tests: no browser is
// ever downloaded. Without /usr/bin/chromium the tests are skipped with a message, except under
// CI=true (.ci/run installs it), where that is a failure. A failing step saves a screenshot.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = join('test-results', 'browser');

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const message = `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true requires it`);
  return `${message}: browser tests skipped`;
}

export interface Browser {
  context: BrowserContext;
  /** URLs the pages tried to load from anywhere but 127.0.0.1. */
  external: string[];
  /** A new page (tab) at the given size. */
  page(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

/** One browser per test file, with a fresh profile directory that is removed afterwards. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'llm-proxy-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(10_000);
  // The dashboard must need nothing but the gateway: any other request is refused and noted.
  const external: string[] = [];
  await context.route(/^(?!http:\/\/127\.0\.0\.1[:/])/, (route) => {
    external.push(route.request().url());
    return route.abort();
  });
  return {
    context,
    external,
    async page(width = 1280, height = 800) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in to the dashboard at <base>/ui with the master key and waits for its first view. */
export async function signInToDashboard(page: Page, base: string, masterKey: string): Promise<void> {
  await page.goto(`${base}/ui`);
  await page.getByLabel('Master key').fill(masterKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}

/** Runs a browser step; when it throws, the page is saved as test-results/browser/<name>.png first. */
export async function withScreenshot<T>(page: Page, name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    try {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const file = join(SCREENSHOTS, `${name.replace(/[^A-Za-z0-9_-]+/g, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.error(`screenshot of the failing page: ${file}`);
    } catch {
      // The page itself may be gone; the original error matters.
    }
    throw error;
  }
}

/**
 * Polls a page expression until it is truthy. Page-side waits (waitForFunction) evaluate strings
 * with eval, which the dashboard's CSP rightly forbids; evaluate() goes through the debugger instead.
 */
export async function waitUntil(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
