// Whether a command-line tool is installed. Tests that drive a real client (nbdcopy, qemu-io, fio)
// skip without it, naming the tool; scripts/install-deps.sh installs them all and CI runs it.
import fs from 'node:fs';
import path from 'node:path';

export function have(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => {
    try {
      fs.accessSync(path.join(d, tool), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A skip condition that says why on stderr, once per file that asks. */
export function missing(tool: string): boolean {
  if (have(tool)) return false;
  console.warn(`skipping tests that need ${tool}: not installed (run scripts/install-deps.sh)`);
  return true;
}
