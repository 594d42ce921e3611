// The status file follows what it shows within its 100 ms tick, also for counters that change
// without any state change (every write moves ns/dw), and is not rewritten while nothing changes.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StatusWriter } from '../../../src/daemon/status-writer.js';

let w: StatusWriter | null = null;
let dir = '';
afterEach(() => {
  w?.stop();
  w = null;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('StatusWriter', () => {
  it('picks up a changed counter without being told, and leaves an unchanged file alone', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-status-'));
    const file = path.join(dir, 'status');
    let ns = 0;
    let renders = 0;
    w = new StatusWriter(file, () => {
      renders++;
      return `ns:${ns}\n`;
    });
    w.start();
    expect(fs.readFileSync(file, 'utf8')).toBe('ns:0\n');
    const ino = fs.statSync(file).ino;
    // three ticks with nothing new: the file is the same file (every rewrite renames a new one in)
    const seen = renders;
    await until(() => renders >= seen + 3, 2000, 'three render ticks');
    expect(fs.statSync(file).ino).toBe(ino);
    ns = 4;
    await until(() => fs.readFileSync(file, 'utf8') === 'ns:4\n', 2000, 'the new counter in the file');
    expect(fs.readdirSync(dir)).toEqual(['status']);
  });
});
