// What the status page may ask for once an operator has logged in (ha.cf tandem_web_auth):
// heartbeat's hb_standby / hb_takeover for this node, and drbdadm primary / secondary of one
// resource. Requests are checked here before anything runs; nothing else is accepted. Pure.

export type WebAction =
  | { action: 'standby' }
  | { action: 'takeover' }
  | { action: 'primary'; resource: string }
  | { action: 'secondary'; resource: string };

export type ParsedAction = { ok: true; value: WebAction } | { ok: false; message: string };

export function parseAction(body: unknown, resources: readonly string[]): ParsedAction {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, message: 'expected a JSON object {"action": …}' };
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== 'action' && k !== 'resource');
  if (extra.length > 0) return { ok: false, message: `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}` };
  switch (b.action) {
    case 'standby':
    case 'takeover':
      if (b.resource !== undefined) return { ok: false, message: `${b.action} applies to the whole node: no resource` };
      return { ok: true, value: { action: b.action } };
    case 'primary':
    case 'secondary': {
      if (typeof b.resource !== 'string' || b.resource === '') return { ok: false, message: `${b.action} needs a resource` };
      if (!resources.includes(b.resource)) return { ok: false, message: `'${b.resource}' is not a resource of this node (known: ${resources.join(', ') || 'none'})` };
      return { ok: true, value: { action: b.action, resource: b.resource } };
    }
    default:
      return { ok: false, message: `unknown action ${JSON.stringify(b.action)} (standby, takeover, primary, secondary)` };
  }
}

/** How the action reads in the operational log and on the page. */
export function describeAction(a: WebAction, node: string): string {
  switch (a.action) {
    case 'standby': return `standby: ${node} gives its resource groups to the peer`;
    case 'takeover': return `takeover: ${node} takes all resource groups`;
    case 'primary': return `primary ${a.resource} on ${node}`;
    case 'secondary': return `secondary ${a.resource} on ${node}`;
  }
}

/**
 * A browser sends the custom header only to its own origin after a CORS preflight that this server
 * never grants, so another site cannot make a logged-in browser post actions (CSRF). An Origin, when
 * sent, must be this server's.
 */
export function requestCheck(h: { method?: string; contentType?: string; marker?: string; origin?: string; host?: string }): string | null {
  if (h.method !== 'POST') return 'actions are POST requests';
  if (!/^application\/json\b/i.test(h.contentType ?? '')) return 'actions are sent as application/json';
  if (h.marker !== '1') return 'missing the X-Tandem-Action: 1 header';
  if (h.origin !== undefined && h.origin !== `http://${h.host ?? ''}`) return `cross-origin request from ${h.origin} refused`;
  return null;
}
