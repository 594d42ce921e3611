// Headless Chromium for the status page tests: Debian's /usr/bin/chromium (scripts/install-deps.sh)
// driven by playwright-core; never a browser that playwright downloads. A fresh profile directory
// per launch; screenshots go to test-artifacts/ (gitignored).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO } from './two-nodes.js';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = (): boolean => fs.existsSync(CHROMIUM);

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-chromium-'));
  // launchPersistentContext passes the directory as --user-data-dir (launch() refuses that flag)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1100, height: 860 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** test-artifacts/<name>/, emptied first */
export function artifactsDir(name: string): string {
  const dir = path.join(REPO, 'test-artifacts', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
