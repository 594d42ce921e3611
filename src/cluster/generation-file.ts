// The per-start generation (`hg` in every packet), heartbeat's hb_generation file: read, add one,
// write and fsync before the first packet goes out, so a restarted node is never mistaken for a
// replay of its previous run. A missing or unreadable file starts from the clock, as heartbeat
// does, which also keeps a node whose run dir is a tmpfs (lost at reboot) ahead of its last run.
import fs from 'node:fs';
import path from 'node:path';

export const GENERATION_FILE = 'tandem-hb.generation';

export function parseGeneration(text: string): number | null {
  const t = text.trim();
  if (!/^\d{1,15}$/.test(t)) return null;
  return Number(t);
}

export function nextGeneration(previous: number | null, nowMs: number): number {
  const fromClock = Math.floor(nowMs / 1000);
  return previous === null ? fromClock : previous + 1;
}

export function bumpGenerationFile(runDir: string, nowMs = Date.now()): { generation: number; seeded: boolean } {
  const file = path.join(runDir, GENERATION_FILE);
  let previous: number | null = null;
  try {
    previous = parseGeneration(fs.readFileSync(file, 'utf8'));
  } catch {
    previous = null;
  }
  const generation = nextGeneration(previous, nowMs);
  fs.mkdirSync(runDir, { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, `${generation}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return { generation, seeded: previous === null };
}
