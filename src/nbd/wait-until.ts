// Polls a condition until it holds or a deadline passes: kernel and FUSE state (a mount appearing,
// a loop device letting go of its file) changes without an event that Node could wait on.
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Like waitUntil, but reports instead of throwing. */
export async function waitUntilOrFalse(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  try {
    await waitUntil(check, timeoutMs, '');
    return true;
  } catch {
    return false;
  }
}
