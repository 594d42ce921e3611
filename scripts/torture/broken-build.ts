// The deliberately broken build, to prove the checker can fail: a copy of the repository (src/ is
// never touched) whose compiled write path completes a protocol C write as soon as the local disk
// has it, without waiting for the peer's write-ack. Run the torture in that copy with a schedule
// that kills the Primary right after acknowledgements (crash-both) and it must report lost > 0.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunSummary } from './summary.js';

/** `if (peer) await peer;` in the compiled submitWriteHeld: the wait for the peer's ack (protocol C) or receipt (B) */
export const PEER_WAIT = /if \(peer\)\s*await peer;/g;
/** `if (needs === 'none') finish(null);` in the compiled writeInline (the fast path): completion without the peer */
export const INLINE_PEER_WAIT = /if \(needs === 'none'\)\s*finish\(null\);/g;
const WRITE_PIPELINE_JS = 'dist/src/replication/write-pipeline.js';
const SKIP = new Set(['node_modules', '.git']);

/** Replace the waits for the peer (both write paths) with nothing. Throws when the write path no longer looks as expected. */
export function breakProtocolC(source: string): string {
  for (const [re, text] of [[PEER_WAIT, 'if (peer) await peer;'], [INLINE_PEER_WAIT, "if (needs === 'none') finish(null);"]] as const) {
    const hits = source.match(re)?.length ?? 0;
    if (hits !== 1) {
      throw new Error(`expected exactly one '${text}' in ${WRITE_PIPELINE_JS}, found ${hits}: the write path changed, update scripts/torture/broken-build.ts`);
    }
  }
  return source
    .replace(PEER_WAIT, 'if (peer) void peer; /* BROKEN BUILD: protocol C completes before the peer acknowledged */')
    .replace(INLINE_PEER_WAIT, 'finish(null); /* BROKEN BUILD: protocol C completes before the peer acknowledged */');
}

export interface BrokenCopy {
  dir: string;
  remove(): void;
}

/** Copy the repository (minus node_modules, which is linked, and .git) and break the copy's dist/. */
export function makeBrokenCopy(repo: string): BrokenCopy {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-broken-'));
  for (const entry of fs.readdirSync(repo)) {
    if (SKIP.has(entry) || entry.endsWith('.state')) continue;
    fs.cpSync(path.join(repo, entry), path.join(dir, entry), { recursive: true, verbatimSymlinks: true });
  }
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
  const file = path.join(dir, WRITE_PIPELINE_JS);
  fs.writeFileSync(file, breakProtocolC(fs.readFileSync(file, 'utf8')));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface TortureRun {
  code: number | null;
  summary: RunSummary | null;
  stderr: string;
}

/** Run the torture (from `dir`'s own scripts/ and dist/) with --json and the given arguments. */
export function runTortureIn(dir: string, args: string[], timeoutMs = 300_000): Promise<TortureRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(dir, 'node_modules/vite-node/vite-node.mjs'), 'scripts/torture/main.ts', '--json', ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      let summary: RunSummary | null = null;
      try {
        summary = JSON.parse(stdout) as RunSummary;
      } catch {
        summary = null;
      }
      resolve({ code, summary, stderr });
    });
  });
}
