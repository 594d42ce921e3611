// V8 flags tandemd runs with (bin/tandemd.js's shebang carries the same list; keep them equal).
//
// Why: tandemd's heap is small (about 8 MiB live) while the write path allocates quickly (a few
// short-lived objects per 4 KiB request). With V8's default old-generation limit sized to such a
// heap, the young generation's capacity exceeds the remaining headroom, so V8 starts incremental
// marking every ~50 ms and full mark-compacts replace cheap scavenges: 15-20 % of the Primary's
// CPU under 4 KiB random writes at depth 32 (bench/README.md). A larger initial old-generation
// limit lets scavenges do the work; it reserves no memory.
//
// --expose-gc: bulk data received from the peer runs a young-generation GC every 16 MiB
// (storage/bulk-buffer.ts noteBulkReceived); otherwise tens of MiB of dead socket-read Buffers
// sat between V8's own collections during a resync.
export const TANDEMD_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64', '--expose-gc'];
