// Status polls go straight to tandemd's control socket (what tandemadm speaks) rather than through
// a tandemadm process per poll; commands that change state still run the real tandemadm.
import { controlSocketPath, sendControl } from '../../src/daemon/control-protocol.js';
import type { NodeStatus } from './cluster.js';

export async function statusOf(runDir: string, timeoutMs = 5000): Promise<NodeStatus | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const res = await Promise.race([sendControl(controlSocketPath(runDir), { cmd: 'status', resource: 'r0' }), timeout]);
    if (!res || !res.ok || typeof res.data !== 'object' || res.data === null) return null;
    return res.data as NodeStatus;
  } catch {
    return null; // not running, or the socket is gone mid-restart
  } finally {
    clearTimeout(timer);
  }
}
