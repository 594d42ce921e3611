// The tandemadm commands that work on files directly, without a daemon: dump (config), create-md
// and dump-md (metadata, like drbdmeta).
import { loadConfig, dumpConfig, resolveResource, type ResolvedResource } from '../config/index.js';
import { openFileMetaIO, readMetadata, type ClosableMetaIO } from '../storage/metadata-store.js';
import { computeLayout } from '../storage/metadata-layout.js';
import { createMetadata } from '../storage/create-md.js';
import { formatMetadata } from '../storage/dump-md.js';
import { countSetBits } from '../storage/metadata-bitmap.js';
import { placementFor } from '../replication/resource-metadata.js';

export function runDump(configPath: string, resource?: string): string {
  const cfg = loadConfig(configPath);
  for (const w of cfg.warnings) process.stderr.write(`${w.file}:${w.line}:${w.col}: warning: ${w.message}\n`);
  return dumpConfig(cfg, resource);
}

function resolve(configPath: string, node: string, resource: string): ResolvedResource {
  return resolveResource(loadConfig(configPath), resource, node);
}

async function openTargets(r: ResolvedResource): Promise<{ data: ClosableMetaIO; meta: ClosableMetaIO; close: () => Promise<void> }> {
  const data = await openFileMetaIO(r.self.disk);
  let meta = data;
  if (r.self.metaDisk.kind !== 'internal') {
    try {
      meta = await openFileMetaIO(r.self.metaDisk.path);
    } catch (err) {
      await data.close();
      throw err;
    }
  }
  return {
    data,
    meta,
    close: async () => {
      await data.close();
      if (meta !== data) await meta.close();
    },
  };
}

export async function runCreateMd(configPath: string, node: string, resource: string, force: boolean): Promise<string> {
  const r = resolve(configPath, node, resource);
  const t = await openTargets(r);
  try {
    const res = await createMetadata(
      { name: `${r.name} (${r.self.disk})`, data: t.data, meta: t.meta, placement: placementFor(r) },
      { force, nodeName: node, alExtents: r.disk.alExtents },
    );
    const lines = [
      ...res.overwritten.map((o) => `overwriting: ${o}`),
      'initializing activity log',
      'initializing bitmap',
      'Writing meta data...',
      `New Tandem meta data block successfully created (usable size ${res.layout.usableSize} bytes).`,
    ];
    return lines.join('\n') + '\n';
  } finally {
    await t.close();
  }
}

export async function runDumpMd(configPath: string, node: string, resource: string): Promise<string> {
  const r = resolve(configPath, node, resource);
  const t = await openTargets(r);
  try {
    const layout = computeLayout(placementFor(r), { dataSize: t.data.size, metaDeviceSize: t.meta.size });
    const md = await readMetadata(t.meta, layout, { device: `${r.name} (${r.self.disk})` });
    const bitsSet = countSetBits(md.bitmap, md.layout.usableBlocks);
    return formatMetadata(md.superblock, { bitsSet }, { al: md.alRecovered, device: `${r.name} on ${node}: ${r.self.disk}` });
  } finally {
    await t.close();
  }
}
