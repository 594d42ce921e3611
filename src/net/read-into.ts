// Reading a socket into buffers we choose (net.Socket's `onread` option). Node honours `onread`
// only in the Socket constructor: net.connect passes it through, but a server builds its accepted
// sockets itself and offers no such option. An accepted socket is therefore re-wrapped: the server
// must be created with `pauseOnConnect: true` (so nothing was read from the handle yet), and the
// new Socket takes over the handle. `_handle` is Node's private field; this is the one place that
// touches it (checked on Node 20, 22 and 24 by test/unit/net/read-into.test.ts).
import net from 'node:net';

/** The `onread` option of net.Socket / net.connect with a buffer function. */
export interface ReadInto {
  /** Where the next read lands; called before every read. */
  buffer: () => Buffer;
  /** `n` bytes landed in the buffer last returned; false pauses reading (the socket is then to be closed). */
  callback: (n: number, buf: Buffer) => boolean;
}

/**
 * A socket that reads through `onread`, made from one a server accepted with pauseOnConnect.
 * The accepted Socket object is retired without closing the connection (so the server's
 * connection count stays right), and the returned one owns it from now on.
 */
export function readAcceptedInto(accepted: net.Socket, onread: ReadInto): net.Socket {
  const old = accepted as net.Socket & { _handle: { reading?: boolean } | null };
  const handle = old._handle;
  if (!handle || handle.reading || old.readableLength > 0) throw new Error('readAcceptedInto: the accepted socket must come from a pauseOnConnect server, unread');
  old._handle = null;
  old.destroy();
  return new net.Socket({ handle, onread } as net.SocketConstructorOpts & { handle: unknown; onread: ReadInto });
}
