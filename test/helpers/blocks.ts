// 4 KiB blocks with contents that name who wrote them, written and read through a node's NBD export.
import crypto from 'node:crypto';
import { connect as connectNbd, type NbdClient } from '../../src/nbd/client.js';
import type { Node } from './two-nodes.js';

export const BLOCK = 4096;

/** Deterministic, distinct contents per (tag, block). */
export function pattern(tag: string, block: number): Buffer {
  const seed = crypto.createHash('sha256').update(`${tag}:${block}`).digest();
  const buf = Buffer.alloc(BLOCK);
  for (let o = 0; o < BLOCK; o += seed.length) seed.copy(buf, o);
  return buf;
}

export async function openNbd(node: Node): Promise<NbdClient> {
  return connectNbd(node.nbdSocket, 'r0');
}

/** Writes pattern(tag, b) to every block b through the node's NBD export, then flushes. */
export async function writeBlocks(node: Node, blocks: readonly number[], tag: string): Promise<void> {
  const client = await openNbd(node);
  try {
    await Promise.all(blocks.map((b) => client.write(b * BLOCK, pattern(tag, b))));
    await client.flush();
  } finally {
    await client.close();
  }
}

export function union(...sets: (readonly number[])[]): number[] {
  return [...new Set(sets.flat())].sort((a, b) => a - b);
}
